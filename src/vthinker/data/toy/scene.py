"""Toy scenes: coloured shapes with known appearance times, and drawing them frame by frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import numpy as np

__all__ = [
    "BACKGROUND",
    "COLOURS",
    "LAYOUTS",
    "MOTIONS",
    "NUM_LANES",
    "ORDINALS",
    "SHAPES",
    "Layout",
    "ToyObject",
    "ToyScene",
    "make_scene",
    "render_scene",
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
NUM_LANES = 4
ORDINALS = ("first", "second", "third", "fourth")


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


Layout = Literal["lanes", "grid"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
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
