"""``vthinker data check``: scan a dataset before training or evaluation.

What is read: a JSONL file (``--jsonl``, our records or Video-R1-style ones, as the
DataModule reads them), a dataset source (``--config`` naming a ``class_path`` of a
`vthinker.data.sources.base.SampleSource`), or the ``data:`` block of a training or
evaluation config (``--config``, several are merged in order like LightningCLI does): each
``<stage>_source`` / ``<stage>_file`` of the DataModule is checked as its own dataset.

What is counted, per dataset (`check_samples`):

- samples read, and bad annotation records (the JSONL reader's or the source's report:
  skipped records, named by file and line or record);
- records a source leaves out on purpose (``report.left_out``), for information;
- missing videos, and undecodable ones (`vthinker.data.video.video_info` raises
  `VideoDecodeError`; ``--deep`` also decodes 16 frames spread over the file, which
  catches files truncated after their first frame);
- short videos: fewer than ``--min-frames`` frames (Video-Thinker drops videos with fewer
  than 64; docs/method.md, Data) in the part the model reads, the
  ``video_start``/``video_end`` clip or the file;
- out-of-range spans: a clip window that is negative, inverted or past the end of the file,
  and evidence spans that start before 0 (or before the clip) or end after the end of the
  clip or file. An end up to one frame interval (plus ``--span-tolerance`` seconds) past
  the end is accepted, as `vthinker.data.video.frame_window` accepts it.

Every video is probed once however many samples share it. A sample with any problem is
not clean; ``--write-clean OUT.jsonl`` writes the clean ones as `VideoSample` JSONL (relative
video paths rewritten relative to ``OUT``'s folder, so they still resolve). The command
reports and exits 0; ``--fail-on-issues`` makes it exit 1 when anything was found.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from tqdm.auto import tqdm

from vthinker.data.collate import resolve_video
from vthinker.data.schema import ReadReport, VideoSample, read_jsonl, write_jsonl
from vthinker.data.video import VideoDecodeError, VideoInfo, frame_window, read_frames, video_info

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MIN_FRAMES",
    "ISSUE_KINDS",
    "CheckResult",
    "Dataset",
    "Issue",
    "VideoProbe",
    "check_samples",
    "datasets_from_config",
    "jsonl_dataset",
    "main",
    "probe_video",
    "source_dataset",
    "span_problems",
]

DEFAULT_MIN_FRAMES = 64
"""Videos with fewer than 64 frames are dropped (docs/method.md, Data)."""
DEEP_FRAMES = 16
"""Frames decoded per video by ``--deep`` (the training budget)."""
STAGES = ("train", "val", "test", "predict")
ISSUE_KINDS = ("missing", "undecodable", "short", "span")
_LABELS = {
    "missing": "missing videos",
    "undecodable": "undecodable videos",
    "short": "short videos (< {min_frames} frames)",
    "span": "out-of-range spans",
}


@dataclass
class Dataset:
    """Samples to check and how their video paths resolve.

    Attributes:
        name: What is shown in the report (``"train_file data/toy/train.jsonl"``, …).
        samples: The samples read.
        video_root: Folder that relative video paths are resolved against (None: as is).
        bad_records: ``(where, reason)`` of annotation records that were skipped.
        left_out: Well-formed records a source left out on purpose, by reason.
    """

    name: str
    samples: list[VideoSample]
    video_root: Path | None
    bad_records: list[tuple[str, str]] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoProbe:
    """What probing one video file found.

    Attributes:
        path: The resolved file.
        status: ``ok``, ``missing`` or ``undecodable``.
        info: Frame count, rate and size when the file opened.
        reason: Why it is missing or undecodable.
    """

    path: str
    status: Literal["ok", "missing", "undecodable"]
    info: VideoInfo | None = None
    reason: str = ""


@dataclass(frozen=True)
class Issue:
    """One problem of one sample."""

    sample_id: str
    video: str
    detail: str


@dataclass
class CheckResult:
    """The outcome of `check_samples` for one dataset.

    Attributes:
        name: The dataset's name.
        min_frames: The short-video threshold used.
        samples: Samples read.
        bad_records: Skipped annotation records ``(where, reason)``.
        left_out: Records left out on purpose, by reason.
        probes: Resolved video path -> probe, one per distinct video.
        issues: Issue kind (`ISSUE_KINDS`) -> the samples with that problem.
        clean: Samples with no problem, in input order.
    """

    name: str
    min_frames: int
    samples: int
    bad_records: list[tuple[str, str]]
    left_out: dict[str, int]
    probes: dict[str, VideoProbe]
    issues: dict[str, list[Issue]]
    clean: list[VideoSample]

    def videos_with(self, kind: str) -> int:
        """Distinct videos among the samples with an issue of this kind."""
        return len({i.video for i in self.issues[kind]})

    @property
    def has_issues(self) -> bool:
        return bool(self.bad_records) or len(self.clean) < self.samples

    def summary(self) -> dict[str, Any]:
        """The counts as plain JSON data."""
        return {
            "name": self.name,
            "samples": self.samples,
            "bad_records": len(self.bad_records),
            "left_out": sum(self.left_out.values()),
            "videos": len(self.probes),
            "min_frames": self.min_frames,
            **{
                kind: {"videos": self.videos_with(kind), "samples": len(self.issues[kind])}
                for kind in ISSUE_KINDS
            },
            "clean": len(self.clean),
        }


# --- checks ---------------------------------------------------------------------------------


def probe_video(path: str | Path, deep: bool = False) -> VideoProbe:
    """Open a video once: missing, undecodable, or its `VideoInfo`.

    Args:
        path: The file.
        deep: Also decode `DEEP_FRAMES` frames spread over the whole file.
    """
    p = Path(path)
    if not p.exists():
        return VideoProbe(str(path), "missing", reason="file does not exist")
    try:
        info = video_info(p)
        if deep:
            read_frames(p, num_frames=DEEP_FRAMES)
    except VideoDecodeError as err:
        return VideoProbe(str(path), "undecodable", reason=err.reason)
    return VideoProbe(str(path), "ok", info=info)


def _fmt(x: float) -> str:
    return f"{x:g}"


def span_problems(
    sample: VideoSample,
    duration: float | None = None,
    fps: float | None = None,
    tolerance: float = 0.0,
) -> list[str]:
    """Why the sample's clip window or evidence spans do not fit its video (module doc).

    Args:
        sample: The sample (times in seconds of the file).
        duration: Duration of the file in seconds, None when unknown (only the checks that
            need no duration run).
        fps: Native frame rate; one frame interval of slack is allowed past an end.
        tolerance: Extra seconds of slack past an end.

    Returns:
        One message per problem, empty when everything fits.
    """
    slack = (1.0 / fps if fps else 0.0) + tolerance
    out: list[str] = []
    start, end = sample.video_start, sample.video_end
    if start is not None and start < 0:
        out.append(f"clip start {_fmt(start)} s is negative")
    if end is not None and end <= (start or 0.0):
        out.append(f"clip end {_fmt(end)} s is not after its start {_fmt(start or 0.0)} s")
    if duration is not None:
        if start is not None and start >= duration:
            out.append(
                f"clip start {_fmt(start)} s is past the end of the video ({duration:.3f} s)"
            )
        if end is not None and end > duration + slack:
            out.append(f"clip end {_fmt(end)} s is past the end of the video ({duration:.3f} s)")
    lo = start if start is not None and start > 0 else 0.0
    limits = [x for x in (end, duration) if x is not None]
    hi = min(limits) if limits else None
    where = "clip" if end is not None and (duration is None or end <= duration) else "video"
    for i, e in enumerate(sample.evidence, start=1):
        span = f"evidence {i} [{_fmt(e.start)}, {_fmt(e.end)}] s"
        if e.start < 0:
            out.append(f"{span} starts before 0")
        elif e.start < lo:
            out.append(f"{span} starts before the clip start {_fmt(lo)} s")
        if hi is not None and e.end > hi + slack:
            out.append(f"{span} ends after the end of the {where} ({hi:.3f} s)")
    return out


def _shown_frames(sample: VideoSample, info: VideoInfo) -> int | None:
    """Frames in the part of the file the model reads (None if the clip does not fit)."""
    try:
        first, last = frame_window(info.num_frames, info.fps, sample.video_start, sample.video_end)
    except ValueError:
        return None
    return last - first + 1


def check_samples(
    dataset: Dataset,
    *,
    min_frames: int = DEFAULT_MIN_FRAMES,
    span_tolerance: float = 0.0,
    deep: bool = False,
    progress: bool = True,
) -> CheckResult:
    """Check every sample of a dataset (module docstring); each video is probed once.

    Args:
        dataset: What to check.
        min_frames: Fewer frames than this in the part read is a short video.
        span_tolerance: Extra seconds accepted past the end of a clip or file.
        deep: Decode frames across each file, not only its first frame.
        progress: Show a progress bar over the videos.
    """
    if min_frames < 1:
        raise ValueError(f"min_frames must be >= 1, got {min_frames}")
    if not (span_tolerance >= 0 and math.isfinite(span_tolerance)):
        raise ValueError(f"span_tolerance must be a finite number >= 0, got {span_tolerance}")
    paths = [str(resolve_video(s, dataset.video_root)) for s in dataset.samples]
    probes: dict[str, VideoProbe] = {}
    unique = list(dict.fromkeys(paths))
    for path in tqdm(
        unique, desc=f"probing videos ({dataset.name})", unit="video", disable=not progress
    ):
        probes[path] = probe_video(path, deep=deep)

    issues: dict[str, list[Issue]] = {kind: [] for kind in ISSUE_KINDS}
    clean: list[VideoSample] = []
    for sample, path in zip(dataset.samples, paths, strict=True):
        probe = probes[path]
        found: list[tuple[str, str]] = []
        if probe.status != "ok":
            found.append((probe.status, probe.reason))
        info = probe.info
        spans = span_problems(
            sample,
            duration=info.duration if info else None,
            fps=info.fps if info else None,
            tolerance=span_tolerance,
        )
        if spans:
            found.append(("span", "; ".join(spans)))
        if info is not None:
            shown = _shown_frames(sample, info)
            if shown is not None and shown < min_frames:
                part = (
                    "clip"
                    if sample.video_start is not None or sample.video_end is not None
                    else "video"
                )
                found.append(("short", f"{part} has {shown} frames (< {min_frames})"))
        for kind, detail in found:
            issues[kind].append(Issue(sample.id, path, detail))
        if not found:
            clean.append(sample)
    return CheckResult(
        name=dataset.name,
        min_frames=min_frames,
        samples=len(dataset.samples),
        bad_records=list(dataset.bad_records),
        left_out=dict(dataset.left_out),
        probes=probes,
        issues=issues,
        clean=clean,
    )


# --- loading ----------------------------------------------------------------------------------


def jsonl_dataset(
    path: str | Path,
    *,
    fmt: str = "auto",
    video_root: str | Path | None = None,
    name: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """A JSONL file read as the DataModule reads it (bad records reported and skipped).

    Relative video paths resolve against ``video_root``, else the file's folder.
    """
    report = ReadReport(str(path))
    samples = read_jsonl(path, fmt=fmt, strict=False, report=report)
    if limit is not None:
        samples = samples[:limit]
    root = Path(video_root) if video_root is not None else Path(path).parent
    return Dataset(
        name=name or str(path),
        samples=samples,
        video_root=root,
        bad_records=[(f"{path}:{ln}", why) for ln, why in report.skipped],
    )


def _instantiate_source(spec: Any) -> Any:
    """A `SampleSource` from a ``{class_path, init_args}`` spec (jsonargparse-checked)."""
    from jsonargparse import ArgumentParser

    from vthinker.data.sources.base import SampleSource

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--source", type=SampleSource)
    cfg = parser.parse_object({"source": spec})
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    return instantiate(cfg).source


def source_dataset(source: Any, name: str | None = None) -> Dataset:
    """Load a `SampleSource` (its report gives the bad and left-out records)."""
    samples = source.load()
    report = source.report
    return Dataset(
        name=name or f"{type(source).__name__} {source.root}",
        samples=samples,
        video_root=Path(source.root),
        bad_records=list(report.skipped),
        left_out=dict(getattr(report, "left_out", {}) or {}),
    )


def _merge(base: Any, update: Any) -> Any:
    """Deep-merge YAML mappings (later wins); a changed ``class_path`` replaces the node."""
    if not (isinstance(base, dict) and isinstance(update, dict)):
        return update
    if "class_path" in update and update.get("class_path") != base.get("class_path"):
        return update
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if key in out else value
    return out


def _read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config not found: {p}")
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a YAML mapping at the top level")
    return data


def datasets_from_config(
    configs: Sequence[str | Path],
    *,
    stages: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Dataset]:
    """The datasets a config names (module docstring).

    Args:
        configs: YAML files merged in order: either a source spec (top-level
            ``class_path``) or a config with a ``data:`` block.
        stages: Stages of a ``data:`` block to check (default: every one it sets).
        limit: Check only the first ``limit`` samples of each dataset.

    Raises:
        ValueError: if the config names no dataset, or a requested stage has none.
    """
    merged: dict[str, Any] = {}
    for c in configs:
        merged = _merge(merged, _read_yaml(c))
    if "class_path" in merged:
        spec = merged if limit is None else _merge(merged, {"init_args": {"limit": limit}})
        return [source_dataset(_instantiate_source(spec))]
    data = merged.get("data")
    if not isinstance(data, dict):
        raise ValueError(
            f"{', '.join(map(str, configs))}: no top-level class_path (a dataset source) "
            "and no data: block"
        )
    init = data.get("init_args", data) or {}
    wanted = list(stages) if stages else list(STAGES)
    out: list[Dataset] = []
    for stage in wanted:
        source_spec = init.get(f"{stage}_source")
        file = init.get(f"{stage}_file")
        if source_spec:
            if limit is not None:
                source_spec = _merge(source_spec, {"init_args": {"limit": limit}})
            src = _instantiate_source(source_spec)
            out.append(source_dataset(src, name=f"{stage}_source {type(src).__name__}"))
        elif file:
            out.append(
                jsonl_dataset(
                    file,
                    fmt=init.get("fmt", "auto") or "auto",
                    video_root=init.get("video_root"),
                    name=f"{stage}_file {file}",
                    limit=limit,
                )
            )
        elif stages:
            raise ValueError(f"the data: block sets neither {stage}_source nor {stage}_file")
    if not out:
        raise ValueError("the data: block names no dataset (no <stage>_source or <stage>_file)")
    return out


# --- output -----------------------------------------------------------------------------------


def _print_result(result: CheckResult, console: Any, show: int) -> None:
    from rich.table import Table

    table = Table(title=f"data check: {result.name}", title_justify="left")
    table.add_column("check")
    table.add_column("videos", justify="right")
    table.add_column("samples", justify="right")
    table.add_row("samples read (distinct videos)", str(len(result.probes)), str(result.samples))
    table.add_row("bad records skipped", "", str(len(result.bad_records)))
    if result.left_out:
        table.add_row("left out on purpose", "", str(sum(result.left_out.values())))
    for kind in ISSUE_KINDS:
        label = _LABELS[kind].format(min_frames=result.min_frames)
        n = len(result.issues[kind])
        style = "red" if n else ""
        table.add_row(label, str(result.videos_with(kind)), str(n), style=style)
    table.add_row("clean samples", "", str(len(result.clean)), style="bold")
    console.print(table)
    if result.bad_records:
        console.print(f"[bold]bad records[/bold] ({len(result.bad_records)}):")
        for where, why in result.bad_records[:show]:
            console.print(f"  {where}: {why}", markup=False, highlight=False, soft_wrap=True)
        if len(result.bad_records) > show:
            console.print(f"  … and {len(result.bad_records) - show} more")
    for why, n in sorted(result.left_out.items()):
        console.print(f"left out: {n} {why}", markup=False, highlight=False)
    for kind in ISSUE_KINDS:
        items = result.issues[kind]
        if not items:
            continue
        label = _LABELS[kind].format(min_frames=result.min_frames)
        console.print(f"[bold]{label}[/bold] ({len(items)} samples):")
        for issue in items[:show]:
            console.print(
                f"  {issue.sample_id}  {issue.video}: {issue.detail}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if len(items) > show:
            console.print(f"  … and {len(items) - show} more")


def _clean_path(sample: VideoSample, root: Path | None, out_dir: Path) -> str:
    """The sample's video path as it resolves from ``out_dir`` (absolute stays absolute)."""
    path = Path(sample.video).expanduser()
    if path.is_absolute() or root is None:
        return sample.video
    return os.path.relpath(Path(root) / path, out_dir)


