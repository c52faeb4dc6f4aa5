"""Writing toy videos: H.264 mp4 files whose bytes depend only on the frames (`write_video`)."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["write_video"]


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
