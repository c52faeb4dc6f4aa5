"""Test helper shared by the training tests: a short CPU fit on the toy data."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule


def fit_toy(
    module: L.LightningModule,
    toy_dir: Path,
    tmp_path: Path,
    steps: int = 1,
    batches: int | None = None,
    callbacks: list[L.Callback] | None = None,
) -> L.Trainer:
    """Fit ``module`` for ``steps`` steps (one epoch at most) on ``toy_dir/train.jsonl``.

    One prompt per batch, 4 frames of at most 112 x 112 pixels; no logger, checkpoints or
    progress bar; every step logged.
    """
    dm = VideoQADataModule(
        train_file=str(toy_dir / "train.jsonl"),
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=1,
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        limit_train_batches=batches,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=callbacks or [],
        log_every_n_steps=1,
    )
    trainer.fit(module, datamodule=dm)
    return trainer


def demo_fit_args(
    configs: list[Path],
    tiny_model_dir: Path,
    out: Path,
    *,
    train_file: Path | None = None,
    completions_every: int = 0,
    steps: int = 2,
) -> list[str]:
    """``vthinker fit`` arguments for a short CPU run of demo ``configs`` (layered in order):
    the tiny model, ``train_file`` (None keeps the config's data), no validation, callbacks,
    checkpoints or export; G = 2 completions of at most 8 tokens; ``steps`` steps into ``out``
    (which callers may add their own overrides after)."""
    args = ["fit"]
    for config in configs:
        args += ["--config", str(config)]
    args += ["--model.init_args.policy.name_or_path", str(tiny_model_dir)]
    if train_file is not None:
        args += ["--data.init_args.train_file", str(train_file)]
    settings = {
        "data.init_args.val_file": "null",
        "data.init_args.num_workers": "0",
        "trainer.max_steps": str(steps),
        "trainer.limit_val_batches": "0",
        "trainer.callbacks": "[]",
        "trainer.enable_checkpointing": "false",
        "trainer.enable_progress_bar": "false",
        "trainer.default_root_dir": str(out),
        "model.init_args.grpo.init_args.group_size": "2",
        "model.init_args.rollout.init_args.max_new_tokens": "8",
        "model.init_args.log_completions_every": str(completions_every),
        "model.init_args.export_hf": "false",
    }
    for key, value in settings.items():
        args += [f"--{key}", value]
    return args
