"""Shared pieces of the benchmark readers (Video-Holmes, CG-Bench, VRBench, VideoMME, …).

Benchmarks ship their annotations as one JSON list, JSON Lines or a Parquet table.
`BenchmarkSource` reads its ``annotation`` file (checked to exist, by suffix) and builds
the test-split samples (`BenchmarkSource.bench_sample`); each reader keeps its own keys. The
iterators here yield ``(where, record)`` pairs for `SampleSource.records`: ``where`` names
the file and the record (``"test_Video-Holmes.json:[3]"``, ``"VRBench_eval.jsonl:line 7"``,
``"test-00000-of-00001.parquet:row 12"``, 1-based lines and rows, 0-based list
indices). A JSONL line that is not valid JSON is yielded as a `Malformed` record, so it
is reported and skipped like any other malformed record (or stops the run with
``strict``); a file that cannot be read at all raises.

Per-benchmark grouping fields go to ``sample.meta`` under the same keys everywhere, so
``group_by`` in the evaluation configs (`vthinker.evaluation.scoring.group_values`) works
across benchmarks:

- ``question_type``: the benchmark's own question or task type;
- ``domain``: the video's domain or scientific discipline;
- ``sub_category``: a finer topic (VideoMME sub-category, SciVideoBench subject);
- ``duration_bucket``: a video-length bucket (VideoMME short/medium/long, CG-Bench minutes);
- ``duration_s``: the video length in seconds as the annotation states it.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vthinker.data.schema import LETTERS, Evidence, SampleError, VideoSample
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import Malformed, jsonl_lines

__all__ = [
    "BENCH_VIDEO_EXTENSIONS",
    "BenchmarkSource",
    "answer_letter",
    "get_field",
    "iter_annotation",
    "iter_json_list",
    "iter_jsonl",
    "iter_parquet",
    "options_from_letter_dict",
    "options_from_lettered_list",
    "require_file",
    "resolve_video",
    "text_id",
]

BENCH_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".MP4", ".mkv", ".webm")
"""Extensions tried, in order, for a video named by id (lmms-eval tries mp4, MP4, mkv)."""

_LETTER_PREFIX = re.compile(r"^\s*\(?([A-Z])\s*[.:)]\s*")


class BenchmarkSource(SampleSource):
    """A `SampleSource` over one annotation file whose records may be `Malformed` (a JSONL
    line that is not JSON).

    Subclasses set ``title`` and ``layout`` (for the missing-file error), store their
    ``annotation`` file name, and implement `convert_record` instead of `convert`;
    `convert` rejects `Malformed` records first, so they are named, counted and skipped by
    `load` like any other bad record. Records left out on purpose go through
    `SampleSource.leave_out`. `records` reads the annotation by its suffix
    (`iter_annotation`); a reader with another record structure overrides it.
    """

    title: str = "benchmark"
    """The benchmark's own spelling of its name (``"Video-Holmes"``), for messages."""
    layout: str = ""
    """One line describing the expected files under ``root`` (in the missing-file error)."""
    annotation: str
    """The annotation file, relative to ``root`` (set by each reader's ``__init__``)."""

    def annotation_file(self) -> Path:
        """``root / annotation``.

        Raises:
            FileNotFoundError: naming the file and the expected layout, if it is missing.
        """
        return require_file(
            self.root / self.annotation, f"{self.title} annotation file", self.layout
        )

    def records(self) -> Iterator[tuple[str, Any]]:
        return iter_annotation(self.annotation_file())

    def bench_sample(
        self,
        *,
        id: str,
        video: Path,
        question: str,
        answer: str,
        options: list[str],
        meta: dict[str, Any],
        evidence: list[Evidence] | None = None,
        problem_type: str = "multiple choice",
    ) -> VideoSample:
        """A benchmark question as a test-split sample of this source; ``video`` is the file
        (made ``root``-relative by `SampleSource.video_path`)."""
        return VideoSample(
            id=id,
            video=self.video_path(video),
            question=question,
            answer=answer,
            problem_type=problem_type,
            options=options,
            evidence=evidence if evidence is not None else [],
            source=self.name,
            split="test",
            meta=meta,
        )

    def convert(self, record: Any) -> list[VideoSample]:
        if isinstance(record, Malformed):
            record.fail()
        return self.convert_record(record)

    @abc.abstractmethod
    def convert_record(self, record: Any) -> list[VideoSample]:
        """Map one parsed record to samples (see `SampleSource.convert`)."""


# --- files -----------------------------------------------------------------------------------


def require_file(path: Path, what: str, layout: str) -> Path:
    """``path`` if it is a file, else `FileNotFoundError` naming it and the expected layout."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (expected layout: {layout})")
    return path


def iter_json_list(path: Path) -> Iterator[tuple[str, Any]]:
    """Records of a JSON file holding one list; ``where`` is ``"name:[i]"``.

    Raises:
        ValueError: if the file is not JSON or its top level is not a list.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start + 1})") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    for i, record in enumerate(data):
        yield f"{path.name}:[{i}]", record


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """Records of a JSON Lines file; ``where`` is ``"name:line n"``; blank lines are skipped
    and a line that is not UTF-8 JSON is a `Malformed` record (`files.jsonl_lines`)."""
    for lineno, record in jsonl_lines(path):
        yield f"{path.name}:line {lineno}", record


