"""VideoAuto-R1: think once, answer twice.

Source: VideoAuto-R1 (arXiv 2601.05175; docs/method.md, VideoAuto-R1). Not every video
question needs a chain of thought, so the model answers first, then reasons, then answers
again::

    <answer>B</answer> <think>…</think> <answer>C</answer>

When it cannot answer directly it writes the fallback phrase as its first answer
("Let's analyze the problem step by step.") instead of guessing. Training always runs the
whole answer → think → answer sequence; at inference the model stops after the first
answer when it is confident (`vthinker.evaluation.early_exit`).

Rewards (the paper's total is ``w1 R(a1) + w2 R(a2) + lambda R_fmt + alpha R_fallback``
with ``w1 = 0.9, w2 = 1.1, lambda = 1, alpha = 0.3``; the weights live in the config):

- `FirstAnswerReward` / `SecondAnswerReward`: the task reward of the first / second
  answer: `vthinker.rewards.accuracy.AccuracyReward` applied to ``<answer>a</answer>``
  (0/1 for multiple choice, IoU for temporal grounding, …). A missing answer, or the
  fallback phrase, scores 0.
- `FallbackReward`: when the first answer is the fallback phrase, the task reward of the
  second answer (1 if it is right for multiple choice); else 0.
- The format reward is `vthinker.rewards.tags.TagSequenceFormatReward` with
  ``tags: [answer, think, answer]``.

`parse_auto_r1` reads the three sections. The first answer is the first ``<answer>`` that
opens before the first ``<think>``; the reasoning is the first ``<think>`` section; the
second answer is the last ``<answer>`` that opens after the end of that reasoning.
Departure, stated: the paper writes the answers as ``\\boxed{…}``; here they are
``<answer>`` tags, the answer format of every other method in this project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vthinker.data.schema import VideoSample
from vthinker.rewards.accuracy import AccuracyReward
from vthinker.rewards.base import Reward
from vthinker.rewards.tags import matches_tag_sequence
from vthinker.trace import ANSWER_RE

__all__ = [
    "AUTO_R1_SYSTEM",
    "AUTO_R1_TAGS",
    "FALLBACK_PHRASE",
    "AutoR1Output",
    "FallbackReward",
    "FirstAnswerReward",
    "SecondAnswerReward",
    "is_fallback",
    "parse_auto_r1",
]

FALLBACK_PHRASE = "Let's analyze the problem step by step."
AUTO_R1_TAGS = ("answer", "think", "answer")

AUTO_R1_SYSTEM = (
    "You are a video understanding assistant. First give your direct answer inside "
    "<answer></answer>. If you cannot answer directly with confidence, write "
    "<answer>Let's analyze the problem step by step.</answer> instead of guessing. Then "
    "reason step by step inside <think></think>, and give your final answer inside "
    "<answer></answer>."
)

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")


@dataclass
class AutoR1Output:
    """The sections of an answer → think → answer completion.

    Attributes:
        first: Stripped first answer (before the reasoning), or None.
        reasoning: Stripped content of the first ``<think>``, or None.
        second: Stripped answer after the reasoning, or None.
        well_formed: Exactly ``<answer> <think> <answer>`` and nothing else
            (`vthinker.rewards.tags.matches_tag_sequence`).
    """

    first: str | None
    reasoning: str | None
    second: str | None
    well_formed: bool


def parse_auto_r1(text: str) -> AutoR1Output:
    """Split a completion into first answer, reasoning and second answer. Never raises."""
    if not isinstance(text, str):
        return AutoR1Output(None, None, None, False)
    think = _THINK.search(text)
    answers = list(ANSWER_RE.finditer(text))
    think_start = think.start() if think else len(text)
    firsts = [m for m in answers if m.start() < think_start]
    seconds = [m for m in answers if think is not None and m.start() >= think.end()]
    return AutoR1Output(
        first=firsts[0].group(1).strip() if firsts else None,
        reasoning=think.group(1).strip() if think else None,
        second=seconds[-1].group(1).strip() if seconds else None,
        well_formed=matches_tag_sequence(text, AUTO_R1_TAGS),
    )


def _normalize_phrase(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def is_fallback(answer: str | None, phrase: str = FALLBACK_PHRASE) -> bool:
    """Whether ``answer`` is the fallback phrase (case, punctuation, curly quotes and
    whitespace ignored)."""
    if answer is None:
        return False
    return _normalize_phrase(answer) == _normalize_phrase(phrase)


class _AnswerSlotReward(Reward):
    """Task reward of one answer slot of an answer → think → answer completion."""

    slot: Literal["first", "second"] = "first"

    def __init__(
        self,
        weight: float = 1.0,
        name: str | None = None,
        fallback_phrase: str = FALLBACK_PHRASE,
        abs_tol: float = 1e-6,
        rel_tol: float = 0.0,
    ) -> None:
        super().__init__(weight=weight, name=name)
        if not _normalize_phrase(fallback_phrase):
            raise ValueError("fallback_phrase must contain a word")
        self.fallback_phrase = fallback_phrase
        self.task = AccuracyReward(abs_tol=abs_tol, rel_tol=rel_tol)

    def task_reward(self, answer: str | None, sample: VideoSample) -> float:
        """The task reward of one answer (0 when it is missing or the fallback phrase)."""
        if not answer or is_fallback(answer, self.fallback_phrase):
            return 0.0
        return self.task.score(f"<answer>{answer}</answer>", sample)

    def score(self, completion: str, sample: VideoSample) -> float:
        parsed = parse_auto_r1(completion)
        return self.task_reward(getattr(parsed, self.slot), sample)


class FirstAnswerReward(_AnswerSlotReward):
    """Task reward of the first (direct) answer.

    Args:
        weight: Factor in the total reward (the paper: 0.9).
        name: Reward name (default ``"answer1"``).
        fallback_phrase: The deferral phrase, which scores 0.
        abs_tol: Absolute tolerance for numerical answers.
        rel_tol: Relative tolerance for numerical answers.
    """

    name = "answer1"
    slot = "first"


class SecondAnswerReward(_AnswerSlotReward):
    """Task reward of the second (reviewed) answer; arguments as `FirstAnswerReward`
    (the paper's weight: 1.1; default name ``"answer2"``)."""

    name = "answer2"
    slot = "second"


class FallbackReward(_AnswerSlotReward):
    """The second answer's task reward when the first answer defers with the fallback
    phrase, else 0; arguments as `FirstAnswerReward` (the paper's weight: 0.3; default
    name ``"fallback"``)."""

    name = "fallback"
    slot = "second"

    def score(self, completion: str, sample: VideoSample) -> float:
        parsed = parse_auto_r1(completion)
        if not is_fallback(parsed.first, self.fallback_phrase):
            return 0.0
        return self.task_reward(parsed.second, sample)
