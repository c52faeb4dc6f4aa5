"""Format reward for tag-sequence output formats of the sibling methods.

Each sibling method asks for a fixed sequence of tagged sections:

- Video-R1 / Video-R2: ``<think>…</think> <answer>…</answer>``;
- VideoP2R: ``<observation>…</observation> <think>…</think> <answer>…</answer>``;
- VideoAuto-R1: ``<answer>…</answer> <think>…</think> <answer>…</answer>``.

`matches_tag_sequence` is the rule (Video-R1's format reward is the same kind of full
match): the whole text, apart from whitespace, is exactly the given tags in order, each
section non-empty after stripping, and no tag of the sequence occurs anywhere else (so a
second ``<answer>`` hidden inside ``<think>`` fails). Tag names are case-insensitive.
(Video-Thinker's own format keeps `vthinker.rewards.format.FormatReward`.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vthinker.data.schema import VideoSample
from vthinker.rewards.base import Reward

__all__ = [
    "THINK_ANSWER_SYSTEM",
    "TagSequenceFormatReward",
    "matches_tag_sequence",
    "tag_contents",
]

#: System prompt of the plain ``<think>…</think> <answer>…</answer>`` format (Video-R1, the
#: T-GRPO configs).
THINK_ANSWER_SYSTEM = (
    "You are a video reasoning assistant. Watch the video carefully and think about the "
    "question step by step, as a person would, checking what you see against what is "
    "asked, inside <think></think>. Then give the final answer inside <answer></answer>."
)

_TAG_NAME = re.compile(r"^[A-Za-z][\w-]*$")


def tag_contents(text: str, tag: str) -> list[str]:
    """The stripped contents of every ``<tag>…</tag>`` in ``text``, in order."""
    pattern = rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>"
    return [m.strip() for m in re.findall(pattern, text, re.DOTALL | re.IGNORECASE)]


def matches_tag_sequence(text: str, tags: Sequence[str]) -> bool:
    """Whether ``text`` is exactly the tagged sections ``tags`` in order (see the module
    docstring)."""
    if not isinstance(text, str) or not tags:
        return False
    parts = []
    for tag in tags:
        t = re.escape(tag)
        parts.append(rf"<{t}>((?:(?!</?{t}>).)*?)</{t}>")
    m = re.fullmatch(r"\s*" + r"\s*".join(parts) + r"\s*", text, re.DOTALL | re.IGNORECASE)
    if m is None or any(not g.strip() for g in m.groups()):
        return False
    for tag in set(tags):
        opened = len(re.findall(rf"<{re.escape(tag)}>", text, re.IGNORECASE))
        if opened != list(tags).count(tag):
            return False
    return True


class TagSequenceFormatReward(Reward):
    """1.0 when the completion is exactly the tagged sections ``tags`` in order, else 0.0.

    Args:
        tags: The section tags in order, e.g. ``[think, answer]``.
        weight: Factor in the total reward.
        name: Reward name (default ``"format"``).
    """

    name = "format"

    def __init__(self, tags: list[str], weight: float = 1.0, name: str | None = None) -> None:
        super().__init__(weight=weight, name=name)
        if not tags:
            raise ValueError("TagSequenceFormatReward needs at least one tag")
        bad = [t for t in tags if not _TAG_NAME.match(t)]
        if bad:
            raise ValueError(f"invalid tag name(s) {bad}: write names without brackets")
        self.tags = [t.lower() for t in tags]

    def score(self, completion: str, sample: VideoSample) -> float:
        return float(matches_tag_sequence(completion, self.tags))
