"""Video-Holmes: multiple-choice reasoning questions about suspense short films.

Release: https://huggingface.co/datasets/TencentARC/Video-Holmes (code:
github.com/TencentARC/Video-Holmes). Downloaded and unzipped as its README says
(``unzip Benchmark/videos.zip -d Benchmark/``), the folder is::

    Benchmark/                      <- root
      test_Video-Holmes.json        1,837 questions (train_Video-Holmes.json: the training set)
      videos/<video ID>.mp4         270 films (some copies name the folder videos_cropped)

``test_Video-Holmes.json`` is one JSON list; each record (the official ``evaluate.py`` reads
exactly these keys)::

    {"video ID": "RSmjqss0XKQ", "Question ID": 1, "Question Type": "SR",
     "Question": "What is the relationship between ...?",
     "Options": {"A": "Cleaners", "B": "...", ..., "F": "..."},
     "Answer": "A", "Explanation": "..."}

Question types: SR, IMC, TCI, TA, MHR, PAR, CTI (the official evaluation groups accuracy by
them); kept as ``meta["question_type"]``. The questions carry no time spans.
"""

from __future__ import annotations

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

__all__ = ["VideoHolmes"]


class VideoHolmes(BenchmarkSource):
    """Video-Holmes in its release layout (module docstring).

    Args:
        root: The ``Benchmark`` folder.
        video_root: Folder of the ``<video ID>.mp4`` files (default ``root/<video_dir>``).
        annotation: Annotation file inside ``root``.
        video_dir: Video folder inside ``root`` (``videos`` or ``videos_cropped``).
        split: In-domain split to keep (benchmarks: ``"all"``).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "video_holmes"
    title = "Video-Holmes"
    layout = "root/test_Video-Holmes.json and root/videos/<video ID>.mp4"

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        annotation: str = "test_Video-Holmes.json",
        video_dir: str = "videos",
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.annotation = annotation
        self.video_dir = video_dir

    def convert_record(self, record: Any) -> list[VideoSample]:
        video_id = text_id(record, "video ID")
        question_id = text_id(record, "Question ID")
        options = options_from_letter_dict(get_field(record, "Options", dict), "Options")
        answer = answer_letter(get_field(record, "Answer"), len(options), "Answer")
        explanation = record.get("Explanation")
        meta: dict[str, Any] = {
            "question_type": get_field(record, "Question Type").strip(),
            "video_id": video_id,
            "question_id": question_id,
        }
        if isinstance(explanation, str) and explanation.strip():
            meta["explanation"] = explanation.strip()
        return [
            self.bench_sample(
                id=f"{video_id}-{question_id}",
                video=resolve_video(self.videos_dir(self.video_dir), [video_id], ".mp4"),
                question=get_field(record, "Question").strip(),
                answer=answer,
                options=options,
                meta=meta,
            )
        ]
