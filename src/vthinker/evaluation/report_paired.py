"""Paired comparisons for the report: two models on the same questions.

For each benchmark and frame count, every model is compared with the baseline model on the
questions both scored: the mean per-question difference in correctness, in points, with its
95% interval clustered by video (`vthinker.metrics.intervals.paired_difference`). A
2-point gap whose interval contains 0 is not evidence that one model is better.
"""

from __future__ import annotations

from typing import Any

from vthinker.evaluation.report_runs import RunSummary
from vthinker.evaluation.store import read_rows
from vthinker.metrics.intervals import paired_difference

__all__ = ["paired_comparisons"]


def _scores(run: RunSummary) -> tuple[dict[str, float], dict[str, str]]:
    """Correctness (0/1) per scored question of a run, and each question's video."""
    correct, videos = {}, {}
    for row in read_rows(run.path):
        if row.get("status") == "ok":
            correct[row["id"]] = float(bool(row.get("correct")))
            if row.get("video"):
                videos[row["id"]] = str(row["video"])
    return correct, videos


def paired_comparisons(runs: list[RunSummary], baseline: str | None = None) -> list[dict[str, Any]]:
    """Each QA run against the baseline model's run on the same benchmark and frame count.

    Args:
        runs: Loaded runs (their folders' ``predictions.jsonl`` are read).
        baseline: The model compared against (default: the model of the first QA run).

    Returns:
        One row per comparison: ``model``, ``baseline``, ``benchmark``, ``frames``,
        ``questions``, ``clusters``, ``cluster_by``, ``difference``, ``low``, ``high``
        (points; None with fewer than 2 clusters); none when no benchmark has the baseline
        and another model.
    """
    qa = [r for r in runs if r.task == "qa"]
    if not qa:
        return []
    baseline = baseline or qa[0].model
    out = []
    for base in (r for r in qa if r.model == baseline):
        others = [
            r
            for r in qa
            if r.model != baseline and (r.benchmark, r.frames) == (base.benchmark, base.frames)
        ]
        if not others:
            continue
        base_scores, videos = _scores(base)
        for run in sorted(others, key=lambda r: r.model):
            scores, more = _scores(run)
            if not base_scores.keys() & scores.keys():
                continue
            by_video = {**more, **videos}
            d = paired_difference(scores, base_scores, by_video)
            shared = base_scores.keys() & scores.keys()
            known = d.clusters >= 2  # one video: no spread between videos to measure
            out.append(
                {
                    "model": run.model,
                    "baseline": baseline,
                    "benchmark": base.benchmark,
                    "frames": base.frames,
                    "questions": d.n,
                    "clusters": d.clusters,
                    "cluster_by": "video" if all(q in by_video for q in shared) else "question",
                    "difference": 100 * d.mean,
                    "low": 100 * d.low if known else None,
                    "high": 100 * d.high if known else None,
                }
            )
    return out
