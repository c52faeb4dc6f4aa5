"""CG-Bench: clue-grounded multiple-choice questions about long videos (reasoning subset).

Release: https://huggingface.co/datasets/CG-Bench/CG-Bench (code: github.com/CG-Bench/CG-Bench).
After its ``unzip_hf_zip.py`` (VLMEvalKit's ``CGBench`` datasets read the same files)::

    CG-Bench/                       <- root
      cgbench.json                  12,129 questions (cgbench_mini.json: the mini set)
      cg_videos_720p/<video_uid>.mp4
      cg_clue_videos/<qid>.mp4      clue clips (not used: clues are read as spans)
      cg_subtitles/<video_uid>.srt

Each record of the JSON list (keys as the official ``run/save_as_jsons.py`` and VLMEvalKit
read them; ``clue_intervals`` are seconds of the full video, ``duration`` is seconds)::

    {"qid": 6632, "video_uid": "Y4y2e4rUxfo", "question": "...", "answer": "Light bulb pattern",
     "choices": ["Light bulb pattern", "Lightning bolt pattern", ...], "right_answer": "A",
     "clue_intervals": [[130, 135]], "domain": "Art & Culture",
     "sub_category": "2D Spatial Perception", "duration": 1477}

CG-Bench has three question types (its paper): perception, reasoning and hallucination;
the ``sub_category`` names them: ``… Perception`` (6 kinds), ``… Cognition`` (5 kinds, the
reasoning questions) and ``Hallucination``. Video-Thinker reports "CG-Bench-Reasoning"
without defining the subset further; here it is the ``… Cognition`` questions (``subset:
reasoning``, the default; ``all`` keeps every question). Left-out questions are counted
(``report.left_out``).

``meta``: ``question_type`` (the sub-category), ``category`` (perception / reasoning /
hallucination), ``domain``, ``duration_s`` and ``duration_bucket`` (VLMEvalKit's minutes
bins ``0 ~ 10`` … ``50 ~ 60``, ``60+``). Clue intervals become ``evidence`` (no captions).
"""

from __future__ import annotations

from typing import Any, Literal

from vthinker.data.schema import Evidence, SampleError, VideoSample
from vthinker.data.sources.bench_common import (
    BenchmarkSource,
    answer_letter,
    get_field,
    resolve_video,
    text_id,
)
from vthinker.data.sources.files import seconds

__all__ = ["CATEGORIES", "CGBench", "category_of", "duration_bucket"]

CATEGORIES = ("perception", "reasoning", "hallucination")

_BUCKETS = ((10, "0 ~ 10"), (20, "10 ~ 20"), (30, "20 ~ 30"), (40, "30 ~ 40"), (50, "40 ~ 50"))


def category_of(sub_category: str) -> str | None:
    """``perception``, ``reasoning`` or ``hallucination`` for a CG-Bench sub-category."""
    s = sub_category.strip()
    if s.endswith("Perception"):
        return "perception"
    if s.endswith("Cognition"):
        return "reasoning"
    if s == "Hallucination":
        return "hallucination"
    return None


def duration_bucket(seconds: float) -> str:
    """VLMEvalKit's CG-Bench duration bins, in minutes, right-closed (``pd.cut``).

    ``600 s`` is ``"0 ~ 10"``, ``601 s`` is ``"10 ~ 20"``, over an hour is ``"60+"``.
    """
    minutes = seconds / 60
    for upper, label in _BUCKETS:
        if minutes <= upper:
            return label
    return "50 ~ 60" if minutes <= 60 else "60+"


def _clue_spans(value: Any) -> list[Evidence]:
    if not isinstance(value, list):
        raise SampleError(f"field 'clue_intervals' must be a list of [start, end], got {value!r}")
    spans = []
    for item in value:
        ok = isinstance(item, list | tuple) and len(item) == 2
        if not ok or any(isinstance(v, bool) or not isinstance(v, int | float) for v in item):
            raise SampleError(f"clue interval {item!r} is not [start, end] in seconds")
        start, end = float(item[0]), float(item[1])
        if end < start:
            raise SampleError(f"clue interval {item!r} ends before it starts")
        spans.append(Evidence(start, end))
    return spans


class CGBench(BenchmarkSource):
    """CG-Bench in its release layout (module docstring).

    Args:
        root: The CG-Bench folder.
        video_root: Folder of the ``<video_uid>.mp4`` files (default ``root/cg_videos_720p``).
        annotation: Annotation file inside ``root`` (``cgbench.json`` or ``cgbench_mini.json``).
        subset: ``reasoning`` (Video-Thinker's CG-Bench-Reasoning), ``perception``,
            ``hallucination`` or ``all``.
        split: In-domain split to keep (benchmarks: ``"all"``).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "cg_bench"
    title = "CG-Bench"
    layout = "root/cgbench.json and root/cg_videos_720p/<video_uid>.mp4"

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        annotation: str = "cgbench.json",
        subset: Literal["reasoning", "perception", "hallucination", "all"] = "reasoning",
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        if subset not in (*CATEGORIES, "all"):
            raise ValueError(
                f"cg_bench: subset must be one of {CATEGORIES} or 'all', got {subset!r}"
            )
        self.annotation = annotation
        self.subset = subset

    def convert_record(self, record: Any) -> list[VideoSample]:
        sub_category = get_field(record, "sub_category").strip()
        category = category_of(sub_category)
        if self.subset != "all":
            if category is None:
                raise SampleError(
                    f"unknown sub_category {sub_category!r}: not a Perception, Cognition or "
                    "Hallucination kind, so its subset is unknown"
                )
            if category != self.subset:
                return self.leave_out(f"{category} question (subset is {self.subset})")
        qid = text_id(record, "qid")
        video_uid = text_id(record, "video_uid")
        choices = get_field(record, "choices", list)
        if not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            raise SampleError(
                f"field 'choices' must be a non-empty list of strings, got {choices!r}"
            )
        options = [c.strip() for c in choices]
        duration = seconds(get_field(record, "duration", (int, float, str)), "duration")
        meta: dict[str, Any] = {
            "question_type": sub_category,
            "category": category or "",
            "domain": get_field(record, "domain").strip(),
            "duration_s": duration,
            "duration_bucket": duration_bucket(duration),
            "video_id": video_uid,
        }
        if isinstance(record.get("answer"), str):
            meta["answer_text"] = record["answer"].strip()
        return [
            self.bench_sample(
                id=qid,
                video=resolve_video(self.videos_dir("cg_videos_720p"), [video_uid], ".mp4"),
                question=get_field(record, "question").strip(),
                answer=answer_letter(
                    get_field(record, "right_answer"), len(options), "right_answer"
                ),
                options=options,
                evidence=_clue_spans(get_field(record, "clue_intervals", list)),
                meta=meta,
            )
        ]
