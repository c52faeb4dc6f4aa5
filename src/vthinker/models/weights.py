"""The policy's weights as a plain Hugging Face model holds them, for an inference engine
that keeps its own copy (`vthinker.training.vllm_rollout`).

`merged_weights` yields ``(name, tensor)`` under the names of the unwrapped model's
``state_dict`` (``model.language_model.layers.0.self_attn.q_proj.weight`` …): a plain model
as it is; a LoRA model with each adapted weight merged out of place (``W + ΔW`` from
peft's ``get_delta_weight``, the base left untouched, so repeated pushes never drift) and
the adapter tensors left out. 4-bit (QLoRA) bases cannot be handed on unquantized.

`base_model_path` follows adapter folders (``adapter_config.json``) down to the model folder
or hub id an engine can load.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from vthinker.models.policy import _adapter_base, is_peft_model

__all__ = ["base_model_path", "merged_weights"]


def base_model_path(path: str) -> str:
    """The model folder or hub id under ``path`` (itself, unless an adapter folder)."""
    seen = set()
    while (base := _adapter_base(path)) is not None:
        if path in seen:
            raise ValueError(f"adapter folders refer to each other in a loop at {path}")
        seen.add(path)
        path = base
    return path


def _is_4bit(t: torch.Tensor) -> bool:
    return type(t).__name__ == "Params4bit" or getattr(t, "quant_state", None) is not None


@torch.no_grad()
def merged_weights(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` of the model with any LoRA adapters merged (module docstring).

    Raises:
        ValueError: for a 4-bit quantized weight.
    """
    if not is_peft_model(model):
        base, deltas = model, {}
    else:
        from peft.tuners.lora import LoraLayer

        base = model.get_base_model()
        deltas = {}
        for name, module in base.named_modules():
            if isinstance(module, LoraLayer):
                active = [a for a in module.active_adapters if a in module.lora_A]
                if active:
                    deltas[f"{name}.weight"] = sum(module.get_delta_weight(a) for a in active)
    for name, tensor in base.state_dict().items():
        if ".lora_" in name:
            continue
        name = name.replace(".base_layer.", ".")
        if _is_4bit(tensor):
            raise ValueError(
                f"{name} is 4-bit quantized: an engine needs unquantized weights (train with "
                "LoRA on a bf16 base instead of QLoRA to sample with vLLM)"
            )
        if name in deltas:
            tensor = tensor + deltas[name].to(tensor.dtype)
        yield name, tensor
