"""ReWatch-R1's process reward: faithful observations that lead to the answer.

Source: ReWatch-R1 (Alibaba; docs/method.md, ReWatch-R1). ReWatch-R1 trains with SFT then
RL, and its RL reward values the reasoning process, not only the final answer: the *process
reward* is an *observation reward* (are the observations in the reasoning faithful to the
video's timed captions?) plus a *reasoning reward* (do the reasoning actions, given the
observations, derive the answer?), added to the outcome (accuracy) and format rewards.
In the Video-Thinker trace format the observations are the ``<caption>`` of each
``<time>`` window:

- `ObservationReward`: each ``<caption>`` is compared with the sample's reference
  captions (``sample.evidence``) that overlap its ``<time>`` window, by text similarity
  (ROUGE-L F, or token F1) weighted by the overlap in seconds; the reward is the mean over
  captioned segments. The rule is `vthinker.rewards.caption.CaptionReward`'s, documented
  there (None without reference captions, 0 without captions, a segment without a
  parseable window or overlapping reference scores 0).
- `ReasoningReward`: a judge (`vthinker.rewards.judge`) gets the question and *only* the
  observations, written one per line as ``MM:SS-MM:SS: caption`` (the window is omitted
  when it cannot be parsed), and must reach the gold answer: 1.0 if it does, else 0.0;
  0.0 without asking when the completion has no non-empty caption; None when the
  judgement fails. This is Video-Thinker's hindsight check (docs/method.md, Curation
  pipeline) used as a reward.

Departure, stated: ReWatch-R1's traces interleave "rewatch" actions with observations;
here the observation windows are Video-Thinker's ``<time>`` tags. The weights of the two
process terms are a config choice (``configs/grpo/rewatch_r1.yaml``: 0.5 each, so the
process reward lies in [0, 1] like the outcome reward).
"""

from __future__ import annotations

from vthinker.data.schema import VideoSample
from vthinker.extract import is_correct
from vthinker.rewards.caption import CaptionReward
from vthinker.rewards.judge import Judge, JudgedReward, JudgeQuery
from vthinker.trace import parse_trace, render_span

__all__ = ["ObservationReward", "ReasoningReward", "observation_text"]


class ObservationReward(CaptionReward):
    """Overlap-weighted similarity of the trace's observations to the reference captions.

    `CaptionReward` under the name ``"observation"``, with its arguments (``weight``,
    ``name``, ``similarity``, ``clip_relative``).
    """

    name = "observation"


def observation_text(completion: str) -> str:
    """The observations of a trace, one per line: ``MM:SS-MM:SS: caption`` (or just the
    caption when its window is missing or unparseable); "" when there is none."""
    lines = []
    for seg in parse_trace(completion).segments:
        if not seg.caption:
            continue
        span = seg.span
        lines.append(f"{render_span(*span)}: {seg.caption}" if span else seg.caption)
    return "\n".join(lines)


class ReasoningReward(JudgedReward):
    """Do the observations alone lead a judge to the gold answer?

    Args:
        judge: The judge.
        weight: Factor in the total reward.
        name: Reward name (default ``"reasoning"``).
    """

    name = "reasoning"

    def __init__(self, judge: Judge, weight: float = 1.0, name: str | None = None) -> None:
        super().__init__(judge=judge, weight=weight, name=name)

    def query(self, completion: str, sample: VideoSample) -> JudgeQuery | float:
        observations = observation_text(completion)
        if not observations:
            return 0.0
        return JudgeQuery.for_sample(sample, observations, task="answer")

    def value(self, verdict: str, completion: str, sample: VideoSample) -> float:
        return float(is_correct(verdict or None, sample.answer, sample.problem_type))
