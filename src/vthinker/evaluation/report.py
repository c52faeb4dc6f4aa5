"""Compare evaluation runs: one Markdown report with tables and PNG plots.

``vthinker report RUN_DIR... [--out DIR]`` reads the ``summary.json`` of each run
folder written by `vthinker.evaluation.module.EvalModule` (a folder without one is
searched recursively, so ``vthinker report outputs/eval`` takes every run under it) and
writes to ``DIR`` (default ``outputs/eval/report``):

- ``report.md``: accuracy (%) as models × benchmarks, like the paper's table, with the
  published rows of `vthinker.evaluation.published` as reference rows; accuracy per
  frame count when a run was repeated at 16/32/64 frames; temporal grounding (mIoU,
  R@0.3/0.5/0.7) and caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr) tables; the
  runs the report was made from, with their skipped and missing samples.
- ``accuracy_per_benchmark.png``: grouped bars, one bar per model and benchmark.
- ``accuracy_vs_frames.png``: accuracy against the number of frames, a line per model,
  a panel per benchmark (only when some run has more than one frame count).
- ``grounding_recall.png``: recall against the IoU threshold, a line per model.
- ``report.json``: the numbers behind the tables.

A row is a model at a frame count (``model @ 32f`` when the report mixes frame counts).
When two runs have the same model, benchmark, task and frame count the later one (by
its summary's ``updated`` time) is used and the other is named in a warning.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vthinker.evaluation.published import (
    BENCHMARK_LABELS,
    PUBLISHED_ACCURACY,
    PUBLISHED_CAPTION,
    PUBLISHED_FRAMES,
    PUBLISHED_GROUNDING,
    benchmark_label,
)
from vthinker.evaluation.store import SUMMARY_JSON
from vthinker.evaluation.summary import markdown_table
from vthinker.evaluation.tasks import CAPTION_KEYS, GROUNDING_KEYS

log = logging.getLogger(__name__)

__all__ = [
    "CAPTION_KEYS",
    "GROUNDING_KEYS",
    "Report",
    "RunSummary",
    "build_report",
    "find_runs",
    "load_runs",
    "main",
    "markdown_table",
    "write_report",
]

REFERENCE_CHOICES = ("auto", "all", "none")
MISSING = "–"


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


# --- tables ---------------------------------------------------------------------------------


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
        }


def _main_frames(runs: list[RunSummary]) -> int | None:
    """The paper's 16 when some QA run has it, else the most common frame count."""
    counts = Counter(r.frames for r in runs if r.task == "qa" and r.frames is not None)
    if not counts:
        return None
    return PUBLISHED_FRAMES if PUBLISHED_FRAMES in counts else counts.most_common(1)[0][0]


def build_report(
    runs: list[RunSummary], reference: str = "auto", frames: int | None = None
) -> Report:
    """Tables of ``runs``.

    Args:
        runs: Loaded runs.
        reference: Published reference rows: ``all`` always, ``none`` never, ``auto``
            when some run is on a benchmark (or task) the paper reports.
        frames: Frame count of the main accuracy table (default: 16 when some run has
            it, else the most common one); every count is in the by-frames table.
    """
    if reference not in REFERENCE_CHOICES:
        raise ValueError(f"reference must be one of {REFERENCE_CHOICES}, got {reference!r}")
    if not runs:
        raise ValueError("no runs to report")
    main_frames = frames if frames is not None else _main_frames(runs)
    qa = [r for r in runs if r.task == "qa" and "accuracy" in r.metrics]
    accuracy: dict[str, dict[str, float]] = defaultdict(dict)
    by_frames: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in qa:
        if r.frames == main_frames:
            accuracy[r.model][r.benchmark] = 100 * r.metrics["accuracy"]
        if r.frames is not None:
            by_frames[(r.model, r.benchmark)][r.frames] = 100 * r.metrics["accuracy"]
    several = len({r.frames for r in qa}) > 1

    def rows_of(task: str, keys: dict[str, str]) -> list[dict[str, Any]]:
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

    grounding = rows_of("grounding", GROUNDING_KEYS)
    caption = rows_of("caption", CAPTION_KEYS)
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
    )
    report.markdown = _markdown(report)
    return report


def _ref_label(model: str) -> str:
    return f"{model} (paper)"


def _benchmark_order(key: str) -> tuple[int, str]:
    order = list(BENCHMARK_LABELS)
    return (order.index(key), "") if key in order else (len(order), key)


