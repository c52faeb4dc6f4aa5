"""Video-TT (Video Thinking Test): questions about YouTube Shorts, with adversarial variants.

Release: https://huggingface.co/datasets/lmms-lab/video-tt (lmms-eval ``video-tt`` tasks and
VLMEvalKit's ``VideoTT`` read it). Downloaded and the ``Benchmark-AllVideos-LQ*.zip``
archives unpacked (lmms-eval's ``videott_doc_to_visual`` path)::

    video-tt/                                   <- root
      data/test-00000-of-00001.parquet
      Benchmark-AllVideos-LQ/<video_id>.mp4     (VLMEvalKit unpacks them to video/ instead)

Parquet columns (a published row)::

    {"qid": "0008-2", "video_id": "sj81PWrerDk",
     "question_type": "Correctly-led Open-ended Question",
     "capability": "Plot Attribute (Montage)", "question": "Did the last person ...?",
     "duration": "8.85", "question_prompt": "Please state your answer with a brief explanation.",
     "answer": "", "youtube_url": "https://www.youtube.com/shorts/sj81PWrerDk"}

Question types: ``Multiple-choice Question with a Single Correct Answer`` (the accuracy
benchmark; ``answer`` is the option letter) and four open-ended kinds (non-leading /
primary, paraphrased, correctly-led, wrongly-led; judged by an LLM). Multiple-choice
options are lettered lines (``A. …``) after the question: lmms-eval and VLMEvalKit show the
model ``question + "\\n" + question_prompt`` and VLMEvalKit reads the options back from
those lines, so they are parsed from either field. Open-ended questions are left out
(counted) unless ``open_ended: true``, which keeps those with a reference answer as
``free-form`` samples. ``meta``: ``question_type`` (the ``capability``), ``prompt_type``
(the Video-TT question type), ``duration_s``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from vthinker.data.schema import LETTERS, SampleError, VideoSample
from vthinker.data.sources.bench_common import (
    BenchmarkSource,
    answer_letter,
    get_field,
    resolve_video,
    text_id,
)
from vthinker.data.sources.files import seconds

__all__ = ["MULTIPLE_CHOICE", "VideoTT", "split_options"]

MULTIPLE_CHOICE = "Multiple-choice Question with a Single Correct Answer"

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])\s*[.:)]\s*(.*\S)\s*$")


def split_options(question: str, prompt: str) -> tuple[str, list[str]]:
    """The question text and the option texts of a multiple-choice Video-TT question.

    Option lines (``A. …``, ``B) …``) are collected from ``question`` and then
    ``prompt``; the question text is the part of ``question`` before its first option line.

    Raises:
        SampleError: if there are no option lines or their letters are not ``A, B, …``.
    """
    lines = question.splitlines() + prompt.splitlines()
    n_question = len(question.splitlines())
    stem: list[str] = []
    options: list[str] = []
    for i, line in enumerate(lines):
        m = _OPTION_LINE.match(line)
        if m:
            if len(options) == len(LETTERS):
                raise SampleError(f"more than {len(LETTERS)} option lines")
            if m.group(1) != LETTERS[len(options)]:
                raise SampleError(
                    f"option line {line.strip()!r} is out of order: expected "
                    f"'{LETTERS[len(options)]}.'"
                )
            options.append(m.group(2).strip())
        elif i < n_question and not options:
            stem.append(line)
    if not options:
        raise SampleError("no lettered option lines ('A. …') in 'question' or 'question_prompt'")
    return "\n".join(stem).strip(), options


class VideoTT(BenchmarkSource):
    """Video-TT in its release layout (module docstring).

    Args:
        root: The video-tt folder.
        video_root: Folder of the ``<video_id>.mp4`` files (default
            ``root/Benchmark-AllVideos-LQ``).
        annotation: Annotation file inside ``root``.
        open_ended: Also keep open-ended questions that have a reference answer.
        split: In-domain split to keep (benchmarks: ``"all"``).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "videott"
    title = "Video-TT"
    layout = "root/data/test-00000-of-00001.parquet and root/Benchmark-AllVideos-LQ/<video_id>.mp4"

    def __init__(
        self,
        root: str,
        video_root: str | None = None,
        annotation: str = "data/test-00000-of-00001.parquet",
        open_ended: bool = False,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.annotation = annotation
        self.open_ended = open_ended

    def convert_record(self, record: Any) -> list[VideoSample]:
        prompt_type = get_field(record, "question_type").strip()
        question = get_field(record, "question")
        prompt = get_field(record, "question_prompt")
        answer = get_field(record, "answer").strip()
        if prompt_type == MULTIPLE_CHOICE:
            stem, options = split_options(question, prompt)
            answer = answer_letter(answer, len(options))
            problem_type = "multiple choice"
        elif not self.open_ended:
            return self.leave_out(f"open-ended question ({prompt_type}); set open_ended: true")
        elif not answer:
            return self.leave_out("open-ended question without a reference answer")
        else:
            stem, options, problem_type = question.strip(), [], "free-form"
        if not stem:
            raise SampleError("field 'question' is empty")
        video_id = text_id(record, "video_id")
        return [
            self.bench_sample(
                id=text_id(record, "qid"),
                video=resolve_video(self.videos_dir("Benchmark-AllVideos-LQ"), [video_id]),
                question=stem,
                answer=answer,
                options=options,
                problem_type=problem_type,
                meta={
                    "question_type": get_field(record, "capability").strip(),
                    "prompt_type": prompt_type,
                    "duration_s": seconds(
                        get_field(record, "duration", (str, int, float)), "duration"
                    ),
                    "video_id": video_id,
                },
            )
        ]
