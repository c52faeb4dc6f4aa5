"""Turn a training result into a plain Hugging Face model folder.

``vthinker export SOURCE --out DIR`` accepts:

- a Lightning checkpoint (``*.ckpt``) of any vthinker module: full weights, or LoRA
  adapters only (the policy settings are read from the checkpoint's hyperparameters);
- a sharded FSDP checkpoint (a ``*.ckpt`` *folder* with ``meta.pt`` and
  ``torch.distributed.checkpoint`` shards, written by ``FSDPStrategy(state_dict_type=
  "sharded")``): consolidated in one process, reading only the model weights (never the
  optimizer state), so no GPU or process group is needed;
- a peft adapter folder (``adapter_config.json``, e.g. a LoRA run's ``hf`` export);
- a full model folder (copied through ``save_pretrained``, e.g. to change dtype).

LoRA adapters are merged into the base weights. A QLoRA run is merged into a base
loaded *without* quantization (in ``--dtype``), so the result is an ordinary model.
The output folder loads with ``AutoModelForImageTextToText.from_pretrained`` and
``AutoProcessor.from_pretrained``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Literal

import torch

from vthinker.models.policy import PolicyConfig, is_peft_model, load_policy, load_processor

log = logging.getLogger(__name__)

__all__ = ["export_merged", "main"]


def _policy_from_checkpoint(ckpt: dict) -> PolicyConfig:
    hp = ckpt.get("hyper_parameters", {})
    policy = hp.get("policy")
    if policy is None:
        raise ValueError("the checkpoint has no 'policy' hyperparameter: not a vthinker module")
    if isinstance(policy, dict):
        policy = PolicyConfig(**policy)
    return policy


SHARDED_META = "meta.pt"  # what Lightning's FSDPStrategy writes beside the shards


def _load_sharded_weights(folder: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The policy weights of a sharded Lightning checkpoint, keyed like ``model.state_dict()``.

    The shards hold ``{"model": <LightningModule state_dict>, "optimizer_0": ...}``; only
    the ``model.*`` entries of the LightningModule (the policy) are read, into tensors
    shaped like the freshly built model's.
    """
    import torch.distributed.checkpoint as dcp

    try:
        saved = dcp.FileSystemReader(str(folder)).read_metadata().state_dict_metadata
    except Exception as err:
        raise ValueError(f"{folder}: not a readable sharded checkpoint ({err})") from err
    prefix = "model.model."  # {"model": ...} flattened, then the module's `model.` attribute
    wanted = {k.removeprefix(prefix) for k in saved if k.startswith(prefix)}
    if not wanted:
        raise ValueError(f"{folder}: the sharded checkpoint holds no policy weights")
    own = model.state_dict()
    unknown = sorted(wanted - own.keys())
    if unknown:
        raise ValueError(
            f"{folder}: {len(unknown)} weights do not belong to the model it names "
            f"(e.g. {unknown[0]})"
        )
    target = {"model": {f"model.{k}": torch.empty_like(own[k]) for k in sorted(wanted)}}
    dcp.load(target, checkpoint_id=str(folder))
    return {k.removeprefix("model."): v for k, v in target["model"].items()}


def export_merged(
    source: str | Path,
    out_dir: str | Path,
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16",
) -> Path:
    """Write a merged, unquantized HF model folder (weights + processor) to ``out_dir``.

    Args:
        source: The checkpoint, adapter or model folder (module docstring).
        out_dir: Output folder.
        dtype: Weight dtype of the written model (a QLoRA base is loaded in it unquantized).

    Raises:
        FileNotFoundError: if ``source`` does not exist.
        ValueError: if a checkpoint's weights do not fit the model it names.
    """
    # Over 60 lines only for the documented arguments; the code is the rest.
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"nothing to export at {source}")
    sharded = source.is_dir() and (source / SHARDED_META).is_file()
    if source.is_file() or sharded:
        if sharded:
            ckpt = torch.load(source / SHARDED_META, map_location="cpu", weights_only=False)
        else:
            ckpt = torch.load(source, map_location="cpu", weights_only=False)
        trained = _policy_from_checkpoint(ckpt)
        cfg = dataclasses.replace(
            trained, dtype=dtype, quantization=None, gradient_checkpointing=False
        )
        # A run from an adapter folder merged it unless its base was 4-bit (then it trained
        # that adapter further): rebuild the same layout, unquantized.
        model = load_policy(cfg, merge_adapter=trained.quantization is None)
        if sharded:
            state = _load_sharded_weights(source, model)
        else:
            state = {
                k.removeprefix("model."): v
                for k, v in ckpt["state_dict"].items()
                if k.startswith("model.")
            }
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ValueError(
                f"{source}: {len(result.unexpected_keys)} weights do not belong to "
                f"{cfg.name_or_path} (e.g. {result.unexpected_keys[0]})"
            )
        if cfg.lora is None and result.missing_keys:
            raise ValueError(
                f"{source}: full checkpoint misses {len(result.missing_keys)} weights "
                f"(e.g. {result.missing_keys[0]})"
            )
        processor = load_processor(cfg.name_or_path, cfg.trust_remote_code)
    else:
        model = load_policy(PolicyConfig(str(source), dtype=dtype))  # type: ignore[arg-type]
        processor = load_processor(str(source))
    if is_peft_model(model):
        model = model.merge_and_unload()
    model.config.use_cache = True
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    """``vthinker export SOURCE --out DIR [--dtype D]`` (`export_merged`)."""
    from vthinker.command_args import add_function_flags, command_parser

    parser = command_parser(
        "vthinker export",
        "Merge a checkpoint or adapter into a plain Hugging Face model folder.",
    )
    parser.add_argument(
        "source",
        help="a .ckpt file, a sharded FSDP .ckpt folder, a peft adapter folder or a model folder",
    )
    parser.add_argument("--out", required=True, help="output folder")
    add_function_flags(parser, export_merged, skip={"source", "out_dir"})
    args = parser.parse_args(argv)
    out = export_merged(args.source, args.out, args.dtype)
    print(f"exported {args.source} → {out}")
