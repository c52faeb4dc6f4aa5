"""Video decoding (decord) and frame sampling (the qwen-vl-utils convention).

`read_frames` returns a `VideoClip`: the sampled frames, the exact time of each
frame in the file, and the rates a Qwen2.5-VL processor needs. The sampling math
lives in pure functions (`frame_window`, `num_sampled_frames`, `sample_indices`)
so it can be tested without video files.

Sampling rules, for a window of ``W`` frames at native rate ``native_fps``:

* **Window.** ``start``/``end`` (seconds) select the frames *shown* during
  ``[start, end)``: frame ``i`` is shown during ``[i / native_fps, (i + 1) / native_fps)``,
  so the window is frames ``floor(start * native_fps)`` to ``ceil(end * native_fps) - 1``.
  For frame-aligned bounds this is exactly the frames whose timestamps lie in
  ``[start, end)``; a non-empty window never selects zero frames. Without bounds the
  window is the whole file.
* **Count, fixed.** ``num_frames=n`` gives ``min(n, W)`` frames; no rounding.
* **Count, by rate** (qwen-vl-utils ``smart_nframes``)::

      n = W / native_fps * fps                  # frames at `fps` over the window
      n = clamp(n, min_frames, max_frames)
      n = min(n, W)                             # never more frames than exist
      n = floor(n), then rounded down to a multiple of FRAME_FACTOR (2) when n >= 2

  The result is at least 1 and even unless it is 1 (a one-frame window, or
  ``max_frames=1``); Qwen2.5-VL's processor repeats the last frame of an odd count to
  fill its temporal patch of 2. qwen-vl-utils rounds ``min_frames`` up and
  ``max_frames`` down to even first; here they bound the count before the rounding,
  which differs only for odd bounds (an odd ``min_frames`` may come out one lower),
  and the defaults (4, 16) are even.
* **Indices.** ``np.linspace(first, last, n).round()`` over the window (first and
  last frame of the window included when ``n >= 2``; ``n == 1`` takes the first).

Every problem with the file itself (missing, empty, not a video, truncated, no
frames, undecodable frames) raises `VideoDecodeError` naming the file; bad
arguments (window out of range, inverted, non-positive rates) raise `ValueError`.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MIN_FRAMES",
    "FRAME_FACTOR",
    "VideoClip",
    "VideoDecodeError",
    "VideoInfo",
    "frame_window",
    "num_sampled_frames",
    "read_frames",
    "sample_indices",
    "video_info",
]

FRAME_FACTOR = 2
"""Frame counts sampled by rate are rounded down to a multiple of this (Qwen's temporal patch)."""
DEFAULT_FPS = 2.0
"""Default sampling rate in frames per second (qwen-vl-utils / Video-R1)."""
DEFAULT_MIN_FRAMES = 4
"""Default lower bound on the number of frames sampled by rate."""
DEFAULT_MAX_FRAMES = 16
"""Default upper bound on the number of frames sampled by rate (Video-Thinker training)."""

# Float products such as 2.0 * 29.97 carry noise in the last bits; round them to this
# many decimals before floor/ceil so that exact frame boundaries stay exact.
_BOUNDARY_DECIMALS = 6
# decord's C++ errors start with "[12:34:56] /path/to/source.cc:83: "; the rest is the message.
_DECORD_LOG_PREFIX = re.compile(r"^\[[\d:]+\]\s+\S+:\d+:\s*")


class VideoDecodeError(RuntimeError):
    """A video file that is missing, empty, corrupt or cannot be decoded.

    Attributes:
        path: The offending file, as given.
        reason: What is wrong with it.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self) -> tuple[type[VideoDecodeError], tuple[str, str]]:
        # Rebuild from (path, reason) so the error survives pickling (DataLoader workers).
        return (type(self), (self.path, self.reason))


@dataclass
class VideoClip:
    """Frames sampled from a video file.

    Attributes:
        frames: ``uint8`` array of shape ``(T, H, W, C)`` (RGB, ``C == 3``).
        timestamps: ``float64`` array ``(T,)``: seconds from the start of the *file* of each
            returned frame, ``indices / fps``.
        fps: Native frame rate of the file.
        duration: Duration of the file in seconds, ``num_frames / fps``.
        indices: ``int64`` array ``(T,)``: frame indices in the file, increasing.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float
    duration: float
    indices: np.ndarray

    @property
    def num_frames(self) -> int:
        """Number of returned frames ``T``."""
        return int(self.frames.shape[0])

    @property
    def sample_fps(self) -> float:
        """Effective sampling rate: returned frames per second of video they cover.

        The covered duration is the stretch from the first to the last sampled frame,
        both frames' display time included: ``(indices[-1] - indices[0] + 1) / fps``.
        For uniform sampling over a window this equals qwen-vl-utils' ``sample_fps``
        (``nframes / window_frames * native_fps``), which is what Qwen2.5-VL's processor
        takes as ``fps`` to place frames in time. A single frame gives ``fps``.
        """
        if len(self.indices) <= 1:
            return float(self.fps)
        covered = (int(self.indices[-1]) - int(self.indices[0]) + 1) / self.fps
        return float(len(self.indices) / covered)


@dataclass(frozen=True)
class VideoInfo:
    """Cheap metadata of a video file (see `video_info`).

    Attributes:
        path: The file, as given.
        num_frames: Number of frames decord reports.
        fps: Average native frame rate.
        width: Frame width in pixels.
        height: Frame height in pixels.
    """

    path: str
    num_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        """Duration in seconds, ``num_frames / fps``."""
        return self.num_frames / self.fps


# --- pure sampling math ---------------------------------------------------------------------


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_rate(name: str, value: float) -> None:
    if not _is_real(value) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def frame_window(
    total_frames: int,
    native_fps: float,
    start: float | None = None,
    end: float | None = None,
) -> tuple[int, int]:
    """First and last frame index (inclusive) of the frames shown during ``[start, end)``.

    Args:
        total_frames: Frames in the file (``>= 1``).
        native_fps: Native frame rate of the file.
        start: Window start in seconds from the start of the file; None for 0.
        end: Window end in seconds; None for the end of the file. An ``end`` at most one
            frame interval past the end of the file is clamped to it (durations in
            annotations are often rounded up); further out is an error.

    Returns:
        ``(first, last)`` with ``0 <= first <= last < total_frames``.

    Raises:
        ValueError: if the window is inverted, empty, or outside the file.
    """
    if not isinstance(total_frames, int | np.integer) or total_frames < 1:
        raise ValueError(f"total_frames must be a positive integer, got {total_frames!r}")
    _check_rate("native_fps", native_fps)
    duration = total_frames / native_fps
    t0 = 0.0 if start is None else start
    t1 = duration if end is None else end
    for name, value in (("start", t0), ("end", t1)):
        if not (_is_real(value) and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if t0 < 0:
        raise ValueError(f"start {t0} s is negative")
    if t0 >= duration:
        raise ValueError(f"start {t0} s is not before the end of the video ({duration:.3f} s)")
    if t1 <= t0:
        raise ValueError(f"end {t1} s is not after start {t0} s")
    if t1 > duration + 1.0 / native_fps:
        raise ValueError(f"end {t1} s is past the end of the video ({duration:.3f} s)")
    first = min(math.floor(round(t0 * native_fps, _BOUNDARY_DECIMALS)), total_frames - 1)
    last = min(math.ceil(round(t1 * native_fps, _BOUNDARY_DECIMALS)) - 1, total_frames - 1)
    return int(first), int(max(last, first))


def num_sampled_frames(
    window_frames: int,
    native_fps: float,
    *,
    num_frames: int | None = None,
    fps: float = DEFAULT_FPS,
    min_frames: int = DEFAULT_MIN_FRAMES,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> int:
    """How many frames to sample from a window (rules in the module docstring).

    Args:
        window_frames: Frames in the window (``>= 1``).
        native_fps: Native frame rate of the file.
        num_frames: Sample exactly this many (capped at ``window_frames``); overrides the
            rate-based rule.
        fps: Target sampling rate, frames per second of video.
        min_frames: Lower bound of the rate-based count.
        max_frames: Upper bound of the rate-based count.

    Returns:
        The frame count, ``1 <= n <= window_frames``.

    Raises:
        ValueError: on a non-positive count, rate or bound, or ``min_frames > max_frames``.
    """
    if not isinstance(window_frames, int | np.integer) or window_frames < 1:
        raise ValueError(f"window_frames must be a positive integer, got {window_frames!r}")
    if num_frames is not None:
        if not isinstance(num_frames, int | np.integer) or num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
        return int(min(num_frames, window_frames))
    _check_rate("native_fps", native_fps)
    _check_rate("fps", fps)
    if not isinstance(min_frames, int | np.integer) or min_frames < 1:
        raise ValueError(f"min_frames must be a positive integer, got {min_frames!r}")
    if not isinstance(max_frames, int | np.integer) or max_frames < min_frames:
        raise ValueError(
            f"max_frames must be an integer >= min_frames ({min_frames}), got {max_frames!r}"
        )
    n = window_frames / native_fps * fps
    n = min(max(n, float(min_frames)), float(max_frames), float(window_frames))
    count = math.floor(round(n, _BOUNDARY_DECIMALS))
    if count >= FRAME_FACTOR:
        count -= count % FRAME_FACTOR
    return int(max(count, 1))


def sample_indices(
    total_frames: int,
    native_fps: float,
    *,
    num_frames: int | None = None,
    fps: float = DEFAULT_FPS,
    min_frames: int = DEFAULT_MIN_FRAMES,
    max_frames: int = DEFAULT_MAX_FRAMES,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Frame indices to decode: uniform over the ``[start, end)`` window.

    Args:
        total_frames: Frames in the file.
        native_fps: Native frame rate of the file.
        num_frames: Exact count (capped at the window); None to sample by ``fps``.
        fps: Target sampling rate when ``num_frames`` is None.
        min_frames: Lower bound of the rate-based count.
        max_frames: Upper bound of the rate-based count.
        start: Window start in seconds (None: start of the file).
        end: Window end in seconds (None: end of the file).

    Returns:
        ``int64`` array ``(n,)`` of strictly increasing frame indices
        (``np.linspace(first, last, n).round()``).

    Raises:
        ValueError: on a bad window or bad sampling arguments.
    """
    first, last = frame_window(total_frames, native_fps, start, end)
    n = num_sampled_frames(
        last - first + 1,
        native_fps,
        num_frames=num_frames,
        fps=fps,
        min_frames=min_frames,
        max_frames=max_frames,
    )
    return np.linspace(first, last, n).round().astype(np.int64)


# --- decoding -------------------------------------------------------------------------------


def _decord() -> Any:
    try:
        import decord
    except ImportError as err:  # pragma: no cover - decord is a core dependency
        raise ImportError(
            "reading videos needs decord: pip install decord (Linux x86-64 and Windows wheels "
            "exist on PyPI; elsewhere build it from source)"
        ) from err
    return decord


def _decode_errors(decord: Any) -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [RuntimeError, OSError, ValueError, IndexError]
    base = getattr(getattr(decord, "_ffi", None), "base", None)
    decord_error = getattr(base, "DECORDError", None)
    if isinstance(decord_error, type) and issubclass(decord_error, BaseException):
        errors.append(decord_error)
    return tuple(errors)


def _short(err: BaseException, limit: int = 200) -> str:
    """First meaningful line of a (possibly multi-line, C++-traceback) decord error."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = _DECORD_LOG_PREFIX.sub("", lines[0]) if lines else type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(path: str | os.PathLike[str], num_threads: int) -> tuple[Any, int, float, Any]:
    """Open ``path`` with decord after cheap checks; returns (reader, frames, fps, decord)."""
    p = Path(path)
    if not p.exists():
        raise VideoDecodeError(path, "file does not exist")
    if not p.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")
    decord = _decord()
    errors = _decode_errors(decord)
    try:
        reader = decord.VideoReader(str(p), ctx=decord.cpu(0), num_threads=num_threads)
        total = len(reader)
        native_fps = float(reader.get_avg_fps())
    except errors as err:
        raise VideoDecodeError(
            path, f"not a readable video (corrupt, truncated or no video stream): {_short(err)}"
        ) from err
    if total <= 0:
        raise VideoDecodeError(path, "the video stream has no frames")
    if not (math.isfinite(native_fps) and native_fps > 0):
        raise VideoDecodeError(path, f"no usable frame rate (decord reports {native_fps})")
    return reader, total, native_fps, decord


def _to_numpy(batch: Any) -> np.ndarray:
    """decord returns its own NDArray (native bridge) or a tensor (torch bridge)."""
    if hasattr(batch, "asnumpy"):
        return batch.asnumpy()
    if hasattr(batch, "numpy"):
        return batch.numpy()
    return np.asarray(batch)


def _get_batch(
    reader: Any, indices: np.ndarray, path: str | os.PathLike[str], errors: Any
) -> np.ndarray:
    try:
        frames = _to_numpy(reader.get_batch([int(i) for i in indices]))
    except errors as err:
        raise VideoDecodeError(
            path,
            f"failed to decode frames {indices.tolist()} (corrupt or truncated?): {_short(err)}",
        ) from err
    if frames.ndim != 4 or frames.shape[0] != len(indices) or frames.shape[-1] != 3:
        raise VideoDecodeError(
            path,
            f"decoder returned frames of shape {frames.shape}, expected ({len(indices)}, H, W, 3)",
        )
    return np.ascontiguousarray(frames, dtype=np.uint8)


def read_frames(
    path: str | os.PathLike[str],
    num_frames: int | None = None,
    fps: float = DEFAULT_FPS,
    min_frames: int = DEFAULT_MIN_FRAMES,
    max_frames: int = DEFAULT_MAX_FRAMES,
    start: float | None = None,
    end: float | None = None,
    num_threads: int = 1,
) -> VideoClip:
    """Decode frames sampled uniformly from a video file (or a window of it).

    Args:
        path: The video file.
        num_frames: Exact number of frames (capped at the frames in the window); None
            samples by ``fps`` within ``[min_frames, max_frames]`` (module docstring).
        fps: Target sampling rate in frames per second of video.
        min_frames: Lower bound of the rate-based count.
        max_frames: Upper bound of the rate-based count.
        start: Start of the window in seconds from the start of the file (None: 0).
        end: End of the window in seconds (None: end of the file).
        num_threads: Decoder threads (decord; 0 lets FFmpeg choose).

    Returns:
        The sampled `VideoClip`; its ``timestamps`` are relative to the start of the file.

    Raises:
        VideoDecodeError: if the file is missing, empty, corrupt, truncated, has no video
            frames, or a sampled frame fails to decode.
        ValueError: if the window or the sampling arguments are invalid (the message names
            the file).
    """
    reader, total, native_fps, decord = _open(path, num_threads)
    try:
        indices = sample_indices(
            total,
            native_fps,
            num_frames=num_frames,
            fps=fps,
            min_frames=min_frames,
            max_frames=max_frames,
            start=start,
            end=end,
        )
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    frames = _get_batch(reader, indices, path, _decode_errors(decord))
    del reader
    return VideoClip(
        frames=frames,
        timestamps=indices.astype(np.float64) / native_fps,
        fps=native_fps,
        duration=total / native_fps,
        indices=indices,
    )


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, rate and size of a video, decoding only its first frame.

    Raises:
        VideoDecodeError: if the file is missing, empty, corrupt or has no decodable frame.
    """
    reader, total, native_fps, decord = _open(path, num_threads=1)
    first = _get_batch(reader, np.zeros(1, dtype=np.int64), path, _decode_errors(decord))
    del reader
    return VideoInfo(
        path=str(path),
        num_frames=int(total),
        fps=native_fps,
        width=int(first.shape[2]),
        height=int(first.shape[1]),
    )
