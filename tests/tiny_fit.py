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
