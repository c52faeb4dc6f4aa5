"""``vthinker data check``: scan a dataset before training or evaluation.

What is read: a JSONL file (``--jsonl``, our records or Video-R1-style ones, as the
DataModule reads them), a dataset source (``--config`` naming a ``class_path`` of a
`vthinker.data.sources.base.SampleSource`), or the ``data:`` block of a training or
evaluation config (``--config``, repeatable: parsed by the ``vthinker`` command's own parser,
as ``vthinker fit`` would, and only the DataModule is built; `vthinker.data.check_load`):
each ``<stage>_source`` / ``<stage>_file`` of the DataModule is checked as its own dataset.

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

import json
import logging
import math
import os
import sys
from argparse import ArgumentError
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from vthinker.data.check_load import (
    STAGES,
    Dataset,
    datasets_from_config,
    jsonl_dataset,
    source_dataset,
)
from vthinker.data.collate import resolve_video
from vthinker.data.image import probe_image
from vthinker.data.schema import VideoSample, write_jsonl
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
ISSUE_KINDS = ("missing", "undecodable", "short", "span")


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
        images: How many of the probed files are image questions' images.
    """

    name: str
    min_frames: int
    samples: int
    bad_records: list[tuple[str, str]]
    left_out: dict[str, int]
    probes: dict[str, VideoProbe]
    issues: dict[str, list[Issue]]
    clean: list[VideoSample]
    images: int = 0

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
            "images": self.images,
            "min_frames": self.min_frames,
            **{
                kind: {"videos": self.videos_with(kind), "samples": len(self.issues[kind])}
                for kind in ISSUE_KINDS
            },
            "clean": len(self.clean),
        }


# --- checks ---------------------------------------------------------------------------------


def probe_video(path: str | Path, deep: bool = False, image: bool = False) -> VideoProbe:
    """Open a video once: missing, undecodable, or its `VideoInfo`.

    Args:
        path: The file.
        deep: Also decode `DEEP_FRAMES` frames spread over the whole file.
        image: The file is an image question's image: decoded whole (no `VideoInfo`, no
            frame count or span checks).
    """
    p = Path(path)
    if not p.exists():
        return VideoProbe(str(path), "missing", reason="file does not exist")
    if image:
        try:
            probe_image(p)
        except VideoDecodeError as err:
            return VideoProbe(str(path), "undecodable", reason=err.reason)
        return VideoProbe(str(path), "ok")
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
    images = {p for s, p in zip(dataset.samples, paths, strict=True) if s.data_type == "image"}
    probes: dict[str, VideoProbe] = {}
    unique = list(dict.fromkeys(paths))
    for path in tqdm(
        unique, desc=f"probing videos ({dataset.name})", unit="file", disable=not progress
    ):
        probes[path] = probe_video(path, deep=deep, image=path in images)
    issues: dict[str, list[Issue]] = {kind: [] for kind in ISSUE_KINDS}
    clean: list[VideoSample] = []
    for sample, path in zip(dataset.samples, paths, strict=True):
        found = _sample_problems(sample, probes[path], min_frames, span_tolerance)
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
        images=len(images),
    )


def _sample_problems(
    sample: VideoSample, probe: VideoProbe, min_frames: int, span_tolerance: float
) -> list[tuple[str, str]]:
    """``(issue kind, detail)`` of each problem of one sample whose video was probed."""
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
            clip = sample.video_start is not None or sample.video_end is not None
            part = "clip" if clip else "video"
            found.append(("short", f"{part} has {shown} frames (< {min_frames})"))
    return found


# --- output -----------------------------------------------------------------------------------


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


def build_parser() -> Any:
    """The options of ``vthinker data check`` (jsonargparse). ``--min-frames``,
    ``--span-tolerance`` and ``--deep`` are `check_samples`'s, with its defaults. ``--config``
    names the dataset configs to check (repeatable), so options come on the command line only.
    """
    from vthinker.command_args import add_function_flags, command_parser

    p = command_parser(
        "vthinker data check",
        "Scan a dataset: bad records, missing/undecodable/short videos, "
        "out-of-range spans; optionally write the clean samples.",
        config_file=False,
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
    add_function_flags(p, check_samples, skip={"dataset", "progress"})
    p.add_argument("--limit", type=int, help="check only the first N samples of each dataset")
    p.add_argument("--show", type=int, default=10, help="problems listed per kind")
    p.add_argument("--write-clean", help="write the clean samples to this JSONL file")
    p.add_argument("--report-json", help="write the counts as JSON to this file")
    p.add_argument("--fail-on-issues", action="store_true", help="exit 1 if anything was found")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(argv: Sequence[str], parse_data: Callable[[list[str]], Any] | None = None) -> int:
    """``vthinker data check``; returns the exit code. ``parse_data``: the command line's
    parser of a config's ``data:`` node (`datasets_from_config`)."""
    from rich.console import Console

    from vthinker.data.check_report import print_result

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
            datasets = datasets_from_config(
                args.config, stages=args.stage, limit=args.limit, parse_data=parse_data
            )
    except (FileNotFoundError, ValueError, ArgumentError) as err:
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
        print_result(result, console, args.show)
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


def main(
    argv: Sequence[str] | None = None, parse_data: Callable[[list[str]], Any] | None = None
) -> None:
    """``vthinker data SUBCOMMAND``: ``check`` (see `run`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: vthinker data check [--config YAML | --jsonl FILE] [options]\n\n" + __doc__)
        return
    if argv[0] != "check":
        raise SystemExit(f"vthinker data: unknown subcommand {argv[0]!r} (available: check)")
    code = run(argv[1:], parse_data)
    if code:
        raise SystemExit(code)