def iter_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a Parquet table as dicts; ``where`` is ``"name:row n"`` (1-based).

    Raises:
        ValueError: if the file is not a readable Parquet table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: not a readable Parquet table ({err})") from err
    for i, row in enumerate(rows, start=1):
        yield f"{path.name}:row {i}", row


def iter_annotation(path: Path) -> Iterator[tuple[str, Any]]:
    """Records of an annotation file by its suffix: ``.parquet``, ``.jsonl``, else a JSON list."""
    if path.suffix == ".parquet":
        return iter_parquet(path)
    if path.suffix == ".jsonl":
        return iter_jsonl(path)
    return iter_json_list(path)


def resolve_video(folder: Path, stems: Sequence[str], suffix: str | None = None) -> Path:
    """The file of a benchmark video named by id.

    Tries each stem with ``suffix`` (when given) or each of `BENCH_VIDEO_EXTENSIONS`, and
    returns the first file that exists; when none does, the first candidate, so that a
    missing video is reported (by the data check, or at load time) under its expected name.
    """
    exts = (suffix,) if suffix is not None else BENCH_VIDEO_EXTENSIONS
    candidates = [folder / f"{stem}{ext}" for stem in stems for ext in exts]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


# --- fields ----------------------------------------------------------------------------------


def get_field(record: Any, key: str, types: type | tuple[type, ...] = str) -> Any:
    """``record[key]`` checked against ``types`` (a bool is never a number).

    Raises:
        SampleError: if the record is not an object, lacks the key, or the value has the
            wrong type.
    """
    if not isinstance(record, dict):
        raise SampleError(f"expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise SampleError(f"missing field {key!r}")
    value = record[key]
    want = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in want) or not isinstance(value, want):
        names = " or ".join(t.__name__ for t in want)
        raise SampleError(f"field {key!r} must be {names}, got {value!r}")
    return value


def text_id(record: dict[str, Any], key: str) -> str:
    """An id field that may be written as a string or an integer, as a string."""
    value = get_field(record, key, (str, int))
    text = str(value).strip()
    if not text:
        raise SampleError(f"field {key!r} is empty")
    return text


def options_from_letter_dict(options: Any, key: str = "options") -> list[str]:
    """Option texts from ``{"A": "...", "B": "...", ...}`` in letter order.

    Raises:
        SampleError: unless the keys are exactly ``A, B, …`` without gaps and every value
            is a non-empty string.
    """
    if not isinstance(options, dict) or not options:
        raise SampleError(f"field {key!r} must be a non-empty object of lettered options")
    keys = sorted(options)
    expected = list(LETTERS[: len(keys)])
    if keys != expected:
        raise SampleError(
            f"field {key!r} has option keys {keys}, expected consecutive letters {expected}"
        )
    out = []
    for k in expected:
        v = options[k]
        if not isinstance(v, str) or not v.strip():
            raise SampleError(f"option {k} of {key!r} must be a non-empty string, got {v!r}")
        out.append(v.strip())
    return out


def options_from_lettered_list(options: Any, key: str = "options") -> list[str]:
    """Option texts from ``["A. ...", "B. ...", ...]`` with the letter prefixes removed.

    Raises:
        SampleError: unless it is a non-empty list of strings whose prefixes are ``A``,
            ``B``, … in order.
    """
    if not isinstance(options, list | tuple) or not options:
        raise SampleError(f"field {key!r} must be a non-empty list of options")
    if len(options) > len(LETTERS):
        raise SampleError(f"field {key!r} has {len(options)} options, at most {len(LETTERS)}")
    out = []
    for i, opt in enumerate(options):
        if not isinstance(opt, str):
            raise SampleError(f"option {i + 1} of {key!r} must be a string, got {opt!r}")
        m = _LETTER_PREFIX.match(opt)
        if not m or m.group(1) != LETTERS[i]:
            raise SampleError(
                f"option {i + 1} of {key!r} should start with '{LETTERS[i]}.', got {opt!r}"
            )
        out.append(opt[m.end() :].strip())
    return out


def answer_letter(answer: Any, num_options: int, key: str = "answer") -> str:
    """The gold option letter, checked against the number of options.

    Raises:
        SampleError: if the answer is not one of the letters ``A…`` of the options.
    """
    letters = LETTERS[:num_options]
    text = answer.strip() if isinstance(answer, str) else answer
    if not isinstance(text, str) or len(text) != 1 or text not in letters:
        raise SampleError(
            f"field {key!r} is {answer!r}, not one of the option letters {', '.join(letters)}"
        )
    return text
