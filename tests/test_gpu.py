"""SFT and GRPO steps on a CUDA device: bf16 base weights, bf16-mixed, sdpa, the tiny model.

Skipped without CUDA (the CI machine has none). On a GPU machine: ``pytest -m gpu``.
Each test checks the loss is finite and that the trainable parameters change.
"""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.models.policy import LoraSettings, PolicyConfig
from vthinker.rewards import FormatReward, Reward
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings
from vthinker.training.sft import SFTModule

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


class LengthReward(Reward):
    """Varied rewards for the random tiny model (equal rewards would give no update)."""

    name = "length"

    def score(self, completion, sample):
        return len(completion) / 100.0


def _policy(tiny_model_dir, lora: bool) -> PolicyConfig:
    return PolicyConfig(
        str(tiny_model_dir),
        dtype="bfloat16",
        attn_implementation="sdpa",
        lora=LoraSettings(r=4, alpha=8, dropout=0.0) if lora else None,
    )


def _fit(module, toy_dir, tmp_path, batch_size: int, **trainer_kwargs) -> L.Trainer:
    dm = VideoQADataModule(
        train_file=str(toy_dir / "train.jsonl"),
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=batch_size,
    )
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        precision="bf16-mixed",  # as the recipes: bf16 compute, fp32 adapters
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **trainer_kwargs,
    )
    trainer.fit(module, datamodule=dm)
    return trainer


def _trainable(module) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().float().cpu().clone()
        for n, p in module.policy.named_parameters()
        if p.requires_grad
    }


def _assert_changed(before, module) -> None:
    after = _trainable(module)
    assert before.keys() == after.keys() and before
    assert any(not torch.equal(before[n], after[n]) for n in before)
    assert all(torch.isfinite(t).all() for t in after.values())


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_sft_steps_on_gpu(tiny_model_dir, toy_dir, tmp_path, lora):
    L.seed_everything(0)
    module = SFTModule(
        _policy(tiny_model_dir, lora),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3),
        export_hf=False,
    )
    module.configure_model()
    before = _trainable(module)
    trainer = _fit(module, toy_dir, tmp_path, batch_size=2)
    assert next(module.policy.parameters()).is_cuda
    assert module.policy.config._attn_implementation == "sdpa"
    assert math.isfinite(float(trainer.callback_metrics["train/loss"]))
    _assert_changed(before, module)


def test_grpo_steps_on_gpu(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = GRPOModule(
        _policy(tiny_model_dir, lora=True),
        rewards=[LengthReward(), FormatReward()],
        grpo=GRPOSettings(group_size=4, beta=0.04),
        rollout=RolloutSettings(max_new_tokens=24),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3),
        log_completions_every=0,
        export_hf=False,
    )
    module.configure_model()
    before = _trainable(module)
    trainer = _fit(module, toy_dir, tmp_path, batch_size=2)
    m = trainer.callback_metrics
    assert math.isfinite(float(m["train/loss"])) and math.isfinite(float(m["train/kl"]))
    assert float(m["train/completion_len_mean"]) > 0
    _assert_changed(before, module)


class _Params(L.Callback):
    """Trainable parameters at the start and end of fit (full tensors: one rank)."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.before = _trainable(pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self.after = _trainable(pl_module)


@pytest.mark.parametrize("mode", ["sft", "grpo"])
def test_fsdp_steps_with_norm_clipping_on_gpu(tiny_model_dir, toy_dir, tmp_path, mode):
    """Lightning's FSDPStrategy (FSDP1) with the 7B recipes' clipping and fp32 master
    weights (bf16-mixed): the step runs and every trainable weight moves."""
    from lightning.pytorch.strategies import FSDPStrategy
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLDecoderLayer

    L.seed_everything(0)
    policy = PolicyConfig(str(tiny_model_dir), dtype="float32", attn_implementation="sdpa")
    opt = lambda p: torch.optim.AdamW(p, lr=5e-6)  # noqa: E731 - the paper's GRPO rate
    if mode == "sft":
        module = SFTModule(policy, optimizer=opt, export_hf=False)
    else:
        module = GRPOModule(
            policy,
            rewards=[LengthReward(), FormatReward()],
            grpo=GRPOSettings(group_size=4, beta=0.04, max_grad_norm=5.0),
            rollout=RolloutSettings(max_new_tokens=24),
            optimizer=opt,
            log_completions_every=0,
            export_hf=False,
        )
    params = _Params()
    trainer = _fit(
        module,
        toy_dir,
        tmp_path,
        batch_size=2,
        strategy=FSDPStrategy(auto_wrap_policy={Qwen2_5_VLDecoderLayer}),
        gradient_clip_val=1.0 if mode == "sft" else None,
        callbacks=[params],
    )
    assert math.isfinite(float(trainer.callback_metrics["train/loss"]))
    changed = [not torch.equal(params.before[n], params.after[n]) for n in params.before]
    assert sum(changed) / len(changed) >= 0.99
