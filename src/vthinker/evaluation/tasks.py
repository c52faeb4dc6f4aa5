"""Evaluation tasks: each owns how an output is scored, the value shown while decoding,
its part of the summary and its headline.

A task is chosen by name (``EvalModule(task="qa")``, the ``task`` key of an eval config):

- ``qa`` (`QATask`): answer accuracy, broken down by ``group_by`` fields;
- ``grounding`` (`GroundingTask`): mIoU and recall at IoU thresholds of the predicted spans;
- ``caption`` (`CaptionTask`): BLEU-1..4, METEOR, ROUGE-L and CIDEr.

How each scores one output is in `vthinker.evaluation.scoring`. `summarize` builds a run's
summary from its rows (so a resumed run is scored over the old and new rows alike):
skipped samples (missing or broken video, too long) are counted and listed, never scored
as wrong. A new task is a subclass registered in `TASKS`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from vthinker.data.schema import VideoSample
from vthinker.evaluation.scoring import (
    CAPTION_FROM,
    caption_metrics,
    gold_spans,
    grounding_metrics,
    group_accuracy,
    run_statistics,
    score_caption,
    score_grounding,
    score_qa,
)
from vthinker.metrics.intervals import clustered_mean
from vthinker.trace import Trace

__all__ = [
    "CAPTION_KEYS",
    "GROUNDING_KEYS",
    "TASKS",
    "CaptionTask",
    "EvalTask",
    "GroundingTask",
    "QATask",
    "make_task",
    "score_output",
    "summarize",
]

GROUNDING_KEYS: dict[str, str] = {
    "miou": "mIoU",
    "r@0.3": "R@0.3",
    "r@0.5": "R@0.5",
    "r@0.7": "R@0.7",
}
"""Grounding metric key (summary.json) -> column header."""
CAPTION_KEYS: dict[str, str] = {
    "bleu_1": "BLEU-1",
    "bleu_2": "BLEU-2",
    "bleu_3": "BLEU-3",
    "bleu_4": "BLEU-4",
    "meteor": "METEOR",
    "rouge_l": "ROUGE-L",
    "cider": "CIDEr",
}
"""Caption metric key (summary.json) -> column header."""

Row = dict[str, Any]


class EvalTask:
    """One kind of benchmark question: scoring, running value, summary, headline.

    Args:
        group_by: Row ``groups`` fields to break accuracy down by.
        thresholds: IoU thresholds of grounding recalls (also for the reasoning's spans).
        grounding_mode: ``max`` (best IoU per gold span) or ``top1``.
        caption_from: ``auto``, ``answer`` or ``segments`` (caption scoring).
    """

    name: ClassVar[str]
    progress_key: ClassVar[str]
    """Name of the running value on the progress bar."""

    def __init__(
        self,
        group_by: list[str] | None = None,
        thresholds: tuple[float, ...] = (0.3, 0.5, 0.7),
        grounding_mode: str = "max",
        caption_from: str = "auto",
    ) -> None:
        if caption_from not in CAPTION_FROM:
            raise ValueError(f"caption_from must be one of {CAPTION_FROM}, got {caption_from!r}")
        if grounding_mode not in ("max", "top1"):
            raise ValueError(f"grounding_mode must be 'max' or 'top1', got {grounding_mode!r}")
        self.group_by = list(group_by or [])
        self.thresholds = tuple(thresholds)
        self.grounding_mode = grounding_mode
        self.caption_from = caption_from

    def score(self, sample: VideoSample, text: str, trace: Trace) -> Row:
        """The task's fields of a prediction row.

        Raises:
            ValueError: when the gold answer cannot be read for the sample's problem type.
        """
        raise NotImplementedError

    def score_row(self, sample: VideoSample, text: str, trace: Trace) -> Row:
        """The scoring fields of a prediction row: the spans every task keeps (predicted,
        gold, unparseable ``<time>`` texts), then the task's own (`score`)."""
        row: Row = {
            "pred_spans": [list(s) for s in trace.spans],
            "gold_spans": gold_spans(sample),
            "unparseable_times": [
                s.time_text for s in trace.segments if s.time_text is not None and s.span is None
            ],
        }
        row.update(self.score(sample, text, trace))
        return row

    def running_value(self, row: Row) -> float:
        """This row's share of the running value shown while decoding."""
        return float(row["trace"]["well_formed"])

    def summarize(self, done: list[Row], counts: dict[str, int]) -> tuple[dict, dict]:
        """Adds the task's counts to ``counts``; returns its metrics and groups."""
        raise NotImplementedError

    def headline(self, metrics: dict[str, float]) -> str:
        """The main metric in words (``accuracy 61.20%``)."""
        raise NotImplementedError

    def intervals(self, done: list[Row]) -> dict[str, dict[str, Any]]:
        """95% intervals of the task's per-question metrics, clustered by video
        (`vthinker.metrics.intervals`); none by default (corpus-level scores)."""
        return {}


class QATask(EvalTask):
    """Answer accuracy (`vthinker.evaluation.scoring.score_qa`)."""

    name = "qa"
    progress_key = "acc"

    def score(self, sample: VideoSample, text: str, trace: Trace) -> Row:
        return score_qa(sample, text)

    def running_value(self, row: Row) -> float:
        return float(bool(row.get("correct")))

    def summarize(self, done: list[Row], counts: dict[str, int]) -> tuple[dict, dict]:
        counts["correct"] = sum(bool(r.get("correct")) for r in done)
        counts["no_answer"] = sum(r.get("extracted") is None for r in done)
        metrics = {"accuracy": counts["correct"] / len(done)} if done else {}
        return metrics, group_accuracy(done, self.group_by)

    def headline(self, metrics: dict[str, float]) -> str:
        return (
            f"accuracy {100 * metrics['accuracy']:.2f}%" if "accuracy" in metrics else "accuracy –"
        )

    def intervals(self, done: list[Row]) -> dict[str, dict[str, Any]]:
        if not done:
            return {}
        by_video = all(r.get("video") for r in done)
        labels = [r["video"] if by_video else r["id"] for r in done]
        ci = clustered_mean([float(bool(r.get("correct"))) for r in done], labels)
        if ci.clusters < 2:  # all questions on one video: no spread between videos to measure
            return {}
        return {"accuracy": {**ci.to_json(), "cluster_by": "video" if by_video else "question"}}


class GroundingTask(EvalTask):
    """IoU of the predicted spans (`vthinker.evaluation.scoring.score_grounding`)."""

    name = "grounding"
    progress_key = "miou"

    def score(self, sample: VideoSample, text: str, trace: Trace) -> Row:
        return score_grounding(sample, trace)

    def running_value(self, row: Row) -> float:
        ious = row.get("iou") or [0.0]
        return sum(ious) / len(ious)

    def summarize(self, done: list[Row], counts: dict[str, int]) -> tuple[dict, dict]:
        usable = [r for r in done if r.get("grounding_gold")]
        counts["no_reference"] = len(done) - len(usable)
        counts["no_prediction"] = sum(not r.get("grounding_pred") for r in usable)
        if not usable:
            return {}, {}
        preds = [r["grounding_pred"] for r in usable]
        golds = [r["grounding_gold"] for r in usable]
        return grounding_metrics(preds, golds, self.thresholds, self.grounding_mode), {}

    def headline(self, metrics: dict[str, float]) -> str:
        return f"mIoU {100 * metrics['miou']:.2f}" if "miou" in metrics else "mIoU –"


class CaptionTask(EvalTask):
    """Caption scores (`vthinker.evaluation.scoring.score_caption`)."""

    name = "caption"
    progress_key = "format"

    def score(self, sample: VideoSample, text: str, trace: Trace) -> Row:
        return score_caption(sample, trace, self.caption_from)

    def summarize(self, done: list[Row], counts: dict[str, int]) -> tuple[dict, dict]:
        pairs = [p for r in done for p in r.get("caption_pairs", [])]
        counts["no_reference"] = sum(not r.get("caption_pairs") for r in done)
        counts["caption_pairs"] = len(pairs)
        counts["empty_predictions"] = sum(not p["pred"] for p in pairs)
        return (caption_metrics(pairs) if pairs else {}), {}

    def headline(self, metrics: dict[str, float]) -> str:
        shown = [k for k in CAPTION_KEYS if k in metrics]
        return ", ".join(f"{CAPTION_KEYS[k]} {100 * metrics[k]:.2f}" for k in shown)


TASKS: dict[str, type[EvalTask]] = {t.name: t for t in (QATask, GroundingTask, CaptionTask)}


def make_task(name: str, **settings: Any) -> EvalTask:
    """The task called ``name`` with its settings (`EvalTask`'s arguments)."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name](**settings)


def score_output(
    task: str, sample: VideoSample, text: str, trace: Trace, caption_from: str = "auto"
) -> Row:
    """The scoring fields of a prediction row: the spans every task keeps, then the task's.

    Args:
        task: ``qa``, ``grounding`` or ``caption``.
        sample: The question with its gold answer and evidence.
        text: The raw model output.
        trace: ``parse_trace(text)``.
        caption_from: ``auto``, ``answer`` or ``segments`` (caption task only).

    Raises:
        ValueError: when the gold answer cannot be read for the sample's problem type
            (a multiple-choice gold that is no letter, a numerical gold without a number).
    """
    return make_task(task, caption_from=caption_from).score_row(sample, text, trace)


def summarize(
    rows: list[Row],
    task: str | EvalTask,
    group_by: list[str] | None = None,
    thresholds: tuple[float, ...] = (0.3, 0.5, 0.7),
    grounding_mode: str = "max",
) -> dict[str, Any]:
    """Counts, metrics (fractions) and per-group results of a run's rows.

    Args:
        rows: ``predictions.jsonl`` rows, one per sample id.
        task: The run's task (a name, with the settings below, or an `EvalTask`).
        group_by: Names of the ``groups`` fields to break accuracy down by (QA).
        thresholds: IoU thresholds for grounding recall.
        grounding_mode: ``max`` (paper) or ``top1``.

    Returns:
        ``{"counts", "metrics", "groups", "intervals", "grounding_of_reasoning", "skipped",
        "skip_reasons", "timing", "frames_used"}``; metrics of an empty run are absent,
        never NaN; ``intervals`` holds the 95% interval of accuracy, clustered by video.
    """
    if isinstance(task, str):
        task = make_task(
            task, group_by=group_by, thresholds=thresholds, grounding_mode=grounding_mode
        )
    done = [r for r in rows if r.get("status") == "ok"]
    counts = {
        "samples": len(rows),
        "scored": len(done),
        "skipped": sum(r.get("status") == "skipped" for r in rows),
        "well_formed": sum(bool(r.get("trace", {}).get("well_formed")) for r in done),
        "truncated": sum(bool(r.get("truncated")) for r in done),
        "unparseable_times": sum(bool(r.get("unparseable_times")) for r in done),
    }
    metrics: dict[str, float] = {"format_rate": counts["well_formed"] / len(done)} if done else {}
    task_metrics, groups = task.summarize(done, counts)
    metrics.update(task_metrics)
    return {
        "counts": counts,
        "metrics": {k: v for k, v in metrics.items() if math.isfinite(v)},
        "groups": groups,
        "intervals": task.intervals(done),
        **run_statistics(rows, done, task.name, task.thresholds, task.grounding_mode),
    }
