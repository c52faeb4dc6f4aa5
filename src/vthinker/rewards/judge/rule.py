"""`RuleJudge`: deterministic, offline answers from cue phrases and option words."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vthinker.data.schema import LETTERS
from vthinker.metrics.text import tokenize
from vthinker.rewards.judge.base import (
    Judge,
    JudgeQuery,
)

_CUE = re.compile(
    r"\b(?i:answer|option|choice)(?:\s+(?i:is|would be|should be|must be))?\s*[:=]?\s*"
    r"(?:(?i:option|choice)\s+)?(?:([A-Z])|[\(\[]([A-Za-z])[\)\]]|[\(\[]([A-Z]))(?![A-Za-z0-9'])"
)
# "A man ..." / "I think ...": an article or pronoun, not an option letter.
_WORD_AFTER = re.compile(r"\s+[a-z]")
_STOPWORDS = frozenset(
    "a an the of in on at to and or is are was were be it its this that with from by for "
    "as into onto then there".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in tokenize(text) if w not in _STOPWORDS}


class RuleJudge(Judge):
    """A deterministic, offline judge for multiple-choice questions.

    - ``task="implied"``: the last explicit answer cue in the context ("the answer is C",
      "option (B)", "choice (d)"), else the option whose text the context mentions last
      (whole words, case-insensitive), else none.
    - ``task="answer"``: the option with the largest share of its content words (COCO
      tokens minus a few stop words) present in the context; a tie for the best share, or
      a best share of 0, gives none. An explicit answer cue in the context is ignored: the
      context must describe the video, not name the answer.

    Other problem types get ``<answer>none</answer>`` (judged as no answer). This is a
    lexical stand-in for an LLM judge, good for offline demos and exact tests, not a
    substitute for one in real training.
    """

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        return [f"<answer>{self.decide(q) or 'none'}</answer>" for q in queries]

    @staticmethod
    def decide(query: JudgeQuery) -> str | None:
        """The option letter this judge picks for ``query``, or None."""
        if query.problem_type != "multiple choice" or not query.options:
            return None
        letters = LETTERS[: len(query.options)]
        if query.task == "implied":
            cues = []
            for m in _CUE.finditer(query.context):
                letter = (m.group(1) or m.group(2) or m.group(3)).upper()
                bare = m.group(1) is not None
                if letter not in letters:
                    continue
                if bare and letter in "AI" and _WORD_AFTER.match(query.context, m.end(1)):
                    continue  # "the answer is A man …": an article
                cues.append(letter)
            if cues:
                return cues[-1]
            return _last_mentioned(query.context, query.options)
        words = _content_words(query.context)
        shares = []
        for option in query.options:
            opt = _content_words(option)
            shares.append(len(opt & words) / len(opt) if opt else 0.0)
        best = max(shares)
        if best == 0.0 or shares.count(best) > 1:
            return None
        return letters[shares.index(best)]


def _last_mentioned(context: str, options: Sequence[str]) -> str | None:
    """The letter of the option whose text ends last in ``context`` (the longer text on a
    tie), comparing COCO tokens as whole words; None when no option is mentioned."""
    text = " ".join(tokenize(context))
    best: tuple[int, int, str] | None = None  # (end of the last mention, length, letter)
    for i, option in enumerate(options):
        opt = " ".join(tokenize(option))
        if not opt:
            continue
        ends = [m.end() for m in re.finditer(rf"(?<!\S){re.escape(opt)}(?!\S)", text)]
        if ends and (best is None or (ends[-1], len(opt)) > best[:2]):
            best = (ends[-1], len(opt), LETTERS[i])
    return best[2] if best else None


# --- local Hugging Face model -----------------------------------------------------------------
