"""The run summaries a report is made from: `RunSummary` (one run's ``summary.json``),
`find_runs` (the summaries under some folders) and `load_runs` (read them, keeping the
latest of duplicate runs)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vthinker.evaluation.store import SUMMARY_JSON

log = logging.getLogger(__name__)

__all__ = ["RunSummary", "find_runs", "load_runs"]


@dataclass
class RunSummary:
    """What the report needs from one run's ``summary.json``.

    Attributes:
        path: The run folder.
        model: Model name (row label).
        benchmark: Benchmark key (column).
        task: ``qa``, ``grounding`` or ``caption``.
        frames: Frame budget of the run.
        metrics: Metric key -> value as a fraction (accuracy, mIoU, …) or, for caption
            scores, on their own 0-1 (CIDEr 0-10) scale.
        counts: Sample counts (``samples``, ``scored``, ``skipped``, …).
        skipped: ``{"id", "reason"}`` of each skipped sample.
        missing: Ids the run has not done yet.
        updated: ISO time the summary was written.
        intervals: Metric key -> its 95% interval (``mean``, ``low``, ``high``, ``se``,
            ``clusters``, ``cluster_by``; `vthinker.metrics.intervals`), where the run has one.
    """

    path: Path
    model: str
    benchmark: str
    task: str
    frames: int | None
    metrics: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    updated: str = ""
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> RunSummary:
        """Read a ``summary.json``; raises `ValueError` naming the file when it is not one."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable summary ({err})") from err
        missing = [k for k in ("model", "benchmark", "task", "metrics") if k not in data]
        if missing:
            raise ValueError(f"{path}: not an evaluation summary (no {', '.join(missing)})")
        frames = data.get("frames")
        return cls(
            path=path.parent,
            model=str(data["model"]),
            benchmark=str(data["benchmark"]),
            task=str(data["task"]),
            frames=int(frames) if isinstance(frames, int | float) else None,
            metrics={k: float(v) for k, v in data["metrics"].items() if _is_number(v)},
            counts=dict(data.get("counts", {})),
            skipped=list(data.get("skipped", [])),
            missing=list(data.get("missing", [])),
            updated=str(data.get("updated", "")),
            intervals=dict(data.get("intervals") or {}),
        )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def find_runs(paths: list[str | Path]) -> list[Path]:
    """``summary.json`` files of the given run folders (searched recursively when needed).

    Raises:
        FileNotFoundError: naming a path that does not exist or holds no summary.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == SUMMARY_JSON:
            found.append(p)
        elif (p / SUMMARY_JSON).is_file():
            found.append(p / SUMMARY_JSON)
        elif p.is_dir():
            inner = sorted(p.rglob(SUMMARY_JSON))
            if not inner:
                raise FileNotFoundError(f"{p}: no {SUMMARY_JSON} in this folder or below it")
            found.extend(inner)
        else:
            raise FileNotFoundError(f"{p}: no such run folder")
    return list(dict.fromkeys(found))


def load_runs(paths: list[str | Path]) -> list[RunSummary]:
    """Load every run under ``paths``; of duplicates (same model/benchmark/task/frames)
    keep the most recently updated one."""
    runs = [RunSummary.from_file(f) for f in find_runs(paths)]
    best: dict[tuple[str, str, str, int | None], RunSummary] = {}
    for run in runs:
        key = (run.model, run.benchmark, run.task, run.frames)
        if key in best:
            old = best[key]
            keep, drop = (run, old) if run.updated >= old.updated else (old, run)
            log.warning("two runs of %s: using %s, ignoring %s", key, keep.path, drop.path)
            print(f"warning: two runs of {key}: using {keep.path}, ignoring {drop.path}")
            best[key] = keep
        else:
            best[key] = run
    return list(best.values())
