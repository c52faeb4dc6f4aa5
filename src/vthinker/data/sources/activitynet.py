"""ActivityNet Captions (Krishna et al., 2017) in its release format.

Release (https://cs.stanford.edu/people/ranjaykrishna/densevid/, ``captions.zip``): one JSON
object per split file, keyed by video id::

    train.json / val_1.json / val_2.json
    {"v_QOlSCBRmfWY": {"duration": 82.73,
                       "timestamps": [[0.83, 19.86], [17.37, 60.81], ...],
                       "sentences": ["A young woman is seen ...", " The girl dances ...", ...]}}

``val_1.json`` and ``val_2.json`` are two independent annotations of the same validation
videos. Timestamps are seconds from the start of the YouTube video.

Videos come from the ActivityNet crawler (``activitynet/ActivityNet/Crawler``), which saves
``v_<youtube id>.mp4``; the request-form download of the full set also has ``.mkv`` and
``.webm`` files. Expected layout (``root``)::

    train.json  val_1.json  val_2.json
    videos/v_QOlSCBRmfWY.mp4   (or .mkv/.webm, or without the ``v_`` prefix, or in sub-folders)

What a sample is. The release has captions and no questions, so each timed caption becomes
one temporal grounding sample, the way Video-R1/Time-R1-style pipelines use these videos:
``question`` is the caption sentence, ``answer`` its span as ``MM:SS-MM:SS`` (start rounded
down, end up; the exact seconds are in ``evidence``), ``problem_type`` is
``"temporal grounding"`` and ``evidence`` holds that one span with its sentence (the gold
window the grounding metric scores against). ``meta["timeline"]`` holds every caption of
the video (``start``, ``end``, ``caption``, in file order) for the hindsight curation
pipeline, which writes multi-segment questions from them. Sample ids are
``<file stem>/<video id>#<caption index>``. The in-domain split is by video id, so the two
validation annotations of one video land on the same side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import Evidence, SampleError, VideoSample
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import VideoIndex, read_json, seconds
from vthinker.trace import render_span

__all__ = ["ActivityNetCaptions", "caption_timeline", "grounding_samples"]

_LAYOUT = "<root>/train.json, val_1.json, val_2.json from captions.zip; videos in <root>/videos"


def caption_timeline(
    spans: Sequence[Any], sentences: Sequence[Any], where: str = "caption"
) -> list[dict[str, Any]]:
    """Validate parallel spans and sentences into ``[{"start", "end", "caption"}, ...]``.

    Raises:
        SampleError: on a count mismatch, a span that is not two seconds values, a span that
            ends before it starts, or an empty or non-string sentence.
    """
    if len(spans) != len(sentences):
        raise SampleError(f"{len(spans)} time spans but {len(sentences)} sentences")
    timeline = []
    for i, (span, text) in enumerate(zip(spans, sentences, strict=True)):
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise SampleError(f"{where} {i}: expected [start, end], got {span!r}")
        start = seconds(span[0], f"{where} {i} start")
        end = seconds(span[1], f"{where} {i} end")
        if end < start:
            raise SampleError(f"{where} {i}: span {list(span)} ends before it starts")
        if not isinstance(text, str) or not text.strip():
            raise SampleError(f"{where} {i}: empty or non-text sentence {text!r}")
        timeline.append({"start": start, "end": end, "caption": text.strip()})
    return timeline


def grounding_samples(
    timeline: list[dict[str, Any]],
    *,
    ids: Sequence[str],
    video: str,
    source: str,
    meta: dict[str, Any],
) -> list[VideoSample]:
    """One temporal grounding sample per caption (module docstring)."""
    out = []
    for i, (seg, sid) in enumerate(zip(timeline, ids, strict=True)):
        out.append(
            VideoSample(
                id=sid,
                video=video,
                question=seg["caption"],
                answer=render_span(seg["start"], seg["end"]),
                problem_type="temporal grounding",
                evidence=[Evidence(seg["start"], seg["end"], seg["caption"])],
                source=source,
                meta={**meta, "caption_index": i, "timeline": timeline},
            )
        )
    return out


class ActivityNetCaptions(SampleSource):
    """ActivityNet Captions: one temporal grounding sample per timed caption.

    Args:
        root: Folder with the caption files (module docstring).
        files: Caption files to read, relative to ``root``.
        video_root: Video folder (default ``root/videos``).
        split: In-domain part to keep (``all``, ``train``, ``test``), by video id.
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "activitynet"
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
        self.files = list(files) if files is not None else ["train.json", "val_1.json"]
        self.videos = VideoIndex(self.videos_dir("videos"))

    def records(self) -> Iterator[tuple[str, Any]]:
        for name in self.files:
            data = read_json(self.root / name, dict, _LAYOUT)
            for vid, rec in data.items():
                yield f"{name}:{vid}", (name, vid, rec)

    def find_video(self, vid: str) -> Path:
        """The file of video ``vid`` (with or without ``v_``); the crawler's name if missing."""
        bare = vid[2:] if vid.startswith("v_") else vid
        return self.videos.find_or([vid, bare, f"v_{bare}"], self.videos.folder / f"{vid}.mp4")

    def convert(self, record: Any) -> list[VideoSample]:
        name, vid, rec = record
        if not isinstance(rec, dict):
            raise SampleError(f"expected an object with duration/timestamps/sentences, got {rec!r}")
        timeline = caption_timeline(rec["timestamps"], rec["sentences"])
        stem = Path(name).stem
        return grounding_samples(
            timeline,
            ids=[f"{stem}/{vid}#{i}" for i in range(len(timeline))],
            video=self.video_path(self.find_video(vid)),
            source=self.name,
            meta={
                "video_id": vid,
                "duration": seconds(rec["duration"], "duration"),
                "annotation_file": name,
            },
        )
