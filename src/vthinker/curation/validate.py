"""Validators for what the curation LLMs write.

Each validator takes a parsed reply and returns the clean value, or raises `OutputError`
whose message says what is wrong in words an LLM can act on (the steps send it back as a
repair request). They are pure functions, tested against hand-written replies.

- `validate_question`: a synthesized multiple-choice question (QuestionSynthesis).
- `validate_captions` / `validate_windows`: answer-conditioned captions for given windows,
  or windows the model picked itself (AnswerConditionedCaptions).
- `validate_trace`: a tagged Video-Thinker trace (ReverseTrace).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vthinker.extract import extract_answer, is_correct
from vthinker.trace import parse_time_span, parse_trace

__all__ = [
    "OutputError",
    "SynthesizedQuestion",
    "clean_trace",
    "normalize_text",
    "validate_captions",
    "validate_question",
    "validate_trace",
    "validate_windows",
]

LETTERS = string.ascii_uppercase
_LETTER_PREFIX = re.compile(r"^\s*(?:\(([A-Za-z])\)|([A-Za-z])\s*[.:)])\s+")
_ANSWER_LETTER = re.compile(r"^\s*[(\[]?\s*([A-Za-z])\s*[)\].:]?\s*$")
_TAG_START = re.compile(r"<(?:time|caption|think)>", re.IGNORECASE)
_ANSWER_END = re.compile(r"</answer>", re.IGNORECASE)
_TIME_TAG = re.compile(r"<time>(.*?)</time>", re.DOTALL | re.IGNORECASE)


class OutputError(ValueError):
    """An LLM reply that fails validation; the message says why."""


def normalize_text(text: str) -> str:
    """Lower-case, punctuation removed, whitespace collapsed (for comparisons)."""
    text = text.lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


@dataclass
class SynthesizedQuestion:
    """A validated multiple-choice question.

    Attributes:
        question: The question text.
        options: Option texts without letter prefixes, in letter order.
        answer: The correct option letter.
        segments: 0-based indices of the caption segments the question needs (sorted).
    """

    question: str
    options: list[str]
    answer: str
    segments: list[int]


def _strip_letter(option: str, index: int) -> str:
    """Drop a ``"B. "`` / ``"(B) "`` prefix when its letter is the option's own letter."""
    m = _LETTER_PREFIX.match(option)
    if m and (m.group(1) or m.group(2)).upper() == LETTERS[index]:
        return option[m.end() :].strip()
    return option.strip()


def validate_question(
    data: Any,
    captions: Sequence[str],
    *,
    min_options: int = 4,
    max_options: int = 6,
    min_segments: int = 2,
) -> SynthesizedQuestion:
    """Check a synthesized question against the rules of the curation pipeline.

    Expected shape: ``{"question": str, "options": [str, ...], "answer": "B",
    "segments": [1, 3]}`` where ``segments`` are the 1-based numbers of the captions the
    question needs. Rules: a non-empty question; ``min_options..max_options`` options,
    non-empty and distinct after `normalize_text` (a ``"B. "`` prefix matching the position
    is dropped); exactly one correct option letter (a bare letter such as ``"C"``, ``"(C)"``,
    or the exact text of one option); at least ``min_segments`` distinct valid segment
    numbers; and the correct option's text does not occur verbatim (after `normalize_text`)
    in any single caption, so that the answer needs more than one segment.

    Raises:
        OutputError: naming the first rule broken.
    """
    if not isinstance(data, dict):
        raise OutputError(
            "the reply must be a JSON object with keys question, options, answer, segments"
        )
    missing = [k for k in ("question", "options", "answer", "segments") if k not in data]
    if missing:
        raise OutputError(f"the JSON object lacks the key(s) {', '.join(missing)}")
    question = data["question"]
    if not isinstance(question, str) or not question.strip():
        raise OutputError("'question' must be a non-empty string")
    options = _options(data["options"], min_options, max_options)
    normed = [normalize_text(o) for o in options]
    letter = _answer_letter(data["answer"], normed)
    chosen = _segments(data["segments"], len(captions), min_segments)
    _check_not_in_one_caption(normed[LETTERS.index(letter)], letter, captions)
    return SynthesizedQuestion(
        question=question.strip(),
        options=options,
        answer=letter,
        segments=[s - 1 for s in chosen],
    )


