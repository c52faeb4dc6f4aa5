"""The thinking format: parse and render Video-Thinker traces.

A trace interleaves grounding, captioning and reasoning before the answer::

    <time>00:00-00:10</time> <caption>a red square enters</caption>
    <think>the red shape comes first</think>
    <answer>C</answer>

`parse_trace` never raises: garbage yields an empty, ill-formed `Trace`.
`parse_time_span` is strict (raises `ValueError`) and accepts the time formats
models actually write: ``MM:SS``, ``H:MM:SS``, plain seconds with or without a
``s``/``sec``/``seconds`` unit, fractional seconds, and ``-``/en dash/em dash/
``to``/``~`` between the two ends.

The format rule (`Trace.well_formed`) is Video-Thinker's: at least one
``<time>…</time>\\s*<caption>…</caption>\\s*<think>…</think>`` block, equal
counts of the three tags and exactly one ``<answer>…</answer>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "TRACE_STYLES",
    "Segment",
    "Trace",
    "format_timestamp",
    "parse_time_span",
    "parse_timestamp",
    "parse_trace",
    "render_span",
    "render_trace",
    "render_trace_as",
]

_TAGS = ("time", "caption", "think", "answer")
_ELEMENT = re.compile(r"<(time|caption|think|answer)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_TIME = re.compile(r"<time>(.*?)</time>", re.DOTALL | re.IGNORECASE)
# The one <answer> pattern of the project (its content, group 1); others import it.
ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# One (time, caption, think) block. Each tag's content may not contain that tag again, so a
# match cannot stretch across a closing tag to reach a later, unrelated tag (which would make
# ``<time/> junk <caption/> <think/>`` count as a block whenever a later block also
# exists) and the search stays linear instead of backtracking cubically.
_BLOCK = re.compile(
    r"<time>(?:(?!</?time>).)*?</time>\s*"
    r"<caption>(?:(?!</?caption>).)*?</caption>\s*"
    r"<think>(?:(?!</?think>).)*?</think>",
    re.DOTALL | re.IGNORECASE,
)
_UNIT = r"(?:s|sec|secs|second|seconds)"
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,3}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(rf"^(\d+(?:\.\d*)?|\.\d+)\s*{_UNIT}?$", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:-|–|—|~|\bto\b)\s*", re.IGNORECASE)


@dataclass
class Segment:
    """One grounding step of a trace: a time window, what is seen there, what it means.

    Attributes:
        start: Window start in seconds, or None when the ``<time>`` text is unparseable
            or the segment has no ``<time>``.
        end: Window end in seconds (same convention as ``start``).
        caption: Content of the ``<caption>`` tag (stripped), or None.
        think: Content of the ``<think>`` tag (stripped), or None.
        time_text: The raw ``<time>`` content, kept for error messages.
    """

    start: float | None = None
    end: float | None = None
    caption: str | None = None
    think: str | None = None
    time_text: str | None = None

    @property
    def span(self) -> tuple[float, float] | None:
        if self.start is None or self.end is None:
            return None
        return (self.start, self.end)


@dataclass
class Trace:
    """A parsed model output.

    Attributes:
        text: The raw text.
        segments: (time, caption, think) groups in order of appearance.
        spans: ``(start_s, end_s)`` of every parseable ``<time>`` tag, in order.
        answer: Stripped content of the last ``<answer>`` tag, or None.
        well_formed: Whether the text follows the Video-Thinker format rule.
    """

    text: str = ""
    segments: list[Segment] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    answer: str | None = None
    well_formed: bool = False

    @property
    def captions(self) -> list[str]:
        return [s.caption for s in self.segments if s.caption is not None]


def parse_timestamp(text: str) -> float:
    """Parse one time point (``MM:SS``, ``H:MM:SS``, ``12.5``, ``12.5s``) to seconds.

    Raises:
        ValueError: if ``text`` is not a time point.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a time point: {text!r}")
    t = text.strip().strip("[]()")
    t = t.strip()
    m = _CLOCK.match(t)
    if m:
        hours = int(m.group(1)) if m.group(1) else 0
        minutes, seconds = int(m.group(2)), float(m.group(3))
        if seconds >= 60 or (m.group(1) is not None and minutes >= 60):
            raise ValueError(f"not a time point: {text!r} (field out of range)")
        try:
            value = hours * 3600 + minutes * 60 + seconds
        except OverflowError:  # an absurd hour count: too large for a float
            value = math.inf
    else:
        m = _SECONDS.match(t)
        if not m:
            raise ValueError(f"not a time point: {text!r}")
        value = float(m.group(1))
    if not math.isfinite(value):
        raise ValueError(f"not a time point: {text!r} (not a finite number of seconds)")
    return value


def parse_time_span(text: str) -> tuple[float, float]:
    """Parse a span such as ``00:12-00:31`` or ``0.0-5.0 seconds`` to ``(start_s, end_s)``.

    Raises:
        ValueError: if ``text`` is not a span, or its end comes before its start.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a time span: {text!r}")
    t = text.strip().strip("[]()").strip()
    # A unit written once after the whole span applies to both ends: "0.0-5.0 seconds".
    t = re.sub(rf"\s*{_UNIT}\.?$", "", t, flags=re.IGNORECASE) if ":" not in t else t
    parts = _SPLIT.split(t)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError(f"not a time span: {text!r}")
    start, end = parse_timestamp(parts[0]), parse_timestamp(parts[1])
    if end < start:
        raise ValueError(f"time span ends before it starts: {text!r}")
    return (start, end)


def format_timestamp(seconds: float) -> str:
    """Write seconds as ``MM:SS`` (minutes may exceed 59 for long videos)."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"cannot format timestamp {seconds!r}")
    total = int(seconds)
    return f"{total // 60:02d}:{total % 60:02d}"


