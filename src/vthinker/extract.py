r"""Answer extraction from model outputs, and answer checking.

`extract_answer` implements Video-Thinker's evaluation rule (docs/method.md, Answer extraction)
in two steps.

**1. The answer span.** The content of the *last* ``<answer>…</answer>`` (case-insensitive;
an empty tag gives an empty span, which extracts to None); else, when the output opens an
``<answer>`` that is never closed (a generation cut at the token limit), the text after
the last ``<answer>`` (an extension of the paper's rule); else the text after the last
"Final answer:" (case-insensitive); else the whole output. Markdown emphasis (``*``) is
removed from the span.

**2. The answer in the span**, by problem type:

- ``"multiple choice"`` → an option letter, upper case. Tried in order, each accepting only
  letters of the given options (``A``… for ``len(options)``; any of A–Z without options):

  1. the whole span equals an option's text (case-insensitive; whitespace, final
     punctuation and the articles a/an/the ignored): ``<answer>the red ball</answer>``;
  2. a leading option letter: ``B``, ``B.``, ``B)``, ``(B)``, ``[B]``, ``B: blue``,
     ``B blue``; a lower-case letter only when it is marked as a label (``b``, ``(b)``,
     ``b.``, ``b)``, ``b:``), so that "a dog runs" is not read as option A;
     ``A``/``I`` followed by a space and a lower-case word ("A man is …", "I think …")
     is an article or pronoun, not a label, here and in step 7;
  3. an answer cue: "answer is (C)", "answer: C", "option C", "choice is c" (the last
     such cue in the span; lower-case letters under the same marking rule);
  4. a bracketed letter anywhere: ``(C)``, ``[C]``, ``(c)``, ``[C``;
  5. a capital letter followed by ``:``, ``.`` or ``)`` anywhere: ``C:``, ``C.``, ``C)``;
  6. option text in the span (articles ignored): the options whose text occurs in the
     span as whole words; if several, the longest when it contains all the others; else
     the option whose text contains the span (at least 3 characters), when exactly one does;
  7. a capital letter standing alone as a word: ``… so C is right``.

  Patterns 4, 5 and 7 take the first valid occurrence. If nothing matches, None (counted
  wrong). Step 6 comes before 7 (the paper's rule lists only letter patterns; matching the
  option text first keeps "I think it is the red ball" from reading as option I).
- ``"numerical"`` / ``"regression"`` → the first number in the span, normalised: thousands
  separators dropped and the value written without exponent, trailing zeros or a trailing
  point (``"3.50"`` → ``"3.5"``, ``"1,000"`` → ``"1000"``, ``"-0.0"`` → ``"0"``, ``"1e3"`` →
  ``"1000"``). Number words ("three") are not read.
- ``"temporal grounding"`` → the first substring that `vthinker.trace.parse_time_span`
  accepts (``00:12-00:31``, ``12.5 - 20 seconds``, …), else None.
- any other type (``"free-form"``, ``"OCR"``, …) → the span, stripped (None if empty).

`is_correct` compares an extracted answer with the gold answer for the same types.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from vthinker.trace import ANSWER_RE, parse_time_span

__all__ = [
    "answer_span",
    "extract_answer",
    "extract_number",
    "extract_time_span",
    "gold_number",
    "is_correct",
    "normalize_choice",
    "normalize_number",
]

LETTERS = string.ascii_uppercase
NUMERIC_TYPES = ("numerical", "regression")

_ANSWER_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_FINAL = re.compile(r"final\s+answer\s*:", re.IGNORECASE)
_OPTION_PREFIX = re.compile(r"^\s*\(?([A-Za-z])\s*[.:)]\s+")
# A label: optional opening bracket, one letter, then a closing mark, a space or the end.
_LEADING = re.compile(r"^[\(\[]?\s*([A-Za-z])\s*(?=([\)\]\.:,]|\s|$))")
_CUE = re.compile(
    r"\b(?:answer|option|choice)(?:\s+is|\s+would\s+be|\s+should\s+be)?\s*[:=]?\s*"
    r"(?:option\s+|choice\s+)?([\(\[])?\s*([A-Za-z])(?![A-Za-z'])",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"[\(\[]\s*([A-Za-z])\s*[\)\]]")
_OPEN_BRACKET = re.compile(r"\[\s*([A-Z])(?![A-Za-z])")
_MARKED = re.compile(r"(?<![A-Za-z0-9'])([A-Z])[:.)](?![A-Za-z0-9])")
_ALONE = re.compile(r"(?<![A-Za-z0-9'\-])([A-Z])(?![A-Za-z0-9'\-])")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_TIME_SPAN = re.compile(
    r"(?:\d+:)?\d+(?::\d+)?(?:\.\d+)?\s*(?:s|sec|secs|seconds?)?\s*"
    r"(?:-|–|—|~|\bto\b)\s*"
    r"(?:\d+:)?\d+(?::\d+)?(?:\.\d+)?(?:\s*(?:s|sec|secs|seconds?)\b)?",
    re.IGNORECASE,
)


def answer_span(text: str) -> str:
    """The part of a model output that holds the answer (step 1 of the module docstring)."""
    if not isinstance(text, str):
        return ""
    tagged = ANSWER_RE.findall(text)
    if tagged:
        span = tagged[-1]
    else:
        opened = list(_ANSWER_OPEN.finditer(text))
        final = list(_FINAL.finditer(text))
        if opened:
            span = text[opened[-1].end() :]
        elif final:
            span = text[final[-1].end() :]
        else:
            span = text
    return span.replace("*", "").strip()


def _letters(options: Sequence[str] | None) -> str:
    if options is None:
        return LETTERS
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options: at most {len(LETTERS)} are supported")
    return LETTERS[: len(options)]


def _option_texts(options: Sequence[str]) -> list[str]:
    """Option texts without a ``"A. "`` prefix that matches their position."""
    texts = []
    for i, opt in enumerate(options):
        m = _OPTION_PREFIX.match(opt)
        if m and m.group(1).upper() == LETTERS[i]:
            opt = opt[m.end() :]
        texts.append(_content(opt))
    return texts


def _norm_text(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .,;:!?\"'")


def _content(text: str) -> str:
    """`_norm_text` without the articles a/an/the, for matching option texts."""
    return " ".join(w for w in _norm_text(text).split() if w not in ("a", "an", "the"))


def _is_word(letter: str, span: str, end: int) -> bool:
    """``A``/``I`` followed by a space and a lower-case word: an article or pronoun."""
    rest = span[end:]
    return letter in "AI" and rest[:1].isspace() and rest.lstrip()[:1].islower()


def _is_label(letter: str, before: str | None, after: str) -> bool:
    """Whether a letter reads as an option label: upper case, or a lower-case letter with a
    bracket before it or ``) ] . :`` (or the end of the text) after it."""
    return letter.isupper() or before in ("(", "[") or after in (")", "]", ".", ":", "")


def normalize_choice(text: str | None) -> str | None:
    """The option letter when ``text`` is nothing but a label (``"b"``, ``"(B)"``, ``" c. "``).

    Returns:
        The upper-case letter, or None.
    """
    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"\s*[\(\[]?\s*([A-Za-z])\s*[\)\]]?\s*[.:]?\s*", text)
    return m.group(1).upper() if m else None


def _extract_choice(span: str, options: Sequence[str] | None) -> str | None:
    valid = _letters(options)
    if not span:
        return None
    # 1. the whole span is an option's text
    texts = _option_texts(options) if options else []
    norm = _content(span)
    if norm and norm in texts:
        return valid[texts.index(norm)]
    # 2. a leading letter ("A man ..." and "I think ..." are words, not labels)
    m = _LEADING.match(span)
    if m:
        letter, after = m.group(1), m.group(2)
        word = _is_word(letter, span, m.end(1))
        if letter.upper() in valid and not word and _is_label(letter, span[0], after):
            return letter.upper()
    # 3. an answer cue; the last valid one
    found = None
    for m in _CUE.finditer(span):
        letter = m.group(2)
        after = span[m.end(2) : m.end(2) + 1]
        if letter.upper() in valid and _is_label(letter, m.group(1), after):
            found = letter.upper()
    if found:
        return found
    # 4-5. bracketed or marked letters: the first valid occurrence
    for pattern in (_BRACKETED, _OPEN_BRACKET, _MARKED):
        for m in pattern.finditer(span):
            if m.group(1).upper() in valid:
                return m.group(1).upper()
    # 6. option text inside the span, or the span inside one option text
    if texts and norm:
        inside = [
            i
            for i, t in enumerate(texts)
            if t and re.search(rf"(?<!\w){re.escape(t)}(?!\w)", norm) is not None
        ]
        if len(inside) == 1:
            return valid[inside[0]]
        if inside:
            longest = max(inside, key=lambda i: len(texts[i]))
            if all(texts[i] in texts[longest] for i in inside):
                return valid[longest]
        elif len(norm) >= 3:
            holders = [i for i, t in enumerate(texts) if norm in t]
            if len(holders) == 1:
                return valid[holders[0]]
    # 7. a capital letter standing alone (not an article or pronoun)
    for m in _ALONE.finditer(span):
        if m.group(1) in valid and not _is_word(m.group(1), span, m.end(1)):
            return m.group(1)
    return None


def normalize_number(text: str) -> str | None:
    """Canonical decimal string of one number (``"3.50"`` → ``"3.5"``), or None."""
    try:
        value = Decimal(text.replace(",", "").strip())
    except (InvalidOperation, AttributeError):
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def extract_number(span: str) -> str | None:
    """The first number in ``span``, normalised with `normalize_number`."""
    m = _NUMBER.search(span)
    return normalize_number(m.group(0)) if m else None


def gold_number(gold: str) -> str:
    """The number of a gold answer (`extract_number`).

    Raises:
        ValueError: if ``gold`` holds no number.
    """
    number = extract_number(gold)
    if number is None:
        raise ValueError(f"gold answer {gold!r} is not a number")
    return number


def _find_time_span(span: str) -> tuple[str, tuple[float, float]] | None:
    """``(text, (start_s, end_s))`` of the whole span or of its first parseable time span."""
    for text in (span, *(m.group(0).strip() for m in _TIME_SPAN.finditer(span))):
        try:
            return text, parse_time_span(text)
        except ValueError:
            continue
    return None


def extract_time_span(span: str) -> tuple[float, float] | None:
    """The first time span in ``span`` that `vthinker.trace.parse_time_span` accepts, in
    seconds (the whole text first, then substrings such as ``00:12-00:31``)."""
    found = _find_time_span(span) if isinstance(span, str) else None
    return found[1] if found else None


def extract_answer(
    text: str, options: Sequence[str] | None = None, problem_type: str = "multiple choice"
) -> str | None:
    """Extract the answer from a model output (see the module docstring for the rules).

    Args:
        text: The model output.
        options: The options (texts, with or without ``"A. "`` prefixes), for multiple choice;
            letters beyond ``len(options)`` are then invalid.
        problem_type: ``"multiple choice"``, ``"numerical"``, ``"regression"``,
            ``"temporal grounding"``, ``"free-form"``, ``"OCR"``, …

    Returns:
        The option letter (upper case), the normalised number, the span text of a time span,
        or the stripped answer text; None when nothing usable is found.
    """
    span = answer_span(text)
    if problem_type == "multiple choice":
        return _extract_choice(span, options)
    if problem_type in NUMERIC_TYPES:
        return extract_number(span)
    if problem_type == "temporal grounding":
        found = _find_time_span(span)
        return found[0] if found else None
    return span or None


def is_correct(
    pred: str | None,
    gold: str,
    problem_type: str = "multiple choice",
    tol: float = 1e-6,
    rel_tol: float = 0.0,
) -> bool:
    """Whether an extracted answer matches the gold answer.

    Args:
        pred: The extracted answer (`extract_answer` output); None is always wrong.
        gold: The gold answer (an option letter, a number, a span or a text).
        problem_type: As for `extract_answer`.
        tol: Absolute tolerance for numbers.
        rel_tol: Relative tolerance for numbers (of ``|gold|``); a number is right when
            ``|pred - gold| <= max(tol, rel_tol * |gold|)``.

    Returns:
        Multiple choice: same letter (gold may be written ``"b"``, ``"(B)"``…). Numbers:
        within tolerance. Temporal grounding: the same span in seconds. Otherwise: equal
        text after lower-casing, collapsing whitespace and dropping final punctuation.

    Raises:
        ValueError: if the gold answer itself cannot be read for the problem type.
    """
    if pred is None:
        return False
    if problem_type == "multiple choice":
        g = normalize_choice(gold)
        if g is None:
            raise ValueError(f"gold answer {gold!r} is not an option letter")
        return normalize_choice(pred) == g
    if problem_type in NUMERIC_TYPES:
        g = gold_number(gold)
        p = normalize_number(pred)
        if p is None:
            return False
        diff = abs(float(p) - float(g))
        return math.isfinite(diff) and diff <= max(tol, rel_tol * abs(float(g)))
    if problem_type == "temporal grounding":
        g_span = extract_time_span(gold)
        if g_span is None:
            raise ValueError(f"gold answer {gold!r} is not a time span")
        return extract_time_span(pred) == g_span
    return _norm_text(pred) == _norm_text(gold)
