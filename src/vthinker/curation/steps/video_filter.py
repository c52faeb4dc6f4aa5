"""`VideoFilter`: drop corrupt videos and videos with too few frames (no LLM)."""

from __future__ import annotations

import asyncio
from typing import Any

from vthinker.curation.steps.base import (
    Reject,
    SampleLog,
    Step,
    _offset,
)
from vthinker.data.schema import VideoSample
from vthinker.data.video import VideoDecodeError, video_info


class VideoFilter(Step):
    """Drop corrupt videos and videos with too few frames (no LLM).

    Args:
        min_frames: Fewest frames the clip must have (the paper: 64).
    """

    name = "video_filter"

    def __init__(self, min_frames: int = 64) -> None:
        if min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {min_frames}")
        self.min_frames = min_frames

    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        if log.video_path is None:
            raise Reject(self.name, "video_unreadable", "the sample has no video path")
        try:
            info = await asyncio.to_thread(video_info, log.video_path)
        except VideoDecodeError as err:
            raise Reject(self.name, "video_unreadable", err.reason) from None
        start = _offset(sample)
        end = sample.video_end if sample.video_end is not None else info.duration
        frames = round((end - start) * info.fps)
        if frames < self.min_frames:
            raise Reject(
                self.name,
                "too_few_frames",
                f"{frames} frames in the clip, fewer than {self.min_frames}",
            )
        log.duration = end - start
        return sample

    def describe(self) -> dict[str, Any]:
        return {"min_frames": self.min_frames}
