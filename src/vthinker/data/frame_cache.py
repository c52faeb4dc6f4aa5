"""On-disk cache of decoded frames, so each video is decoded once, not once per epoch.

Decoding is the costly part of loading a video sample (seeking to key frames and
decoding forward, often at 720p or more); the sampled frames of a sample are the same
every epoch. `FrameCache` stores them, with their timestamps and indices, as one
uncompressed ``.npz`` file per (video, sampling settings, clip window).

**Key.** An entry's *name* is a hash of the video's absolute real path, the sampling
settings (every `FrameSampling` field, so also the resize bound ``max_side``) and the
clip window ``(start, end)``. The entry also records the file's size and ``mtime_ns``:
when the video changes (rewritten, touched, replaced) the stored identity no longer
matches, `get` misses and the next `put` overwrites the entry in place, so stale entries
do not pile up.

**Safety.** `put` writes a temporary file in the entry's folder and renames it over the
entry (``os.replace``, atomic on POSIX), so readers (other DataLoader workers, other
ranks) see either the old entry or the new one, never a partial file; a crash leaves at
most a ``*.tmp`` file that is never read. Entries are not ``fsync``-ed: after a power loss
an entry may be truncated, and that case is covered by reading, not writing. `get`
treats an entry that cannot be read back exactly (truncated, bad zip CRC, wrong arrays)
as a miss and logs a warning; the caller decodes again and `put` overwrites it.

**Size.** Frames are stored as raw ``uint8``: a 720p frame is 2.76 MB, so 16 frames of
10K videos take 440 GB. Set ``FrameSampling.max_side`` (e.g. 448) to shrink frames right
after decoding (`resize_frames`, 16 frames ≈ 5.4 MB at 448×252); the processor still
resizes them to its ``max_pixels`` afterwards.

Counters in `FrameCache.stats` are per process (each DataLoader worker has its own).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vthinker.data.video import VideoClip

log = logging.getLogger(__name__)

__all__ = ["CacheKey", "CacheStats", "FrameCache", "resize_frames", "resized_size"]

FORMAT_VERSION = 1
"""Bumped when the entry layout changes; part of the entry name, so old entries are ignored."""

# Everything reading a damaged or foreign file can raise.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    zipfile.BadZipFile,
    zlib.error,
    json.JSONDecodeError,
)


# --- resize bound ----------------------------------------------------------------------------


def resized_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """Frame size after bounding the longer side by ``max_side`` (aspect ratio kept).

    ``scale = max_side / max(height, width)``; frames already within the bound keep their
    size; otherwise each side becomes ``max(1, round(side * scale))``.

    Returns:
        ``(height, width)`` after resizing.

    Raises:
        ValueError: if ``max_side`` is not a positive integer.
    """
    if max_side is None:
        return height, width
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise ValueError(f"max_side must be a positive integer, got {max_side!r}")
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    scale = max_side / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_frames(frames: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale ``(T, H, W, 3)`` uint8 frames so that ``max(H, W) <= max_side``.

    Uses Pillow's antialiased bicubic filter frame by frame (the same kind of filter the
    Qwen processors use). Frames within the bound are returned unchanged (same object).

    Shape:
        frames: (T, H, W, 3) uint8 → (T, H', W', 3) uint8
    """
    from PIL import Image

    t, h, w = frames.shape[:3]
    new_h, new_w = resized_size(h, w, max_side)
    if (new_h, new_w) == (h, w):
        return frames
    out = np.empty((t, new_h, new_w, frames.shape[3]), dtype=np.uint8)
    for i in range(t):
        img = Image.fromarray(frames[i])
        out[i] = np.asarray(img.resize((new_w, new_h), Image.Resampling.BICUBIC))
    return out


# --- the cache -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheKey:
    """What an entry depends on.

    Attributes:
        path: Absolute real path of the video file.
        size: File size in bytes.
        mtime_ns: File modification time in nanoseconds.
        settings: Frame sampling settings (JSON-serialisable values).
        start: Clip start in seconds, or None.
        end: Clip end in seconds, or None.
    """

    path: str
    size: int
    mtime_ns: int
    settings: tuple[tuple[str, Any], ...]
    start: float | None
    end: float | None

    def identity(self) -> dict[str, Any]:
        """The part that names the entry (everything except the file's size and mtime)."""
        return {
            "format": FORMAT_VERSION,
            "path": self.path,
            "settings": dict(self.settings),
            "start": self.start,
            "end": self.end,
        }

    def record(self) -> dict[str, Any]:
        """Everything stored in the entry to validate it on read."""
        return {**self.identity(), "size": self.size, "mtime_ns": self.mtime_ns}

    @property
    def digest(self) -> str:
        """SHA-256 of the identity: the entry's file name."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    """Per-process counters.

    Attributes:
        hits: Entries read back.
        misses: Lookups with no usable entry (absent, stale or corrupt).
        stale: Misses because the video changed (size or mtime differs).
        corrupt: Misses because the entry could not be read (also warned).
        writes: Entries written.
        write_errors: Failed writes (warned; the clip is still used).
    """

    hits: int = 0
    misses: int = 0
    stale: int = 0
    corrupt: int = 0
    writes: int = 0
    write_errors: int = 0


def _plain(value: Any) -> Any:
    """Settings values as JSON-stable scalars (numpy numbers become Python numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"frame cache settings must be finite, got {value!r}")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"frame cache settings must be scalars, got {type(value).__name__}")


