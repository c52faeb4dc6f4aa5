"""YouCook2 (Zhou et al., 2018) in its release format.

Release (http://youcook2.eecs.umich.edu/download): ``youcookii_annotations_trainval.json``::

    {"database": {"GLd3aX16zBg": {"duration": 241.62, "subset": "training",
                                   "recipe_type": "113",
                                   "annotations": [{"segment": [90, 102], "id": 0,
                                                    "sentence": "spread margarine on ..."}, ...],
                                   "video_url": "https://www.youtube.com/watch?v=GLd3aX16zBg"}}}

Segments are whole seconds from the start of the YouTube video. The official downloader
(``scripts/download_youcookii_videos.py``) saves each video as
``raw_videos/<split>/<recipe_type>/<youtube id>.<mp4|mkv|webm>`` with split folders
``training``, ``validation``, ``testing`` (the same words as ``subset``). Expected layout
(``root`` = the ``YouCookII`` folder)::

    annotations/youcookii_annotations_trainval.json
    raw_videos/training/113/GLd3aX16zBg.mp4   (a video elsewhere under raw_videos/ is found too)

Samples are made as for ActivityNet Captions (`vthinker.data.sources.activitynet`): one
temporal grounding sample per annotated segment, the segment's sentence as the question,
its span as the answer and the evidence, all segments of the video in
``meta["timeline"]``. Ids are ``<youtube id>#<segment id>``. Test annotations carry no
sentences and are not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from vthinker.data.schema import SampleError, VideoSample
from vthinker.data.sources.activitynet import caption_timeline, grounding_samples
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import VideoIndex, read_json, seconds

__all__ = ["YouCook2"]

_LAYOUT = "<root>/annotations/youcookii_annotations_trainval.json; videos in <root>/raw_videos"


class YouCook2(SampleSource):
    """YouCook2: one temporal grounding sample per annotated recipe step.

    Args:
        root: The ``YouCookII`` folder (module docstring).
        annotation_file: Annotation file, relative to ``root``.
        subsets: Release subsets to read (``training``, ``validation``); videos of other
            subsets are left out and counted.
        video_root: Video folder (default ``root/raw_videos``).
        split: In-domain part to keep (``all``, ``train``, ``test``), by video id.
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    name = "youcook2"
    split_key = "video_id"

    def __init__(
        self,
        root: str,
        annotation_file: str = "annotations/youcookii_annotations_trainval.json",
        subsets: list[str] | None = None,
        video_root: str | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.annotation_file = annotation_file
        self.subsets = list(subsets) if subsets is not None else ["training", "validation"]
        self.videos = VideoIndex(self.videos_dir("raw_videos"))

    def records(self) -> Iterator[tuple[str, Any]]:
        data = read_json(self.root / self.annotation_file, dict, _LAYOUT)
        if not isinstance(data.get("database"), dict):
            raise ValueError(f"{self.root / self.annotation_file}: no 'database' object")
        for vid, rec in data["database"].items():
            yield f"{self.annotation_file}:{vid}", (vid, rec)

    def find_video(self, vid: str, subset: str, recipe_type: str) -> Path:
        """``raw_videos/<subset>/<recipe_type>/<vid>.<ext>``, else anywhere under the folder."""
        expected_dir = self.videos.folder / subset / recipe_type
        return self.videos.find_or([vid], expected_dir / f"{vid}.mp4", dirs=[expected_dir])

    def convert(self, record: Any) -> list[VideoSample]:
        vid, rec = record
        if not isinstance(rec, dict):
            raise SampleError(
                f"expected an object with subset/recipe_type/annotations, got {rec!r}"
            )
        subset, recipe_type = rec["subset"], rec["recipe_type"]
        if not isinstance(subset, str) or not isinstance(recipe_type, str | int):
            raise SampleError(f"bad subset {subset!r} or recipe_type {recipe_type!r}")
        if subset not in self.subsets:
            return self.leave_out(f"video(s) of subset {subset!r}")
        anns = rec["annotations"]
        if not isinstance(anns, list) or not all(isinstance(a, dict) for a in anns):
            raise SampleError(f"'annotations' must be a list of objects, got {anns!r}")
        timeline = caption_timeline(
            [a["segment"] for a in anns], [a["sentence"] for a in anns], where="segment"
        )
        return grounding_samples(
            timeline,
            ids=[f"{vid}#{a.get('id', i)}" for i, a in enumerate(anns)],
            video=self.video_path(self.find_video(vid, subset, str(recipe_type))),
            source=self.name,
            meta={
                "video_id": vid,
                "duration": seconds(rec["duration"], "duration"),
                "subset": subset,
                "recipe_type": str(recipe_type),
            },
        )
