"""The shipped 7B recipes build and take a step on CPU with the tiny model.

Everything a recipe sets stays as shipped (precision, policy dtype, LoRA/QLoRA settings,
frozen vision tower, gradient checkpointing, optimizer and learning rate, reference policy);
only the model path, the data, the accelerator, the lengths and (for the FSDP recipes, whose
strategy needs a GPU) the strategy are overridden to fit the tiny model on CPU.

- The QLoRA recipes: nf4 double-quant base, LoRA on the language model, paged 8-bit AdamW.
- Every recipe: its updates reach the weights. A weight whose gradient is non-zero
  must move; with bf16 weights an Adam step of about the learning rate is below half a
  bf16 ulp for most weights and is lost (the check TRL's tests make after a step).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

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


# base*.yaml are layers the recipes are built on (`config: base….yaml`), not recipes.
RECIPES = sorted(
    str(p.relative_to(ROOT / "configs"))
    for p in (ROOT / "configs").glob("[gs][rf]*/*.yaml")
    if not p.name.startswith("base")
)


def _shipped(recipe: str) -> dict:
    """The recipe's settings as the CLI resolves them (its layers applied)."""
    out = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        cli(["fit", "--config", str(ROOT / "configs" / recipe), "--print_config"])
    return yaml.safe_load(out.getvalue())


class UpdateReach(L.Callback):
    """Which trainable weights had a non-zero gradient at some step, and which moved."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.before = {
            n: p.detach().clone() for n, p in pl_module.policy.named_parameters() if p.requires_grad
        }
        self.graded: dict[str, torch.Tensor] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        for n, p in pl_module.policy.named_parameters():
            if p.requires_grad and p.grad is not None:
                nonzero = p.grad.detach() != 0
                self.graded[n] = self.graded[n] | nonzero if n in self.graded else nonzero

    def fraction_moved(self, pl_module) -> tuple[float, int]:
        after = dict(pl_module.policy.named_parameters())
        moved = graded = 0
        for n, mask in self.graded.items():
            changed = self.before[n] != after[n].detach()
            moved += int((changed & mask).sum())
            graded += int(mask.sum())
        return moved / max(graded, 1), graded


def test_recipes_are_all_checked():
    assert {"grpo/video_thinker_7b.yaml", "sft/video_thinker_7b.yaml"} <= set(RECIPES)
    assert all(r.startswith(("grpo/", "sft/")) for r in RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_update_reaches_the_weights(recipe, tiny_model_dir, toy_dir, tmp_path):
    shipped = _shipped(recipe)
    args = ["--config", str(ROOT / "configs" / recipe)]
    args += _overrides(tiny_model_dir, toy_dir, tmp_path)
    # Two steps: LoRA's A matrices get their first gradient at the second (B starts at 0).
    args += ["--trainer.devices", "1", "--trainer.max_steps", "2"]
    if shipped["trainer"]["strategy"] != "auto":
        args += ["--trainer.strategy", "auto"]  # FSDP1 needs a GPU (test_gpu.py runs it)
    if recipe.startswith("grpo/"):
        args += ["--model.init_args.rollout.max_new_tokens", "16"]
        if shipped["model"]["init_args"]["grpo"].get("overlong_buffer"):  # DAPO: 20% of 16
            args += ["--model.init_args.grpo.init_args.overlong_buffer", "3"]
    run = cli(args, run=False)
    module = run.model
    if recipe.startswith("grpo/"):
        # No judge endpoint here: keep the offline accuracy reward (T-GRPO's bonus reads it)
        # and add varied rewards.
        module.rewards = [r for r in module.rewards if r.name == "accuracy"] + [LengthReward()]
    reach = UpdateReach()
    run.trainer.callbacks.append(reach)
    assert run.trainer.precision == shipped["trainer"]["precision"]

    run.trainer.fit(module, datamodule=run.datamodule)

    fraction, graded = reach.fraction_moved(module)
    assert graded > 1000
    assert fraction >= 0.99, f"{recipe}: only {fraction:.1%} of the weights with a gradient moved"