def write_clean(result: CheckResult, dataset: Dataset, out: str | Path) -> int:
    """Write the clean samples as `VideoSample` JSONL; returns how many were written."""
    out = Path(out)
    out_dir = out.parent.absolute()
    root = dataset.video_root.absolute() if dataset.video_root is not None else None
    samples = [replace(s, video=_clean_path(s, root, out_dir)) for s in result.clean]
    return write_jsonl(samples, out)


# --- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vthinker data check",
        description="Scan a dataset: bad records, missing/undecodable/short videos, "
        "out-of-range spans; optionally write the clean samples.",
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        help="YAML with a data: block or a source class_path (repeat to merge, later wins)",
    )
    p.add_argument("--jsonl", help="a VideoSample / Video-R1-style JSONL file")
    p.add_argument("--video-root", help="folder relative video paths of --jsonl resolve against")
    p.add_argument("--fmt", default="auto", choices=["auto", "vthinker", "video_r1"])
    p.add_argument("--stage", action="append", choices=STAGES, help="stages of a data: block")
    p.add_argument("--min-frames", type=int, default=DEFAULT_MIN_FRAMES)
    p.add_argument("--span-tolerance", type=float, default=0.0, help="extra seconds past an end")
    p.add_argument("--deep", action="store_true", help=f"decode {DEEP_FRAMES} frames per video")
    p.add_argument("--limit", type=int, help="check only the first N samples of each dataset")
    p.add_argument("--show", type=int, default=10, help="problems listed per kind")
    p.add_argument("--write-clean", help="write the clean samples to this JSONL file")
    p.add_argument("--report-json", help="write the counts as JSON to this file")
    p.add_argument("--fail-on-issues", action="store_true", help="exit 1 if anything was found")
    p.add_argument("--no-progress", action="store_true")
    return p


