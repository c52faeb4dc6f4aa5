"""What the 7B recipes need from their strategy and precision, checked on CPU.

- Gradient clipping by norm under FSDP goes to the root FSDP module (Lightning's FSDP
  precision plugin refuses it; FSDP1 itself needs a GPU: the real call is in test_gpu.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from lightning.pytorch.plugins.precision import FSDPPrecision
from torch import nn

from vthinker.models.policy import PolicyConfig
from vthinker.training.sft import SFTModule


class FakeFSDPRoot(nn.Module):
    """Stands for torch's FullyShardedDataParallel (which will not build without a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.clipped: list[float] = []

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        self.clipped.append(max_norm)
        return torch.tensor(0.0)


def _module_under(root: nn.Module, tiny_model_dir) -> SFTModule:
    module = SFTModule(PolicyConfig(str(tiny_model_dir), dtype="float32"), export_hf=False)
    module._trainer = SimpleNamespace(
        strategy=SimpleNamespace(model=root),
        precision_plugin=FSDPPrecision("bf16-mixed"),
        gradient_clip_val=None,
        gradient_clip_algorithm=None,
        fabric=None,
    )
    return module


def test_norm_clipping_under_fsdp_goes_to_the_root_module(monkeypatch, tiny_model_dir):
    import torch.distributed.fsdp as fsdp

    monkeypatch.setattr(fsdp, "FullyShardedDataParallel", FakeFSDPRoot)
    root = FakeFSDPRoot()
    module = _module_under(root, tiny_model_dir)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=1.0)
    module.clip_gradients(opt, gradient_clip_val=5.0, gradient_clip_algorithm="norm")
    module.clip_gradients(opt, gradient_clip_val=1.0)  # the Trainer's default algorithm
    assert root.clipped == [5.0, 1.0]


def test_value_clipping_under_fsdp_is_still_lightnings(monkeypatch, tiny_model_dir):
    import torch.distributed.fsdp as fsdp

    monkeypatch.setattr(fsdp, "FullyShardedDataParallel", FakeFSDPRoot)
    root = FakeFSDPRoot()
    module = _module_under(root, tiny_model_dir)
    p = nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([3.0, -0.5])
    module.clip_gradients(torch.optim.SGD([p], lr=1.0), 1.0, "value")
    assert p.grad.tolist() == [1.0, -0.5] and root.clipped == []
