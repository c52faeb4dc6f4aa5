"""TutorialVQA (Colas et al., LREC 2020) in its release format.

Release (https://github.com/acolas1/TutorialVQAData): ``videos.json`` plus question files
``train.json``, ``dev.json``, ``test.json``::

    videos.json: [{"video_id": "14643", "video_title": "Export and save the design",
                   "video_url": "https://images-tv.adobe.com/.../3f1d..._vp8.webm",
                   "transcript": ["sentence 0", "sentence 1", ...],
                   "segments": [{"title": "save a design in Photoshop format or PSD",
                                 "timestamps": {"start": "32.96", "end": "48.78"},
                                 "sentence_indexes": {"start": 4, "end": 6}}, ...]}, ...]
    train.json:  [{"video_id": "14644", "question": "how to create titles?",
                   "answer_start": 3, "answer_end": 6}, ...]

An answer is a span of transcript sentences; its time comes from the segment with the same
``sentence_indexes`` (segment times are seconds, written as strings). The release has no
video files: each video is the ``video_url`` (a webm). Expected layout (``root``)::

    videos.json  train.json  dev.json  test.json
    videos/<video_id>.<ext>   or   videos/<the file name of video_url>

What a sample is. TutorialVQA is caption-rich (timed, titled segments) with how-to questions
whose answer is a segment, so each question becomes a temporal grounding sample: the
question, the answer segment's span as ``MM:SS-MM:SS`` (exact seconds in ``evidence``, whose
caption is the segment title; segments with the same sentences are one window and their
titles are joined with "; "), ``meta["answer_transcript"]`` the answer's transcript
sentences and ``meta["timeline"]`` every segment of the video for the curation pipeline.
Ids are ``<file stem>:<index in the file>``. TutorialVQA has no in-domain test split
(docs/method.md, Data); its own train/dev/test files are all training data
(``meta["release_split"]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlparse

from vthinker.data.schema import Evidence, SampleError, VideoSample
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import VideoIndex, read_json, seconds
from vthinker.trace import render_span

__all__ = ["TutorialVQA"]

_LAYOUT = "<root>/videos.json, train.json, dev.json, test.json; videos in <root>/videos"


def _index(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SampleError(f"{what}: expected a sentence index >= 0, got {value!r}")
    return value


class TutorialVQA(SampleSource):
    """TutorialVQA: each how-to question grounded to its answer segment.

    Args:
        root: Folder with the release files (module docstring).
        files: Question files to read, relative to ``root``.
        videos_file: The video description file, relative to ``root``.
        video_root: Video folder (default ``root/videos``).
        split: In-domain part to keep; ``all`` (TutorialVQA has no in-domain test split).
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "tutorialvqa"
    split_key = "video_id"

    def __init__(
        self,
        root: str,
        files: list[str] | None = None,
        videos_file: str = "videos.json",
        video_root: str | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.files = list(files) if files is not None else ["train.json", "dev.json", "test.json"]
        self.videos_file = videos_file
        self.videos = VideoIndex(self.videos_dir("videos"))
        self._video_info: dict[str, Any] = {}

    def records(self) -> Iterator[tuple[str, Any]]:
        videos = read_json(self.root / self.videos_file, list, _LAYOUT)
        self._video_info = {
            str(v["video_id"]): v for v in videos if isinstance(v, dict) and "video_id" in v
        }
        for name in self.files:
            for i, qa in enumerate(read_json(self.root / name, list, _LAYOUT)):
                vid = qa.get("video_id") if isinstance(qa, dict) else None
                yield f"{name}:{i} (video {vid})", (name, i, qa)

    def find_video(self, vid: str, url: Any) -> Path:
        """``<video_id>.<ext>`` or the ``video_url`` file name under the video folder."""
        url_name = PurePosixPath(urlparse(url).path).name if isinstance(url, str) else ""
        expected = self.videos.folder / (url_name or f"{vid}.webm")
        return self.videos.find_or([vid, PurePosixPath(url_name).stem], expected)

    def convert(self, record: Any) -> list[VideoSample]:
        name, i, qa = record
        if not isinstance(qa, dict):
            raise SampleError(f"expected a question object, got {qa!r}")
        vid = str(qa["video_id"])
        video = self._video_info.get(vid)
        if video is None:
            raise SampleError(f"video_id {vid!r} is not in {self.videos_file}")
        question = qa["question"]
        if not isinstance(question, str) or not question.strip():
            raise SampleError(f"empty or non-text question {question!r}")
        first = _index(qa["answer_start"], "answer_start")
        last = _index(qa["answer_end"], "answer_end")
        timeline = self._timeline(video)
        match = [s for s in timeline if s["sentences"] == [first, last]]
        if not match:
            raise SampleError(
                f"answer sentences {first}-{last} match no segment of video {vid} "
                f"(segments: {[s['sentences'] for s in timeline]})"
            )
        start, end = match[0]["start"], match[0]["end"]
        titles = list(dict.fromkeys(s["caption"] for s in match))
        transcript = video.get("transcript") or []
        return [
            VideoSample(
                id=f"{Path(name).stem}:{i}",
                video=self.video_path(self.find_video(vid, video.get("video_url"))),
                question=question.strip(),
                answer=render_span(start, end),
                problem_type="temporal grounding",
                evidence=[Evidence(start, end, "; ".join(titles))],
                source=self.name,
                meta={
                    "video_id": vid,
                    "video_title": video.get("video_title", ""),
                    "release_split": Path(name).stem,
                    "answer_sentences": [first, last],
                    "answer_transcript": " ".join(
                        str(t).strip() for t in transcript[first : last + 1]
                    ),
                    "timeline": timeline,
                },
            )
        ]

    @staticmethod
    def _timeline(video: dict[str, Any]) -> list[dict[str, Any]]:
        """The video's segments as ``{"start", "end", "caption", "sentences"}``."""
        out = []
        for k, seg in enumerate(video.get("segments") or []):
            where = f"segment {k} of video {video.get('video_id')}"
            if not isinstance(seg, dict):
                raise SampleError(f"{where}: expected an object, got {seg!r}")
            start = seconds(seg["timestamps"]["start"], f"{where} start")
            end = seconds(seg["timestamps"]["end"], f"{where} end")
            if end < start:
                raise SampleError(f"{where}: ends ({end}) before it starts ({start})")
            idx = seg["sentence_indexes"]
            sentences = [_index(idx["start"], f"{where} start"), _index(idx["end"], f"{where} end")]
            out.append(
                {
                    "start": start,
                    "end": end,
                    "caption": str(seg.get("title", "")).strip(),
                    "sentences": sentences,
                }
            )
        return out
