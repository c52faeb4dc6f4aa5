"""The shipped single-GPU QLoRA recipes build and take a step on CPU with the tiny model.

Everything the 24 GB recipe sets stays as shipped (nf4 double-quant base, bf16-true, LoRA
on the language model, frozen vision tower, gradient checkpointing, paged 8-bit AdamW,
reference = adapters off); only the model path, the data, the accelerator and the
lengths are overridden to fit the tiny model on CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vthinker.cli import cli
from vthinker.rewards import Reward

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


class LengthReward(Reward):
    """A varied reward for the random tiny model, whose samples all fail accuracy and format
    (equal rewards give zero advantages and, rightly, no update)."""

    name = "length"

    def score(self, completion, sample):
        return len(completion) / 100.0


def _overrides(tiny_model_dir: Path, toy_dir: Path, tmp_path: Path) -> list[str]:
    return [
        "--model.init_args.policy.name_or_path",
        str(tiny_model_dir),
        "--model.init_args.export_hf",
        "false",
        "--trainer.accelerator",
        "cpu",
        "--trainer.max_steps",
        "1",
        "--trainer.accumulate_grad_batches",
        "1",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.callbacks",
        "[]",
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.logger.init_args.save_dir",
        str(tmp_path),
        "--data.init_args.train_file",
        str(toy_dir / "train.jsonl"),
        "--data.init_args.val_file",
        "null",
        "--data.init_args.video_root",
        str(toy_dir),
        "--data.init_args.batch_size",
        "1",
        "--data.init_args.num_workers",
        "0",
        "--data.init_args.max_pixels",
        "12544",
        "--data.init_args.frames.max_frames",
        "4",
    ]


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_qlora_recipe_takes_a_step_on_cpu(stage, tiny_model_dir, toy_dir, tmp_path):
    import bitsandbytes as bnb

    args = ["--config", str(ROOT / f"configs/{stage}/video_thinker_7b_qlora.yaml")]
    args += _overrides(tiny_model_dir, toy_dir, tmp_path)
    if stage == "grpo":
        args += ["--model.init_args.rollout.max_new_tokens", "16"]
    run = cli(args, run=False)
    module = run.model
    module.configure_model()
    policy = module.policy
    four_bit = [n for n, m in policy.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and not any("visual" in n for n in four_bit)
    assert all(not p.requires_grad for n, p in policy.named_parameters() if "visual" in n)
    trainable = {n: p.detach().clone() for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    if stage == "grpo":
        assert module.ref_model is None  # reference = the same weights with adapters off
        module.rewards = [LengthReward()]

    run.trainer.fit(module, datamodule=run.datamodule)

    assert isinstance(module.optimizers().optimizer, bnb.optim.PagedAdamW8bit)
    after = dict(policy.named_parameters())
    changed = [n for n, before in trainable.items() if not torch.equal(before, after[n])]
    assert changed, "no LoRA parameter changed"
    assert all(torch.isfinite(after[n]).all() for n in trainable)