def render_span(start: float, end: float) -> str:
    """Write a span as ``MM:SS-MM:SS``: the start rounds down, the end up, so the
    written window always contains the true one."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"cannot render span ({start}, {end})")
    if end < start:
        raise ValueError(f"span ends before it starts: ({start}, {end})")
    return f"{format_timestamp(math.floor(start))}-{format_timestamp(math.ceil(end))}"


def render_trace(segments: Sequence[Segment], answer: str | None = None, *, sep: str = "\n") -> str:
    """Render segments (and optionally the answer) in the Video-Thinker format.

    Every segment must have a span; caption and think are written even if empty.
    """
    lines = []
    for i, seg in enumerate(segments):
        if seg.span is None:
            raise ValueError(f"segment {i} has no time span: {seg}")
        lines.append(
            f"<time>{render_span(seg.start, seg.end)}</time> "  # type: ignore[arg-type]
            f"<caption>{(seg.caption or '').strip()}</caption> "
            f"<think>{(seg.think or '').strip()}</think>"
        )
    if answer is not None:
        lines.append(f"<answer>{answer}</answer>")
    return sep.join(lines)


TRACE_STYLES: tuple[str, ...] = ("video_thinker", "observation", "think", "answer_think_answer")
"""The reasoning formats `render_trace_as` writes, for SFT on a sibling method's format:
``video_thinker`` (`render_trace`), ``observation`` (VideoP2R: observations, then
reasoning), ``think`` (Video-R1, Video-R2: one reasoning block with the timestamps in it),
``answer_think_answer`` (VideoAuto-R1: answer, reasoning, answer again)."""


def render_trace_as(segments: Sequence[Segment], answer: str, style: str) -> str:
    """Render the same evidence in one of `TRACE_STYLES`, answer included.

    Segments keep their order. ``observation`` writes the ``MM:SS-MM:SS: caption.``
    of every segment, then all the thinks; ``think`` and ``answer_think_answer`` write
    each segment as ``MM:SS-MM:SS: caption. think`` inside one ``<think>``.

    Raises:
        ValueError: on an unknown style or a segment without a time span.
    """
    if style not in TRACE_STYLES:
        raise ValueError(f"unknown trace style {style!r}; expected one of {TRACE_STYLES}")
    if style == "video_thinker":
        return render_trace(segments, answer)
    for i, seg in enumerate(segments):
        if seg.span is None:
            raise ValueError(f"segment {i} has no time span: {seg}")
    seen = [f"{render_span(g.start, g.end)}: {(g.caption or '').strip()}." for g in segments]  # type: ignore[arg-type]
    thought = " ".join((g.think or "").strip() for g in segments)
    if style == "observation":
        return f"<observation>{' '.join(seen)}</observation>\n<think>{thought}</think>\n<answer>{answer}</answer>"
    reasoning = " ".join(
        f"{v} {(g.think or '').strip()}" for v, g in zip(seen, segments, strict=True)
    )
    if style == "think":
        return f"<think>{reasoning}</think>\n<answer>{answer}</answer>"
    return f"<answer>{answer}</answer>\n<think>{reasoning}</think>\n<answer>{answer}</answer>"


def _try_span(text: str) -> tuple[float, float] | None:
    try:
        return parse_time_span(text)
    except ValueError:
        return None


def is_well_formed(text: str) -> bool:
    """The Video-Thinker format rule (see module docstring)."""
    counts = {
        tag: len(re.findall(rf"<{tag}>.*?</{tag}>", text, re.DOTALL | re.IGNORECASE))
        for tag in _TAGS
    }
    return (
        _BLOCK.search(text) is not None
        and counts["time"] == counts["caption"] == counts["think"]
        and counts["answer"] == 1
    )


def parse_trace(text: str) -> Trace:
    """Parse a model output into a `Trace`. Never raises."""
    if not isinstance(text, str):
        return Trace(text="")
    segments: list[Segment] = []
    for m in _ELEMENT.finditer(text):
        tag, content = m.group(1).lower(), m.group(2).strip()
        if tag == "answer":
            continue
        if tag == "time":
            span = _try_span(content)
            segments.append(
                Segment(
                    start=span[0] if span else None,
                    end=span[1] if span else None,
                    time_text=content,
                )
            )
            continue
        # caption/think attach to the open segment if its slot is free, else open a new one.
        # A think written before the caption starts a new segment too (order is time, caption, think).
        current = segments[-1] if segments else None
        if (
            current is None
            or getattr(current, tag) is not None
            or (tag == "caption" and current.think is not None)
        ):
            current = Segment()
            segments.append(current)
        setattr(current, tag, content)
    spans = [s for s in (_try_span(t.strip()) for t in _TIME.findall(text)) if s is not None]
    answers = ANSWER_RE.findall(text)
    return Trace(
        text=text,
        segments=segments,
        spans=spans,
        answer=answers[-1].strip() if answers else None,
        well_formed=is_well_formed(text),
    )
