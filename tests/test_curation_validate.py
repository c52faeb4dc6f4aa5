"""Validators of curation replies: each rule accepts a good reply and names a broken one."""

from __future__ import annotations

import pytest

from vthinker.curation.steps import frame_time
from vthinker.curation.validate import (
    OutputError,
    clean_trace,
    normalize_text,
    validate_captions,
    validate_question,
    validate_trace,
    validate_windows,
)

CAPTIONS = [
    "A man opens the red door.",
    "A dog runs into the garden.",
    "A woman waters the flowers.",
]


def q(**over):
    data = {
        "question": "What happens after the door opens?",
        "options": [
            "A. a cat sleeps",
            "B. dog runs, then flowers get water",
            "C. it rains",
            "D. a car passes",
        ],
        "answer": "B",
        "segments": [3, 1, 2, 2],
    }
    data.update(over)
    return data


def test_question_valid_and_normalised():
    out = validate_question(q(), CAPTIONS)
    assert out.question == "What happens after the door opens?"
    assert out.options == [
        "a cat sleeps",
        "dog runs, then flowers get water",
        "it rains",
        "a car passes",
    ]  # "A. " prefixes dropped
    assert out.answer == "B"
    assert out.segments == [0, 1, 2]  # 1-based {1, 2, 3}, sorted, deduplicated, 0-based


@pytest.mark.parametrize(
    "answer", ["B", "b", "(B)", "B.", " B ", "dog runs, then flowers get water"]
)
def test_question_answer_forms(answer):
    assert validate_question(q(answer=answer), CAPTIONS).answer == "B"


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"question": "  "}, "non-empty"),
        ({"options": ["x", "y", "z"]}, "between 4 and 6 options, not 3"),
        ({"options": ["a", "b", "c", "d", "e", "f", "g"]}, "not 7"),
        ({"options": ["red", "Red!", "blue", "green"]}, "options A and B are the same"),
        ({"options": ["red", "", "blue", "green"]}, "every option must have text"),
        ({"answer": "A, C"}, "exactly one option letter"),
        ({"answer": "E"}, "not one of the option letters A-D"),
        ({"answer": 2}, "one option letter as a string"),
        ({"segments": [2]}, "at least 2 different segments"),
        ({"segments": [2, 2]}, "at least 2 different segments"),
        ({"segments": [1, 4]}, r"segment number\(s\) \[4\] do not exist"),
        ({"segments": "1,2"}, "list of segment numbers"),
        (
            {"options": ["the red door", "b", "c", "d"], "answer": "A"},
            "verbatim in segment 1's caption",
        ),
    ],
)
def test_question_rules(over, message):
    with pytest.raises(OutputError, match=message):
        validate_question(q(**over), CAPTIONS)


def test_question_shape_errors():
    with pytest.raises(OutputError, match="JSON object"):
        validate_question(["not", "a", "dict"], CAPTIONS)
    with pytest.raises(OutputError, match="lacks the key"):
        validate_question({"question": "x"}, CAPTIONS)


def test_question_option_limits_configurable():
    six = ["a one", "b two", "c three", "d four", "e five", "f six"]
    assert len(validate_question(q(options=six), CAPTIONS).options) == 6
    with pytest.raises(OutputError, match="between 2 and 3"):
        validate_question(q(options=six), CAPTIONS, min_options=2, max_options=3)


def test_verbatim_check_is_whole_words():
    # "door" as part of "doorway" in a caption is not the option text "door" verbatim.
    caps = ["a man walks through the doorway", "then he sits"]
    out = validate_question(q(options=["door", "b", "c", "d"], answer="A", segments=[1, 2]), caps)
    assert out.answer == "A"


def test_normalize_text():
    assert normalize_text("  The RED-door, opens!  ") == "the red door opens"


def test_captions_for_given_windows():
    assert validate_captions({"captions": ["a  man\nwalks", "b"]}, 2) == ["a man walks", "b"]
    with pytest.raises(OutputError, match="exactly 2 captions"):
        validate_captions({"captions": ["a"]}, 2)
    with pytest.raises(OutputError, match="caption 2 must be"):
        validate_captions({"captions": ["a", " "]}, 2)
    with pytest.raises(OutputError, match="JSON object"):
        validate_captions(["a", "b"], 2)


def test_windows_chosen_by_the_model():
    data = {
        "windows": [
            {"time": "00:05-00:12", "caption": "x"},
            {"time": "1:10-1:20.5", "caption": "y"},
        ]
    }
    # 1:10 = 70 s; 1:20.5 = 80.5 s is 0.5 s past the 80 s clip: within tolerance, clamped.
    assert validate_windows(data, 80.0) == [(5.0, 12.0, "x"), (70.0, 80.0, "y")]
    with pytest.raises(OutputError, match="ends after the video"):
        validate_windows({"windows": [{"time": "01:00-01:30", "caption": "x"}]}, 80.0)
    with pytest.raises(OutputError, match="window 1: not a time span"):
        validate_windows({"windows": [{"time": "early", "caption": "x"}]}, 80.0)
    with pytest.raises(OutputError, match="non-empty caption"):
        validate_windows({"windows": [{"time": "00:01-00:02", "caption": ""}]}, 80.0)
    with pytest.raises(OutputError, match="between 1 and 2 windows, not 3"):
        validate_windows(
            {"windows": [{"time": "00:01-00:02", "caption": "x"}] * 3}, 80.0, max_windows=2
        )


GOOD = (
    "<time>00:00-00:10</time> <caption>a man opens the door</caption> "
    "<think>the door opens first</think>\n"
    "<time>00:10-00:20</time> <caption>a dog runs out</caption> <think>then the dog</think>\n"
    "<answer>B</answer>"
)
OPTS = ["a cat", "a dog", "a bird", "a fish"]


def test_trace_valid_and_cleaned():
    chatty = f"Sure, here is the reasoning:\n\n{GOOD}\n\nLet me know if you need more."
    assert validate_trace(chatty, answer="B", options=OPTS, duration=20.0) == GOOD
    assert clean_trace("no tags at all ") == "no tags at all"


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        (GOOD.replace("<answer>B</answer>", ""), {}, "not in the required format"),
        (GOOD.replace("<think>then the dog</think>", ""), {}, "not in the required format"),
        (GOOD.replace("00:10-00:20", "later on"), {}, r"unreadable time span\(s\) \['later on'\]"),
        (GOOD, {"duration": 15.0}, "00:10-00:20 lies outside the video"),
        (
            GOOD.replace("<answer>B</answer>", "<answer>C</answer>"),
            {},
            "answers 'C' but the correct answer is B",
        ),
    ],
)
def test_trace_rules(text, kwargs, message):
    args = {"answer": "B", "options": OPTS, "duration": 20.0, **kwargs}
    with pytest.raises(OutputError, match=message):
        validate_trace(text, **args)


def test_trace_span_tolerance_and_numeric_answers():
    # The end 00:21 is 1 s past a 20 s clip: inside the 1 s tolerance for MM:SS rounding.
    assert validate_trace(
        GOOD.replace("00:10-00:20", "00:10-00:21"), answer="B", options=OPTS, duration=20.0
    )
    numeric = GOOD.replace("<answer>B</answer>", "<answer>3 shapes</answer>")
    assert validate_trace(numeric, answer="3", problem_type="numerical", duration=20.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00.0"), (12.46, "00:12.5"), (59.96, "01:00.0"), (125.04, "02:05.0")],
)
def test_frame_time(seconds, text):
    assert frame_time(seconds) == text
