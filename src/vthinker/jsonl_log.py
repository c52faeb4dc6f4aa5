"""The crash-safe append-only JSONL log shared by the curation runner and evaluation runs.

A log holds one JSON object with a string ``id`` per line. Writers append each record as
one ``write`` of the whole line, then flush and (by default) fsync, so a crash loses at
most the record being written. Readers meet what a crash can leave:

- a last line without its newline is a write cut short (a *torn* line). It is never
  trusted, even when it happens to parse: `read_log` counts its bytes in
  `LogContents.torn` instead of returning it, and `cut_torn_tail` cuts it off the file so
  the next append starts on a fresh line; the record's work is simply done again;
- a complete line that is not such a record is reported in `LogContents.bad` with its line
  number; what to do with it is the caller's choice (the curation runner refuses to go
  on, an evaluation run drops it and decodes that sample again).

`rewrite_log` replaces a log atomically (temporary file, fsync, rename), for callers that
drop records.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

__all__ = [
    "JsonlAppender",
    "LogContents",
    "append_record",
    "cut_torn_tail",
    "read_log",
    "rewrite_log",
]

PathLike = str | os.PathLike[str]


@dataclass
class LogContents:
    """What `read_log` found in a log.

    Attributes:
        records: The records of the complete lines, in file order (duplicates kept).
        bad: ``(line number, reason)`` of each complete line that is not a JSON object
            with a string ``id``.
        torn: Bytes of a last line without its newline (0: none).
        intact_bytes: Length of the file up to the torn line (the whole file when none).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    torn: int = 0
    intact_bytes: int = 0


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The record of one line, or why it is not one."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not a JSON record ({err})"
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return "record without a string 'id'"
    return record


def read_log(path: PathLike) -> LogContents:
    """Read a log back (an absent file reads as empty); the file is not changed."""
    out = LogContents()
    path = Path(path)
    if not path.is_file():
        return out
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                out.torn = len(raw)
                break
            out.intact_bytes += len(raw)
            if not raw.strip():
                continue
            parsed = _parse(raw)
            if isinstance(parsed, str):
                out.bad.append((lineno, parsed))
            else:
                out.records.append(parsed)
    return out


def cut_torn_tail(path: PathLike, contents: LogContents) -> int:
    """Cut the torn last line `read_log` found off the file; returns the bytes cut."""
    if contents.torn:
        log.warning(
            "%s: cutting off a partial last line (%d bytes) left by a crash", path, contents.torn
        )
        with Path(path).open("r+b") as f:
            f.truncate(contents.intact_bytes)
    return contents.torn


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def rewrite_log(path: PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Replace the log with ``records`` atomically (a crash leaves the old or the new one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        for record in records:
            f.write(_line(record))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class JsonlAppender:
    """Appends one record per line to an open log; each line is one write, flushed (and
    fsynced, so it also survives a power loss, not just a crash)."""

    def __init__(self, path: PathLike, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._f: IO[bytes] | None = None

    def __enter__(self) -> JsonlAppender:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("ab")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def write(self, record: dict[str, Any]) -> None:
        if self._f is None:
            raise RuntimeError(f"{self.path} is not open")
        self._f.write(_line(record))
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())


def append_record(path: PathLike, record: dict[str, Any], fsync: bool = True) -> None:
    """Append one record and make it durable before returning (opens and closes the file)."""
    with JsonlAppender(path, fsync) as w:
        w.write(record)
