"""VRBench: multi-step reasoning questions about long narrative videos.

Release: https://huggingface.co/datasets/OpenGVLab/VRBench (code: github.com/OpenGVLab/VRBench).
The annotation is JSON Lines, one record per video (``inference/data/VRBench_eval.jsonl``;
the repository ships a two-video ``VRBench_debug.jsonl`` of the same shape). The official
``inference/main.py`` joins ``--video_root`` and each record's relative ``video_path``::

    <root>/VRBench_eval.jsonl
    <video_root>/VRBench/videos/v001/TZk_p-q8Fzo.mp4      (video_root defaults to root)

A record::

    {"video_id": "TZk_p-q8Fzo", "video_path": "VRBench/videos/v001/TZk_p-q8Fzo.mp4",
     "video_summary": "...", "video_read_type": "av",
     "mcq": {"qa1": {"question": "...", "options": {"A": "...", ..., "D": "..."},
                     "answer": "D", "original_question": "...", "original_answer": "...",
                     "reasoning_process": {"1": "A group ... [00:07:44->00:08:28]", ...},
                     "reasoning_type": "Implicit Inference"},
             "qa2": {...}, ...}}

Every ``qaN`` becomes one sample (id ``<video_id>-<qaN>``); `records` yields the questions
one by one (``where`` is ``"VRBench_eval.jsonl:line 3 qa2"``), so one malformed question does
not cost the others. The timed reasoning steps (``[HH:MM:SS->HH:MM:SS]``, seconds of the
video file) become ``evidence`` with the step text as caption; steps without a time stamp
(e.g. summaries) give none. ``reasoning_type`` is ``meta["question_type"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import Evidence, SampleError, VideoSample
from vthinker.data.sources.bench_common import (
    BenchmarkSource,
    answer_letter,
    get_field,
    iter_jsonl,
    options_from_letter_dict,
    text_id,
)
from vthinker.data.sources.files import Malformed
from vthinker.trace import parse_timestamp

__all__ = ["VRBench", "step_evidence"]

_STEP_SPAN = re.compile(r"\[\s*([\d:.]+)\s*-+>\s*([\d:.]+)\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


@dataclass(frozen=True)
class _Question:
    """One ``mcq`` entry of a VRBench video record."""

    video: dict[str, Any]
    key: str
    qa: Any


def step_evidence(text: str) -> Evidence | None:
    """A reasoning step with its ``[HH:MM:SS->HH:MM:SS]`` span, or None without one.

    ``"Hanging out together [00:08:20->00:16:34]"`` gives ``Evidence(500.0, 994.0,
    "Hanging out together")``.

    Raises:
        SampleError: if the bracketed span is not a valid pair of times.
    """
    m = _STEP_SPAN.search(text)
    if m is None:
        return None
    try:
        start, end = parse_timestamp(m.group(1)), parse_timestamp(m.group(2))
    except ValueError as err:
        raise SampleError(f"reasoning step {text!r}: {err}") from err
    if end < start:
        raise SampleError(f"reasoning step {text!r}: time span ends before it starts")
    caption = _SPACE_BEFORE_PUNCT.sub(r"\1", (text[: m.start()] + text[m.end() :]).strip())
    return Evidence(start, end, caption.strip())


def _step_order(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (1 << 30, key)


class VRBench(BenchmarkSource):
    """VRBench in its release layout (module docstring).

    Args:
        root: Folder of the annotation file.
        video_root: Folder that each record's relative ``video_path`` is joined to
            (the official ``--video_root``; default ``root``).
        annotation: Annotation file inside ``root``.
        split: In-domain split to keep (benchmarks: ``"all"``).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "vrbench"
    title = "VRBench"
    layout = "root/VRBench_eval.jsonl with video_path relative to video_root (default root)"

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        annotation: str = "VRBench_eval.jsonl",
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.annotation = annotation

    def records(self) -> Iterator[tuple[str, Any]]:
        for where, record in iter_jsonl(self.annotation_file()):
            mcq = record.get("mcq") if isinstance(record, dict) else None
            if isinstance(record, Malformed) or not isinstance(mcq, dict) or not mcq:
                yield where, record  # convert_record names what is wrong
                continue
            for key, qa in mcq.items():
                yield f"{where} {key}", _Question(record, str(key), qa)

    def convert_record(self, record: Any) -> list[VideoSample]:
        if not isinstance(record, _Question):
            get_field(record, "mcq", dict)
            raise SampleError("field 'mcq' is empty: the video has no questions")
        video_id = text_id(record.video, "video_id")
        video_path = Path(get_field(record.video, "video_path"))
        if not video_path.is_absolute():
            video_path = self.videos_dir(".") / video_path
        qa = record.qa
        options = options_from_letter_dict(get_field(qa, "options", dict))
        steps = get_field(qa, "reasoning_process", dict) if "reasoning_process" in qa else {}
        evidence = []
        for key in sorted(steps, key=_step_order):
            text = steps[key]
            if not isinstance(text, str):
                raise SampleError(f"reasoning step {key!r} must be a string, got {text!r}")
            if (e := step_evidence(text)) is not None:
                evidence.append(e)
        return [
            self.bench_sample(
                id=f"{video_id}-{record.key}",
                video=video_path,
                question=get_field(qa, "question").strip(),
                answer=answer_letter(get_field(qa, "answer"), len(options)),
                options=options,
                evidence=evidence,
                meta={
                    "question_type": get_field(qa, "reasoning_type").strip(),
                    "video_id": video_id,
                    "question_key": record.key,
                },
            )
        ]
