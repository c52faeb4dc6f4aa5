"""The report's tables: `Report` (the numbers) and `build_report` (runs -> tables and the
Markdown report)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vthinker.evaluation.published import (
    BENCHMARK_LABELS,
    PUBLISHED_ACCURACY,
    PUBLISHED_CAPTION,
    PUBLISHED_FRAMES,
    PUBLISHED_GROUNDING,
    benchmark_label,
)
from vthinker.evaluation.report_paired import paired_comparisons
from vthinker.evaluation.report_runs import RunSummary
from vthinker.evaluation.summary import markdown_table
from vthinker.evaluation.tasks import CAPTION_KEYS, GROUNDING_KEYS

__all__ = ["MISSING", "REFERENCE_CHOICES", "Reference", "Report", "build_report"]

Reference = Literal["auto", "all", "none"]
"""Which published reference rows a report shows (see `build_report`)."""
REFERENCE_CHOICES: tuple[str, ...] = get_args(Reference)
MISSING = "–"


def _fmt(value: float | None, scale: float = 100.0) -> str:
    return MISSING if value is None else f"{value * scale:.2f}"


def _ordered_benchmarks(keys: set[str]) -> list[str]:
    paper = [k for k in BENCHMARK_LABELS if k in keys]
    return paper + sorted(keys - set(paper))


@dataclass
class Report:
    """Tables (and the data for the plots) built from runs.

    Attributes:
        runs: The runs used.
        frames: The frame count of the main accuracy table.
        accuracy: Model -> benchmark key -> accuracy (%) of QA runs at ``frames``.
        reference_accuracy: Published model -> benchmark key -> accuracy (%).
        by_frames: ``(model, benchmark)`` -> frame count -> accuracy (%), for the pairs
            evaluated at more than one frame count.
        grounding: One row per grounding run: ``model``, ``benchmark``, ``frames`` and the
            metrics (%).
        caption: One row per caption run, as ``grounding`` (scores x100).
        reference_grounding: Published model -> grounding metric (%).
        reference_caption: Published model -> caption metric (x100).
        accuracy_margin: Model -> benchmark key -> half-width (points) of the 95% interval
            of ``accuracy``, clustered by video, where the run has one.
        paired: Each model against the baseline on the same questions
            (`vthinker.evaluation.report_paired.paired_comparisons`).
        markdown: The full Markdown report.
    """

    runs: list[RunSummary]
    frames: int | None
    accuracy: dict[str, dict[str, float]]
    reference_accuracy: dict[str, dict[str, float]]
    by_frames: dict[tuple[str, str], dict[int, float]]
    grounding: list[dict[str, Any]]
    caption: list[dict[str, Any]]
    reference_grounding: dict[str, dict[str, float]]
    reference_caption: dict[str, dict[str, float]]
    accuracy_margin: dict[str, dict[str, float]] = field(default_factory=dict)
    paired: list[dict[str, Any]] = field(default_factory=list)
    markdown: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": [
                {
                    "path": str(r.path),
                    "model": r.model,
                    "benchmark": r.benchmark,
                    "task": r.task,
                    "frames": r.frames,
                    "metrics": r.metrics,
                    "counts": r.counts,
                }
                for r in self.runs
            ],
            "frames": self.frames,
            "accuracy": self.accuracy,
            "reference_accuracy": self.reference_accuracy,
            "accuracy_by_frames": [
                {"model": m, "benchmark": b, "frames": {str(k): v for k, v in sorted(f.items())}}
                for (m, b), f in self.by_frames.items()
            ],
            "grounding": self.grounding,
            "caption": self.caption,
            "reference_grounding": self.reference_grounding,
            "reference_caption": self.reference_caption,
            "accuracy_margin": self.accuracy_margin,
            "paired": self.paired,
        }


def _main_frames(runs: list[RunSummary]) -> int | None:
    """The paper's 16 when some QA run has it, else the most common frame count."""
    counts = Counter(r.frames for r in runs if r.task == "qa" and r.frames is not None)
    if not counts:
        return None
    return PUBLISHED_FRAMES if PUBLISHED_FRAMES in counts else counts.most_common(1)[0][0]


def _metric_rows(runs: list[RunSummary], task: str, keys: dict[str, str]) -> list[dict[str, Any]]:
    """One row per run of ``task``: model, benchmark, frames and its ``keys`` metrics (%)."""
    return [
        {
            "model": r.model,
            "benchmark": r.benchmark,
            "frames": r.frames,
            **{k: 100 * r.metrics[k] for k in keys if k in r.metrics},
        }
        for r in sorted(runs, key=lambda r: (r.model, r.benchmark, r.frames or 0))
        if r.task == task
    ]


