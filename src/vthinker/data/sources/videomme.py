"""Video-MME: multiple-choice questions about short, medium and long videos.

Release: https://huggingface.co/datasets/lmms-lab/Video-MME (lmms-eval's ``videomme`` task and
VLMEvalKit read the same files). Downloaded and the video zips unpacked::

    Video-MME/                                  <- root
      videomme/test-00000-of-00001.parquet      2,700 questions
      data/<videoID>.mp4                        900 videos (a few are .MP4 or .mkv)
      subtitle/<videoID>.srt

Each Parquet row (lmms-eval ``videomme/utils.py`` reads these columns)::

    {"video_id": "001", "duration": "short", "domain": "Knowledge",
     "sub_category": "Humanity & History", "url": "https://www.youtube.com/watch?v=fFjv93ACGo8",
     "videoID": "fFjv93ACGo8", "question_id": "001-1", "task_type": "Counting Problem",
     "question": "...", "options": ["A. Apples.", "B. Candles.", "C. Berries.", "D. ..."],
     "answer": "C"}

``meta``: ``question_type`` (``task_type``), ``domain``, ``sub_category`` and
``duration_bucket`` (``short`` < 2 min, ``medium`` 4-15 min, ``long`` 30-60 min), the
groups Video-MME reports. ``durations`` keeps only some buckets (the others are counted as
left out). An annotation converted to ``.jsonl`` or a JSON list with the same keys also reads.
"""

from __future__ import annotations

from typing import Any, Literal

from vthinker.data.schema import SampleError, VideoSample
from vthinker.data.sources.bench_common import (
    BenchmarkSource,
    answer_letter,
    get_field,
    options_from_lettered_list,
    resolve_video,
    text_id,
)

__all__ = ["DURATIONS", "VideoMME"]

DURATIONS = ("short", "medium", "long")


class VideoMME(BenchmarkSource):
    """Video-MME in its release layout (module docstring).

    Args:
        root: The Video-MME folder.
        video_root: Folder of the ``<videoID>.mp4`` files (default ``root/data``).
        annotation: Annotation file inside ``root``.
        durations: Duration buckets to keep (default: all three).
        split: In-domain split to keep (benchmarks: ``"all"``).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "videomme"
    title = "Video-MME"
    layout = "root/videomme/test-00000-of-00001.parquet and root/data/<videoID>.mp4"

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        annotation: str = "videomme/test-00000-of-00001.parquet",
        durations: list[Literal["short", "medium", "long"]] | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        wanted = list(durations) if durations is not None else list(DURATIONS)
        bad = [d for d in wanted if d not in DURATIONS]
        if bad or not wanted:
            raise ValueError(f"videomme: durations must be a non-empty subset of {DURATIONS}")
        self.annotation = annotation
        self.durations = wanted

    def convert_record(self, record: Any) -> list[VideoSample]:
        duration = get_field(record, "duration").strip()
        if duration not in DURATIONS:
            raise SampleError(f"field 'duration' is {duration!r}, not one of {DURATIONS}")
        if duration not in self.durations:
            return self.leave_out(f"{duration} video (durations: {self.durations})")
        youtube_id = text_id(record, "videoID")
        options = options_from_lettered_list(get_field(record, "options", (list, tuple)))
        return [
            self.bench_sample(
                id=text_id(record, "question_id"),
                video=resolve_video(self.videos_dir("data"), [youtube_id]),
                question=get_field(record, "question").strip(),
                answer=answer_letter(get_field(record, "answer"), len(options)),
                options=options,
                meta={
                    "question_type": get_field(record, "task_type").strip(),
                    "domain": get_field(record, "domain").strip(),
                    "sub_category": get_field(record, "sub_category").strip(),
                    "duration_bucket": duration,
                    "video_id": text_id(record, "video_id"),
                    "youtube_id": youtube_id,
                },
            )
        ]
