"""What the curation runner writes in ``output_dir``, and reading it back on a resume.

``accepted.jsonl`` and ``rejected.jsonl`` are `vthinker.jsonl_log` logs (one record per
finished sample, appended in the order samples finish); `accepted_record` and
`rejected_record` build their lines from a sample's `Outcome`, and `recover_jsonl` reads
them back, cutting off a last line torn by a crash. ``report.json`` is built by
`vthinker.curation.report`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vthinker.curation.steps import Reject, SampleLog, Step
from vthinker.data.schema import SampleError, VideoSample
from vthinker.jsonl_log import cut_torn_tail, read_log
from vthinker.llm.client import LLMError

__all__ = [
    "ACCEPTED_FILE",
    "REJECTED_FILE",
    "REPORT_FILE",
    "Outcome",
    "accepted_record",
    "recover_jsonl",
    "rejected_record",
]

ACCEPTED_FILE = "accepted.jsonl"
REJECTED_FILE = "rejected.jsonl"
REPORT_FILE = "report.json"


@dataclass
class Outcome:
    """What became of one sample: accepted, rejected, or failed (``error``; ``fatal`` when
    the endpoint refused the request so that no call can succeed)."""

    sample: VideoSample
    input_file: str
    video_path: Path
    log: SampleLog
    accepted: VideoSample | None = None
    reject: Reject | None = None
    error: str | None = None
    fatal: LLMError | None = None


def accepted_record(out: Outcome, video: str, steps: Sequence[Step]) -> dict[str, Any]:
    """The ``accepted.jsonl`` line of an accepted sample (``video``: its path as written)."""
    assert out.accepted is not None
    record = out.accepted.to_dict()
    record["video"] = video
    record["meta"] = dict(record.get("meta") or {})
    record["meta"]["curation"] = {
        "steps": out.log.steps,
        "trace_attempts": out.log.trace_attempts,
        "verifier_answers": out.log.verifier_answers,
        "models": {s.name: s.describe() for s in steps if s.name in out.log.steps},
    }
    return record


def rejected_record(out: Outcome) -> dict[str, Any]:
    """The ``rejected.jsonl`` line of a rejected sample."""
    assert out.reject is not None
    return {
        "id": out.sample.id,
        "source": out.sample.source or "unknown",
        "reason": out.reject.reason,
        "detail": out.reject.detail,
        "trace_attempts": out.log.trace_attempts,
        "steps": out.log.steps,
        "input": out.input_file,
        "sample": out.sample.to_dict(),
    }


def recover_jsonl(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int]:
    """Read an output file of the runner back, repairing what a crash can leave.

    A last line without its newline is a write cut short by a crash: it is cut off the
    file (so the next append starts on a fresh line) and its sample counts as not done.

    Returns:
        The records, and the number of bytes cut off (0 when the file was intact or absent).

    Raises:
        SampleError: for a complete line that is not a JSON object with an ``id``
            (naming the file and line); the file is then left untouched.
    """
    contents = read_log(path)
    if contents.bad:
        lineno, why = contents.bad[0]
        raise SampleError(
            f"{path}:{lineno}: {why}; the output file is damaged, repair or remove that "
            "line before resuming"
        )
    return contents.records, cut_torn_tail(path, contents)
