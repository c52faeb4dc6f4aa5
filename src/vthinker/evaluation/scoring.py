"""Scoring pieces of the evaluation tasks (`vthinker.evaluation.tasks`): one model output
to the JSON fields of a ``predictions.jsonl`` row, and the metrics over many rows.

The tasks score an output (sample, output text) as follows:

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

A run's metrics are computed from its rows alone (`vthinker.evaluation.tasks.summarize`),
so a resumed run is scored over the old and new rows alike.
"""

from __future__ import annotations

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
    "caption_metrics",
    "gold_spans",
    "grounding_metrics",
    "group_accuracy",
    "group_values",
    "run_statistics",
    "score_caption",
    "score_grounding",
    "score_qa",
    "trace_to_json",
]

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


def gold_spans(sample: VideoSample) -> list[list[float]]:
    """The sample's evidence windows as ``[start, end]`` lists."""
    return [[e.start, e.end] for e in sample.evidence]


def score_qa(sample: VideoSample, text: str) -> dict[str, Any]:
    """``extracted`` (the answer read from ``text``) and ``correct``."""
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


def score_grounding(sample: VideoSample, trace: Trace) -> dict[str, Any]:
    """Predicted and gold spans, where the prediction came from, and IoU per gold span."""
    from_answer = sample.problem_type == GROUNDING_PROBLEM_TYPE
    if from_answer:
        span = extract_time_span(answer_span(trace.text))
        pred = [list(span)] if span is not None else []
    else:
        pred = [list(s) for s in trace.spans]
    gold = gold_spans(sample)
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


def score_caption(sample: VideoSample, trace: Trace, caption_from: str) -> dict[str, Any]:
    """The mode used and the (prediction, references) pairs to score."""
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


# --- summary ----------------------------------------------------------------------------------


def grounding_metrics(
    preds: list[list[list[float]]],
    golds: list[list[list[float]]],
    thresholds: tuple[float, ...],
    mode: str,
) -> dict[str, float]:
    """mIoU and recalls at ``thresholds`` (`TemporalGrounding`)."""
    metric = TemporalGrounding(thresholds=thresholds, mode=mode)
    metric.update(preds, golds)
    return {k: float(v) for k, v in metric.compute().items()}


def group_accuracy(
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


def caption_metrics(pairs: list[dict[str, Any]]) -> dict[str, float]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr over (prediction, references) pairs."""
    metric = CaptionScores()
    metric.update([p["pred"] for p in pairs], [p["refs"] for p in pairs])
    return {k: float(v) for k, v in metric.compute().items()}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def run_statistics(
    rows: list[dict[str, Any]],
    done: list[dict[str, Any]],
    task: str,
    thresholds: tuple[float, ...],
    grounding_mode: str,
) -> dict[str, Any]:
    """What every task's summary reports besides its metrics: the grounding of the reasoning
    (not for the grounding task itself), skipped samples and why, decode time, frames."""
    skipped = [r for r in rows if r.get("status") == "skipped"]
    with_evidence = [r for r in done if r.get("gold_spans")]
    reasoning_grounding = (
        grounding_metrics(
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
