"""Image reading for image questions (``VideoSample.data_type == "image"``).

Video-R1-260k mixes image questions (charts, documents, maths, spatial puzzles) with its
video questions; they are shown to the model as one image through Qwen2.5-VL's image path
(``{"type": "image"}`` in the chat, ``pixel_values`` / ``image_grid_thw`` from the same
processor). Every problem with the file raises `VideoDecodeError` naming it, as a broken
video does, so the dataset reports and skips the sample in the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vthinker.data.video import VideoDecodeError

__all__ = ["ImageDecodeError", "probe_image", "read_image"]


class ImageDecodeError(VideoDecodeError):
    """An image file that is missing, empty or not an image (a `VideoDecodeError`, so the
    dataset skips and reports it as it does a broken video)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(path, reason)
        self.args = (f"cannot read image {self.path}: {reason}",)

    def __str__(self) -> str:
        return f"cannot read image {self.path}: {self.reason}"


def read_image(path: str | os.PathLike[str], max_side: int | None = None) -> np.ndarray:
    """Decode an image file to RGB.

    Args:
        path: The file (any format Pillow reads: PNG, JPEG, WebP, GIF's first frame, …).
        max_side: Downscale so the longer side is at most this many pixels (aspect kept);
            None keeps the decoded size.

    Returns:
        ``uint8`` array ``(H, W, 3)``.

    Raises:
        ImageDecodeError: if the file is missing, empty or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError
    from PIL.Image import DecompressionBombError

    p = Path(path)
    if not p.is_file():
        raise ImageDecodeError(p, "image file does not exist")
    if p.stat().st_size == 0:
        raise ImageDecodeError(p, "image file is empty")
    try:
        with Image.open(p) as img:
            img.load()
            rgb = _on_white(img)
    except DecompressionBombError as err:
        raise ImageDecodeError(p, f"too many pixels ({err})") from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ImageDecodeError(p, f"not a readable image ({err})") from err
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8).copy()


def _on_white(img: Any) -> Any:
    """RGB, with any transparency composited onto white (as qwen-vl-utils' ``to_rgb`` does):
    a chart drawn in black on a transparent background stays readable."""
    from PIL import Image

    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def probe_image(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Check that an image decodes; returns its ``(width, height)``.

    Raises:
        ImageDecodeError: as `read_image`.
    """
    frame = read_image(path)
    return int(frame.shape[1]), int(frame.shape[0])