def _options(raw: Any, min_options: int, max_options: int) -> list[str]:
    """Option texts without letter prefixes: non-empty, distinct after `normalize_text`."""
    if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
        raise OutputError("'options' must be a list of strings")
    if not min_options <= len(raw) <= max_options:
        raise OutputError(f"give between {min_options} and {max_options} options, not {len(raw)}")
    options = [_strip_letter(o, i) for i, o in enumerate(raw)]
    if any(not o for o in options):
        raise OutputError("every option must have text")
    normed = [normalize_text(o) for o in options]
    for i in range(len(normed)):
        for j in range(i):
            if normed[i] == normed[j]:
                raise OutputError(
                    f"options {LETTERS[j]} and {LETTERS[i]} are the same; all options must "
                    "be distinct"
                )
    return options


def _answer_letter(answer: Any, normed: list[str]) -> str:
    """The correct option's letter: a bare letter, ``"(C)"``, or one option's exact text."""
    if not isinstance(answer, str):
        raise OutputError("'answer' must be one option letter as a string, e.g. \"B\"")
    m = _ANSWER_LETTER.match(answer)
    if m:
        letter = m.group(1).upper()
    elif normalize_text(answer) in normed:
        letter = LETTERS[normed.index(normalize_text(answer))]
    else:
        raise OutputError(f"'answer' must be exactly one option letter, got {answer!r}")
    if letter not in LETTERS[: len(normed)]:
        raise OutputError(
            f"answer {letter} is not one of the option letters {LETTERS[0]}-"
            f"{LETTERS[len(normed) - 1]}"
        )
    return letter


def _segments(segs: Any, num_captions: int, min_segments: int) -> list[int]:
    """The distinct 1-based segment numbers, sorted (at least ``min_segments``)."""
    if (
        not isinstance(segs, list)
        or not segs
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in segs)
    ):
        raise OutputError("'segments' must be a list of segment numbers, e.g. [1, 3]")
    bad = [s for s in segs if not 1 <= s <= num_captions]
    if bad:
        raise OutputError(f"segment number(s) {bad} do not exist (there are {num_captions})")
    chosen = sorted(set(segs))
    if len(chosen) < min_segments:
        raise OutputError(
            f"the question must need at least {min_segments} different segments, got {chosen}"
        )
    return chosen


def _check_not_in_one_caption(correct: str, letter: str, captions: Sequence[str]) -> None:
    """The correct option's (normalized) text must not occur in any single caption."""
    for k, caption in enumerate(captions, start=1):
        if correct and re.search(rf"\b{re.escape(correct)}\b", normalize_text(caption)):
            raise OutputError(
                f"the correct option ({letter}) is written verbatim in segment {k}'s caption; "
                "the answer must need several segments, not one"
            )


def validate_captions(data: Any, num_windows: int) -> list[str]:
    """Captions for given windows: ``{"captions": ["…", …]}``, one non-empty per window.

    Raises:
        OutputError: on a wrong shape, count or an empty caption.
    """
    if not isinstance(data, dict) or not isinstance(data.get("captions"), list):
        raise OutputError('the reply must be a JSON object {"captions": ["...", ...]}')
    caps = data["captions"]
    if len(caps) != num_windows:
        raise OutputError(f"give exactly {num_windows} captions, one per window, not {len(caps)}")
    out = []
    for i, c in enumerate(caps, start=1):
        if not isinstance(c, str) or not c.strip():
            raise OutputError(f"caption {i} must be a non-empty string")
        out.append(" ".join(c.split()))
    return out


