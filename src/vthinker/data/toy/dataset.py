"""The toy dataset on disk: videos, split JSONL files and the command line (`main`)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vthinker.data.schema import VideoSample, read_jsonl, write_jsonl
from vthinker.data.toy.images import make_toy_images, write_mixed_release
from vthinker.data.toy.mp4 import write_video
from vthinker.data.toy.questions import describe_question, make_questions
from vthinker.data.toy.samples import _choose, _to_sample
from vthinker.data.toy.scene import MOTIONS, Layout, make_scene, render_scene
from vthinker.trace import TRACE_STYLES

TraceStyle = Literal[TRACE_STYLES]  # type: ignore[valid-type]  # the choices of --trace-style

__all__ = [
    "DEFAULT_NUM_VIDEOS",
    "DEFAULT_QUESTIONS_PER_VIDEO",
    "SPLITS",
    "main",
    "make_toy_dataset",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")

DEFAULT_NUM_VIDEOS = 100
DEFAULT_QUESTIONS_PER_VIDEO = 4


def _split_of_videos(
    num_videos: int, val_fraction: float, test_fraction: float, seed: int
) -> list[str]:
    """Split name per video index; at least one val/test video when its fraction is > 0."""
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= frac < 1:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    n_val = max(round(num_videos * val_fraction), 1 if val_fraction > 0 else 0)
    n_test = max(round(num_videos * test_fraction), 1 if test_fraction > 0 else 0)
    if n_val + n_test >= num_videos:
        raise ValueError(
            f"{num_videos} videos cannot hold {n_val} val + {n_test} test videos and a train split"
        )
    order = np.random.default_rng([seed, 1]).permutation(num_videos)
    splits = ["train"] * num_videos
    for i in order[:n_val]:
        splits[int(i)] = "val"
    for i in order[n_val : n_val + n_test]:
        splits[int(i)] = "test"
    return splits


def _owned_outputs(out_dir: Path) -> list[Path]:
    """Files in ``out_dir`` that a previous run wrote."""
    names = [*SPLITS, "describe", "sft"]
    files = [out_dir / f"{s}.jsonl" for s in names if (out_dir / f"{s}.jsonl").exists()]
    files += [out_dir / f"mixed_{s}.json" for s in SPLITS if (out_dir / f"mixed_{s}.json").exists()]
    videos = out_dir / "videos"
    if videos.is_dir():
        files += sorted(videos.glob("toy_*.mp4"))
    images = out_dir / "images"
    if images.is_dir():
        files += sorted(images.glob("toy_img_*.png"))
    return files


def make_toy_dataset(
    out_dir: str | os.PathLike[str],
    num_videos: int = DEFAULT_NUM_VIDEOS,
    questions_per_video: int = DEFAULT_QUESTIONS_PER_VIDEO,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    size: int = 112,
    fps: int = 8,
    min_duration: int = 8,
    max_duration: int = 12,
    layout: Layout = "lanes",
    trace_style: TraceStyle = "video_thinker",
    overwrite: bool = False,
    image_questions: int = 0,
) -> dict[str, Path]:
    """Generate the toy dataset (videos and split JSONL files) into ``out_dir``.

    Video ``k`` depends only on ``(seed, k)``, so a larger ``num_videos`` extends a smaller
    one (the split assignment does change).

    Args:
        out_dir: Output folder; videos go to ``out_dir/videos``.
        num_videos: Number of videos.
        questions_per_video: Questions per video, spread over templates (fewer when a
            scene admits fewer).
        seed: Random seed; the same seed gives identical files.
        val_fraction: Fraction of videos in the val split.
        test_fraction: Fraction of videos in the test split.
        size: Frame width and height in pixels (even, >= 32).
        fps: Frame rate of the videos.
        min_duration: Shortest video, seconds.
        max_duration: Longest video, seconds.
        layout: Where shapes are drawn, one of `LAYOUTS`; in ``grid`` shapes stay still,
            options are one per colour, and the motion, time-window and count templates
            are not asked (counting is the ``describe`` question).
        trace_style: Format of the gold traces, one of `vthinker.trace.TRACE_STYLES`
            (a sibling method's format, for the SFT that precedes its GRPO demo); styles
            other than ``video_thinker`` include the answer.
        overwrite: Replace the outputs of an earlier run; otherwise their presence is an error.
        image_questions: Also draw this many image questions (`vthinker.data.toy.images`,
            split with the same fractions) and write each split's video and image questions
            as a Video-R1-260k-style JSON list, ``mixed_<split>.json``; the JSONL files keep
            the video questions only.

    Returns:
        The JSONL file of each split; with the ``grid`` layout also ``"describe"`` (one
        `describe_question` per training video, the miniature's perception stage) and
        ``"sft"`` (the training split and the describe samples, shuffled); with
        ``image_questions`` also ``"mixed_<split>"``.

    Raises:
        FileExistsError: if ``out_dir`` already holds a toy dataset and ``overwrite`` is False.
        ValueError: on bad sizes, counts or fractions.
    """
    # Over 60 lines only for the documented arguments; the code is the rest.
    _check_counts(num_videos, questions_per_video, fps, trace_style)
    if image_questions < 0:
        raise ValueError(f"image_questions must be >= 0, got {image_questions}")
    out = Path(out_dir)
    _clear_outputs(out, overwrite)
    splits = _split_of_videos(num_videos, val_fraction, test_fraction, seed)
    video = _VideoSettings(
        seed, size, fps, min_duration, max_duration, layout, trace_style, questions_per_video
    )
    describe: list[VideoSample] = []
    samples: dict[str, list[VideoSample]] = {s: [] for s in SPLITS}
    for k in range(num_videos):
        questions, described = _make_video(out, k, splits[k], video)
        samples[splits[k]] += questions
        if described is not None:
            describe.append(described)
    paths = _write_splits(out, samples, describe if layout == "grid" else None, seed)
    if image_questions:
        image_splits = _split_of_videos(image_questions, val_fraction, test_fraction, seed + 1)
        images = make_toy_images(out, image_questions, image_splits, seed, size, layout)
        for split in SPLITS:
            samples[split] += [s for s in images if s.split == split]
        paths.update(write_mixed_release(out, samples, seed))
    return paths


def _check_counts(num_videos: int, questions_per_video: int, fps: int, trace_style: str) -> None:
    if num_videos < 1 or questions_per_video < 1:
        raise ValueError(
            f"num_videos and questions_per_video must be >= 1, got {num_videos}, "
            f"{questions_per_video}"
        )
    if fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps}")
    if trace_style not in TRACE_STYLES:
        raise ValueError(f"unknown trace style {trace_style!r}; expected one of {TRACE_STYLES}")


def _clear_outputs(out: Path, overwrite: bool) -> None:
    """Remove an earlier run's files, or refuse to when ``overwrite`` is False."""
    existing = _owned_outputs(out)
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a toy dataset ({existing[0]} exists)")
    for f in existing:
        f.unlink()


@dataclass(frozen=True)
class _VideoSettings:
    """What `make_toy_dataset` passes on to `_make_video` (its arguments of the same names)."""

    seed: int
    size: int
    fps: int
    min_duration: int
    max_duration: int
    layout: str
    trace_style: str
    questions_per_video: int


def _make_video(
    out: Path, k: int, split: str, opts: _VideoSettings
) -> tuple[list[VideoSample], VideoSample | None]:
    """Write video ``k`` and return its question samples and, with the ``grid`` layout on a
    training video, its describe sample. The generator is drawn in a fixed order: the
    scene, the question templates, then the choice and options of each question."""
    rng = np.random.default_rng([opts.seed, 0, k])
    grid = opts.layout == "grid"
    # In a grid cell a shape is one visual token per second: it stays still there.
    motions = ("still",) if grid else tuple(MOTIONS)
    scene = make_scene(
        rng, min_duration=opts.min_duration, max_duration=opts.max_duration, motions=motions
    )
    rel = f"videos/toy_{k:04d}.mp4"
    frames = render_scene(scene, size=opts.size, fps=opts.fps, layout=opts.layout)
    write_video(out / rel, frames, opts.fps)
    candidates = make_questions(scene, rng)
    described = None
    if grid:
        # Every shape stays still (the motion question is a giveaway) and options are
        # ordered by colour (time-window options would not be).
        candidates.pop("motion_of_nth", None)
        candidates.pop("when_on_screen", None)
        # Counting is the perception stage's question (describe.jsonl), not asked here.
        candidates.pop("count", None)
        if split == "train":
            described = _to_sample(
                describe_question(scene),
                sample_id=f"toy_{k:04d}_describe",
                video=rel,
                split="train",
                scene=scene,
                rng=rng,
            )
    chosen = _choose(candidates, opts.questions_per_video, rng)
    questions = [
        _to_sample(
            question,
            sample_id=f"toy_{k:04d}_q{j}",
            video=rel,
            split=split,
            scene=scene,
            rng=rng,
            colour_options=grid,
            trace_style=opts.trace_style,
        )
        for j, question in enumerate(chosen)
    ]
    return questions, described


def _write_splits(
    out: Path,
    samples: dict[str, list[VideoSample]],
    describe: list[VideoSample] | None,
    seed: int,
) -> dict[str, Path]:
    """Write the split files, and with ``describe`` (the grid layout) the describe and SFT
    files; returns their paths (`make_toy_dataset`)."""
    paths = {}
    for split in SPLITS:
        paths[split] = out / f"{split}.jsonl"
        write_jsonl(samples[split], paths[split])
    if describe is not None:
        paths["describe"] = out / "describe.jsonl"
        write_jsonl(describe, paths["describe"])
        # SFT replays the perception data: trained on QA traces alone, the model forgot
        # how to read colours (held-out accuracy 31.6% vs 44.7% with replay, one seed).
        mixed = samples["train"] + describe
        paths["sft"] = out / "sft.jsonl"
        write_jsonl(
            [mixed[i] for i in np.random.default_rng([seed, 2]).permutation(len(mixed))],
            paths["sft"],
        )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``vthinker make-toy-data``: generate the toy dataset unless it is already there.

    The options are `make_toy_dataset`'s (``--num-videos``, ``--layout``, …) and ``--out``.

    Returns:
        Process exit status (0).
    """
    from vthinker.command_args import add_function_flags, command_parser

    parser = command_parser(
        "vthinker make-toy-data", "Generate the synthetic toy video QA dataset."
    )
    parser.add_argument("--out", default="data/toy", help="output folder")
    names = add_function_flags(parser, make_toy_dataset, skip={"out_dir"})
    args = parser.parse_args(None if argv is None else list(argv))
    out = Path(args.out)
    if _owned_outputs(out) and not args.overwrite:
        print(f"{out} already holds a toy dataset; skipping (pass --overwrite to regenerate)")
        return 0
    began = time.perf_counter()
    paths = make_toy_dataset(out, **{name: args[name] for name in names})
    elapsed = time.perf_counter() - began
    parts = []
    for split, path in paths.items():
        if path.suffix == ".json":
            from vthinker.data.sources.video_r1 import VideoR1Source

            split_samples = VideoR1Source(str(out), files=[path.name]).load()
            images = sum(s.data_type == "image" for s in split_samples)
            parts.append(f"{split} {len(split_samples)} samples ({images} images)")
            continue
        split_samples = read_jsonl(path)
        videos = len({s.video for s in split_samples})
        parts.append(f"{split} {len(split_samples)} samples / {videos} videos")
    print(f"wrote toy dataset to {out} in {elapsed:.1f} s: " + ", ".join(parts))
    return 0
