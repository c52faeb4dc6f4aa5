"""Load the policy: any Hugging Face video LLM by hub id or local path.

One code path for the 7B model and the tiny test model: `AutoProcessor` and
`AutoModelForImageTextToText`. Options cover what the recipes need: dtype,
attention implementation, gradient checkpointing, LoRA on the language model
(vision tower frozen by default) and QLoRA (bitsandbytes nf4 with double quant).

A folder holding a peft adapter (``adapter_config.json``, a LoRA SFT run's export) is a
valid start point. Unless the base is quantized, the adapter is merged into its base at load
time (``merge_and_unload``), and ``lora`` then adds a fresh trainable adapter on the merged
model (``lora: null`` trains the merged model fully): the merged model is the start point,
so GRPO's reference (adapters off, or a frozen copy) is the SFT model and not the base it
was trained from. A new adapter trained this way records the adapter folder as its base
(``base_model_name_or_path``); loading it merges that folder again first, so chains of
adapters load (`vthinker export` writes a plain merged folder from them). On a 4-bit base
(``quantization: nf4``) the adapter cannot be merged: it is loaded on the base and trained
further, as is.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vthinker.models.rope import install_published_rope

log = logging.getLogger(__name__)

__all__ = [
    "LoraSettings",
    "PolicyConfig",
    "disable_dropout",
    "is_adapter_folder",
    "load_policy",
    "load_processor",
    "vision_tower",
]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_VISION_NAMES = ("visual", "vision_tower", "vision_model")


@dataclass
class LoraSettings:
    """LoRA adapter settings (peft).

    Attributes:
        r: Rank.
        alpha: Scaling numerator (scale = alpha / r).
        dropout: Dropout on the adapter input.
        target_modules: Names of the linear layers to adapt.
        include_vision: Also adapt the vision tower (off: the vision tower stays frozen).
    """

    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
    )
    include_vision: bool = False

    def __post_init__(self) -> None:
        if self.r <= 0:
            raise ValueError(f"LoRA rank must be positive, got r={self.r}")
        if not self.target_modules:
            raise ValueError("LoRA target_modules is empty")


@dataclass
class PolicyConfig:
    """Which model to train and how to load it.

    Attributes:
        name_or_path: Hub id (``Qwen/Qwen2.5-VL-7B-Instruct``) or local folder.
        dtype: Weight dtype (``float32`` for CPU tests, ``bfloat16`` on GPUs).
        attn_implementation: ``sdpa``, ``eager``, or ``flash_attention_2`` (needs the
            ``flash`` extra).
        gradient_checkpointing: Recompute activations in backward to save memory.
        lora: LoRA settings; None trains all (non-vision) weights.
        quantization: ``nf4`` loads the base in 4 bits (QLoRA; needs ``lora``).
        freeze_vision: Keep the vision tower frozen.
        trust_remote_code: Passed to ``from_pretrained``.
    """

    name_or_path: str
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    gradient_checkpointing: bool = False
    lora: LoraSettings | None = None
    quantization: Literal["nf4"] | None = None
    freeze_vision: bool = True
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            self.lora = LoraSettings(**self.lora)
        if self.quantization is not None and self.lora is None:
            raise ValueError(
                "quantization='nf4' (QLoRA) trains adapters on a frozen 4-bit base: set `lora` too"
            )
        if self.attn_implementation == "flash_attention_2" and not _has_flash_attn():
            raise ValueError(
                "attn_implementation='flash_attention_2' but flash-attn is not installed; "
                "install the extra (pip install -e '.[flash]') or use 'sdpa'"
            )


def _has_flash_attn() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def _adapter_base(path: str) -> str | None:
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    return json.loads(cfg.read_text())["base_model_name_or_path"]


def is_adapter_folder(path: str) -> bool:
    """Whether ``path`` is a local peft adapter folder (it has ``adapter_config.json``)."""
    return _adapter_base(path) is not None


def _from_pretrained(path: str, kwargs: dict[str, Any]) -> nn.Module:
    """``from_pretrained`` on a model folder or hub id; an adapter folder is loaded on its
    base (itself possibly an adapter folder) and merged into it."""
    from transformers import AutoModelForImageTextToText

    base = _adapter_base(path)
    if base is None:
        try:
            model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        except OSError as err:
            raise OSError(
                f"cannot load model {path!r}: not a local folder with weights and not "
                "reachable on the hub (this machine may be offline)"
            ) from err
        install_published_rope(model)  # transformers 5.x positions after a video (rope.py)
        return model
    if "quantization_config" in kwargs:
        raise ValueError(
            f"the adapter {path!r} cannot be merged into a 4-bit base: merge it first with "
            f"`vthinker export {path} --out DIR` and load DIR"
        )
    from peft import PeftModel

    model = PeftModel.from_pretrained(_from_pretrained(base, kwargs), path).merge_and_unload()
    # The merged model stands for the adapter folder: peft records this as the base of an
    # adapter trained on it (adapter_config.json), so loading that adapter merges this again.
    model.name_or_path = path
    log.info("merged adapter %s into its base %s", path, base)
    return model


def load_processor(name_or_path: str, trust_remote_code: bool = False) -> Any:
    """The model's own processor (tokenizer + image/video processors + chat template)."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except OSError as err:
        raise OSError(
            f"cannot load a processor from {name_or_path!r}: not a local folder with processor "
            "files and not reachable on the hub (this machine may be offline). Build the tiny "
            "model with `vthinker make-tiny` or point `name_or_path` at a downloaded checkpoint."
        ) from err


