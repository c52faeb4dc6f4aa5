"""LVBench (Wang et al., 2024) in its release format.

Release (https://huggingface.co/datasets/THUDM/LVBench, code: THUDM/LVBench):
``video_info.meta.jsonl``, one line per video::

    {"key": "Cm73ma6Ibcs", "type": "cartoon",
     "qa": [{"uid": "55",
             "question": "What year appears in the opening caption of the video?\\n(A) 1636\\n"
                         "(B) 1366\\n(C) 1363\\n(D) 1633",
             "answer": "D", "question_type": ["key information retrieval"],
             "time_reference": "00:15-00:19"}, ...],
     "video_info": {...}}

``key`` is the YouTube id. The options are lines ``(A) text`` after the question line; the
answer is their letter; ``time_reference`` is the window the question is about, written
``MM:SS-MM:SS`` (``H:MM:SS`` in long videos), seconds from the start of the video.

Videos: the repo's ``scripts/download.sh`` runs video2dataset, which stores
``videos/<shard>/<n>.mp4`` next to ``<n>.json`` holding the YouTube ``url``; most setups
rename them ``<key>.mp4``. Both are found. Expected layout (``root``)::

    video_info.meta.jsonl
    videos/Cm73ma6Ibcs.mp4     (or video2dataset's videos/00000/00000000.mp4 + .json)

One sample per question: id = ``uid``; evidence = the ``time_reference`` window(s) without
captions (the QA-rich side of the curation pipeline writes them); ``meta["question_type"]``
is the question's categories joined with " + " (a question counts in each of them in the
official scorer: ``meta["question_types"]`` keeps the list); ``meta["video_type"]`` the
video category.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import LETTERS, Evidence, SampleError, VideoSample
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import Malformed, VideoIndex, iter_jsonl_objects
from vthinker.trace import parse_time_span

__all__ = ["LVBench", "parse_lvbench_question", "parse_time_reference"]

_LAYOUT = "<root>/video_info.meta.jsonl; videos in <root>/videos"
_OPTION = re.compile(r"^\(([A-Z])\)\s*(.*)$")
_YOUTUBE_ID = re.compile(r"(?:[?&]v=|youtu\.be/)([\w-]{11})")


def parse_lvbench_question(text: str) -> tuple[str, list[str]]:
    """Split ``"question\\n(A) x\\n(B) y"`` into the question and the option texts.

    Raises:
        SampleError: if there are fewer than two options or they are not lettered A, B, ….
    """
    if not isinstance(text, str):
        raise SampleError(f"question must be text, got {text!r}")
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()]
    k = next((i for i, ln in enumerate(lines) if _OPTION.match(ln)), len(lines))
    question = " ".join(lines[:k])
    options = []
    for i, line in enumerate(lines[k:]):
        if i >= len(LETTERS):
            raise SampleError(f"more than {len(LETTERS)} options in {text!r}")
        m = _OPTION.match(line)
        if m is None or m.group(1) != LETTERS[i]:
            raise SampleError(f"option line {line!r} is not '({LETTERS[i]}) …'")
        options.append(m.group(2).strip())
    if not question or len(options) < 2:
        raise SampleError(f"expected a question line and lettered options, got {text!r}")
    return question, options


def parse_time_reference(text: Any) -> list[tuple[float, float]]:
    """Spans (seconds) of a ``time_reference`` such as ``"00:15-00:19"``; several may be
    separated by ``,`` or ``;``. An empty value gives no span.

    Raises:
        SampleError: if a part is not a time span.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    if not isinstance(text, str):
        raise SampleError(f"time_reference must be text, got {text!r}")
    spans = []
    for part in re.split(r"[,;]", text):
        try:
            spans.append(parse_time_span(part.strip()))
        except ValueError as err:
            raise SampleError(f"time_reference {text!r}: {err}") from err
    return spans


class LVBench(SampleSource):
    """LVBench: multiple choice questions on hour-long videos with a time reference.

    Args:
        root: Folder with ``video_info.meta.jsonl`` (module docstring).
        annotation_file: The annotation file, relative to ``root`` (``data/video_info.
            meta.jsonl`` in a clone of the GitHub repo).
        video_root: Video folder (default ``root/videos``).
        split: In-domain part to keep (``all``, ``train``, ``test``), by YouTube id.
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "lvbench"
    split_key = "video_id"

    def __init__(
        self,
        root: str,
        annotation_file: str = "video_info.meta.jsonl",
        video_root: str | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.annotation_file = annotation_file
        self.videos = VideoIndex(self.videos_dir("videos"))
        self._by_url: dict[str, Path] | None = None

    def records(self) -> Iterator[tuple[str, Any]]:
        path = self.root / self.annotation_file
        for lineno, rec in iter_jsonl_objects(path, _LAYOUT):
            where = f"{self.annotation_file}:{lineno}"
            if isinstance(rec, Malformed):
                yield where, rec
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("qa"), list):
                yield where, Malformed("expected an object with 'key' and a 'qa' list")
                continue
            for j, qa in enumerate(rec["qa"]):
                uid = qa.get("uid") if isinstance(qa, dict) else None
                yield f"{where} qa {j} (uid {uid})", (rec, qa)

    def _video2dataset_files(self) -> dict[str, Path]:
        """YouTube id → video, from video2dataset's ``<n>.json`` sidecars (read once)."""
        if self._by_url is None:
            self._by_url = {}
            folder = self.videos.folder
            for sidecar in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
                try:
                    url = json.loads(sidecar.read_text(encoding="utf-8")).get("url", "")
                except (OSError, ValueError, AttributeError):
                    continue
                m = _YOUTUBE_ID.search(url) if isinstance(url, str) else None
                videos = [sidecar.with_suffix(ext) for ext in self.videos.extensions]
                video = next((v for v in videos if v.is_file()), None)
                if m and video is not None:
                    self._by_url.setdefault(m.group(1), video)
        return self._by_url

    def find_video(self, key: str) -> Path:
        """``<key>.<ext>`` anywhere under the video folder, else by video2dataset's sidecar."""
        found = self.videos.find([key]) or self._video2dataset_files().get(key)
        return found if found is not None else self.videos.folder / f"{key}.mp4"

    def convert(self, record: Any) -> list[VideoSample]:
        if isinstance(record, Malformed):
            record.fail()
        rec, qa = record
        if not isinstance(qa, dict):
            raise SampleError(f"expected a question object, got {qa!r}")
        key = rec["key"]
        if not isinstance(key, str) or not key:
            raise SampleError(f"'key' must be the YouTube id, got {key!r}")
        question, options = parse_lvbench_question(qa["question"])
        answer = qa["answer"]
        if not isinstance(answer, str) or answer.strip() not in LETTERS[: len(options)]:
            raise SampleError(
                f"unknown answer letter {answer!r} (options {LETTERS[0]}-{LETTERS[len(options) - 1]})"
            )
        types = qa.get("question_type") or []
        if isinstance(types, str):
            types = [types]
        spans = parse_time_reference(qa.get("time_reference"))
        return [
            VideoSample(
                id=str(qa["uid"]),
                video=self.video_path(self.find_video(key)),
                question=question,
                answer=answer.strip(),
                options=options,
                evidence=[Evidence(s, e, "") for s, e in spans],
                source=self.name,
                meta={
                    "video_id": key,
                    "video_type": rec.get("type", ""),
                    "question_type": " + ".join(str(t) for t in types),
                    "question_types": [str(t) for t in types],
                    "time_reference": qa.get("time_reference", ""),
                },
            )
        ]
