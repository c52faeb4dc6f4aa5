"""Video-R2: timestamps inside the reasoning, rewarded for alignment, gated by consistency.

Source: Video-R2 (arXiv 2511.23478; docs/method.md, Video-R2). The model reasons with
explicit times ("At 00:12-00:18 the man opens the box …") inside ``<think>``, then answers
inside ``<answer>``. GRPO adds a *temporal alignment reward* (the paper's TAR): the cited
times and the events described there are compared with the ground truth (does the time
deviate beyond a threshold? how similar is the event description?), and a *consistency
gate*: the reward is paid only when the answer the reasoning implies equals the final
answer.

`cited_events` (the rule that replaces the paper's GPT-4o-mini extractor) reads the
reasoning (`reasoning_text`: the completion without its ``<answer>`` sections, so the
``<think>`` content, and in Video-Thinker traces the ``<time>``/``<caption>`` blocks too),
with a line break before each ``<time>`` (its content kept) and after each closing tag,
split into sentences at ``. ! ? ;`` and line breaks. In each sentence every time range
(``00:12-00:18``, ``1:02:03 to 1:02:10``, ``12.5s-20s``, ``12.5 - 20 seconds``) and every
remaining time point (``00:12``, ``12.5s``; plain numbers without a unit are not times) is
a cited time; its event description is the sentence with the time expressions removed.

`TemporalAlignmentReward` scores each cited event against the evidence windows of the
sample (``sample.evidence``, in clip time with ``clip_relative``):

- a range is *aligned* with a window when their IoU is at least ``iou_threshold``;
  a point is aligned when it lies in the window widened by ``point_tolerance_s`` each side;
- the event scores the best, over aligned windows, of the text similarity between its
  description and the window's caption (ROUGE-L F or token F1; 1.0 for a window without
  caption), or 0 when no window is aligned;
- the reward is the mean over cited events; 0.0 when nothing is cited; None when the
  sample has no evidence window.

`ConsistencyGate` wraps rewards: its value is their weighted sum (None parts count 0;
None when all are None) when the judge's reading of the reasoning
(`vthinker.rewards.judge.JudgeQuery` with ``task="implied"``) gives the same answer as
the final ``<answer>`` (`vthinker.extract.is_correct` with the final answer as
reference), else 0.0. No reasoning, or no final answer, is inconsistent (0.0); a failed
judgement gives None. With `vthinker.rewards.judge.RuleJudge` the implied answer is the
last explicit answer cue in the reasoning ("so the answer is B"), or the option mentioned
last; the paper uses an LLM (Qwen3-Next-80B-A3B) for this.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from vthinker.data.schema import VideoSample
from vthinker.extract import extract_answer, is_correct
from vthinker.metrics.temporal import iou
from vthinker.metrics.text import rouge_l, token_f1
from vthinker.rewards.base import Reward, combine
from vthinker.rewards.judge import Judge, JudgeQuery
from vthinker.trace import ANSWER_RE, parse_time_span, parse_timestamp

__all__ = [
    "VIDEO_R2_SYSTEM",
    "CitedEvent",
    "ConsistencyGate",
    "TemporalAlignmentReward",
    "aligned",
    "cited_events",
    "reasoning_text",
]

VIDEO_R2_SYSTEM = (
    "You are a video reasoning assistant. Reason step by step inside <think></think> and "
    "ground every observation in time: write the moment or window you rely on as MM:SS or "
    "MM:SS-MM:SS and describe what happens there. Then give the final answer inside "
    "<answer></answer>."
)

_SIMILARITY = {"rouge_l": rouge_l, "token_f1": token_f1}
_UNIT = r"(?:s|sec|secs|second|seconds)\b"
_CLOCK = r"(?:\d{1,2}:)?\d{1,3}:\d{2}(?:\.\d+)?"
_NUM = r"\d+(?:\.\d+)?"
_SEP = r"\s*(?:-|–|—|~|\bto\b|\band\b)\s*"
_RANGE = re.compile(
    rf"(?<![\w:.])(?:(?P<c1>{_CLOCK}){_SEP}(?P<c2>{_CLOCK})"
    rf"|(?P<n1>{_NUM})\s*(?:{_UNIT})?{_SEP}(?P<n2>{_NUM})\s*{_UNIT})",
    re.IGNORECASE,
)
_POINT = re.compile(rf"(?<![\w:.])(?:(?P<c>{_CLOCK})|(?P<n>{_NUM})\s*{_UNIT})", re.IGNORECASE)
_TIME_TAG = re.compile(r"<time>(.*?)</time>", re.DOTALL | re.IGNORECASE)
_OPEN_TAG = re.compile(r"<[A-Za-z][\w-]*>")
_CLOSE_TAG = re.compile(r"</[A-Za-z][\w-]*>")
_THINK_TAG = re.compile(r"</?think>", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass(frozen=True)
class CitedEvent:
    """A time cited in the reasoning and what the reasoning says happens there.

    Attributes:
        start: Seconds.
        end: Seconds (``== start`` for a time point).
        description: The sentence without its time expressions.
    """

    start: float
    end: float
    description: str

    @property
    def is_point(self) -> bool:
        """A time point (zero length) rather than a range."""
        return self.end == self.start


def reasoning_text(completion: str) -> str:
    """The reasoning of a completion: the text without its ``<answer>`` sections and without
    the ``<think>`` tags themselves (their content is kept, as are other tags), stripped."""
    text = ANSWER_RE.sub("\n", completion)
    return _THINK_TAG.sub("\n", text).strip()


def _parse_range(m: re.Match[str]) -> tuple[float, float] | None:
    if m.group("c1"):
        text = f"{m.group('c1')}-{m.group('c2')}"
    else:
        text = f"{m.group('n1')}-{m.group('n2')}"
    try:
        return parse_time_span(text)
    except ValueError:
        return None


def cited_events(completion: str) -> list[CitedEvent]:
    """Every time cited in the reasoning with its event description (module docstring)."""
    text = _TIME_TAG.sub(lambda m: f"\n{m.group(1)} ", reasoning_text(completion))
    text = _OPEN_TAG.sub(" ", _CLOSE_TAG.sub("\n", text))
    events = []
    for sentence in _SENTENCE.split(text):
        found: list[tuple[int, int, float, float]] = []
        for m in _RANGE.finditer(sentence):
            span = _parse_range(m)
            if span is not None:
                found.append((m.start(), m.end(), span[0], span[1]))
        for m in _POINT.finditer(sentence):
            if any(s <= m.start() < e for s, e, _, _ in found):
                continue
            try:
                t = parse_timestamp(m.group("c") or m.group("n"))
            except ValueError:
                continue
            found.append((m.start(), m.end(), t, t))
        if not found:
            continue
        found.sort()
        description, last = [], 0
        for s, e, _, _ in found:
            description.append(sentence[last:s])
            last = e
        description.append(sentence[last:])
        desc = " ".join(" ".join(description).split())
        events.extend(CitedEvent(start, end, desc) for _, _, start, end in found)
    return events


def aligned(
    event: CitedEvent, window: tuple[float, float], iou_threshold: float, tol: float
) -> bool:
    """Whether a cited time matches an evidence window (see the module docstring)."""
    if event.is_point:
        return window[0] - tol <= event.start <= window[1] + tol
    return iou((event.start, event.end), window) >= iou_threshold


class TemporalAlignmentReward(Reward):
    """Video-R2's temporal alignment reward (see the module docstring).

    Args:
        iou_threshold: IoU a cited range needs with an evidence window to be aligned.
        point_tolerance_s: Slack in seconds around a window for a cited time point.
        similarity: ``"rouge_l"`` or ``"token_f1"`` between description and caption.
        clip_relative: Compare times from the clip start (see `vthinker.rewards.temporal`).
        weight: Factor in the total reward.
        name: Reward name (default ``"temporal_alignment"``).
    """

    name = "temporal_alignment"

    def __init__(
        self,
        iou_threshold: float = 0.5,
        point_tolerance_s: float = 1.0,
        similarity: Literal["rouge_l", "token_f1"] = "rouge_l",
        clip_relative: bool = True,
        weight: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(weight=weight, name=name)
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if not (point_tolerance_s >= 0 and math.isfinite(point_tolerance_s)):
            raise ValueError(f"point_tolerance_s must be >= 0, got {point_tolerance_s}")
        if similarity not in _SIMILARITY:
            raise ValueError(f"similarity must be one of {sorted(_SIMILARITY)}, got {similarity!r}")
        self.iou_threshold = iou_threshold
        self.point_tolerance_s = point_tolerance_s
        self.similarity = similarity
        self.clip_relative = clip_relative

    def event_score(self, event: CitedEvent, windows: list[tuple[float, float, str]]) -> float:
        """Best similarity over the windows the event is aligned with (0 if none)."""
        sim = _SIMILARITY[self.similarity]
        best = 0.0
        for start, end, caption in windows:
            if aligned(event, (start, end), self.iou_threshold, self.point_tolerance_s):
                best = max(best, sim(event.description, caption) if caption.strip() else 1.0)
        return best

    def score(self, completion: str, sample: VideoSample) -> float | None:
        offset = (sample.video_start or 0.0) if self.clip_relative else 0.0
        windows = [(e.start - offset, e.end - offset, e.caption) for e in sample.evidence]
        if not windows:
            return None
        events = cited_events(completion)
        if not events:
            return 0.0
        return sum(self.event_score(ev, windows) for ev in events) / len(events)


class ConsistencyGate(Reward):
    """Pays the wrapped rewards only when the reasoning implies the final answer.

    Args:
        rewards: The gated rewards (their weights apply inside the gate).
        judge: Reads the answer the reasoning implies (an LLM judge, or `RuleJudge`).
        weight: Factor of the gated sum in the total reward.
        name: Reward name (default ``"consistency_gate"``).
    """

    name = "consistency_gate"

    def __init__(
        self, rewards: list[Reward], judge: Judge, weight: float = 1.0, name: str | None = None
    ) -> None:
        super().__init__(weight=weight, name=name)
        if not rewards:
            raise ValueError("ConsistencyGate needs at least one reward to gate")
        names = [r.name for r in rewards]
        if len(set(names)) != len(names):
            raise ValueError(f"gated reward names must be unique, got {names}")
        self.rewards = list(rewards)
        self.judge = judge
        self._last: dict[str, float] = {}

    def score(self, completion: str, sample: VideoSample) -> float | None:
        return self([completion], [sample])[0]

    def __call__(
        self, completions: Sequence[str], samples: Sequence[VideoSample]
    ) -> list[float | None]:
        """Score a batch: the wrapped rewards, one judgement per completion, the gate.

        Raises:
            ValueError: if the two lists differ in length.
            RewardError: from a wrapped reward, naming it and the sample.
        """
        if len(completions) != len(samples):
            raise ValueError(
                f"reward {self.name!r}: {len(completions)} completions for {len(samples)} samples"
            )
        inner = combine(self.rewards, completions, samples)
        applies = [
            any(inner.parts[r.name][i] is not None for r in self.rewards)
            for i in range(len(completions))
        ]
        finals: list[str | None] = []
        asked, queries = [], []
        for i, (completion, sample) in enumerate(zip(completions, samples, strict=True)):
            final = extract_answer(completion, sample.options or None, sample.problem_type)
            finals.append(final if "<answer>" in completion.lower() else None)
            reasoning = reasoning_text(completion)
            if applies[i] and finals[i] is not None and reasoning:
                asked.append(i)
                queries.append(JudgeQuery.for_sample(sample, reasoning, task="implied"))
        open_gate: list[bool | None] = [False] * len(completions)
        for i, verdict in zip(asked, self.judge.answer(queries) if queries else [], strict=True):
            final = finals[i]
            if verdict is None:
                open_gate[i] = None  # the judgement failed
            elif verdict and final is not None:
                open_gate[i] = is_correct(verdict, final, samples[i].problem_type)
        out: list[float | None] = []
        for i in range(len(completions)):
            if not applies[i] or open_gate[i] is None:
                out.append(None)
            else:
                total = sum(
                    r.weight * v for r in self.rewards if (v := inner.parts[r.name][i]) is not None
                )
                out.append(total if open_gate[i] else 0.0)
        judged = [g for i, g in enumerate(open_gate) if applies[i] and g is not None]
        self._last = {"pass_rate": sum(judged) / len(judged) if judged else math.nan}
        for name, mean in inner.means().items():
            self._last[f"{name}_mean"] = mean
        return out

    def stats(self) -> dict[str, float]:
        """Last batch's ``pass_rate`` (share of the completions the gated rewards apply to
        whose gate opened; failed judgements left out), the wrapped rewards' unweighted means
        (``<name>_mean``) and the judge's running counts (``judge_<count>``)."""
        out = {k: v for k, v in self._last.items() if not math.isnan(v)}
        out.update({f"judge_{k}": v for k, v in self.judge.stats().items()})
        return out