def vision_tower(model: nn.Module) -> nn.Module | None:
    """The vision encoder of a video LLM, found by its conventional attribute name."""
    for holder in (model, getattr(model, "model", None)):
        for name in _VISION_NAMES:
            sub = getattr(holder, name, None) if holder is not None else None
            if isinstance(sub, nn.Module):
                return sub
    return None


def _lora_target_regex(model: nn.Module, lora: LoraSettings) -> str:
    """A peft ``target_modules`` regex: the named linears, outside the vision tower."""
    names = "|".join(lora.target_modules)
    if lora.include_vision:
        return rf".*\.({names})$"
    vt = vision_tower(model)
    prefixes = [n for n, m in model.named_modules() if m is vt] if vt is not None else []
    if not prefixes:
        return rf".*\.({names})$"
    # Negative lookahead: exclude every module under the vision tower's path.
    return rf"^(?!{prefixes[0]}\.).*\.({names})$"


def load_policy(
    cfg: PolicyConfig, *, device_map: Any | None = None, merge_adapter: bool | None = None
) -> nn.Module:
    """Load the model described by ``cfg``: base (+ adapter), LoRA, quantization, freezing.

    Args:
        cfg: The policy settings.
        device_map: Passed to ``from_pretrained`` (needed for 4-bit loading on a GPU,
            e.g. ``{"": "cuda:0"}``).
        merge_adapter: When ``cfg.name_or_path`` is an adapter folder: merge it into its base
            (then apply ``cfg.lora``) or keep it as the trainable adapter. None: merge unless
            the base is quantized (module docstring). `vthinker.models.export` passes the
            choice the training run made, as it loads that run unquantized.

    Returns:
        The model, in train mode, with ``requires_grad`` set on exactly the weights to train.

    Raises:
        ValueError: if an adapter is to be merged into a 4-bit base.
    """
    adapter_base = _adapter_base(cfg.name_or_path)
    if merge_adapter is None:
        merge_adapter = cfg.quantization is None
    # A kept adapter is trained further on its (unmerged) base; a merged one is the base.
    keep_adapter = adapter_base is not None and not merge_adapter
    dtype = _DTYPES[cfg.dtype]
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "attn_implementation": cfg.attn_implementation,
        "trust_remote_code": cfg.trust_remote_code,
    }
    if cfg.quantization == "nf4":
        kwargs["quantization_config"] = _nf4_config(dtype)
    if device_map is not None:
        kwargs["device_map"] = device_map
    model = _from_pretrained(adapter_base if keep_adapter else cfg.name_or_path, kwargs)
    model.config.use_cache = False
    if cfg.quantization == "nf4":
        _keep_cpu_4bit_layout(model)

    for p in model.parameters():
        p.requires_grad_(cfg.lora is None and not keep_adapter)
    if cfg.freeze_vision and (vt := vision_tower(model)) is not None:
        for p in vt.parameters():
            p.requires_grad_(False)

    if keep_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, cfg.name_or_path, is_trainable=True)
        log.info("loaded adapter %s on base %s", cfg.name_or_path, adapter_base)
    elif cfg.lora is not None:
        model = _add_lora(model, cfg.lora)
    if cfg.gradient_checkpointing:
        _enable_checkpointing(model)
    model.train()
    return model


