"""SciVideoBench: multiple-choice reasoning questions about scientific experiment videos.

Release: https://huggingface.co/datasets/groundmore/scivideobench (code and lmms-eval task:
github.com/dengandong/SciVideoBench). The annotation is JSON Lines
(``scivideobench_1k.jsonl``; the repository's task YAML names a ``scivideobench_1k.json``
list, which reads too) and the videos are JoVE clips named ``jove_<video_id>.mp4`` (the
lmms-eval ``doc_to_visual``)::

    SciVideoBench/                  <- root
      scivideobench_1k.jsonl        1,000 questions
      videos/jove_58827.mp4         (``<video_id>.mp4`` is accepted too)

A record (the repository README's example; ``options`` run from A up to J)::

    {"video_id": "58827", "question_id": "1", "question": "What is the purpose of ... between
     02:22 and 02:33?", "options": {"A": "...", "B": "...", ...}, "answer": "D",
     "question_type": "Conceptual Reasoning", "discipline": "Chemistry",
     "subject": "Nanomaterials", "timestamp_breakdown": [...]}

``meta``: ``question_type`` (Conceptual / Quantitative / Hypothetical Reasoning),
``domain`` (the discipline), ``sub_category`` (the subject) and ``duration_s`` when the
record has ``video_duration``. The ``timestamp_breakdown`` entries are kept in ``meta``
as they are: their published example is elided, so no time format is assumed for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import VideoSample
from vthinker.data.sources.bench_common import (
    BenchmarkSource,
    answer_letter,
    get_field,
    options_from_letter_dict,
    resolve_video,
    text_id,
)
from vthinker.data.sources.files import seconds

__all__ = ["SciVideoBench"]


class SciVideoBench(BenchmarkSource):
    """SciVideoBench in its release layout (module docstring).

    Args:
        root: The SciVideoBench folder.
        video_root: Folder of the ``jove_<video_id>.mp4`` files (default ``root/videos``).
        annotation: Annotation file inside ``root``; when it is missing, the ``.json`` twin
            of a ``.jsonl`` name (or the other way round) is tried.
        split: In-domain split to keep (benchmarks: ``"all"``).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "scivideobench"
    title = "SciVideoBench"
    layout = "root/scivideobench_1k.jsonl and root/videos/jove_<video_id>.mp4"

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        annotation: str = "scivideobench_1k.jsonl",
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.annotation = annotation

    def annotation_file(self) -> Path:
        """``root / annotation``, or its ``.json``/``.jsonl`` twin when only that exists."""
        path = self.root / self.annotation
        if not path.is_file():
            twin = {".jsonl": ".json", ".json": ".jsonl"}.get(path.suffix)
            if twin is not None and path.with_suffix(twin).is_file():
                return path.with_suffix(twin)
        return super().annotation_file()

    def convert_record(self, record: Any) -> list[VideoSample]:
        video_id = text_id(record, "video_id")
        question_id = text_id(record, "question_id")
        options = options_from_letter_dict(get_field(record, "options", dict))
        meta: dict[str, Any] = {
            "question_type": get_field(record, "question_type").strip(),
            "domain": get_field(record, "discipline").strip(),
            "sub_category": get_field(record, "subject").strip(),
            "video_id": video_id,
            "question_id": question_id,
        }
        if record.get("video_duration") is not None:
            meta["duration_s"] = seconds(record["video_duration"], "video_duration")
        if isinstance(record.get("timestamp_breakdown"), list):
            meta["timestamp_breakdown"] = record["timestamp_breakdown"]
        return [
            self.bench_sample(
                id=f"{video_id}-{question_id}",
                video=resolve_video(self.videos_dir("videos"), [f"jove_{video_id}", video_id]),
                question=get_field(record, "question").strip(),
                answer=answer_letter(get_field(record, "answer"), len(options)),
                options=options,
                meta=meta,
            )
        ]