def run(argv: Sequence[str]) -> int:
    """``vthinker data check``; returns the exit code."""
    from rich.console import Console

    args = build_parser().parse_args(list(argv))
    if bool(args.config) == bool(args.jsonl):
        raise SystemExit("vthinker data check: give either --config or --jsonl")
    try:
        if args.jsonl:
            datasets = [
                jsonl_dataset(
                    args.jsonl, fmt=args.fmt, video_root=args.video_root, limit=args.limit
                )
            ]
        else:
            datasets = datasets_from_config(args.config, stages=args.stage, limit=args.limit)
    except (FileNotFoundError, ValueError, argparse.ArgumentError) as err:
        # a missing annotation file, a config naming no dataset, a bad source spec, ...
        raise SystemExit(f"vthinker data check: {err}") from err
    if args.write_clean and len(datasets) != 1:
        names = ", ".join(d.name for d in datasets)
        raise SystemExit(
            f"--write-clean needs one dataset, the config has {len(datasets)} "
            f"({names}): choose one with --stage"
        )
    console = Console()
    results = []
    for ds in datasets:
        result = check_samples(
            ds,
            min_frames=args.min_frames,
            span_tolerance=args.span_tolerance,
            deep=args.deep,
            progress=not args.no_progress,
        )
        _print_result(result, console, args.show)
        results.append(result)
    if args.write_clean:
        n = write_clean(results[0], datasets[0], args.write_clean)
        console.print(f"wrote {n} clean samples to {args.write_clean}", highlight=False)
    if args.report_json:
        Path(args.report_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report_json).write_text(
            json.dumps([r.summary() for r in results], indent=2) + "\n", encoding="utf-8"
        )
    found = any(r.has_issues for r in results)
    if found and args.fail_on_issues:
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """``vthinker data SUBCOMMAND``: ``check`` (see `run`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: vthinker data check [--config YAML | --jsonl FILE] [options]\n\n" + __doc__)
        return
    if argv[0] != "check":
        raise SystemExit(f"vthinker data: unknown subcommand {argv[0]!r} (available: check)")
    code = run(argv[1:])
    if code:
        raise SystemExit(code)