def _markdown(rep: Report) -> str:
    parts = ["# Evaluation report", ""]
    if rep.accuracy or rep.reference_accuracy:
        keys = {b for row in rep.accuracy.values() for b in row}
        if rep.reference_accuracy:
            keys |= set(BENCHMARK_LABELS)
        cols = _ordered_benchmarks(keys)
        rows = [
            [_ref_label(m), *(_fmt(v.get(b), 1) for b in cols)]
            for m, v in rep.reference_accuracy.items()
        ]
        rows += [[m, *(_fmt(v.get(b), 1) for b in cols)] for m, v in sorted(rep.accuracy.items())]
        title = f"## Accuracy (%), {rep.frames} frames" if rep.frames else "## Accuracy (%)"
        note = (
            [f"Published rows: the paper's numbers at {PUBLISHED_FRAMES} frames.", ""]
            if rep.reference_accuracy
            else []
        )
        parts += [
            title,
            "",
            markdown_table(["model", *map(benchmark_label, cols)], rows),
            "",
            *note,
        ]
    if rep.by_frames:
        counts = sorted({n for f in rep.by_frames.values() for n in f})
        rows = [
            [m, benchmark_label(b), *(_fmt(f.get(n), 1) for n in counts)]
            for (m, b), f in sorted(
                rep.by_frames.items(), key=lambda kv: (kv[0][0], _benchmark_order(kv[0][1]))
            )
        ]
        parts += [
            "## Accuracy (%) by number of frames",
            "",
            markdown_table(
                ["model", "benchmark", *(f"{n} frames" for n in counts)], rows, align="ll"
            ),
            "",
        ]
    for title, data, ref, keys in (
        ("Temporal grounding (%)", rep.grounding, rep.reference_grounding, GROUNDING_KEYS),
        ("Captions (x100)", rep.caption, rep.reference_caption, CAPTION_KEYS),
    ):
        if not data and not ref:
            continue
        rows = [
            [_ref_label(m), "paper", str(PUBLISHED_FRAMES), *(_fmt(v.get(k), 1) for k in keys)]
            for m, v in ref.items()
        ]
        rows += [
            [
                row["model"],
                benchmark_label(row["benchmark"]),
                str(row["frames"]) if row["frames"] is not None else MISSING,
                *(_fmt(row.get(k), 1) for k in keys),
            ]
            for row in data
        ]
        parts += [
            f"## {title}",
            "",
            markdown_table(["model", "benchmark", "frames", *keys.values()], rows, align="ll"),
            "",
        ]
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
                str(r.frames) if r.frames is not None else MISSING,
                str(c.get("scored", MISSING)),
                str(c.get("skipped", MISSING)),
                str(len(r.missing)),
                f"`{r.path}`",
            ]
        )
    parts += [
        "## Runs",
        "",
        markdown_table(
            ["model", "benchmark", "task", "frames", "scored", "skipped", "missing", "folder"],
            rows,
            align="lllrrrrl",
        ),
        "",
    ]
    problems = [r for r in rep.runs if r.skipped or r.missing]
    if problems:
        parts += ["Skipped or missing samples (not counted in the metrics):", ""]
        for r in problems:
            ids = [f"{s.get('id')} ({s.get('reason', '')})" for s in r.skipped[:10]]
            more = f", … {len(r.skipped) - 10} more" if len(r.skipped) > 10 else ""
            line = f"- {r.model} / {benchmark_label(r.benchmark)} / {r.frames} frames:"
            if r.skipped:
                line += f" skipped {', '.join(ids)}{more}."
            if r.missing:
                line += f" {len(r.missing)} not done yet (rerun the same command to finish)."
            parts.append(line)
        parts.append("")
    return "\n".join(parts)


