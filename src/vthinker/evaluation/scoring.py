"""Score one model output, and summarise a run from its rows.

`score_output` turns (sample, output text) into the JSON fields of a
``predictions.jsonl`` row for one of the three evaluation tasks:

- ``qa``: the answer is extracted with `vthinker.extract.extract_answer`
  (last ``<answer>``, else "Final answer:", else the whole output; then the option
  letter) and compared with the gold by `is_correct`. An output with no extractable
  answer is wrong.
- ``grounding``: the predicted spans are the parseable ``<time>`` spans of the output,
  or, for a ``temporal grounding`` question, the span in its answer (found as
  `extract_answer` finds answers: last ``<answer>``, else "Final answer:", else the
  whole output). The gold spans are
  the sample's evidence windows (or its answer span when it has none). Unparseable or
  inverted times are not spans: an output without any scores IoU 0.
- ``caption``: for a "describe the video segment" question (one without options) the
  prediction is the answer (else the ``<caption>`` texts, else the output without tags)
  and the references are the evidence captions (else the gold answer). For a question
  with options, each evidence window with a caption is paired with the caption of the
  predicted segment that overlaps it most (``""`` when none does). Empty evidence
  captions are not references; a sample with none is counted as ``no_reference`` and
  left out of the caption scores.

Every row also keeps the predicted ``<time>`` spans and the gold evidence spans, so the
summary of a QA run on data with evidence also reports how well the model grounds the
windows it reasons about.

`summarize` computes the run's metrics from the rows alone (so a resumed run is scored
over the old and new rows alike): skipped samples (missing or broken video, too long)
are counted and listed, never scored as wrong.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from vthinker.data.schema import VideoSample
from vthinker.extract import answer_span, extract_answer, extract_time_span, is_correct
from vthinker.metrics import CaptionScores, ChoiceAccuracy, TemporalGrounding, max_iou_per_gt
from vthinker.trace import Trace, parse_time_span

__all__ = [
    "CAPTION_FROM",
    "GROUNDING_PROBLEM_TYPE",
    "TASKS",
    "group_values",
    "score_output",
    "summarize",
    "trace_to_json",
]

TASKS = ("qa", "grounding", "caption")
CAPTION_FROM = ("auto", "answer", "segments")
GROUNDING_PROBLEM_TYPE = "temporal grounding"
_TAG = re.compile(r"</?(?:time|caption|think|answer)>", re.IGNORECASE)
_NO_VALUE = "(none)"


def trace_to_json(trace: Trace) -> dict[str, Any]:
    """The parsed trace as JSON: segments, spans, answer, well_formed."""
    return {
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "time_text": s.time_text,
                "caption": s.caption,
                "think": s.think,
            }
            for s in trace.segments
        ],
        "spans": [list(s) for s in trace.spans],
        "answer": trace.answer,
        "well_formed": trace.well_formed,
    }


def group_values(sample: VideoSample, fields: list[str]) -> dict[str, str]:
    """Values of the grouping fields: a `VideoSample` attribute, else a ``meta`` key."""
    out = {}
    for name in fields:
        if name in VideoSample.__dataclass_fields__ and name != "meta":
            value = getattr(sample, name)
        else:
            value = sample.meta.get(name)
        out[name] = _NO_VALUE if value is None or value == "" else str(value)
    return out


def _gold_spans(sample: VideoSample) -> list[list[float]]:
    return [[e.start, e.end] for e in sample.evidence]


def _score_qa(sample: VideoSample, text: str) -> dict[str, Any]:
    # Read the gold first: an unreadable gold raises whatever the model wrote.
    is_correct(sample.answer, sample.answer, sample.problem_type)
    extracted = extract_answer(text, sample.options or None, sample.problem_type)
    correct = extracted is not None and bool(
        is_correct(extracted, sample.answer, sample.problem_type)
    )
    return {"extracted": extracted, "correct": correct}


def _gold_answer_span(answer: str) -> tuple[float, float] | None:
    try:
        return parse_time_span(answer)
    except ValueError:
        return None


def _score_grounding(sample: VideoSample, trace: Trace) -> dict[str, Any]:
    from_answer = sample.problem_type == GROUNDING_PROBLEM_TYPE
    if from_answer:
        span = extract_time_span(answer_span(trace.text))
        pred = [list(span)] if span is not None else []
    else:
        pred = [list(s) for s in trace.spans]
    gold = _gold_spans(sample)
    if not gold and from_answer and (g := _gold_answer_span(sample.answer)) is not None:
        gold = [list(g)]
    return {
        "grounding_pred": pred,
        "grounding_gold": gold,
        "grounding_from": "answer" if from_answer else "time",
        "iou": max_iou_per_gt(pred, gold) if gold else [],
    }


def _strip_tags(text: str) -> str:
    return " ".join(_TAG.sub(" ", text).split())


def _overlap(a: list[float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _score_caption(sample: VideoSample, trace: Trace, caption_from: str) -> dict[str, Any]:
    mode = caption_from
    if mode == "auto":
        mode = "segments" if sample.options else "answer"
    pairs: list[dict[str, Any]] = []
    if mode == "answer":
        refs = [e.caption.strip() for e in sample.evidence if e.caption.strip()]
        if not refs and sample.answer.strip():
            refs = [sample.answer.strip()]
        if trace.answer is not None:
            pred = trace.answer
        elif trace.captions:
            pred = " ".join(trace.captions)
        else:
            pred = _strip_tags(trace.text)
        if refs:
            pairs.append({"pred": pred.strip(), "refs": refs})
    else:
        segments = [s for s in trace.segments if s.span is not None]
        for e in sample.evidence:
            if not e.caption.strip():
                continue
            best = max(segments, key=lambda s: _overlap([e.start, e.end], s.span), default=None)
            hit = best is not None and _overlap([e.start, e.end], best.span) > 0
            pred = (best.caption or "") if hit else ""
            pairs.append({"pred": pred.strip(), "refs": [e.caption.strip()]})
    return {"caption_from": mode, "caption_pairs": pairs}


def score_output(
    task: str, sample: VideoSample, text: str, trace: Trace, caption_from: str = "auto"
) -> dict[str, Any]:
    """The task's scoring fields of a prediction row (see the module docstring).

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
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if caption_from not in CAPTION_FROM:
        raise ValueError(f"caption_from must be one of {CAPTION_FROM}, got {caption_from!r}")
    row: dict[str, Any] = {
        "pred_spans": [list(s) for s in trace.spans],
        "gold_spans": _gold_spans(sample),
        "unparseable_times": [
            s.time_text for s in trace.segments if s.time_text is not None and s.span is None
        ],
    }
    if task == "qa":
        row.update(_score_qa(sample, text))
    elif task == "grounding":
        row.update(_score_grounding(sample, trace))
    else:
        row.update(_score_caption(sample, trace, caption_from))
    return row