def validate_windows(
    data: Any, duration: float, *, max_windows: int = 4, tolerance_s: float = 1.0
) -> list[tuple[float, float, str]]:
    """Windows the model chose: ``{"windows": [{"time": "MM:SS-MM:SS", "caption": "…"}]}``.

    Returns:
        ``(start_s, end_s, caption)`` per window, clip-relative, in the reply's order; an end
        up to ``tolerance_s`` past ``duration`` is clamped to it.

    Raises:
        OutputError: on a wrong shape, no or too many windows, an unparseable span, a span
            outside ``[0, duration]`` or an empty caption.
    """
    if not isinstance(data, dict) or not isinstance(data.get("windows"), list):
        raise OutputError(
            'the reply must be a JSON object {"windows": [{"time": "MM:SS-MM:SS", '
            '"caption": "..."}]}'
        )
    wins = data["windows"]
    if not 1 <= len(wins) <= max_windows:
        raise OutputError(f"give between 1 and {max_windows} windows, not {len(wins)}")
    out = []
    for i, w in enumerate(wins, start=1):
        if not isinstance(w, dict):
            raise OutputError(f"window {i} must be an object with keys time and caption")
        try:
            start, end = parse_time_span(str(w.get("time", "")))
        except ValueError as err:
            raise OutputError(f"window {i}: {err}; write the time as MM:SS-MM:SS") from None
        if end > duration + tolerance_s:
            raise OutputError(
                f"window {i} ({w['time']}) ends after the video ({duration:.1f} s long)"
            )
        if end <= start:
            raise OutputError(f"window {i} ({w['time']}) is empty")
        caption = w.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise OutputError(f"window {i} needs a non-empty caption")
        out.append((start, min(end, duration), " ".join(caption.split())))
    return out


def clean_trace(text: str) -> str:
    """Cut chatter around a trace: keep from the first ``<time>``/``<caption>``/``<think>``
    to the end of the last ``</answer>`` (or to the end when there is none)."""
    start = _TAG_START.search(text)
    if start is None:
        return text.strip()
    ends = list(_ANSWER_END.finditer(text))
    end = ends[-1].end() if ends and ends[-1].end() > start.start() else len(text)
    return text[start.start() : end].strip()


def validate_trace(
    text: str,
    *,
    answer: str,
    options: Sequence[str] = (),
    problem_type: str = "multiple choice",
    duration: float | None = None,
    tolerance_s: float = 1.0,
) -> str:
    """Check a reverse-curated trace and return it without surrounding chatter.

    Rules: `vthinker.trace.parse_trace` finds it well formed (Video-Thinker's format rule);
    every ``<time>`` parses as a span; every span lies inside ``[0, duration +
    tolerance_s]`` (clip time; the tolerance absorbs the ``MM:SS`` rounding of span ends);
    and the answer extracted from it (`vthinker.extract.extract_answer`) is the
    gold ``answer``.

    Raises:
        OutputError: naming the first rule broken.
    """
    trace_text = clean_trace(text)
    trace = parse_trace(trace_text)
    if not trace.well_formed:
        raise OutputError(
            "the trace is not in the required format: write one or more "
            "<time>MM:SS-MM:SS</time> <caption>...</caption> <think>...</think> blocks and "
            "exactly one <answer>...</answer> at the end"
        )
    times = _TIME_TAG.findall(trace_text)
    if len(trace.spans) != len(times):
        bad = [t for t in times if _span_or_none(t) is None]
        raise OutputError(f"unreadable time span(s) {bad}; write <time>MM:SS-MM:SS</time>")
    if duration is not None:
        for (s, e), t in zip(trace.spans, times, strict=True):
            if s < 0 or e > duration + tolerance_s:
                raise OutputError(
                    f"time span {t.strip()} lies outside the video (0 to {duration:.1f} s)"
                )
    pred = extract_answer(trace_text, options, problem_type)
    if not is_correct(pred, answer, problem_type):
        raise OutputError(
            f"the trace answers {pred!r} but the correct answer is {answer}; the reasoning "
            "must reach the correct answer"
        )
    return trace_text


def _span_or_none(text: str) -> tuple[float, float] | None:
    try:
        return parse_time_span(text.strip())
    except ValueError:
        return None