def build_report(
    runs: list[RunSummary],
    reference: str = "auto",
    frames: int | None = None,
    baseline: str | None = None,
) -> Report:
    """Tables of ``runs``.

    Args:
        runs: Loaded runs.
        reference: Published reference rows: ``all`` always, ``none`` never, ``auto``
            when some run is on a benchmark (or task) the paper reports.
        frames: Frame count of the main accuracy table (default: 16 when some run has
            it, else the most common one); every count is in the by-frames table.
        baseline: The model every other is compared with on the same questions (default:
            the first QA run's model).
    """
    if reference not in REFERENCE_CHOICES:
        raise ValueError(f"reference must be one of {REFERENCE_CHOICES}, got {reference!r}")
    if not runs:
        raise ValueError("no runs to report")
    main_frames = frames if frames is not None else _main_frames(runs)
    qa = [r for r in runs if r.task == "qa" and "accuracy" in r.metrics]
    accuracy: dict[str, dict[str, float]] = defaultdict(dict)
    margin: dict[str, dict[str, float]] = defaultdict(dict)
    by_frames: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in qa:
        if r.frames == main_frames:
            accuracy[r.model][r.benchmark] = 100 * r.metrics["accuracy"]
            if ci := r.intervals.get("accuracy"):
                margin[r.model][r.benchmark] = 100 * (ci["high"] - ci["mean"])
        if r.frames is not None:
            by_frames[(r.model, r.benchmark)][r.frames] = 100 * r.metrics["accuracy"]
    several = len({r.frames for r in qa}) > 1
    grounding = _metric_rows(runs, "grounding", GROUNDING_KEYS)
    caption = _metric_rows(runs, "caption", CAPTION_KEYS)
    paper_benchmarks = any(r.benchmark in BENCHMARK_LABELS for r in qa)
    use_ref = {
        "qa": reference == "all" or (reference == "auto" and paper_benchmarks),
        "grounding": reference == "all" or (reference == "auto" and bool(grounding)),
        "caption": reference == "all" or (reference == "auto" and bool(caption)),
    }
    report = Report(
        runs=runs,
        frames=main_frames,
        accuracy=dict(accuracy),
        reference_accuracy=PUBLISHED_ACCURACY if use_ref["qa"] else {},
        by_frames={k: v for k, v in by_frames.items() if len(v) > 1} if several else {},
        grounding=grounding,
        caption=caption,
        reference_grounding=PUBLISHED_GROUNDING if use_ref["grounding"] else {},
        reference_caption=PUBLISHED_CAPTION if use_ref["caption"] else {},
        accuracy_margin=dict(margin),
        paired=paired_comparisons(runs, baseline),
    )
    report.markdown = _markdown(report)
    return report


def _ref_label(model: str) -> str:
    return f"{model} (paper)"


def _benchmark_order(key: str) -> tuple[int, str]:
    order = list(BENCHMARK_LABELS)
    return (order.index(key), "") if key in order else (len(order), key)


def _frames_cell(frames: int | None) -> str:
    return str(frames) if frames is not None else MISSING


def _markdown(rep: Report) -> str:
    """The Markdown report: one section per table, then the skipped and missing samples."""
    return "\n".join(
        [
            "# Evaluation report",
            "",
            *_accuracy_section(rep),
            *_paired_section(rep),
            *_by_frames_section(rep),
            *_metric_section(
                "Temporal grounding (%)", rep.grounding, rep.reference_grounding, GROUNDING_KEYS
            ),
            *_metric_section("Captions (x100)", rep.caption, rep.reference_caption, CAPTION_KEYS),
            *_runs_section(rep),
            *_problems_section(rep),
        ]
    )


def _accuracy_section(rep: Report) -> list[str]:
    """Accuracy (%) as models × benchmarks at the main frame count, paper rows first."""
    if not rep.accuracy and not rep.reference_accuracy:
        return []
    keys = {b for row in rep.accuracy.values() for b in row}
    if rep.reference_accuracy:
        keys |= set(BENCHMARK_LABELS)
    cols = _ordered_benchmarks(keys)
    rows = [
        [_ref_label(m), *(_fmt(v.get(b), 1) for b in cols)]
        for m, v in rep.reference_accuracy.items()
    ]
    rows += [
        [m, *(_with_margin(v.get(b), rep.accuracy_margin.get(m, {}).get(b)) for b in cols)]
        for m, v in sorted(rep.accuracy.items())
    ]
    title = f"## Accuracy (%), {rep.frames} frames" if rep.frames else "## Accuracy (%)"
    note = (
        [f"Published rows: the paper's numbers at {PUBLISHED_FRAMES} frames.", ""]
        if rep.reference_accuracy
        else []
    )
    if rep.accuracy_margin:
        note += ["± : half-width of the 95% interval, clustered by video.", ""]
    return [
        title,
        "",
        markdown_table(["model", *map(benchmark_label, cols)], rows),
        "",
        *note,
    ]