# --- summary ----------------------------------------------------------------------------------


def _grounding(
    preds: list[list[list[float]]],
    golds: list[list[list[float]]],
    thresholds: tuple[float, ...],
    mode: str,
) -> dict[str, float]:
    metric = TemporalGrounding(thresholds=thresholds, mode=mode)
    metric.update(preds, golds)
    return {k: float(v) for k, v in metric.compute().items()}


def _group_accuracy(
    rows: list[dict[str, Any]], fields: list[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{field: {value: {"n", "correct", "accuracy"}}}`` with `ChoiceAccuracy`."""
    if not rows or not fields:
        return {}
    metric = ChoiceAccuracy(group_by=fields)
    metric.update(
        [bool(r.get("correct")) for r in rows],
        [{f: r.get("groups", {}).get(f, _NO_VALUE) for f in fields} for r in rows],
    )
    flat = {k: float(v) for k, v in metric.compute().items()}
    out: dict[str, dict[str, dict[str, float]]] = {f: {} for f in fields}
    for key, value in flat.items():
        if key.startswith("count/"):
            _, field, group = key.split("/", 2)
            acc = flat[f"accuracy/{field}/{group}"]
            out[field][group] = {"n": int(value), "correct": round(acc * value), "accuracy": acc}
    return out


def _caption_scores(pairs: list[dict[str, Any]]) -> dict[str, float]:
    metric = CaptionScores()
    metric.update([p["pred"] for p in pairs], [p["refs"] for p in pairs])
    return {k: float(v) for k, v in metric.compute().items()}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(
    rows: list[dict[str, Any]],
    task: str,
    group_by: list[str] | None = None,
    thresholds: tuple[float, ...] = (0.3, 0.5, 0.7),
    grounding_mode: str = "max",
) -> dict[str, Any]:
    """Counts, metrics (fractions) and per-group results of a run's rows.

    Args:
        rows: ``predictions.jsonl`` rows, one per sample id.
        task: The run's task.
        group_by: Names of the ``groups`` fields to break accuracy down by (QA).
        thresholds: IoU thresholds for grounding recall.
        grounding_mode: ``max`` (paper) or ``top1``.

    Returns:
        ``{"counts", "metrics", "groups", "grounding_of_reasoning", "skipped", "timing",
        "frames_used"}``; metrics of an empty run are absent, never NaN.
    """
    done = [r for r in rows if r.get("status") == "ok"]
    skipped = [r for r in rows if r.get("status") == "skipped"]
    counts = {
        "samples": len(rows),
        "scored": len(done),
        "skipped": len(skipped),
        "well_formed": sum(bool(r.get("trace", {}).get("well_formed")) for r in done),
        "truncated": sum(bool(r.get("truncated")) for r in done),
        "unparseable_times": sum(bool(r.get("unparseable_times")) for r in done),
    }
    metrics: dict[str, float] = {}
    groups: dict[str, dict[str, dict[str, float]]] = {}
    if done:
        metrics["format_rate"] = counts["well_formed"] / len(done)
    if task == "qa":
        counts["correct"] = sum(bool(r.get("correct")) for r in done)
        counts["no_answer"] = sum(r.get("extracted") is None for r in done)
        if done:
            metrics["accuracy"] = counts["correct"] / len(done)
        groups = _group_accuracy(done, group_by or [])
    elif task == "grounding":
        usable = [r for r in done if r.get("grounding_gold")]
        counts["no_reference"] = len(done) - len(usable)
        counts["no_prediction"] = sum(not r.get("grounding_pred") for r in usable)
        if usable:
            metrics.update(
                _grounding(
                    [r["grounding_pred"] for r in usable],
                    [r["grounding_gold"] for r in usable],
                    thresholds,
                    grounding_mode,
                )
            )
    else:
        pairs = [p for r in done for p in r.get("caption_pairs", [])]
        counts["no_reference"] = sum(not r.get("caption_pairs") for r in done)
        counts["caption_pairs"] = len(pairs)
        counts["empty_predictions"] = sum(not p["pred"] for p in pairs)
        if pairs:
            metrics.update(_caption_scores(pairs))
    with_evidence = [r for r in done if r.get("gold_spans")]
    reasoning_grounding = (
        _grounding(
            [r.get("pred_spans", []) for r in with_evidence],
            [r["gold_spans"] for r in with_evidence],
            thresholds,
            grounding_mode,
        )
        if with_evidence and task != "grounding"
        else {}
    )
    decode = [float(r["time_s"]) for r in done if isinstance(r.get("time_s"), int | float)]
    tokens = [int(r["output_tokens"]) for r in done if isinstance(r.get("output_tokens"), int)]
    frames = [int(r["frames"]) for r in done if isinstance(r.get("frames"), int)]
    return {
        "counts": counts,
        "metrics": {k: v for k, v in metrics.items() if math.isfinite(v)},
        "groups": groups,
        "grounding_of_reasoning": reasoning_grounding,
        "skipped": [{"id": r["id"], "reason": r.get("reason", "")} for r in skipped],
        "skip_reasons": dict(Counter(r.get("reason", "").split(":")[0] for r in skipped)),
        "timing": {
            "decode_s_total": sum(decode),
            "decode_s_per_sample": _mean(decode),
            "output_tokens_mean": _mean([float(t) for t in tokens]),
        },
        "frames_used": {
            "mean": _mean([float(f) for f in frames]),
            "min": min(frames) if frames else None,
            "max": max(frames) if frames else None,
        },
    }
