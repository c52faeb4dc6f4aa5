"""Temporal grounding reward: do the trace's ``<time>`` spans find the evidence?

Definition: parse every ``<time>`` span of the completion (`vthinker.trace.parse_trace`;
unparseable or inverted spans are ignored); for each evidence span of the sample take the
best IoU over those predicted spans (`vthinker.metrics.temporal.max_iou_per_gt`, IoU edge
cases as documented there), and average over the evidence spans. This is Video-Thinker's
grounding metric (mIoU over ground-truth spans) used as a dense reward, as in Video-R2's
temporal-alignment reward (without its threshold).

- None when the sample has no evidence span (the reward does not apply);
- 0.0 when the completion has no parseable span.

Times: evidence spans are stored in seconds from the start of the video file, while the
model sees the clip ``[video_start, video_end]`` and writes times from the clip start. With
``clip_relative=True`` (default) the evidence is shifted by ``-video_start`` before
comparing; samples without ``video_start`` are unaffected.
"""

from __future__ import annotations

from vthinker.data.schema import VideoSample
from vthinker.metrics.temporal import max_iou_per_gt
from vthinker.rewards.base import Reward
from vthinker.trace import parse_trace

__all__ = ["TemporalIoUReward", "evidence_spans"]


def evidence_spans(sample: VideoSample, clip_relative: bool = True) -> list[tuple[float, float]]:
    """The sample's evidence spans in seconds, from the clip start when ``clip_relative``."""
    offset = (sample.video_start or 0.0) if clip_relative else 0.0
    return [(e.start - offset, e.end - offset) for e in sample.evidence]


class TemporalIoUReward(Reward):
    """Mean over evidence spans of the best IoU with the trace's ``<time>`` spans.

    Args:
        weight: Factor in the total reward.
        name: Reward name (default ``"temporal_iou"``).
        clip_relative: Compare in clip time (see the module docstring).
    """

    name = "temporal_iou"

    def __init__(
        self, weight: float = 1.0, name: str | None = None, clip_relative: bool = True
    ) -> None:
        super().__init__(weight=weight, name=name)
        self.clip_relative = clip_relative

    def score(self, completion: str, sample: VideoSample) -> float | None:
        gold = evidence_spans(sample, self.clip_relative)
        if not gold:
            return None
        ious = max_iou_per_gt(parse_trace(completion).spans, gold)
        return sum(ious) / len(ious)