def _nf4_config(dtype: torch.dtype) -> Any:
    """QLoRA's 4-bit NF4 settings: only the language model is quantized; the vision tower
    and lm_head stay in ``dtype``."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        # Plain names match by substring in older transformers; the regexes match the
        # nested path ("model.visual.blocks…") in transformers >= 5.
        llm_int8_skip_modules=[*_VISION_NAMES, *(rf".*\.{n}" for n in _VISION_NAMES), "lm_head"],
    )


def _add_lora(model: nn.Module, lora: LoraSettings) -> nn.Module:
    """``model`` with fresh LoRA adapters on the modules ``lora`` targets."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=_lora_target_regex(model, lora),
        bias="none",
    )
    return get_peft_model(model, config)


def _enable_checkpointing(model: nn.Module) -> None:
    """Non-reentrant activation checkpointing on the base model (under an adapter too)."""
    ckpt_kwargs = {"use_reentrant": False}
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.2x
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=ckpt_kwargs)
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=ckpt_kwargs)
    if hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()


def disable_dropout(model: nn.Module) -> nn.Module:
    """Turn every dropout of ``model`` off, leaving its train/eval mode alone.

    Sets ``p = 0`` on each ``nn.Dropout`` (peft's LoRA dropout included) and zeroes the
    attention dropout, both the float ``attention_dropout`` attribute that attention modules
    read in train mode and the ``attention_dropout`` of the model config and its sub-configs
    (as TRL's ``disable_dropout`` does for RL trainers). The model can then stay in train
    mode, which gradient checkpointing needs, while computing the same function as in eval
    mode.

    Returns:
        ``model``, changed in place.
    """
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float | int):
            module.attention_dropout = 0.0
    configs = [getattr(model, "config", None)]
    while configs:
        cfg = configs.pop()
        if cfg is None:
            continue
        if isinstance(getattr(cfg, "attention_dropout", None), float | int):
            cfg.attention_dropout = 0.0
        configs.extend(getattr(cfg, name, None) for name in getattr(cfg, "sub_configs", {}) or {})
    return model


def _keep_cpu_4bit_layout(model: nn.Module) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference.

    On CPUs with AVX512-BF16, a ``Linear4bit`` in eval mode repacks its weight into an
    inference-only layout, and a later training forward then fails ("a view of a leaf
    Variable that requires grad is being used in an in-place operation"). GRPO switches
    between sampling (eval) and training on every step, so the repacking is turned off.
    GPUs are unaffected.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def is_sharded(model: nn.Module) -> bool:
    """Whether parts of ``model`` are FSDP-sharded across several processes.

    Generation must then run with ``synced_gpus=True``: every forward of a sharded unit
    all-gathers its weights, so a rank whose completions all stopped keeps stepping until
    every rank is done (otherwise the others wait for it forever).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return False
    from torch.distributed.fsdp import FullyShardedDataParallel

    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch < 2.6: FSDP1 only
        FSDPModule = FullyShardedDataParallel
    return any(isinstance(m, FullyShardedDataParallel | FSDPModule) for m in model.modules())


def is_peft_model(model: nn.Module) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency
        return False
    return isinstance(model, PeftModel)
