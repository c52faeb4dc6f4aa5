"""Small helpers the dataset loaders share: reading annotation files, numbers, video files.

- `read_json` loads a whole annotation file and checks its top-level type; a missing file
  raises `FileNotFoundError` naming the path and the expected layout.
- `iter_jsonl_objects` yields ``(line number, object)`` from a JSONL file; a line that is not
  JSON comes back as a `Malformed` marker, so the loader's ``convert`` raises on it and
  `SampleSource.load` names, counts and skips it like any other bad record (`jsonl_lines`
  is the same reader without the missing-file check, for the benchmark readers).
- `seconds` reads a time value (number or numeric string) as seconds, rejecting booleans,
  NaN and negative values.
- `VideoIndex` finds a video by its file stem: first directly in the folders where the
  dataset's own layout puts it, then anywhere under the video folder (indexed once);
  `VideoIndex.find_or` falls back to the path the layout expects, for a missing video.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vthinker.data.schema import SampleError

__all__ = [
    "VIDEO_EXTENSIONS",
    "Malformed",
    "VideoIndex",
    "iter_jsonl_objects",
    "jsonl_lines",
    "read_json",
    "seconds",
]

# Containers the public releases ship (YouTube downloads come as mp4, mkv or webm).
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")


@dataclass(frozen=True)
class Malformed:
    """A raw record that could not even be parsed; ``convert`` raises `SampleError` on it."""

    reason: str

    def fail(self) -> None:
        raise SampleError(self.reason)


def read_json(path: Path, kind: type, layout: str) -> Any:
    """Load a JSON annotation file whose top level must be ``kind`` (dict or list).

    Args:
        path: The file.
        kind: Expected top-level type.
        layout: One line describing where the file belongs (used in the error message).

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if it is not JSON or its top level has the wrong type.
    """
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path} (expected layout: {layout})")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from err
    if not isinstance(data, kind):
        raise ValueError(
            f"{path}: expected a JSON {kind.__name__} at the top level, got {type(data).__name__}"
        )
    return data


def iter_jsonl_objects(path: Path, layout: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, parsed object or Malformed)`` for each non-blank line.

    Raises:
        FileNotFoundError: if the file is missing.
    """
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path} (expected layout: {layout})")
    yield from jsonl_lines(path)


def jsonl_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """`iter_jsonl_objects` for a file the caller has already found: 1-based line numbers,
    blank lines skipped, a line that is not UTF-8 JSON yielded as `Malformed`."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                yield lineno, Malformed(f"not UTF-8 text (byte {err.start + 1})")
            except json.JSONDecodeError as err:
                yield lineno, Malformed(f"invalid JSON ({err.msg} at column {err.colno})")


def seconds(value: Any, what: str) -> float:
    """A time value in seconds (int, float or numeric string such as ``"32.96"``).

    Raises:
        SampleError: naming ``what`` if the value is not a finite number >= 0.
    """
    if isinstance(value, bool):
        raise SampleError(f"{what}: expected seconds, got {value!r}")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise SampleError(f"{what}: expected seconds, got {value!r}") from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise SampleError(f"{what}: expected seconds, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise SampleError(f"{what}: expected seconds >= 0, got {value!r}")
    return number


class VideoIndex:
    """Find video files by stem under one folder.

    Args:
        folder: The dataset's video folder.
        extensions: File extensions tried, in order of preference.
    """

    def __init__(self, folder: Path, extensions: Iterable[str] = VIDEO_EXTENSIONS) -> None:
        self.folder = folder
        self.extensions = tuple(extensions)
        self._by_stem: dict[str, Path] | None = None

    def _index(self) -> dict[str, Path]:
        """Stem → file for every video under ``folder`` (walked once, sorted: deterministic)."""
        if self._by_stem is None:
            found: dict[str, Path] = {}
            if self.folder.is_dir():
                for dirpath, dirnames, filenames in os.walk(self.folder):
                    dirnames.sort()
                    for name in sorted(filenames):
                        p = Path(dirpath) / name
                        if p.suffix.lower() in self.extensions:
                            found.setdefault(p.stem, p)
            self._by_stem = found
        return self._by_stem

    def find(self, stems: Iterable[str], dirs: Iterable[Path] = ()) -> Path | None:
        """The first existing ``dir/stem.ext`` (``dirs`` default to ``folder``), else the
        first file anywhere under ``folder`` with one of ``stems``; None if there is none."""
        stems = [s for s in stems if s]
        for d in [*dirs, self.folder]:
            for stem in stems:
                for ext in self.extensions:
                    p = d / f"{stem}{ext}"
                    if p.is_file():
                        return p
        index = self._index()
        for stem in stems:
            if stem in index:
                return index[stem]
        return None

    def find_or(self, stems: Iterable[str], expected: Path, dirs: Iterable[Path] = ()) -> Path:
        """`find`, else ``expected`` (where the dataset's layout puts the video), so that a
        missing video is reported (by the data check, or at load time) under that name."""
        found = self.find(stems, dirs)
        return found if found is not None else expected
