"""A run's summary in words: the one-line headline and ``summary.md``."""

from __future__ import annotations

import json
from typing import Any

from vthinker.evaluation.store import PREDICTIONS
from vthinker.evaluation.tasks import CAPTION_KEYS, GROUNDING_KEYS, make_task

__all__ = ["headline", "interval_text", "markdown_table", "summary_markdown"]

_METRIC_NAMES = {"accuracy": "accuracy", "format_rate": "well-formed traces"}
_METRIC_NAMES |= GROUNDING_KEYS | CAPTION_KEYS


def markdown_table(header: list[str], rows: list[list[str]], align: str = "l") -> str:
    """A GitHub Markdown table.

    Args:
        header: Column names.
        rows: Cells, row by row.
        align: ``l``/``r`` per column; columns past its end are right aligned (numbers).
    """
    marks = [":---" if (align[i : i + 1] or "r") == "l" else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def headline(summary: dict[str, Any]) -> str:
    """One line: the main metric and the counts."""
    main = make_task(summary["task"]).headline(summary["metrics"])
    c = summary["counts"]
    return f"{summary['benchmark']} / {summary['model']}: {main} ({c['scored']} scored, {c['skipped']} skipped)"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: metrics, counts, groups, skipped samples and settings."""
    frames = summary.get("frames")
    parts = [
        f"# {summary['benchmark']} · {summary['model']} · {frames} frames · {summary['task']}",
        "",
    ]
    if not summary.get("complete", True):
        parts += [f"**Incomplete**: {len(summary['missing'])} sample(s) not done yet.", ""]
    for section in (_metrics, _counts, _groups, _skipped, _settings):
        parts += section(summary)
    return "\n".join(parts)


def _metrics(summary: dict[str, Any]) -> list[str]:
    rows = [[_METRIC_NAMES.get(k, k), _pct(v)] for k, v in summary["metrics"].items()]
    parts = ["## Metrics (%)", "", markdown_table(["metric", "value"], rows), ""]
    for key, ci in summary.get("intervals", {}).items():
        parts += [f"{interval_text(_METRIC_NAMES.get(key, key), ci)}.", ""]
    if g := summary.get("grounding_of_reasoning"):
        parts += [
            "Grounding of the `<time>` spans cited in the reasoning vs. the gold evidence (%):",
            "",
            markdown_table(
                list(GROUNDING_KEYS.values()), [[_pct(g.get(k)) for k in GROUNDING_KEYS]]
            ),
            "",
        ]
    return parts


def interval_text(name: str, ci: dict[str, Any]) -> str:
    """``accuracy 61.2%, 95% interval 58.1-64.3 (± 3.1 points, clustered by 57 videos)``."""
    half = 100 * (ci["high"] - ci["mean"])
    unit = "videos" if ci.get("cluster_by") == "video" else "questions"
    return (
        f"{name} {100 * ci['mean']:.1f}%, 95% interval {100 * ci['low']:.1f}–"
        f"{100 * ci['high']:.1f} (± {half:.1f} points, clustered by {ci['clusters']} {unit})"
    )


def _counts(summary: dict[str, Any]) -> list[str]:
    rows = [[k, str(v)] for k, v in summary["counts"].items()]
    return ["## Counts", "", markdown_table(["count", "samples"], rows), ""]


def _groups(summary: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    for field, values in summary.get("groups", {}).items():
        rows = [[v, str(g["n"]), _pct(g["accuracy"])] for v, g in values.items()]
        header = [field, "n", "accuracy (%)"]
        parts += [f"## Accuracy by {field}", "", markdown_table(header, rows), ""]
    return parts


def _skipped(summary: dict[str, Any]) -> list[str]:
    if not summary.get("skipped"):
        return []
    lines = [f"- `{s['id']}`: {s['reason']}" for s in summary["skipped"]]
    return ["## Skipped (not scored)", "", *lines, ""]


def _settings(summary: dict[str, Any]) -> list[str]:
    t, f = summary.get("timing", {}), summary.get("frames_used", {})
    s = summary.get("settings", {})
    model, data = s.get("model", {}), s.get("data") or {}
    checkpoint = f" + `{model['checkpoint']}`" if model.get("checkpoint") else ""
    return [
        "## Settings",
        "",
        f"- model: `{model.get('path')}`{checkpoint}",
        f"- decoding: `{json.dumps(s.get('decoding'))}`",
        f"- frames: `{json.dumps(data.get('frames'))}`; used per sample: "
        f"mean {f.get('mean') or 0:.1f}, min {f.get('min')}, max {f.get('max')}",
        f"- data: `{data.get('test_file')}`",
        f"- decode time: {t.get('decode_s_total', 0):.1f} s in all, "
        f"{t.get('decode_s_per_sample') or 0:.2f} s per sample; "
        f"{t.get('output_tokens_mean') or 0:.0f} output tokens per sample",
        f"- predictions: `{PREDICTIONS}` (one JSON line per sample); updated {summary.get('updated')}",
        "",
    ]