# --- plots ----------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_per_benchmark(rep: Report, path: Path) -> Path | None:
    """Grouped bars: benchmarks on x, one bar per model (published rows hatched, faded)."""
    series = dict(sorted(rep.accuracy.items()))
    if not series:
        return None
    cols = _ordered_benchmarks({b for row in series.values() for b in row})
    ref = {
        _ref_label(m): row
        for m, row in rep.reference_accuracy.items()
        if any(b in row for b in cols)
    }
    plt = _pyplot()
    names = list(ref) + list(series)
    n = len(names)
    width = 0.84 / n
    fig, ax = plt.subplots(figsize=(min(15.0, max(6.5, 0.22 * len(cols) * n + 3.5)), 4.8))
    cmap = plt.get_cmap("tab10")
    greys = ["0.55", "0.68", "0.78", "0.88"]
    hatches = ["///", "\\\\\\", "xxx", "..."]
    for i, name in enumerate(names):
        is_ref = name in ref
        row = ref[name] if is_ref else series[name]
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(cols))]
        ys = [row.get(b, math.nan) for b in cols]
        k = i if is_ref else i - len(ref)
        bars = ax.bar(
            xs,
            ys,
            width * 0.92,
            label=name,
            color=greys[k % len(greys)] if is_ref else cmap(k % 10),
            hatch=hatches[k % len(hatches)] if is_ref else None,
            edgecolor="0.35" if is_ref else "none",
            linewidth=0.3,
        )
        if not is_ref:
            ax.bar_label(bars, fmt="%.1f", fontsize=6.5, padding=1)
    ax.set_xticks(range(len(cols)), [benchmark_label(b) for b in cols])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    title = "Accuracy per benchmark" + (f" ({rep.frames} frames)" if rep.frames else "")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_accuracy_vs_frames(rep: Report, path: Path) -> Path | None:
    """Accuracy against the number of frames: a panel per benchmark, a line per model."""
    if not rep.by_frames:
        return None
    benchmarks = _ordered_benchmarks({b for _, b in rep.by_frames})
    plt = _pyplot()
    ncols = min(3, len(benchmarks))
    nrows = math.ceil(len(benchmarks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.5 * nrows), squeeze=False)
    models = sorted({m for m, _ in rep.by_frames})
    cmap = plt.get_cmap("tab10")
    for ax, bench in zip(axes.flat, benchmarks, strict=False):
        for i, model in enumerate(models):
            f = rep.by_frames.get((model, bench))
            if not f:
                continue
            xs = sorted(f)
            ax.plot(xs, [f[x] for x in xs], marker="o", label=model, color=cmap(i % 10))
            for x in xs if len(models) <= 2 else ():  # the table has the numbers
                ax.annotate(
                    f"{f[x]:.1f}",
                    (x, f[x]),
                    fontsize=7,
                    xytext=(0, 5),
                    textcoords="offset points",
                    ha="center",
                )
        ticks = sorted({x for (_, b), f in rep.by_frames.items() if b == bench for x in f})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.margins(x=0.12, y=0.18)
        ax.set_title(benchmark_label(bench))
        ax.set_xlabel("frames")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(benchmarks) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
               frameon=False)  # fmt: skip
    fig.suptitle("Accuracy vs. number of frames")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_grounding_recall(rep: Report, path: Path) -> Path | None:
    """Recall (%) against the IoU threshold: a line per grounding run, dashed paper lines."""
    if not rep.grounding:
        return None
    thresholds = [k for k in GROUNDING_KEYS if k.startswith("r@")]
    several = len({(r["benchmark"], r["frames"]) for r in rep.grounding}) > 1
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.6, 4.2))
    cmap = plt.get_cmap("tab10")
    lines = [
        (
            row["model"] + (f" / {benchmark_label(row['benchmark'])} / {row['frames']}f"
                            if several else ""),
            row,
            False,
        )
        for row in rep.grounding
    ] + [(_ref_label(m), v, True) for m, v in rep.reference_grounding.items()]  # fmt: skip
    for i, (name, values, is_ref) in enumerate(lines):
        xs = [float(k[2:]) for k in thresholds if k in values]
        ys = [values[k] for k in thresholds if k in values]
        miou = values.get("miou")
        ax.plot(
            xs,
            ys,
            marker="s" if is_ref else "o",
            linestyle="--" if is_ref else "-",
            alpha=0.6 if is_ref else 1.0,
            color=cmap(i % 10),
            label=name + (f" (mIoU {miou:.1f})" if miou is not None else ""),
        )
    ax.set_xticks([float(k[2:]) for k in thresholds])
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("recall (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Temporal grounding: recall at IoU threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(
    paths: list[str | Path],
    out_dir: str | Path,
    reference: str = "auto",
    frames: int | None = None,
) -> dict[str, Path]:
    """Load runs, write ``report.md``, ``report.json`` and the plots to ``out_dir``.

    Args:
        paths: Run folders, or folders holding runs.
        out_dir: Output folder.
        reference: Published reference rows (see `build_report`).
        frames: Frame count of the main accuracy table (see `build_report`).

    Returns:
        Name -> path of every file written.
    """
    rep = build_report(load_runs(paths), reference=reference, frames=frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plots = {
        "accuracy_per_benchmark": plot_accuracy_per_benchmark,
        "accuracy_vs_frames": plot_accuracy_vs_frames,
        "grounding_recall": plot_grounding_recall,
    }
    images = []
    for name, fn in plots.items():
        p = fn(rep, out / f"{name}.png")
        if p is not None:
            written[name] = p
            images.append(f"![{name}]({p.name})")
    md = rep.markdown + ("\n## Plots\n\n" + "\n\n".join(images) + "\n" if images else "")
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.json").write_text(json.dumps(rep.to_json(), indent=1) + "\n", encoding="utf-8")
    written["report.md"] = out / "report.md"
    written["report.json"] = out / "report.json"
    return written


def main(argv: list[str] | None = None) -> None:
    """``vthinker report``: compare evaluation runs (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="vthinker report",
        description="Compare evaluation runs: Markdown tables and PNG plots.",
    )
    parser.add_argument("runs", nargs="+", help="run folders (or folders holding runs)")
    parser.add_argument("--out", default="outputs/eval/report", help="output folder")
    parser.add_argument(
        "--reference",
        choices=REFERENCE_CHOICES,
        default="auto",
        help="published reference rows: auto (when a run is on a paper benchmark), all, none",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frame count of the main accuracy table (default: 16 if present, else the most "
        "common); every count is in the by-frames table and plot",
    )
    args = parser.parse_args(argv)
    try:
        written = write_report(args.runs, args.out, reference=args.reference, frames=args.frames)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"vthinker report: error: {err}\n")
    for path in written.values():
        print(path)
