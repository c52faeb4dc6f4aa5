"""GRPO on the toy task, from the demo SFT model: the reward rises; a sign error collapses it.

This runs the demo recipe for real (the SFT config, then the GRPO config, on CPU) and
takes a few minutes. Measured on this project's CPU machine over three seeds, the mean
total reward over the last 20% of the 80 steps was above the first 20% by +0.11 to +0.20
with the demo's 4 prompts per step (BENCHMARKS.md; the 16-step means have a standard
error of 0.03-0.04). The test asserts a gain of at least +0.05, and runs a shorter
control with the policy-gradient sign flipped, whose reward collapses: a sign error in
the loss fails both assertions.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import vthinker.training.grpo as grpo_mod
from vthinker.cli import cli
from vthinker.data.toy import make_toy_dataset

ROOT = Path(__file__).resolve().parents[1]
STEPS = 80
CONTROL_STEPS = 40
MIN_GAIN = 0.05

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_sft(tiny_model_dir, tmp_path_factory):
    """The demo SFT model, trained with configs/demo/sft.yaml on the default toy data."""
    root = tmp_path_factory.mktemp("demo")
    toy = root / "toy"
    make_toy_dataset(toy)
    out = root / "sft"
    cli(
        [
            "fit",
            "--config",
            str(ROOT / "configs/demo/sft.yaml"),
            "--model.init_args.policy.name_or_path",
            str(tiny_model_dir),
            "--model.init_args.export_dir",
            str(out / "hf"),
            "--data.init_args.train_file",
            str(toy / "train.jsonl"),
            "--data.init_args.val_file",
            str(toy / "val.jsonl"),
            "--data.init_args.predict_file",
            str(toy / "test.jsonl"),
            "--trainer.default_root_dir",
            str(out),
            "--trainer.logger.init_args.save_dir",
            str(out),
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    return out / "hf", toy


def _grpo_rewards(sft: Path, toy: Path, out: Path, steps: int = STEPS) -> list[float]:
    cli(
        [
            "fit",
            "--config",
            str(ROOT / "configs/demo/grpo.yaml"),
            "--model.init_args.policy.name_or_path",
            str(sft),
            "--model.init_args.export_hf",
            "false",
            "--data.init_args.train_file",
            str(toy / "train.jsonl"),
            "--data.init_args.val_file",
            str(toy / "val.jsonl"),
            "--trainer.max_steps",
            str(steps),
            "--trainer.limit_val_batches",
            "0",
            "--trainer.default_root_dir",
            str(out),
            "--trainer.logger.init_args.save_dir",
            str(out),
            "--trainer.callbacks",
            "[]",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    rows = csv.DictReader(next(out.rglob("metrics.csv")).open())
    return [float(r["reward/total_mean"]) for r in rows if r.get("reward/total_mean")]


def _first_last(rewards: list[float]) -> tuple[float, float]:
    k = max(1, len(rewards) // 5)
    return sum(rewards[:k]) / k, sum(rewards[-k:]) / k


def test_grpo_raises_the_total_reward(demo_sft, tmp_path, monkeypatch, capsys):
    sft, toy = demo_sft
    rewards = _grpo_rewards(sft, toy, tmp_path / "grpo")
    assert len(rewards) == STEPS
    first, last = _first_last(rewards)

    # Control: the same run, shorter, with the policy-gradient sign flipped.
    real = grpo_mod.grpo_loss

    def flipped(*args, **kwargs):
        loss, stats = real(*args, **kwargs)
        return -loss, stats

    monkeypatch.setattr(grpo_mod, "grpo_loss", flipped)
    control = _grpo_rewards(sft, toy, tmp_path / "control", steps=CONTROL_STEPS)
    c_first, c_last = _first_last(control)
    with capsys.disabled():
        print(
            f"\nGRPO mean total reward, first 20% of {STEPS} steps: {first:.3f}, last 20%: "
            f"{last:.3f} (gain {last - first:+.3f}); sign-flipped control over "
            f"{CONTROL_STEPS} steps: {c_first:.3f} -> {c_last:.3f}"
        )
    assert last >= first + MIN_GAIN, (first, last)
    assert c_last < c_first - 0.1, (c_first, c_last)
