"""Outcome reward: is the final answer right?

Video-Thinker's accuracy reward is 0/1 on the final option letter. Other question types of
the Video-R1-style data get the rewards of the Video-R1 lineage, except where noted:

- ``"multiple choice"``: 1 if `vthinker.extract.extract_answer` (last
  ``<answer>`` → option letter, option text, …) gives the gold letter, else 0.
- ``"numerical"``: 1 if the first number of the answer is within tolerance of the gold,
  ``|pred - gold| <= max(abs_tol, rel_tol * |gold|)``, else 0. Video-R1 compares the values
  rounded to 2 decimals; ``abs_tol=0.005`` comes close to that.
- ``"regression"``: ``1 - min(1, |pred - gold| / |gold|)`` (Video-R1's graded reward;
  ``|gold|`` is floored at 1e-9).
- ``"OCR"``: ``1 - WER`` clipped to [0, 1] (word error rate on whitespace tokens, Video-R1).
- ``"free-form"`` and any other text type: ROUGE-L F of the answer against the gold
  (`vthinker.metrics.text.rouge_l`, COCO tokenisation, beta 1.2); Video-R1 averages
  ROUGE-1/2/L F1 instead.
- ``"temporal grounding"``: IoU of the answer span (``MM:SS-MM:SS`` or any format
  `vthinker.trace.parse_time_span` reads) with the gold span.

An answer that cannot be read (no letter, no number, no span) scores 0. A gold answer that
cannot be read is a data error and raises (named by `Reward.__call__` with the sample id).

The rules above read answers the way evaluation does, leniently: with gold B, an option
named inside ``<think>`` with no answer tag, a cut-off ``<answer>B`` and
``<answer>A or B</answer>`` all score 1, and a policy trained on such a reward learns to
hedge. ``strict=True`` (every GRPO recipe sets it) scores the content of the last closed
``<answer>…</answer>`` only (as `vthinker.trace.parse_trace` reads it); a completion
without one scores 0, and:

- ``"multiple choice"``: the content, stripped, must be exactly one upper-case option
  letter, optionally in parentheses and optionally followed by one period (``B``, ``(B)``,
  ``B.``), equal to the gold letter.
- ``"numerical"``: Video-R1's rule (``accuracy_reward`` in Video-R1's
  ``src/r1-v/src/open_r1/grpo.py``): the content must be one number
  (`vthinker.extract.normalize_number`: thousands commas allowed, nothing else
  around it); it scores 1 when both or neither of it and the gold contain a decimal mark
  (``.`` or ``,``) and both round to the same value at 2 decimals. ``abs_tol`` and
  ``rel_tol`` are not used.
- every other type: scored as above, on the closed answer's content.
"""

from __future__ import annotations

import re

from vthinker.data.schema import VideoSample
from vthinker.extract import (
    answer_span,
    extract_answer,
    extract_time_span,
    gold_number,
    normalize_choice,
    normalize_number,
)
from vthinker.metrics.temporal import iou
from vthinker.metrics.text import rouge_l
from vthinker.rewards.base import Reward
from vthinker.trace import parse_trace

__all__ = ["AccuracyReward", "strict_choice", "strict_number_match", "word_error_rate"]

_STRICT_CHOICE = re.compile(r"(?:\(([A-Z])\)|([A-Z]))\.?")


def strict_choice(content: str) -> str | None:
    """The option letter when ``content`` (stripped) is exactly ``X``, ``(X)``, ``X.`` or
    ``(X).`` with ``X`` an upper-case letter, else None."""
    m = _STRICT_CHOICE.fullmatch(content.strip())
    return (m.group(1) or m.group(2)) if m else None


def strict_number_match(content: str, gold: str) -> bool:
    """Video-R1's numerical check (module docstring): ``content`` is one number, it and
    ``gold`` agree on having a decimal mark, and they are equal rounded to 2 decimals.

    Raises:
        ValueError: if ``gold`` holds no number.
    """
    gold_num = gold_number(gold)
    pred_num = normalize_number(content)
    if pred_num is None:
        return False
    if _has_decimal_mark(content) != _has_decimal_mark(gold):
        return False
    return round(float(pred_num), 2) == round(float(gold_num), 2)


def _has_decimal_mark(text: str) -> bool:
    return "." in text or "," in text


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference length (whitespace tokens).

    Returns:
        ``edits / max(1, len(reference words))`` (may exceed 1).
    """
    ref, hyp = reference.split(), hypothesis.split()
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(1, len(ref))


class AccuracyReward(Reward):
    """Answer correctness per problem type (see the module docstring).

    Args:
        weight: Factor in the total reward.
        name: Reward name (default ``"accuracy"``).
        abs_tol: Absolute tolerance for lenient ``"numerical"`` answers.
        rel_tol: Relative tolerance (of ``|gold|``) for lenient ``"numerical"`` answers.
        strict: Score only the last closed ``<answer>…</answer>``, with exact option letters
            and Video-R1's numerical rule (module docstring). Off: evaluation's lenient
            extraction, which GRPO should not train on.
    """

    name = "accuracy"

    def __init__(
        self,
        weight: float = 1.0,
        name: str | None = None,
        abs_tol: float = 1e-6,
        rel_tol: float = 0.0,
        strict: bool = False,
    ) -> None:
        super().__init__(weight=weight, name=name)
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError(f"tolerances must be >= 0, got abs_tol={abs_tol}, rel_tol={rel_tol}")
        self.abs_tol = abs_tol
        self.rel_tol = rel_tol
        self.strict = strict

    def score(self, completion: str, sample: VideoSample) -> float:
        pt = sample.problem_type
        if self.strict:
            content = parse_trace(completion).answer
            if pt == "multiple choice":
                gold = _gold_choice(sample.answer)
                return float(content is not None and strict_choice(content) == gold)
            if pt == "numerical":  # a missing answer reads as "", never a number
                return float(strict_number_match(content or "", sample.answer))
            if content is None:
                return 0.0
            # The other types are scored on the closed answer's content alone.
            completion = f"<answer>{content}</answer>"
        if pt == "multiple choice":
            gold = _gold_choice(sample.answer)
            pred = extract_answer(completion, sample.options or None, pt)
            return float(pred == gold)
        if pt in ("numerical", "regression"):
            gold_num = gold_number(sample.answer)
            pred_num = extract_answer(completion, None, pt)
            if pred_num is None:
                return 0.0
            p, g = float(pred_num), float(gold_num)
            if pt == "regression":
                return 1.0 - min(1.0, abs(p - g) / max(abs(g), 1e-9))
            return float(abs(p - g) <= max(self.abs_tol, self.rel_tol * abs(g)))
        if pt == "temporal grounding":
            gold_span = extract_time_span(sample.answer)
            if gold_span is None:
                raise ValueError(f"gold answer {sample.answer!r} is not a time span")
            pred_span = extract_time_span(answer_span(completion))
            return 0.0 if pred_span is None else iou(pred_span, gold_span)
        text = answer_span(completion)
        if not text:
            return 0.0
        if pt == "OCR":
            return max(0.0, min(1.0, 1.0 - word_error_rate(sample.answer, text)))
        return rouge_l(text, [sample.answer])


def _gold_choice(answer: str) -> str:
    gold = normalize_choice(answer)
    if gold is None:
        raise ValueError(f"gold answer {answer!r} is not an option letter")
    return gold
