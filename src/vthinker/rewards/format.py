"""Format reward: does the completion follow the Video-Thinker thinking format?

1.0 when `vthinker.trace.parse_trace` calls the text well formed (at least one
``<time>…</time>\\s*<caption>…</caption>\\s*<think>…</think>`` block, equal counts of the
three tags, exactly one ``<answer>…</answer>``), else 0.0. Exactly the paper's rule.
"""

from __future__ import annotations

from vthinker.data.schema import VideoSample
from vthinker.rewards.base import Reward
from vthinker.trace import parse_trace

__all__ = ["FormatReward"]


class FormatReward(Reward):
    """1.0 for a well-formed Video-Thinker trace, else 0.0."""

    name = "format"

    def score(self, completion: str, sample: VideoSample) -> float:
        return float(parse_trace(completion).well_formed)
