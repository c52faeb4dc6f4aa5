"""The report's PNG plots: accuracy per benchmark, accuracy against the number of frames
and grounding recall against the IoU threshold (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path

from vthinker.evaluation.published import benchmark_label
from vthinker.evaluation.report_tables import Report, _ordered_benchmarks, _ref_label
from vthinker.evaluation.tasks import GROUNDING_KEYS

__all__ = ["plot_accuracy_per_benchmark", "plot_accuracy_vs_frames", "plot_grounding_recall"]


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
