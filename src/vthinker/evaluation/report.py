"""Compare evaluation runs: one Markdown report with tables and PNG plots.

``vthinker report RUN_DIR... [--out DIR]`` reads the ``summary.json`` of each run
folder written by `vthinker.evaluation.module.EvalModule` (a folder without one is
searched recursively, so ``vthinker report outputs/eval`` takes every run under it) and
writes to ``DIR`` (default ``outputs/eval/report``):

- ``report.md``: accuracy (%) as models × benchmarks, like the paper's table, with the
  published rows of `vthinker.evaluation.published` as reference rows and each run's 95%
  interval (clustered by video); paired differences of each model against a baseline on
  the same questions (`vthinker.evaluation.report_paired`); accuracy per
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

The parts: `vthinker.evaluation.report_runs` reads the runs,
`vthinker.evaluation.report_tables` makes the tables and the Markdown and
`vthinker.evaluation.plots` draws the plots; every name is importable from here.
"""

from __future__ import annotations

import json
from pathlib import Path

from vthinker.evaluation.plots import (
    plot_accuracy_per_benchmark,
    plot_accuracy_vs_frames,
    plot_grounding_recall,
)
from vthinker.evaluation.report_runs import RunSummary, find_runs, load_runs
from vthinker.evaluation.report_tables import Reference, Report, build_report
from vthinker.evaluation.summary import markdown_table
from vthinker.evaluation.tasks import CAPTION_KEYS, GROUNDING_KEYS

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


def write_report(
    paths: list[str | Path],
    out_dir: str | Path,
    reference: str = "auto",
    frames: int | None = None,
    baseline: str | None = None,
) -> dict[str, Path]:
    """Load runs, write ``report.md``, ``report.json`` and the plots to ``out_dir``.

    Args:
        paths: Run folders, or folders holding runs.
        out_dir: Output folder.
        reference: Published reference rows (see `build_report`).
        frames: Frame count of the main accuracy table (see `build_report`).
        baseline: The model the paired differences are taken against (see `build_report`).

    Returns:
        Name -> path of every file written.
    """
    rep = build_report(load_runs(paths), reference=reference, frames=frames, baseline=baseline)
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


def report(
    runs: list[str],
    *,
    out: str = "outputs/eval/report",
    reference: Reference = "auto",
    frames: int | None = None,
    baseline: str | None = None,
) -> None:
    """Compare evaluation runs: Markdown tables and PNG plots.

    Writes the report (`write_report`) and prints the path of each file written.

    Args:
        runs: Run folders (or folders holding runs).
        out: Output folder.
        reference: Published reference rows: auto (when a run is on a paper benchmark),
            all, none.
        frames: Frame count of the main accuracy table (default: 16 if present, else the
            most common); every count is in the by-frames table and plot.
        baseline: Model the others are compared with, question by question (default: the
            first QA run's model).
    """
    written = write_report(runs, out, reference=reference, frames=frames, baseline=baseline)
    for path in written.values():
        print(path)


def _parser():
    """The ``vthinker report`` parser: `report`'s parameters, RUN_DIRs as positionals."""
    from jsonargparse import ArgumentParser

    doc = report.__doc__ or ""
    parser = ArgumentParser(prog="vthinker report", description=doc.partition("\n")[0])
    # A list positional of several words takes argparse's nargs; the options come from
    # `report`'s signature and docstring.
    parser.add_argument("runs", nargs="+", help="run folders (or folders holding runs)")
    parser.add_function_arguments(report, skip={"runs"}, as_group=False)
    return parser


def main(argv: list[str] | None = None) -> None:
    """``vthinker report RUN_DIR... [--out DIR] [--reference auto|all|none] [--frames N]``:
    compare evaluation runs (see the module docstring and `report`)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        report(**args.as_dict())
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"vthinker report: error: {err}\n")
