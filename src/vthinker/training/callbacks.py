"""Callbacks: curves people would rather look at than read, and predictions on disk.

`JsonlPredictionWriter` appends each ``predict`` batch's results to a JSONL file as
soon as the batch is done, so a crash loses at most the batch in flight.

`BatchBudget` stops training after a number of training batches (rollouts, in GRPO), whether
or not each made an optimizer step: DAPO's dynamic sampling spends several rollout batches
on some steps, so variants are compared at an equal rollout budget with it.

`MetricsPlot` records chosen metrics as they are logged and, when fit ends or
crashes, writes them as ``metrics_history.json`` and a PNG of one panel per
metric family in the run's log folder. It works with any logger (it reads
``trainer.callback_metrics``, not a logger's files).
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

__all__ = ["BatchBudget", "JsonlPredictionWriter", "MetricsPlot", "plot_history"]


class MetricsPlot(L.Callback):
    """Plot logged scalars against the optimizer step.

    Args:
        keys: Metric names to record (``train/loss``, ``val/loss``, …); names that are
            never logged are ignored.
        filename: PNG name, written in the logger's folder (or ``default_root_dir``).
    """

    def __init__(
        self,
        keys: list[str] | None = None,
        filename: str = "metrics.png",
    ) -> None:
        self.keys = keys or ["train/loss", "val/loss"]
        self.filename = filename
        self.history: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def _record(self, trainer: L.Trainer, validation: bool) -> None:
        for key in self.keys:
            if key.startswith("val/") != validation or key not in trainer.callback_metrics:
                continue
            value = float(trainer.callback_metrics[key])
            points = self.history[key]
            if math.isfinite(value) and (not points or points[-1][0] != trainer.global_step):
                points.append((trainer.global_step, value))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % max(1, trainer.log_every_n_steps) == 0:
            self._record(trainer, validation=False)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, validation=True)

    def _folder(self, trainer: L.Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)

    @rank_zero_only
    def _write(self, folder: Path) -> None:
        if not self.history:
            return
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics_history.json").write_text(json.dumps(self.history, indent=1))
        path = plot_history(self.history, folder / self.filename)
        log.info("wrote %s", path)
        print(f"metrics plot: {path}")

    def on_fit_end(self, trainer, pl_module) -> None:
        # trainer.log_dir broadcasts: every rank asks, rank 0 writes.
        self._write(self._folder(trainer))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # The other ranks may be anywhere: the logger's folder, asked without a broadcast.
        logger_dir = getattr(trainer.logger, "log_dir", None) if trainer.logger else None
        self._write(Path(logger_dir or trainer.default_root_dir))


def plot_history(history: dict[str, list[tuple[int, float]]], path: str | Path) -> Path:
    """One panel per metric name (``train/loss`` and ``val/loss`` share the ``loss`` panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, list[str]] = defaultdict(list)
    for key in history:
        panels[key.split("/", 1)[-1]].append(key)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.5 * nrows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (name, keys) in zip(axes.flat, panels.items(), strict=False):
        for key in keys:
            steps, values = zip(*history[key], strict=True) if history[key] else ((), ())
            ax.plot(steps, values, marker="o" if len(steps) < 20 else None, label=key)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


class BatchBudget(L.Callback):
    """Stop fit after ``max_batches`` training batches (each GRPO batch is one rollout).

    Args:
        max_batches: Training batches (``training_step`` calls) to run in all.
    """

    def __init__(self, max_batches: int) -> None:
        if max_batches < 1:
            raise ValueError(f"max_batches must be >= 1, got {max_batches}")
        self.max_batches = max_batches
        self.seen = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.seen >= self.max_batches:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, int]:
        return {"seen": self.seen}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.seen = int(state_dict.get("seen", 0))


class JsonlPredictionWriter(BasePredictionWriter):
    """Write ``predict_step`` results (lists of JSON-able dicts) to a JSONL file.

    Args:
        path: Output file; with several processes, rank ``r > 0`` writes ``<stem>.rank<r>.jsonl``.
        overwrite: Start a fresh file at the beginning of ``predict`` (else append).
    """

    def __init__(self, path: str, overwrite: bool = True) -> None:
        super().__init__(write_interval="batch")
        self.path = Path(path)
        self.overwrite = overwrite

    def _file(self, trainer: L.Trainer) -> Path:
        if trainer.global_rank == 0:
            return self.path
        return self.path.with_name(f"{self.path.stem}.rank{trainer.global_rank}{self.path.suffix}")

    def on_predict_start(self, trainer, pl_module) -> None:
        f = self._file(trainer)
        f.parent.mkdir(parents=True, exist_ok=True)
        if self.overwrite:
            f.write_text("")

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ) -> None:
        with self._file(trainer).open("a", encoding="utf-8") as f:
            for row in prediction:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def on_predict_end(self, trainer, pl_module) -> None:
        if trainer.global_rank == 0:
            print(f"predictions: {self.path}")
