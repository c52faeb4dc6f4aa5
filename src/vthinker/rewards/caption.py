"""Caption reward: are the trace's ``<caption>``s faithful to what happens in their window?

Definition (in the spirit of ReWatch-R1's observation reward and Video-R2's text-similarity
term, with the sample's timed evidence captions as the reference):

1. The captioned segments are the trace segments with a ``<caption>``
   (`vthinker.trace.parse_trace`). The reference captions are the sample's evidence
   windows with a non-empty caption. No such evidence → None (not applicable); no captioned
   segment → 0.0.
2. A segment whose ``<time>`` is missing or unparseable scores 0.
3. Otherwise the evidence windows it overlaps are those sharing a positive length of time
   with it (``min(ends) - max(starts) > 0``; touching windows and zero-length spans overlap
   nothing). The segment scores the overlap-weighted mean similarity of its caption to
   their captions, ``sum_e overlap_e * sim(caption, caption_e) / sum_e overlap_e`` (overlap
   in seconds), or 0 when it overlaps none.
4. The reward is the mean over captioned segments.

``sim`` is ROUGE-L F (`vthinker.metrics.text.rouge_l`, beta 1.2, the caption metric of the
paper) or token F1 (`vthinker.metrics.text.token_f1`), both on COCO-tokenised text. Times
are compared in clip time as in `vthinker.rewards.temporal` (``clip_relative``).
"""

from __future__ import annotations

from typing import Literal

from vthinker.data.schema import VideoSample
from vthinker.metrics.text import rouge_l, token_f1
from vthinker.rewards.base import Reward
from vthinker.trace import parse_trace

__all__ = ["CaptionReward"]

_SIMILARITY = {"rouge_l": rouge_l, "token_f1": token_f1}


class CaptionReward(Reward):
    """Overlap-weighted similarity of trace captions to evidence captions.

    Args:
        weight: Factor in the total reward.
        name: Reward name (default ``"caption"``; ``"observation"`` for
            `vthinker.rewards.rewatch.ObservationReward`).
        similarity: ``"rouge_l"`` or ``"token_f1"``.
        clip_relative: Compare times from the clip start (see `vthinker.rewards.temporal`).
    """

    name = "caption"

    def __init__(
        self,
        weight: float = 1.0,
        name: str | None = None,
        similarity: Literal["rouge_l", "token_f1"] = "rouge_l",
        clip_relative: bool = True,
    ) -> None:
        super().__init__(weight=weight, name=name)
        if similarity not in _SIMILARITY:
            raise ValueError(f"similarity must be one of {sorted(_SIMILARITY)}, got {similarity!r}")
        self.similarity = similarity
        self.clip_relative = clip_relative

    def score(self, completion: str, sample: VideoSample) -> float | None:
        offset = (sample.video_start or 0.0) if self.clip_relative else 0.0
        refs = [
            (e.start - offset, e.end - offset, e.caption)
            for e in sample.evidence
            if e.caption.strip()
        ]
        if not refs:
            return None
        segments = [s for s in parse_trace(completion).segments if s.caption is not None]
        if not segments:
            return 0.0
        sim = _SIMILARITY[self.similarity]
        total = 0.0
        for seg in segments:
            span = seg.span
            if span is None:
                continue
            weighted = weights = 0.0
            for start, end, caption in refs:
                overlap = min(span[1], end) - max(span[0], start)
                if overlap > 0:
                    weighted += overlap * sim(seg.caption, caption)  # type: ignore[arg-type]
                    weights += overlap
            if weights > 0:
                total += weighted / weights
        return total / len(segments)
