"""VideoP2R: separate perception from reasoning, and reward perception that suffices.

Source: VideoP2R (arXiv 2511.11113; docs/method.md, VideoP2R). The model first describes
what the video shows, then reasons, then answers::

    <observation>what the video shows that matters</observation>
    <think>reasoning over those observations</think>
    <answer>C</answer>

Besides the format and the answer, PA-GRPO adds a *perception reward*: a language model
gets only the question and the perception text (no video, no reasoning) and must reach
the answer (a summary of the paper: "问题+感知描述+答案 -(LLM)-> 感知奖励").

`PerceptionReward`: 1.0 when the judge, given the question (and its options) and the
content of the first ``<observation>`` section, answers the gold answer
(`vthinker.extract.is_correct`); 0.0 when it answers something else or says
the text is not enough, and 0.0 without asking when the completion has no non-empty
perception section. A failed judgement gives None (not applicable, counted by the judge).

Departure, stated: PA-GRPO computes separate advantages for the perception tokens and the
reasoning tokens; here the perception reward is added to the total like every other
reward (the GRPO module is shared by all methods), so the credit is not split by segment.

`VIDEOP2R_SYSTEM` is the system prompt of the VideoP2R configs (``data.init_args.prompt``;
the config tests check that the YAML matches it).
"""

from __future__ import annotations

from vthinker.data.schema import VideoSample
from vthinker.extract import is_correct
from vthinker.rewards.judge import Judge, JudgedReward, JudgeQuery
from vthinker.rewards.tags import tag_contents

__all__ = ["VIDEOP2R_SYSTEM", "PerceptionReward"]

VIDEOP2R_SYSTEM = (
    "You are a video reasoning assistant. First describe what the video shows that matters "
    "for the question inside <observation></observation>: the objects, actions, order of "
    "events and any text or numbers. Then reason over those observations inside "
    "<think></think>. Finally give the answer inside <answer></answer>."
)


class PerceptionReward(JudgedReward):
    """Does the perception section alone let a judge reach the gold answer?

    Args:
        judge: The judge (`vthinker.rewards.judge`).
        tag: The perception section's tag (VideoP2R: ``observation``).
        weight: Factor in the total reward.
        name: Reward name (default ``"perception"``).
    """

    name = "perception"

    def __init__(
        self,
        judge: Judge,
        tag: str = "observation",
        weight: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(judge=judge, weight=weight, name=name)
        self.tag = tag

    def query(self, completion: str, sample: VideoSample) -> JudgeQuery | float:
        sections = [s for s in tag_contents(completion, self.tag) if s]
        if not sections:
            return 0.0
        return JudgeQuery.for_sample(sample, sections[0], task="answer")

    def value(self, verdict: str, completion: str, sample: VideoSample) -> float:
        return float(is_correct(verdict or None, sample.answer, sample.problem_type))
