"""SFT and GRPO steps on a CUDA device: bf16 weights, sdpa attention, the tiny model.

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


def _fit(module, toy_dir, tmp_path, batch_size: int) -> L.Trainer:
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
        precision="bf16-true",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
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
