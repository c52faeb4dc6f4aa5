"""Datasets in their own release formats, read into `VideoSample` records.

A `SampleSource` knows one dataset's native layout (annotation files, keys, time formats,
video naming). Subclasses implement two small methods:

- `records` yields ``(where, raw)`` pairs: ``where`` names the file and the record
  (``"train.json:v_QOlSCBRmfWY"``, ``"qa.csv:line 12"``) for error messages;
- `convert` turns one raw record into zero or more samples, raising `SampleError` (or
  `ValueError`/`KeyError`/`TypeError`, which are wrapped) when the record is malformed.

`SampleSource.load` does the rest the same way for every dataset: bad records are named,
logged, counted in a `SourceReport` and skipped (``strict=True`` stops at the first),
the in-domain split is applied, duplicate ids are rejected, and ``limit`` is honoured.

In-domain split (docs/method.md, Data: a held-out 1:9 test:train split of each source): a
video is in the test part when ``sha256(f"{source}:{video_key}")`` read as an integer is
``0 mod 10``, else in the train part. It depends only on the source name and the video key
(the video file, or the source's own video id), so it is stable under any reordering of the
input files, and every question about one video lands on the same side: no video is shared
between test and train.
"""

from __future__ import annotations

import abc
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import SampleError, VideoSample

log = logging.getLogger(__name__)

__all__ = ["TEST_FRACTION_DENOMINATOR", "SampleSource", "SourceReport", "in_domain_split"]

TEST_FRACTION_DENOMINATOR = 10  # 1 video in 10 goes to the in-domain test split


def in_domain_split(source: str, video_key: str) -> Literal["train", "test"]:
    """The in-domain side (``"test"`` or ``"train"``) of a video of a source (module doc)."""
    digest = hashlib.sha256(f"{source}:{video_key}".encode()).hexdigest()
    return "test" if int(digest, 16) % TEST_FRACTION_DENOMINATOR == 0 else "train"


@dataclass
class SourceReport:
    """What `SampleSource.load` read and skipped.

    Attributes:
        source: The source's name.
        records: Raw records seen.
        samples: Samples kept (after the split and ``limit``).
        skipped: ``(where, reason)`` for every record that could not be converted.
        split_out: Samples left out because they belong to the other split.
        left_out: Well-formed records left out on purpose, counted by reason (an image
            record in a video loader, a question outside the chosen subset, …).
    """

    source: str
    records: int = 0
    samples: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    split_out: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        head = (
            f"{self.source}: {self.records} record(s), {self.samples} sample(s) kept, "
            f"{len(self.skipped)} bad record(s) skipped, {self.split_out} in the other split"
        )
        if self.left_out:
            head += ", left out: " + ", ".join(f"{n} {why}" for why, n in self.left_out.items())
        details = [f"  {where}: {why}" for where, why in self.skipped[:20]]
        if len(self.skipped) > 20:
            details.append(f"  … and {len(self.skipped) - 20} more")
        return "\n".join([head, *details])


class SampleSource(abc.ABC):
    """One dataset in its native release format.

    Args:
        root: The dataset folder as the user downloaded it.
        video_root: Folder holding the videos when it is not the dataset's usual place
            inside ``root`` (each source documents its default).
        split: Which in-domain part to keep: ``"all"``, ``"train"`` or ``"test"``
            (module docstring). Benchmarks use ``"all"``.
        strict: Stop at the first malformed record instead of skipping it.
        limit: Keep only the first ``limit`` samples (quick runs).
    """

    name: str = "source"
    split_key: str | None = None
    """The ``meta`` key whose value identifies a video for the in-domain split (the
    dataset's own video id); None: the sample's video file (`video_key`)."""

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        if split not in ("all", "train", "test"):
            raise ValueError(f"{self.name}: split must be 'all', 'train' or 'test', got {split!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"{self.name}: limit must be >= 0, got {limit}")
        self.root = Path(root)
        self.video_root = Path(video_root) if video_root is not None else None
        self.split = split
        self.strict = strict
        self.limit = limit
        self.report = SourceReport(self.name)

    # --- what a dataset implements ---------------------------------------------------------

    @abc.abstractmethod
    def records(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(where, raw record)`` for every annotation record, in file order.

        Raises:
            FileNotFoundError: if an annotation file the dataset needs is missing (the
                message names the path and the expected layout).
        """

    @abc.abstractmethod
    def convert(self, record: Any) -> list[VideoSample]:
        """Map one raw record to samples (absolute or ``root``-relative video paths).

        Raises:
            SampleError: (or ValueError/KeyError/TypeError) if the record is malformed.
        """

    def video_key(self, sample: VideoSample) -> str:
        """What identifies a video for the in-domain split: ``meta[split_key]`` when the
        source sets `split_key`, else the video file path."""
        if self.split_key is None:
            return sample.video
        return str(sample.meta[self.split_key])

    # --- shared machinery -------------------------------------------------------------------

    def videos_dir(self, default: str) -> Path:
        """``video_root`` if given, else ``root / default``."""
        return self.video_root if self.video_root is not None else self.root / default

    def video_path(self, path: Path) -> str:
        """``path`` as a sample's ``video``: relative to ``root`` when inside it, else absolute."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path.resolve())

    def leave_out(self, reason: str) -> list[VideoSample]:
        """Count a well-formed record left out on purpose (``report.left_out``); returns []."""
        self.report.left_out[reason] = self.report.left_out.get(reason, 0) + 1
        return []

    def load(self) -> list[VideoSample]:
        """Read every record, convert, split and limit; fills `report`.

        Raises:
            SampleError: (strict only) naming the record and what is wrong; also when two
                samples share an id (a loader bug or a duplicated annotation file).
        """
        self.report = report = SourceReport(self.name)
        out: list[VideoSample] = []
        seen: dict[str, str] = {}
        for where, raw in self.records():
            report.records += 1
            try:
                samples = self.convert(raw)
            except (SampleError, ValueError, KeyError, TypeError) as err:
                reason = str(err) if not isinstance(err, KeyError) else f"missing key {err}"
                msg = f"{self.name}: {where}: {reason}"
                if self.strict:
                    raise SampleError(msg) from err
                log.warning("skipping bad record %s", msg)
                report.skipped.append((where, reason))
                continue
            for s in samples:
                if s.id in seen:
                    raise SampleError(
                        f"{self.name}: {where}: duplicate sample id {s.id!r} "
                        f"(first seen at {seen[s.id]})"
                    )
                seen[s.id] = where
                if self.split != "all":
                    side = in_domain_split(self.name, self.video_key(s))
                    if side != self.split:
                        report.split_out += 1
                        continue
                    s.split = side
                out.append(s)
            if self.limit is not None and len(out) >= self.limit:
                out = out[: self.limit]
                break
        report.samples = len(out)
        if report.skipped:
            log.warning(report.summary())
        return out