class FrameCache:
    """Decoded-frame cache in a folder (see the module docstring).

    Picklable (only the folder is state besides counters), so one instance serves every
    DataLoader worker; concurrent writers of the same entry are safe (last rename wins).

    Args:
        root: Cache folder (created on first write). Entries live in
            ``root/<2 hex>/<sha256>.npz``.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.stats = CacheStats()

    def __repr__(self) -> str:
        return f"FrameCache({str(self.root)!r})"

    def key(
        self,
        video: str | os.PathLike[str],
        settings: Mapping[str, Any],
        start: float | None = None,
        end: float | None = None,
    ) -> CacheKey:
        """The key of a clip of ``video``; reads the file's size and mtime now.

        Raises:
            OSError: if the video cannot be stat-ed (missing file).
        """
        real = os.path.realpath(os.fspath(video))
        st = os.stat(real)
        return CacheKey(
            path=real,
            size=int(st.st_size),
            mtime_ns=int(st.st_mtime_ns),
            settings=tuple(sorted((str(k), _plain(v)) for k, v in settings.items())),
            start=None if start is None else float(start),
            end=None if end is None else float(end),
        )

    def entry_path(self, key: CacheKey) -> Path:
        """Where the entry for ``key`` lives (whether or not it exists)."""
        digest = key.digest
        return self.root / digest[:2] / f"{digest}.npz"

    def get(self, key: CacheKey) -> VideoClip | None:
        """The cached clip for ``key``, or None (absent, stale or unreadable: a miss)."""
        path = self.entry_path(key)
        if not path.is_file():
            self.stats.misses += 1
            return None
        try:
            stored, clip = _read_entry(path)
        except _READ_ERRORS as err:
            self.stats.misses += 1
            self.stats.corrupt += 1
            log.warning(
                "frame cache: unreadable entry %s for %s (%s: %s); decoding again and "
                "overwriting it",
                path,
                key.path,
                type(err).__name__,
                err,
            )
            return None
        expected = key.record()
        if stored != expected:
            self.stats.misses += 1
            if {k: stored.get(k) for k in key.identity()} == key.identity():
                self.stats.stale += 1
                log.debug("frame cache: %s changed since it was cached", key.path)
            else:  # a hash collision or a copied-in foreign file: never serve it
                self.stats.corrupt += 1
                log.warning("frame cache: entry %s belongs to another clip; ignoring it", path)
            return None
        self.stats.hits += 1
        return clip

    def put(self, key: CacheKey, clip: VideoClip) -> bool:
        """Store ``clip`` under ``key`` atomically; True on success.

        A failed write (disk full, read-only folder) is logged as a warning and counted;
        it never raises, since the decoded clip is still good to use.
        """
        path = self.entry_path(key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                _write_entry(f, key, clip)
            os.replace(tmp, path)
            tmp = None
        except OSError as err:
            self.stats.write_errors += 1
            log.warning("frame cache: cannot write %s (%s); continuing without it", path, err)
            return False
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self.stats.writes += 1
        return True

    def load(
        self,
        video: str | os.PathLike[str],
        settings: Mapping[str, Any],
        start: float | None,
        end: float | None,
        decode: Callable[[], VideoClip],
    ) -> VideoClip:
        """The clip from the cache, or ``decode()`` (then stored) on a miss.

        A video that cannot be stat-ed is not looked up: ``decode`` runs and raises the
        decoder's own error (e.g. `vthinker.data.video.VideoDecodeError` for a missing file).
        """
        try:
            key = self.key(video, settings, start, end)
        except OSError:
            return decode()
        clip = self.get(key)
        if clip is None:
            clip = decode()
            self.put(key, clip)
        return clip


def _write_entry(f: Any, key: CacheKey, clip: VideoClip) -> None:
    meta = {**key.record(), "fps": float(clip.fps), "duration": float(clip.duration)}
    np.savez(
        f,
        frames=np.ascontiguousarray(clip.frames, dtype=np.uint8),
        timestamps=np.asarray(clip.timestamps, dtype=np.float64),
        indices=np.asarray(clip.indices, dtype=np.int64),
        meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
    )


def _read_entry(path: Path) -> tuple[dict[str, Any], VideoClip]:
    """Read and check one entry; raises one of `_READ_ERRORS` on anything unexpected."""
    with np.load(path, allow_pickle=False) as z:
        # Reading each member to its end makes zipfile verify its CRC-32.
        frames, timestamps, indices = z["frames"], z["timestamps"], z["indices"]
        meta = json.loads(z["meta"].tobytes().decode("utf-8"))
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames have dtype {frames.dtype} and shape {frames.shape}")
    t = frames.shape[0]
    if timestamps.shape != (t,) or indices.shape != (t,):
        raise ValueError(
            f"{t} frames but timestamps {timestamps.shape} and indices {indices.shape}"
        )
    if timestamps.dtype != np.float64 or indices.dtype != np.int64:
        raise ValueError(f"timestamps {timestamps.dtype}, indices {indices.dtype}")
    fps, duration = float(meta.pop("fps")), float(meta.pop("duration"))
    clip = VideoClip(
        frames=frames, timestamps=timestamps, fps=fps, duration=duration, indices=indices
    )
    return meta, clip
