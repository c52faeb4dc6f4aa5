"""Answer extraction and checking on realistic model outputs."""

from __future__ import annotations

import pytest

from vthinker.evaluation import (
    answer_span,
    extract_answer,
    extract_time_span,
    is_correct,
    normalize_choice,
    normalize_number,
)

OPTIONS = ["a red ball", "a blue cube", "a green cone", "a yellow star"]

TRACE = (
    "<time>00:00-00:04</time> <caption>a red ball rolls in</caption> "
    "<think>the ball comes first</think>\n"
    "<time>00:04-00:09</time> <caption>a blue cube appears</caption> "
    "<think>then the cube</think>\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # tagged
        (TRACE + "<answer>B</answer>", "B"),
        ("<answer> b </answer>", "B"),
        ("<ANSWER>c</ANSWER>", "C"),
        ("<answer>B. blue</answer>", "B"),
        ("<answer>(b) a blue cube</answer>", "B"),
        ("<answer>[D]</answer>", "D"),
        ("<answer>D)</answer>", "D"),
        ("<answer>B: a blue cube</answer>", "B"),
        ("<answer>**B**</answer>", "B"),
        ("<answer>Option D</answer>", "D"),
        ("<answer>The answer is C.</answer>", "C"),
        ("<answer>B and C</answer>", "B"),
        # several answer tags: the last one counts
        ("<answer>A</answer> wait, let me re-check <answer>C</answer>", "C"),
        # untagged: "Final answer:" (case-insensitive), then the whole output
        ("Let me think. The cube appears second.\nFinal answer: B", "B"),
        ("reasoning ... FINAL ANSWER: (d)", "D"),
        ("The answer is (c).", "C"),
        ("the answer is c", "C"),
        ("After watching, the correct option is B because the cube is blue.", "B"),
        ("so the best choice is D because it fits", "D"),
        ("Answer: b", "B"),
        ("[B] is right", "B"),
        ("I choose B.", "B"),
        ("Clearly, B is correct", "B"),
        # a generation cut before </answer>
        (TRACE + "<answer>C", "C"),
        # option text instead of a letter
        ("<answer>a blue cube</answer>", "B"),
        ("<answer>A Blue Cube.</answer>", "B"),
        ("<answer>the green cone</answer>", "C"),
        ("<answer>red ball</answer>", "A"),
        ("<answer>ball</answer>", "A"),
        ("I think it is the green cone.", "C"),
        ("It must be the yellow star, since it arrives last", "D"),
        # articles and pronouns are not labels
        ("A man is cooking", None),
        ("the answer is a dog", None),
        ("I think the video is about cooking", None),
        # letters outside the options, empty and garbage
        ("<answer>E</answer>", None),
        ("<answer>Z</answer>", None),
        ("<answer></answer>", None),
        ("", None),
        ("garbage !!! ###", None),
        ("<answer>none of these</answer>", None),
        ("it is a red ball, not a blue cube", None),
    ],
)
def test_multiple_choice(text: str, expected: str | None) -> None:
    assert extract_answer(text, OPTIONS) == expected


def test_lettered_options_and_no_options() -> None:
    lettered = ["A. a red ball", "B. a blue cube"]
    assert extract_answer("<answer>a blue cube</answer>", lettered) == "B"
    # Without options any letter A-Z is valid (text matching is impossible).
    assert extract_answer("<answer>F</answer>") == "F"
    assert extract_answer("<answer>a blue cube</answer>") is None
    # "I" is a letter when there are nine or more options.
    assert extract_answer("<answer>I</answer>", [f"o{i}" for i in range(10)]) == "I"
    assert extract_answer("<answer>I</answer>", OPTIONS) is None


def test_answer_span() -> None:
    assert answer_span("x <answer> B </answer> y <answer>C</answer>") == "C"
    assert answer_span("x <answer>open to the end") == "open to the end"
    assert answer_span("blah final answer:  7 apples") == "7 apples"
    assert answer_span("just text") == "just text"
    assert answer_span(None) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer>3.50 apples</answer>", "3.5"),
        ("<answer>There are 12 people.</answer>", "12"),
        ("there are 1,000 of them", "1000"),
        ("<answer>-0.0</answer>", "0"),
        ("<answer>-2.50</answer>", "-2.5"),
        ("<answer>1e3</answer>", "1000"),
        ("<answer>.5</answer>", "0.5"),
        ("<answer>007</answer>", "7"),
        ("<answer>twelve</answer>", None),
        ("<answer></answer>", None),
        ("I count 3 red and 4 blue. Final answer: 4", "4"),
    ],
)
def test_numerical(text: str, expected: str | None) -> None:
    assert extract_answer(text, None, "numerical") == expected


def test_normalize_number() -> None:
    assert normalize_number("3.500") == "3.5"
    assert normalize_number("1,234.0") == "1234"
    assert normalize_number("abc") is None
    assert normalize_number("inf") is None


@pytest.mark.parametrize(
    ("text", "expected_text", "expected_span"),
    [
        ("<answer>00:12-00:31</answer>", "00:12-00:31", (12.0, 31.0)),
        ("<answer>from 00:12 to 00:31</answer>", "00:12 to 00:31", (12.0, 31.0)),
        ("<answer>12.5 - 20 seconds</answer>", "12.5 - 20 seconds", (12.5, 20.0)),
        ("<answer>the event spans 1:05-1:10.</answer>", "1:05-1:10", (65.0, 70.0)),
        ("<answer>00:31-00:12</answer>", None, None),  # inverted: unparseable
        ("<answer>soon</answer>", None, None),
    ],
)
def test_temporal_grounding(text: str, expected_text, expected_span) -> None:
    assert extract_answer(text, None, "temporal grounding") == expected_text
    assert extract_time_span(answer_span(text)) == expected_span


def test_free_form() -> None:
    assert extract_answer("<answer>  hello   world </answer>", None, "free-form") == "hello   world"
    assert extract_answer("<answer> </answer>", None, "OCR") is None


def test_normalize_choice() -> None:
    assert normalize_choice("b") == "B"
    assert normalize_choice(" (C). ") == "C"
    assert normalize_choice("[d]") == "D"
    assert normalize_choice("B blue") is None
    assert normalize_choice(None) is None


def test_is_correct() -> None:
    assert is_correct("B", "b")
    assert is_correct("B", "(B)")
    assert not is_correct("C", "B")
    assert not is_correct(None, "B")
    assert is_correct("3.5", "3.50", "numerical")
    assert not is_correct("3.51", "3.5", "numerical")
    assert is_correct("3.51", "3.5", "numerical", tol=0.01)
    assert is_correct("105", "100", "numerical", rel_tol=0.05)
    assert not is_correct("106", "100", "numerical", rel_tol=0.05)
    assert is_correct("00:12 to 00:31", "00:12-00:31", "temporal grounding")
    assert is_correct("Hello  World.", "hello world", "free-form")
    with pytest.raises(ValueError, match="not an option letter"):
        is_correct("B", "blue")
    with pytest.raises(ValueError, match="not a number"):
        is_correct("3", "three", "numerical")
