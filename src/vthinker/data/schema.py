"""The one record every part of vthinker speaks: a video question.

`VideoSample` is written to and read from JSONL losslessly (`write_jsonl` /
`read_jsonl`), and converts to and from the Video-R1-style record used by the
peer projects (`to_video_r1` / `from_video_r1`)::

    {"problem": ..., "problem_type": "multiple choice", "options": ["A. ...", ...],
     "data_type": "video", "path": ..., "data_source": ..., "process": <trace>,
     "solution": "<answer>C</answer>"}

Reading is forgiving about the dataset and strict about each record: a record
with a missing or mistyped field raises `SampleError` naming the file, the
line and what is wrong; `iter_jsonl(..., strict=False)` reports and skips it.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vthinker.trace import ANSWER_RE

log = logging.getLogger(__name__)

PROBLEM_TYPES = (
    "multiple choice",
    "numerical",
    "free-form",
    "temporal grounding",
    "regression",
    "OCR",
)
DATA_TYPES = ("video", "image")
LETTERS = string.ascii_uppercase
_OPTION_PREFIX = re.compile(r"^\s*\(?([A-Z])\s*[.:)]\s*")


class SampleError(ValueError):
    """A record that cannot become a `VideoSample`; the message names where it is."""


@dataclass
class Evidence:
    """A time window of the video that the answer depends on.

    Attributes:
        start: Seconds from the start of the video file.
        end: Seconds from the start of the video file (``end >= start``).
        caption: What happens in the window ("" when the source has none).
    """

    start: float
    end: float
    caption: str = ""


@dataclass
class VideoSample:
    """A question about a video (or, with ``data_type: image``, about one image).

    Attributes:
        id: Unique id within its dataset.
        video: Path of the video file, or of the image file for an image question (absolute,
            or relative to a dataset's video root).
        question: The question text, without the options.
        answer: The gold answer: an option letter for multiple choice, else the value.
        problem_type: One of `PROBLEM_TYPES` (free strings are kept as they are).
        options: Option texts without their letter prefix, in letter order.
        evidence: Time windows (seconds) with captions that support the answer.
        trace: The gold tagged reasoning (``<time>…<caption>…<think>…``), or None.
        source: Dataset the sample comes from (``"activitynet"``, ``"toy"``, …).
        split: ``"train"``, ``"val"`` or ``"test"``.
        video_start: Start of the clip inside the file in seconds, or None for the whole file.
        video_end: End of the clip inside the file in seconds, or None for the whole file.
        meta: Any extra per-sample fields (question type, duration bucket, …).
        data_type: ``"video"`` or ``"image"`` (Video-R1's ``data_type``: Video-R1-260k mixes
            image and video questions). An image question is shown as one image through the
            model's image path; it has no clip window and no evidence times.
    """

    id: str
    video: str
    question: str
    answer: str
    problem_type: str = "multiple choice"
    options: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    trace: str | None = None
    source: str = ""
    split: str = "train"
    video_start: float | None = None
    video_end: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    data_type: str = "video"

    def __post_init__(self) -> None:
        if self.data_type not in DATA_TYPES:
            raise SampleError(
                f"sample {self.id!r}: data_type {self.data_type!r} is not one of "
                f"{', '.join(DATA_TYPES)}"
            )
        if self.data_type == "image" and (
            self.video_start is not None or self.video_end is not None
        ):
            raise SampleError(f"sample {self.id!r}: an image question has no clip window")
        self.evidence = [e if isinstance(e, Evidence) else Evidence(**e) for e in self.evidence]
        for e in self.evidence:
            if e.end < e.start:
                raise SampleError(f"sample {self.id!r}: evidence span ends before it starts: {e}")
        if self.problem_type == "multiple choice" and self.options:
            letters = LETTERS[: len(self.options)]
            if len(self.answer) != 1 or self.answer not in letters:  # not a substring test
                raise SampleError(
                    f"sample {self.id!r}: answer {self.answer!r} is not one of the option letters "
                    f"{', '.join(letters)}"
                )

    @property
    def lettered_options(self) -> list[str]:
        """Options as ``["A. text", "B. text", ...]``."""
        return [f"{LETTERS[i]}. {text}" for i, text in enumerate(self.options)]

    @property
    def answer_tag(self) -> str:
        return f"<answer>{self.answer}</answer>"

    def target_text(self) -> str:
        """The SFT target: the gold trace followed by the answer tag.

        A trace that already ends with its own ``<answer>`` is used as it is.
        """
        if not self.trace or not self.trace.strip():
            return self.answer_tag
        if ANSWER_RE.search(self.trace):
            return self.trace.strip()
        return f"{self.trace.strip()}\n{self.answer_tag}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> VideoSample:
        """Build from a `to_dict` record; raises `SampleError` on a missing/mistyped field."""
        if not isinstance(record, dict):
            raise SampleError(f"expected a JSON object, got {type(record).__name__}")
        missing = [k for k in ("id", "video", "question", "answer") if k not in record]
        if missing:
            raise SampleError(f"missing field(s) {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(record) - known)
        if unknown:
            raise SampleError(f"unknown field(s) {', '.join(unknown)}")
        for key in ("id", "video", "question", "answer"):
            if not isinstance(record[key], str):
                raise SampleError(f"field {key!r} must be a string, got {record[key]!r}")
        _check_types(record)
        try:
            return cls(**record)
        except TypeError as err:
            raise SampleError(str(err)) from err

    # --- Video-R1 interchange -------------------------------------------------------------

    def to_video_r1(self) -> dict[str, Any]:
        """Export as a Video-R1-style record (the trace goes to ``process``)."""
        return {
            "problem_id": self.id,
            "problem": self.question,
            "problem_type": self.problem_type,
            "options": self.lettered_options,
            "data_type": self.data_type,
            "path": self.video,
            "data_source": self.source,
            "process": self.trace or "",
            "solution": self.answer_tag,
        }

    @classmethod
    def from_video_r1(cls, record: dict[str, Any], *, id: str | None = None) -> VideoSample:
        """Import a Video-R1-style record.

        Args:
            record: The record (``problem, problem_type, options, data_type, path,
                data_source, process, solution``; ``problem_id`` is used as id when present;
                ``data_type`` is ``video`` when absent).
            id: Id to use when the record has no ``problem_id``.
        """
        if not isinstance(record, dict):
            raise SampleError(f"expected a JSON object, got {type(record).__name__}")
        missing = [k for k in ("problem", "path", "solution") if k not in record]
        if missing:
            raise SampleError(f"missing field(s) {', '.join(missing)}")
        for key in ("problem", "path"):
            if not isinstance(record[key], str):
                raise SampleError(f"field {key!r} must be a string, got {record[key]!r}")
        raw_options = record.get("options") or []
        if not isinstance(raw_options, list) or not all(isinstance(o, str) for o in raw_options):
            raise SampleError(f"field 'options' must be a list of strings, got {raw_options!r}")
        if len(raw_options) > len(LETTERS):
            raise SampleError(f"{len(raw_options)} options: at most {len(LETTERS)} are supported")
        sid = record.get("problem_id")
        if sid is None:
            sid = id
        if sid is None:
            raise SampleError("record has no 'problem_id' and no id was given")
        m = ANSWER_RE.search(str(record["solution"]))
        answer = (m.group(1) if m else str(record["solution"])).strip()
        options = []
        for i, opt in enumerate(raw_options):
            p = _OPTION_PREFIX.match(opt)
            if p and p.group(1) == LETTERS[i]:
                opt = opt[p.end() :]
            options.append(opt)
        process = record.get("process") or None
        data_type = record.get("data_type", "video")
        if data_type not in DATA_TYPES:
            raise SampleError(f"data_type {data_type!r} is not one of {', '.join(DATA_TYPES)}")
        return cls(
            id=str(sid),
            video=record["path"],
            question=record["problem"],
            answer=answer,
            problem_type=record.get("problem_type", "multiple choice"),
            options=options,
            trace=process,
            source=record.get("data_source", ""),
            data_type=data_type,
        )


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "problem_type": (str,),
    "options": (list,),
    "evidence": (list,),
    "trace": (str, type(None)),
    "source": (str,),
    "split": (str,),
    "video_start": (int, float, type(None)),
    "video_end": (int, float, type(None)),
    "meta": (dict,),
    "data_type": (str,),
}


def _check_types(record: dict[str, Any]) -> None:
    """Raise `SampleError` for an optional `VideoSample` field of the wrong JSON type."""
    for key, types in _FIELD_TYPES.items():
        if key in record:
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, types):
                raise SampleError(f"field {key!r} has the wrong type: {value!r}")
    if not all(isinstance(o, str) for o in record.get("options", [])):
        raise SampleError(f"field 'options' must be a list of strings, got {record['options']!r}")
    for e in record.get("evidence", []):
        if not isinstance(e, dict):
            raise SampleError(f"field 'evidence' must be a list of objects, got {e!r}")
        for key in ("start", "end"):
            v = e.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise SampleError(f"evidence {key!r} must be a number of seconds, got {e!r}")


# --- JSONL ---------------------------------------------------------------------------------


def write_jsonl(samples: Iterable[VideoSample], path: str | Path) -> int:
    """Write samples, one JSON object per line. Returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps(s.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


@dataclass
class ReadReport:
    """What `iter_jsonl` skipped: ``(line number, reason)`` pairs."""

    path: str
    read: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        head = f"{self.path}: read {self.read} samples, skipped {len(self.skipped)} bad record(s)"
        details = [f"  line {ln}: {why}" for ln, why in self.skipped[:20]]
        more = len(self.skipped) - 20
        if more > 0:
            details.append(f"  … and {more} more")
        return "\n".join([head, *details])


def iter_jsonl(
    path: str | Path,
    *,
    fmt: str = "auto",
    strict: bool = True,
    report: ReadReport | None = None,
) -> Iterator[VideoSample]:
    """Read samples from a JSONL file.

    Args:
        path: The file.
        fmt: ``"vthinker"`` (our records), ``"video_r1"`` (peer records) or ``"auto"``
            (decided per record: a ``problem`` key means Video-R1).
        strict: Raise `SampleError` on the first bad record; otherwise log, count in
            ``report`` and skip it.
        report: Collects counts and skipped lines.

    Raises:
        FileNotFoundError: if the file does not exist.
        SampleError: (strict only) naming the file, line and problem.
    """
    if fmt not in ("auto", "vthinker", "video_r1"):
        raise ValueError(f"fmt must be 'auto', 'vthinker' or 'video_r1', got {fmt!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise SampleError(f"not UTF-8 text (byte {err.start + 1})") from err
                try:
                    # Without the newline, so an error at the end of the line reports its
                    # column in this line rather than "column 1" of a phantom next line.
                    record = json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as err:
                    raise SampleError(f"invalid JSON ({err.msg} at column {err.colno})") from err
                use_r1 = fmt == "video_r1" or (
                    fmt == "auto" and isinstance(record, dict) and "problem" in record
                )
                if use_r1:
                    sample = VideoSample.from_video_r1(record, id=f"{path.stem}-{lineno}")
                else:
                    sample = VideoSample.from_dict(record)
            except SampleError as err:
                msg = f"{path}:{lineno}: {err}"
                if strict:
                    raise SampleError(msg) from err
                log.warning("skipping bad record %s", msg)
                if report is not None:
                    report.skipped.append((lineno, str(err)))
                continue
            if report is not None:
                report.read += 1
            yield sample


def read_jsonl(path: str | Path, **kwargs: Any) -> list[VideoSample]:
    """`iter_jsonl` into a list."""
    return list(iter_jsonl(path, **kwargs))