def _with_margin(value: float | None, margin: float | None) -> str:
    cell = _fmt(value, 1)
    return cell if value is None or margin is None else f"{cell} ± {margin:.1f}"


def _paired_section(rep: Report) -> list[str]:
    """Each model minus the baseline on the questions both scored (points, 95% interval)."""
    if not rep.paired:
        return []
    rows = [
        [
            p["model"],
            p["baseline"],
            benchmark_label(p["benchmark"]),
            _frames_cell(p["frames"]),
            f"{p['questions']} ({p['clusters']} {'videos' if p['cluster_by'] == 'video' else 'questions'})",
            f"{p['difference']:+.1f}",
            MISSING if p["low"] is None else f"{p['low']:+.1f} to {p['high']:+.1f}",
        ]
        for p in rep.paired
    ]
    header = ["model", "minus", "benchmark", "frames", "questions", "difference", "95% interval"]
    return [
        "## Paired differences (points)",
        "",
        "Accuracy of each model minus the baseline's on the questions both answered; the",
        "interval is clustered by video. An interval that contains 0 shows no difference.",
        "",
        markdown_table(header, rows, align="llllrrr"),
        "",
    ]


def _by_frames_section(rep: Report) -> list[str]:
    """Accuracy (%) of each model and benchmark at each frame count it was run with."""
    if not rep.by_frames:
        return []
    counts = sorted({n for f in rep.by_frames.values() for n in f})
    rows = [
        [m, benchmark_label(b), *(_fmt(f.get(n), 1) for n in counts)]
        for (m, b), f in sorted(
            rep.by_frames.items(), key=lambda kv: (kv[0][0], _benchmark_order(kv[0][1]))
        )
    ]
    return [
        "## Accuracy (%) by number of frames",
        "",
        markdown_table(["model", "benchmark", *(f"{n} frames" for n in counts)], rows, align="ll"),
        "",
    ]


def _metric_section(
    title: str,
    data: list[dict[str, Any]],
    ref: dict[str, dict[str, float]],
    keys: dict[str, str],
) -> list[str]:
    """A grounding or caption table: paper rows, then one row per run."""
    if not data and not ref:
        return []
    rows = [
        [_ref_label(m), "paper", str(PUBLISHED_FRAMES), *(_fmt(v.get(k), 1) for k in keys)]
        for m, v in ref.items()
    ]
    rows += [
        [
            row["model"],
            benchmark_label(row["benchmark"]),
            _frames_cell(row["frames"]),
            *(_fmt(row.get(k), 1) for k in keys),
        ]
        for row in data
    ]
    return [
        f"## {title}",
        "",
        markdown_table(["model", "benchmark", "frames", *keys.values()], rows, align="ll"),
        "",
    ]


def _runs_section(rep: Report) -> list[str]:
    """The runs the report was made from, with their sample counts and folders."""
    rows = []
    for r in sorted(
        rep.runs, key=lambda r: (r.task, _benchmark_order(r.benchmark), r.model, r.frames or 0)
    ):
        c = r.counts
        rows.append(
            [
                r.model,
                benchmark_label(r.benchmark),
                r.task,
                _frames_cell(r.frames),
                str(c.get("scored", MISSING)),
                str(c.get("skipped", MISSING)),
                str(len(r.missing)),
                f"`{r.path}`",
            ]
        )
    return [
        "## Runs",
        "",
        markdown_table(
            ["model", "benchmark", "task", "frames", "scored", "skipped", "missing", "folder"],
            rows,
            align="lllrrrrl",
        ),
        "",
    ]


def _problems_section(rep: Report) -> list[str]:
    """A line per run with skipped (the first 10 named) or not yet done samples."""
    problems = [r for r in rep.runs if r.skipped or r.missing]
    if not problems:
        return []
    parts = ["Skipped or missing samples (not counted in the metrics):", ""]
    for r in problems:
        ids = [f"{s.get('id')} ({s.get('reason', '')})" for s in r.skipped[:10]]
        more = f", … {len(r.skipped) - 10} more" if len(r.skipped) > 10 else ""
        line = f"- {r.model} / {benchmark_label(r.benchmark)} / {r.frames} frames:"
        if r.skipped:
            line += f" skipped {', '.join(ids)}{more}."
        if r.missing:
            line += f" {len(r.missing)} not done yet (rerun the same command to finish)."
        parts.append(line)
    return [*parts, ""]
