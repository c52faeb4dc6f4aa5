"""Callbacks: curves people would rather look at than read.

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
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

__all__ = ["MetricsPlot", "plot_history"]


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

    def _record(self, trainer: L.Trainer, prefix: str) -> None:
        for key in self.keys:
            if not key.startswith(prefix) or key not in trainer.callback_metrics:
                continue
            value = float(trainer.callback_metrics[key])
            points = self.history[key]
            if math.isfinite(value) and (not points or points[-1][0] != trainer.global_step):
                points.append((trainer.global_step, value))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % max(1, trainer.log_every_n_steps) == 0:
            self._record(trainer, "train/")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, "val/")

    def _folder(self, trainer: L.Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)

    @rank_zero_only
    def _write(self, trainer: L.Trainer) -> None:
        if not self.history:
            return
        folder = self._folder(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics_history.json").write_text(json.dumps(self.history, indent=1))
        path = plot_history(self.history, folder / self.filename)
        log.info("wrote %s", path)
        print(f"metrics plot: {path}")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._write(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._write(trainer)


def plot_history(history: dict[str, list[tuple[int, float]]], path: str | Path) -> Path:
    """One panel per metric name (``train/loss`` and ``val/loss`` share the ``loss`` panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, list[str]] = defaultdict(list)
    for key in history:
        panels[key.split("/", 1)[-1]].append(key)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels.items(), strict=True):
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
