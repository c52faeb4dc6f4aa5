"""Synthetic toy dataset: coloured shapes on a dark background, and questions about them.

Each video shows 3-4 shapes (square, circle or triangle; red, green, blue or yellow,
one shape per colour) that appear at whole seconds, move in their own horizontal lane
(left to right, right to left, still, or growing) and disappear at whole seconds, so
the scene is known exactly. Questions need both *when* and *what* ("What colour is
the shape that appears right after the red square leaves the screen?"), and every
sample carries gold evidence spans with captions and a gold Video-Thinker trace built
with `vthinker.trace.render_trace` (without the answer; `VideoSample.target_text`
appends it). A few samples are numerical ("How many shapes appear in the video?").

Layout written by `make_toy_dataset`::

    out_dir/videos/toy_0000.mp4 ...      H.264 (libx264, yuv420p)
    out_dir/{train,val,test}.jsonl       VideoSample records; video paths relative to out_dir

Splits are by video. The same seed gives byte-identical JSONL files and, with the
same PyAV/FFmpeg build, byte-identical mp4 files: libx264 runs single-threaded with
MB-tree rate control off (with it on, it reads uninitialised memory and the bytes
varied from run to run), and the muxer writes no creation time.

Command line: ``python tools/make_toy_data.py --out data/toy`` (see `main`).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vthinker.data.schema import LETTERS, Evidence, VideoSample, read_jsonl, write_jsonl
from vthinker.trace import (
    TRACE_STYLES,
    Segment,
    format_timestamp,
    render_span,
    render_trace,
    render_trace_as,
)

__all__ = [
    "COLOURS",
    "DESCRIBE_QUESTION",
    "LAYOUTS",
    "MOTIONS",
    "SHAPES",
    "SPLITS",
    "ToyObject",
    "ToyQuestion",
    "ToyScene",
    "describe_question",
    "main",
    "make_questions",
    "make_scene",
    "make_toy_dataset",
    "render_scene",
    "toy_texts",
    "write_video",
]

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 200, 70),
    "blue": (50, 90, 235),
    "yellow": (235, 210, 40),
}
"""Shape colours (RGB). Colours are unique within a video."""
SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
MOTIONS: dict[str, str] = {
    "left_to_right": "moves from left to right",
    "right_to_left": "moves from right to left",
    "still": "stays still",
    "grows": "grows bigger",
}
"""Motion key -> verb phrase used in captions, thinks and options."""
BACKGROUND: tuple[int, int, int] = (18, 18, 26)
SPLITS: tuple[str, ...] = ("train", "val", "test")
NUM_LANES = 4
ORDINALS = ("first", "second", "third", "fourth")

DEFAULT_NUM_VIDEOS = 100
DEFAULT_QUESTIONS_PER_VIDEO = 4


# --- writing videos -----------------------------------------------------------------------


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float,
    *,
    crf: int = 18,
    preset: str = "veryfast",
) -> None:
    """Encode RGB frames as an H.264 mp4 (libx264, yuv420p) with PyAV.

    The encoder runs single-threaded with MB-tree rate control off, so the same frames
    give the same bytes with the same PyAV/FFmpeg build (with MB-tree on, the bytes
    varied between runs). RGB becomes YUV 4:2:0 through FFmpeg's swscale (BT.601,
    limited range, what decoders assume for an untagged stream). The file holds exactly
    ``T`` frames at exactly ``fps`` (stored as a rational), so ``num_frames / fps`` is
    its duration.

    Args:
        path: Output file (parent folders are created).
        frames: ``uint8`` array ``(T, H, W, 3)``, RGB; ``H`` and ``W`` must be even
            (yuv420p halves the chroma planes).
        fps: Frame rate (positive; non-integer rates such as 29.97 are fine).
        crf: x264 constant rate factor (lower is closer to lossless).
        preset: x264 speed preset.

    Raises:
        ValueError: on a bad frame array or rate.
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    num, height, width = frames.shape[:3]
    if num < 1:
        raise ValueError("cannot write a video with no frames")
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(f"frame size must be even for yuv420p, got {width}x{height}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(100_000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        # MB-tree rate control reads uninitialised memory in this libx264 build: with it on,
        # the same frames gave different bytes from run to run. Off, output is reproducible.
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        for i, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            video_frame.pts = i
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# --- scenes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyObject:
    """One shape of a toy video.

    Attributes:
        shape: One of `SHAPES`.
        colour: One of `COLOURS`.
        motion: One of `MOTIONS`.
        start: Second at which it appears (frames with timestamp ``>= start``).
        end: Second at which it is gone (frames with timestamp ``< end`` show it).
        lane: Horizontal lane (row band) it moves in, ``0 .. NUM_LANES - 1``.
    """

    shape: str
    colour: str
    motion: str
    start: int
    end: int
    lane: int

    @property
    def name(self) -> str:
        """``"red square"``."""
        return f"{self.colour} {self.shape}"

    @property
    def caption(self) -> str:
        """What is seen while the shape is on screen."""
        where = {
            "left_to_right": "on the left",
            "right_to_left": "on the right",
            "still": "in the middle",
            "grows": "in the middle",
        }[self.motion]
        verb = {
            "left_to_right": "moves to the right",
            "right_to_left": "moves to the left",
            "still": "stays still",
            "grows": "grows bigger",
        }[self.motion]
        return f"a {self.name} appears {where} and {verb}"

    def visible_at(self, t: float) -> bool:
        """Whether the shape is on screen at time ``t`` seconds."""
        return self.start <= t < self.end


@dataclass(frozen=True)
class ToyScene:
    """A toy video: its length and its shapes, sorted by appearance time."""

    duration: int
    objects: tuple[ToyObject, ...]

    def to_meta(self) -> list[dict[str, object]]:
        """The shapes as plain dicts (stored in each sample's ``meta["scene"]``)."""
        return [asdict(o) for o in self.objects]


def make_scene(
    rng: np.random.Generator,
    *,
    min_duration: int = 8,
    max_duration: int = 12,
    min_objects: int = 3,
    max_objects: int = 4,
    motions: Sequence[str] = tuple(MOTIONS),
) -> ToyScene:
    """Draw a random scene: distinct start times and distinct end times, all whole seconds.

    Each shape stays 2-4 s; consecutive shapes appear 1-3 s apart, so some overlap and
    some follow a gap. Motions are drawn from ``motions`` (the keys of `MOTIONS`).

    Raises:
        ValueError: on impossible bounds.
    """
    if not 1 <= min_objects <= max_objects <= min(len(COLOURS), NUM_LANES):
        raise ValueError(
            f"need 1 <= min_objects <= max_objects <= {min(len(COLOURS), NUM_LANES)}, "
            f"got {min_objects}, {max_objects}"
        )
    if not 5 <= min_duration <= max_duration:
        raise ValueError(
            f"need 5 <= min_duration <= max_duration, got {min_duration}, {max_duration}"
        )
    colours = list(COLOURS)
    motions = list(motions)
    if not motions or any(m not in MOTIONS for m in motions):
        raise ValueError(f"motions must be keys of MOTIONS {tuple(MOTIONS)}, got {motions}")
    for _ in range(10_000):
        duration = int(rng.integers(min_duration, max_duration + 1))
        count = int(rng.integers(min_objects, max_objects + 1))
        starts = np.cumsum(
            [int(rng.integers(0, 2))] + [int(rng.integers(1, 4)) for _ in range(count - 1)]
        )
        ends = starts + rng.integers(2, 5, size=count)
        if ends.max() > duration or len(set(ends.tolist())) < count:
            continue
        colour_order = rng.permutation(len(colours))[:count]
        lanes = rng.permutation(NUM_LANES)[:count]
        objects = tuple(
            ToyObject(
                shape=SHAPES[int(rng.integers(len(SHAPES)))],
                colour=colours[int(colour_order[k])],
                motion=motions[int(rng.integers(len(motions)))],
                start=int(starts[k]),
                end=int(ends[k]),
                lane=int(lanes[k]),
            )
            for k in range(count)
        )
        return ToyScene(duration=duration, objects=objects)
    raise RuntimeError("could not draw a toy scene with these bounds; widen the duration range")


def _shape_mask(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    if shape == "square":
        half = radius * 0.85
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "triangle":  # apex up, base at the bottom
        return (dy >= -radius) & (dy <= radius) & (np.abs(dx) <= (dy + radius) * 0.58)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


LAYOUTS: tuple[str, ...] = ("lanes", "grid")
"""``lanes``: one horizontal band per shape across the whole frame. ``grid``: a 2x2 grid,
one cell per shape. With 56-pixel frames each grid cell is exactly one of Qwen2.5-VL's
merged visual tokens (2x2 patches of 14 pixels), so a shape is one token per second at
2 fps: the layout of the CPU miniature, where a tiny model learns to read the video."""


def render_scene(
    scene: ToyScene, *, size: int = 112, fps: int = 8, layout: str = "lanes"
) -> np.ndarray:
    """Draw every frame of a scene.

    Frame ``i`` (timestamp ``i / fps``) shows the shapes with ``start <= i / fps < end``.
    A shape's lane is its band (``lanes``) or its cell, row-major (``grid``); it moves
    or grows within that band or cell.

    Returns:
        ``uint8`` array ``(duration * fps, size, size, 3)``.
    """
    if size < 32 or size % 2:
        raise ValueError(f"size must be an even number >= 32, got {size}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    num_frames = scene.duration * fps
    video = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    video[:] = BACKGROUND
    cell = size / NUM_LANES if layout == "lanes" else size / 2
    radius = cell * 0.36
    for obj in scene.objects:
        colour = np.array(COLOURS[obj.colour], dtype=np.uint8)
        first, last = obj.start * fps, min(obj.end * fps, num_frames) - 1
        if layout == "lanes":
            cy, left, width = (obj.lane + 0.5) * cell, 0.0, float(size)
        else:
            row, col = divmod(obj.lane, 2)
            cy, left, width = (row + 0.5) * cell, col * cell, cell
        x_min, x_max = left + radius + 2, left + width - radius - 3
        for i in range(first, last + 1):
            progress = (i - first) / max(last - first, 1)
            r, cx = radius, left + width / 2
            if obj.motion == "left_to_right":
                cx = x_min + progress * (x_max - x_min)
            elif obj.motion == "right_to_left":
                cx = x_max - progress * (x_max - x_min)
            elif obj.motion == "grows":
                r = radius * (0.4 + 0.6 * progress)
            y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, size)
            x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, size)
            dy, dx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            mask = _shape_mask(obj.shape, dy - cy, dx - cx, r)
            video[i, y0:y1, x0:x1][mask] = colour
    return video


# --- questions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyQuestion:
    """A question about a scene before its options are lettered.

    Attributes:
        template: Name of the question template.
        question: The question text.
        answer: Correct answer text (an option text, or the number for numerical).
        distractors: Wrong option texts in order of preference (empty for numerical).
        evidence: Shapes whose time on screen supports the answer, by appearance time.
        thinks: One reasoning step per evidence shape.
        problem_type: ``"multiple choice"`` or ``"numerical"``.
    """

    template: str
    question: str
    answer: str
    distractors: tuple[str, ...]
    evidence: tuple[ToyObject, ...]
    thinks: tuple[str, ...]
    problem_type: str = "multiple choice"


def _ts(seconds: float) -> str:
    return format_timestamp(seconds)


def _object_distractors(
    scene: ToyScene,
    correct: ToyObject,
    rng: np.random.Generator,
    prefer: Sequence[ToyObject] = (),
    exclude: Sequence[ToyObject] = (),
) -> tuple[str, ...]:
    """Wrong shape names: preferred ones first, then other shapes of the video, then unseen.

    ``exclude`` holds shapes that must not be offered (e.g. the one the question names).
    """
    banned = {correct.name, *(o.name for o in exclude)}
    seen = [o.name for o in prefer if o.name not in banned]
    others = [o.name for o in scene.objects if o.name not in banned and o.name not in seen]
    present = {o.name for o in scene.objects}
    unseen = [f"{c} {s}" for c in COLOURS for s in SHAPES if f"{c} {s}" not in present]
    ordered = seen + [others[i] for i in rng.permutation(len(others))]
    ordered += [unseen[i] for i in rng.permutation(len(unseen))]
    return tuple(ordered)


def _overlap(a: ToyObject, b: ToyObject) -> int:
    return min(a.end, b.end) - max(a.start, b.start)


def _first_appears(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    if len(objs) < 2:
        return []
    first, second = objs[0], objs[1]
    return [
        ToyQuestion(
            template="first_appears",
            question="Which shape appears first in the video?",
            answer=first.name,
            distractors=_object_distractors(scene, first, rng, prefer=[second]),
            evidence=(first, second),
            thinks=(
                f"The {first.name} is the first shape on screen, from {_ts(first.start)}.",
                f"The {second.name} only appears at {_ts(second.start)}, after the "
                f"{first.name}, so the {first.name} came first.",
            ),
        )
    ]


def _last_appears(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    if len(objs) < 2:
        return []
    last, before = objs[-1], objs[-2]
    return [
        ToyQuestion(
            template="last_appears",
            question="Which shape is the last one to appear in the video?",
            answer=last.name,
            distractors=_object_distractors(scene, last, rng, prefer=[before]),
            evidence=(before, last),
            thinks=(
                f"The {before.name} appears at {_ts(before.start)}.",
                f"The {last.name} appears later, at {_ts(last.start)}, and no shape "
                f"appears after it, so it is the last one.",
            ),
        )
    ]


def _colour_after_leaves(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for x in objs:
        later = [o for o in objs if o.start >= x.end]
        if not later:
            continue
        y = min(later, key=lambda o: o.start)
        colour_options = [c for c in COLOURS if c != y.colour]
        out.append(
            ToyQuestion(
                template="colour_after_leaves",
                question=f"What colour is the shape that appears right after the {x.name} "
                "leaves the screen?",
                answer=y.colour,
                distractors=tuple(colour_options[i] for i in rng.permutation(len(colour_options))),
                evidence=(x, y),
                thinks=(
                    f"The {x.name} leaves the screen at {_ts(x.end)}.",
                    f"The next shape to appear after that is the {y.name}, at {_ts(y.start)}, "
                    f"so its colour is {y.colour}.",
                ),
            )
        )
    return out


def _same_time(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for x in objs:
        partners = [o for o in objs if o is not x and _overlap(o, x) >= 1]
        if len(partners) != 1:
            continue
        y = partners[0]
        a, b = sorted((x, y), key=lambda o: o.start)
        out.append(
            ToyQuestion(
                template="same_time",
                question=f"Which shape is on screen at the same time as the {x.name}?",
                answer=y.name,
                distractors=_object_distractors(scene, y, rng, exclude=[x]),
                evidence=(a, b),
                thinks=(
                    f"The {a.name} is on screen from {_ts(a.start)} to {_ts(a.end)}.",
                    f"The {b.name} is on screen from {_ts(b.start)} to {_ts(b.end)}, while "
                    f"the {a.name} is still visible; no other shape is on screen together "
                    f"with the {x.name}, so the answer is the {y.name}.",
                ),
            )
        )
    return out


def _motion_of_nth(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for k in range(min(len(objs), 3)):
        target = objs[k]
        phrases = [MOTIONS[m] for m in MOTIONS if m != target.motion]
        thinks = [
            f"The {ORDINALS[j]} shape to appear is the {objs[j].name}, at {_ts(objs[j].start)}."
            for j in range(k)
        ]
        thinks.append(
            f"The {ORDINALS[k]} shape to appear is the {target.name}, at {_ts(target.start)}, "
            f"and it {MOTIONS[target.motion]}."
        )
        out.append(
            ToyQuestion(
                template="motion_of_nth",
                question=f"How does the {ORDINALS[k]} shape to appear move?",
                answer=f"It {MOTIONS[target.motion]}",
                distractors=tuple(f"It {phrases[i]}" for i in rng.permutation(len(phrases))),
                evidence=objs[: k + 1],
                thinks=tuple(thinks),
            )
        )
    return out


def _shape_at_time(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    """One question (drawn among the seconds where exactly one shape is steadily on screen)."""
    objs = scene.objects
    candidates = []
    for t in range(1, scene.duration):
        # The on-screen set must be one shape and must not change within a second of t.
        changes = any(t - 1 < s <= t + 1 for o in objs for s in (o.start, o.end))
        visible = [o for o in objs if o.visible_at(t)]
        if changes or len(visible) != 1:
            continue
        x = visible[0]
        candidates.append(
            ToyQuestion(
                template="shape_at_time",
                question=f"Which shape is on screen at {_ts(t)}?",
                answer=x.name,
                distractors=_object_distractors(scene, x, rng),
                evidence=(x,),
                thinks=(
                    f"The {x.name} is on screen from {_ts(x.start)} to {_ts(x.end)}, which "
                    f"includes {_ts(t)}, and it is the only shape visible then.",
                ),
            )
        )
    return [candidates[int(rng.integers(len(candidates)))]] if candidates else []


def _when_on_screen(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    out = []
    for x in objs:
        correct = render_span(x.start, x.end)
        pool = [render_span(o.start, o.end) for o in objs if o is not x]
        pool = [pool[i] for i in rng.permutation(len(pool))]
        for shift in rng.permutation([-2, -1, 1, 2]).tolist():
            s, e = x.start + shift, x.end + shift
            if s >= 0 and e <= scene.duration:
                pool.append(render_span(s, e))
        for s, e in ((x.start, x.end + 2), (max(x.start - 2, 0), x.end), (0, scene.duration)):
            pool.append(render_span(s, e))
        out.append(
            ToyQuestion(
                template="when_on_screen",
                question=f"During which time window is the {x.name} on screen?",
                answer=correct,
                distractors=tuple(pool),
                evidence=(x,),
                thinks=(f"The {x.name} appears at {_ts(x.start)} and leaves at {_ts(x.end)}.",),
            )
        )
    return out


def _count(scene: ToyScene, rng: np.random.Generator) -> list[ToyQuestion]:
    objs = scene.objects
    thinks = [f"The {ORDINALS[j]} shape to appear is the {o.name}." for j, o in enumerate(objs)]
    thinks[-1] += f" No other shape appears, so {len(objs)} shapes appear in total."
    return [
        ToyQuestion(
            template="count",
            question="How many shapes appear in the video?",
            answer=str(len(objs)),
            distractors=(),
            evidence=objs,
            thinks=tuple(thinks),
            problem_type="numerical",
        )
    ]


QUESTION_TEMPLATES: dict[str, Callable[[ToyScene, np.random.Generator], list[ToyQuestion]]] = {
    "first_appears": _first_appears,
    "last_appears": _last_appears,
    "colour_after_leaves": _colour_after_leaves,
    "same_time": _same_time,
    "motion_of_nth": _motion_of_nth,
    "shape_at_time": _shape_at_time,
    "when_on_screen": _when_on_screen,
    "count": _count,
}
"""The question templates, each a function of a scene and the generator, in the order they
draw from it (the order is part of what a seed produces)."""


def make_questions(scene: ToyScene, rng: np.random.Generator) -> dict[str, list[ToyQuestion]]:
    """Every question the templates can ask about a scene, grouped by template.

    Templates whose conditions do not hold for the scene (e.g. no shape appears after
    the one asked about) contribute nothing.
    """
    out = {}
    for name, template in QUESTION_TEMPLATES.items():
        questions = template(scene, rng)
        if questions:
            out[name] = questions
    return out


DESCRIBE_QUESTION = "Describe every shape in the order it appears. How many shapes appear?"


def describe_question(scene: ToyScene) -> ToyQuestion:
    """The perception question of the grid miniature: every shape, in order, with its time.

    Its gold trace is a dense timeline of the video (one segment per shape), the skill a
    pretrained video LLM brings to Video-Thinker's SFT; the tiny random model learns it
    first (`make_toy_dataset` writes these to ``describe.jsonl``).
    """
    objs = scene.objects
    thinks = [f"The {ORDINALS[j]} shape to appear is the {o.name}." for j, o in enumerate(objs)]
    thinks[-1] += f" No other shape appears, so {len(objs)} shapes appear in total."
    return ToyQuestion(
        template="describe",
        question=DESCRIBE_QUESTION,
        answer=str(len(objs)),
        distractors=(),
        evidence=objs,
        thinks=tuple(thinks),
        problem_type="numerical",
    )


def _choose(
    candidates: dict[str, list[ToyQuestion]], count: int, rng: np.random.Generator
) -> list[ToyQuestion]:
    """Up to ``count`` questions, spread over templates (round robin in a random order)."""
    pools = {name: list(qs) for name, qs in sorted(candidates.items()) if qs}
    order = [list(pools)[i] for i in rng.permutation(len(pools))]
    chosen: list[ToyQuestion] = []
    while len(chosen) < count and any(pools[name] for name in order):
        for name in order:
            if len(chosen) == count:
                break
            pool = pools[name]
            if pool:
                chosen.append(pool.pop(int(rng.integers(len(pool)))))
    return chosen


def _to_sample(
    question: ToyQuestion,
    *,
    sample_id: str,
    video: str,
    split: str,
    scene: ToyScene,
    rng: np.random.Generator,
    colour_options: bool = False,
    trace_style: str = "video_thinker",
) -> VideoSample:
    options: list[str] = []
    answer = question.answer
    if question.problem_type == "multiple choice" and colour_options:
        options = _colour_ordered_options(question, scene, rng)
        answer = LETTERS[options.index(question.answer)]
    elif question.problem_type == "multiple choice":
        distractors: list[str] = []
        for d in question.distractors:
            if d != question.answer and d not in distractors:
                distractors.append(d)
            if len(distractors) == 3:
                break
        if len(distractors) < 3:
            raise RuntimeError(f"template {question.template!r} produced too few distractors")
        texts = [question.answer, *distractors]
        options = [texts[i] for i in rng.permutation(len(texts))]
        answer = LETTERS[options.index(question.answer)]
    segments = [
        Segment(start=float(o.start), end=float(o.end), caption=o.caption, think=think)
        for o, think in zip(question.evidence, question.thinks, strict=True)
    ]
    return VideoSample(
        id=sample_id,
        video=video,
        question=question.question,
        answer=answer,
        problem_type=question.problem_type,
        options=options,
        evidence=[Evidence(float(o.start), float(o.end), o.caption) for o in question.evidence],
        trace=render_trace(segments)
        if trace_style == "video_thinker"
        else render_trace_as(segments, answer, trace_style),
        source="toy",
        split=split,
        meta={
            "template": question.template,
            "duration": float(scene.duration),
            "scene": scene.to_meta(),
        },
    )


def _colour_ordered_options(
    question: ToyQuestion, scene: ToyScene, rng: np.random.Generator
) -> list[str]:
    """One option per colour, in `COLOURS` order: letter ``k`` always names colour ``k``.

    A shape option of another colour names that colour's shape in the scene (or a random
    shape when the colour is absent). The options then carry no hint of the answer and
    picking the letter needs no in-context matching of option texts, which a model of a
    few hundred thousand weights learns slowly: the answer rests on reading the video.
    """
    if question.answer in COLOURS:
        return list(COLOURS)
    colour = question.answer.split()[0]
    if colour not in COLOURS:
        raise ValueError(
            f"template {question.template!r}: answer {question.answer!r} names no colour"
        )
    in_scene = {o.colour: o.name for o in scene.objects}
    return [
        question.answer
        if c == colour
        else in_scene.get(c, f"{c} {SHAPES[int(rng.integers(len(SHAPES)))]}")
        for c in COLOURS
    ]


def toy_texts(num_videos: int = 50, seed: int = 1000) -> list[str]:
    """Question, option, caption and trace texts of toy samples, without writing videos.

    Used to train the tiny model's tokenizer on the toy task's vocabulary (a seed range
    apart from the dataset's, so no sample is seen verbatim).
    """
    texts: list[str] = []
    for k in range(num_videos):
        rng = np.random.default_rng([seed, 0, k])
        scene = make_scene(rng)
        for q in _choose(make_questions(scene, rng), 8, rng):
            s = _to_sample(q, sample_id="", video="", split="train", scene=scene, rng=rng)
            texts += [s.question, " ".join(s.lettered_options), s.target_text()]
    return texts


# --- the dataset --------------------------------------------------------------------------


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
    videos = out_dir / "videos"
    if videos.is_dir():
        files += sorted(videos.glob("toy_*.mp4"))
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
    layout: str = "lanes",
    trace_style: str = "video_thinker",
    overwrite: bool = False,
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
        layout: Where shapes are drawn, one of `LAYOUTS`; in ``grid`` every shape
            stays still, options are one per colour (`_colour_ordered_options`), and the
            motion, time-window and count templates are not asked (counting is the
            ``describe`` question).
        trace_style: Format of the gold traces, one of `vthinker.trace.TRACE_STYLES`
            (a sibling method's format, for the SFT that precedes its GRPO demo); styles
            other than ``video_thinker`` include the answer.
        overwrite: Replace the outputs of an earlier run; otherwise their presence is an error.

    Returns:
        ``{"train": path, "val": path, "test": path}`` of the JSONL files, and with the
        ``grid`` layout ``"describe"``: one `describe_question` per training video (the
        perception stage of the miniature), and ``"sft"``: the training split and the
        describe samples, shuffled (the miniature's SFT data).

    Raises:
        FileExistsError: if ``out_dir`` already holds a toy dataset and ``overwrite`` is False.
        ValueError: on bad sizes, counts or fractions.
    """
    if num_videos < 1 or questions_per_video < 1:
        raise ValueError(
            f"num_videos and questions_per_video must be >= 1, got {num_videos}, "
            f"{questions_per_video}"
        )
    if fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps}")
    if trace_style not in TRACE_STYLES:
        raise ValueError(f"unknown trace style {trace_style!r}; expected one of {TRACE_STYLES}")
    out = Path(out_dir)
    existing = _owned_outputs(out)
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a toy dataset ({existing[0]} exists)")
    for f in existing:
        f.unlink()
    splits = _split_of_videos(num_videos, val_fraction, test_fraction, seed)
    # In a grid cell a shape is one visual token per second: it stays still there.
    motions = ("still",) if layout == "grid" else tuple(MOTIONS)
    describe: list[VideoSample] = []
    samples: dict[str, list[VideoSample]] = {s: [] for s in SPLITS}
    for k in range(num_videos):
        rng = np.random.default_rng([seed, 0, k])
        scene = make_scene(
            rng, min_duration=min_duration, max_duration=max_duration, motions=motions
        )
        rel = f"videos/toy_{k:04d}.mp4"
        write_video(out / rel, render_scene(scene, size=size, fps=fps, layout=layout), fps)
        candidates = make_questions(scene, rng)
        if layout == "grid":
            # Every shape stays still (the motion question is a giveaway) and options are
            # ordered by colour (time-window options would not be).
            candidates.pop("motion_of_nth", None)
            candidates.pop("when_on_screen", None)
            # Counting is the perception stage's question (describe.jsonl), not asked here.
            candidates.pop("count", None)
            if splits[k] == "train":
                describe.append(
                    _to_sample(
                        describe_question(scene),
                        sample_id=f"toy_{k:04d}_describe",
                        video=rel,
                        split="train",
                        scene=scene,
                        rng=rng,
                    )
                )
        chosen = _choose(candidates, questions_per_video, rng)
        for j, question in enumerate(chosen):
            samples[splits[k]].append(
                _to_sample(
                    question,
                    sample_id=f"toy_{k:04d}_q{j}",
                    video=rel,
                    split=splits[k],
                    scene=scene,
                    rng=rng,
                    colour_options=layout == "grid",
                    trace_style=trace_style,
                )
            )
    paths = {}
    for split in SPLITS:
        paths[split] = out / f"{split}.jsonl"
        write_jsonl(samples[split], paths[split])
    if layout == "grid":
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
    """Command line: generate the toy dataset unless it is already there.

    Returns:
        Process exit status (0).
    """
    parser = argparse.ArgumentParser(
        prog="make_toy_data", description="Generate the synthetic toy video QA dataset."
    )
    parser.add_argument("--out", default="data/toy", help="output folder (default: data/toy)")
    parser.add_argument("--num-videos", type=int, default=DEFAULT_NUM_VIDEOS)
    parser.add_argument("--questions-per-video", type=int, default=DEFAULT_QUESTIONS_PER_VIDEO)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=112, help="frame width and height (even)")
    parser.add_argument("--fps", type=int, default=8, help="video frame rate")
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="lanes", help="shapes in bands or in a 2x2 grid"
    )
    parser.add_argument(
        "--trace-style",
        choices=TRACE_STYLES,
        default="video_thinker",
        help="format of the gold traces (a sibling method's, for its format SFT)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing toy dataset in --out"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    existing = _owned_outputs(out)
    if existing and not args.overwrite:
        print(f"{out} already holds a toy dataset; skipping (pass --overwrite to regenerate)")
        return 0
    began = time.perf_counter()
    paths = make_toy_dataset(
        out,
        num_videos=args.num_videos,
        questions_per_video=args.questions_per_video,
        seed=args.seed,
        size=args.size,
        fps=args.fps,
        layout=args.layout,
        trace_style=args.trace_style,
        overwrite=args.overwrite,
    )
    elapsed = time.perf_counter() - began
    parts = []
    for split, path in paths.items():
        split_samples = read_jsonl(path)
        videos = len({s.video for s in split_samples})
        parts.append(f"{split} {len(split_samples)} samples / {videos} videos")
    print(f"wrote toy dataset to {out} in {elapsed:.1f} s: " + ", ".join(parts))
    return 0
