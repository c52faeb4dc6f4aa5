"""STAR (Wu et al., NeurIPS 2021) in its release format.

Release (https://github.com/csbobby/STAR_Benchmark, "Question, Multiple Choice Answers and
Situation Graphs"): ``STAR_train.json`` / ``STAR_val.json``, each a JSON list of::

    {"question_id": "Interaction_T1_13", "question": "Which object was tidied up by the person?",
     "video_id": "6H78U", "start": 11.1, "end": 19.6, "answer": "The clothes.",
     "question_program": [...],
     "choices": [{"choice_id": 0, "choice": "The closet/cabinet.", "choice_program": [...]},
                 ...],
     "situations": {...}}

``STAR_test.json`` has no answers and is not read. The videos are Charades videos (the
480p release ``Charades_v1_480.zip``); ``start``/``end`` are seconds in that video: the
STAR clip is that window (the STAR visualiser cuts it with ``ffmpeg -ss start -to end``).
Expected layout (``root``)::

    STAR_train.json  STAR_val.json
    Charades_v1_480/6H78U.mp4

A sample is the question with its four choices in ``choice_id`` order (lettered A–D), the
answer letter of the choice whose text equals ``answer``, ``video_start``/``video_end`` =
the clip, and one evidence window = the clip, in seconds of the Charades file.
``meta["question_type"]`` is the category in the id (Interaction, Sequence, Prediction,
Feasibility), ``meta["template"]`` the template (``T1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import LETTERS, Evidence, SampleError, VideoSample
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import VideoIndex, read_json, seconds

__all__ = ["STAR"]

_LAYOUT = "<root>/STAR_train.json, STAR_val.json; Charades videos in <root>/Charades_v1_480"


class STAR(SampleSource):
    """STAR situated reasoning: multiple choice questions on clips of Charades videos.

    Args:
        root: Folder with the STAR files (module docstring).
        files: Question files to read, relative to ``root``.
        video_root: Charades video folder (default ``root/Charades_v1_480``).
        split: In-domain part to keep (``all``, ``train``, ``test``), by Charades video id.
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "star"
    split_key = "video_id"

    def __init__(
        self,
        root: str,
        files: list[str] | None = None,
        video_root: str | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.files = list(files) if files is not None else ["STAR_train.json", "STAR_val.json"]
        self.videos = VideoIndex(self.videos_dir("Charades_v1_480"))

    def records(self) -> Iterator[tuple[str, Any]]:
        for name in self.files:
            for i, rec in enumerate(read_json(self.root / name, list, _LAYOUT)):
                qid = rec.get("question_id") if isinstance(rec, dict) else None
                yield f"{name}:{qid if qid is not None else f'item {i}'}", (name, rec)

    def find_video(self, vid: str) -> Path:
        return self.videos.find_or([vid], self.videos.folder / f"{vid}.mp4")

    def convert(self, record: Any) -> list[VideoSample]:
        name, rec = record
        if not isinstance(rec, dict):
            raise SampleError(f"expected a question object, got {rec!r}")
        qid, vid, question = rec["question_id"], rec["video_id"], rec["question"]
        for key, value in (("question_id", qid), ("video_id", vid), ("question", question)):
            if not isinstance(value, str) or not value.strip():
                raise SampleError(f"{key} must be a non-empty string, got {value!r}")
        if "answer" not in rec:
            raise SampleError("no 'answer' (STAR_test.json is unanswered and cannot be used)")
        choices = rec["choices"]
        if not isinstance(choices, list) or not all(
            isinstance(c, dict) and isinstance(c.get("choice"), str) for c in choices
        ):
            raise SampleError(f"'choices' must be a list of {{choice_id, choice}}, got {choices!r}")
        ordered = sorted(choices, key=lambda c: c.get("choice_id", 0))
        options = [c["choice"].strip() for c in ordered]
        if not 2 <= len(options) <= len(LETTERS):
            raise SampleError(f"{len(options)} choices (need 2 to {len(LETTERS)})")
        answer = str(rec["answer"]).strip()
        hits = [i for i, text in enumerate(options) if text == answer]
        if len(hits) != 1:
            raise SampleError(
                f"answer {answer!r} matches {len(hits)} of the choices {options} (need exactly 1)"
            )
        start, end = seconds(rec["start"], "start"), seconds(rec["end"], "end")
        if end <= start:
            raise SampleError(f"clip [{start}, {end}] is empty or ends before it starts")
        category, _, rest = qid.partition("_")
        return [
            VideoSample(
                id=qid,
                video=self.video_path(self.find_video(vid)),
                question=question.strip(),
                answer=LETTERS[hits[0]],
                options=options,
                evidence=[Evidence(start, end, "")],
                source=self.name,
                video_start=start,
                video_end=end,
                meta={
                    "video_id": vid,
                    "question_type": category,
                    "template": rest.partition("_")[0],
                    "annotation_file": Path(name).name,
                },
            )
        ]
