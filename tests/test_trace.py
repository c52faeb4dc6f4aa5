"""Exact-value tests for the Video-Thinker thinking format (`vthinker.trace`).

Behaviour pinned here on purpose:
- Tags are matched case-insensitively (``<TIME>…</time>`` counts as a time tag), both by
  `parse_trace` and by the format rule.
- A ``<time>`` nested inside ``<think>`` (Video-R2 style) is reported in ``Trace.spans`` but is
  not a segment of its own (the enclosing ``<think>`` element swallows it).
- ``Trace.answer`` is the stripped content of the *last* ``<answer>`` tag.
"""

from __future__ import annotations

import math
import random
import string

import pytest

from vthinker.trace import (
    Segment,
    Trace,
    format_timestamp,
    is_well_formed,
    parse_time_span,
    parse_timestamp,
    parse_trace,
    render_span,
    render_trace,
)

# --------------------------------------------------------------------------------------------
# parse_time_span / parse_timestamp
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:12-00:31", (12.0, 31.0)),
        ("00:00-00:10", (0.0, 10.0)),
        ("0:05-0:09", (5.0, 9.0)),
        ("1:02:03-1:02:10", (3723.0, 3730.0)),
        ("0:00:00-0:00:01", (0.0, 1.0)),
        ("01:00:00-02:00:00", (3600.0, 7200.0)),
        ("12.5-20", (12.5, 20.0)),
        ("12-20", (12.0, 20.0)),
        ("12.5s-20s", (12.5, 20.0)),
        ("12.5s-20", (12.5, 20.0)),
        ("12.5 s - 20 s", (12.5, 20.0)),
        ("0.0-5.0 seconds", (0.0, 5.0)),
        ("0.0-5.0 Seconds", (0.0, 5.0)),
        ("0.0-5.0 sec", (0.0, 5.0)),
        ("0.0-5.0 secs.", (0.0, 5.0)),
        ("3 seconds - 7 seconds", (3.0, 7.0)),
        ("3 second - 7 seconds", (3.0, 7.0)),
        ("3 sec to 7 sec", (3.0, 7.0)),
        ("00:05\u201300:09", (5.0, 9.0)),  # en dash
        ("00:05 \u2013 00:09", (5.0, 9.0)),
        ("00:05\u201400:09", (5.0, 9.0)),  # em dash
        ("00:05~00:09", (5.0, 9.0)),
        (" 00:05 to 00:09 ", (5.0, 9.0)),
        ("00:05 TO 00:09", (5.0, 9.0)),
        ("[00:01-00:04]", (1.0, 4.0)),
        ("(00:01-00:04)", (1.0, 4.0)),
        (" [ 00:01 - 00:04 ] ", (1.0, 4.0)),
        ("00:01.5-00:03.25", (1.5, 3.25)),
        ("75:10-75:20", (4510.0, 4520.0)),
        ("120:00-121:30", (7200.0, 7290.0)),
        ("00:10-00:10", (10.0, 10.0)),  # zero-length span is allowed
        ("00:59-01:00", (59.0, 60.0)),
        ("00:10-20", (10.0, 20.0)),  # mixed clock / seconds
        (".5-1.", (0.5, 1.0)),
        ("00:5-00:9", (5.0, 9.0)),  # single-digit seconds field
        ("0:59:59-1:00:00", (3599.0, 3600.0)),
    ],
)
def test_parse_time_span_accepts(text: str, expected: tuple[float, float]) -> None:
    got = parse_time_span(text)
    assert got == expected
    assert all(isinstance(x, float) for x in got)


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "",
        "   ",
        "-",
        "00:12",  # a single point
        "12.5",
        "00:31-00:12",  # end before start
        "20-12.5",
        "1:02:10-1:02:03",
        "00:75-01:00",  # seconds field >= 60
        "00:00-00:60",
        "1:60:00-1:61:00",  # minutes field >= 60 when hours are given
        "a-b",
        "00:01-b",
        "a-00:01",
        "1-2-3",  # three parts
        "00:01-00:02-00:03",
        "00:01 to 00:02 to 00:03",
        "00:01-",
        "-00:01",
        "-5-10",  # negative numbers are not spans
        "1:2:3:4-1:2:3:5",
        "1000:00-1001:00",  # more than three minute digits
        "00:01 00:02",  # no separator
        "5 minutes - 6 minutes",
        "abc 00:01-00:02",
        "1e3-2e3",
        "nan-inf",
        "0-" + "1" * 400,  # overflows to inf
        "9" * 400 + ":00:00-1:00:00",  # hour count too large for a float
    ],
)
def test_parse_time_span_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time_span(text)


@pytest.mark.parametrize("value", [None, 12, 1.5, b"00:01-00:02", ["00:01-00:02"]])
def test_parse_time_span_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError):
        parse_time_span(value)  # type: ignore[arg-type]


def test_parse_time_span_error_messages_quote_the_input() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_time_span("00:31-00:12")
    with pytest.raises(ValueError, match="garbage"):
        parse_time_span("garbage")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:12", 12.0),
        ("1:02:03", 3723.0),
        ("75:10", 4510.0),
        ("12.5", 12.5),
        ("12.5s", 12.5),
        ("12.5 seconds", 12.5),
        ("[00:04]", 4.0),
        (" 00:01.5 ", 1.5),
        ("0", 0.0),
    ],
)
def test_parse_timestamp(text: str, expected: float) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["", "x", "00:60", "1:60:00", "-3", "1e3", "1" * 400, None, 3])
def test_parse_timestamp_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# format_timestamp / render_span
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "00:00"),
        (0.0, "00:00"),
        (0.999, "00:00"),
        (5, "00:05"),
        (59.9, "00:59"),
        (60, "01:00"),
        (61.5, "01:01"),
        (599, "09:59"),
        (3599, "59:59"),
        (3600, "60:00"),
        (3723, "62:03"),
        (6000, "100:00"),
    ],
)
def test_format_timestamp(seconds: float, expected: str) -> None:
    assert format_timestamp(seconds) == expected


@pytest.mark.parametrize("seconds", [-1, -0.5, math.inf, -math.inf, math.nan])
def test_format_timestamp_rejects(seconds: float) -> None:
    with pytest.raises(ValueError):
        format_timestamp(seconds)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 10, "00:00-00:10"),
        (12, 31, "00:12-00:31"),
        (1.5, 2.2, "00:01-00:03"),  # start floors, end ceils
        (1.0, 2.0, "00:01-00:02"),  # integers stay put
        (0.1, 0.2, "00:00-00:01"),
        (59.5, 60.5, "00:59-01:01"),
        (3723.4, 3730.0, "62:03-62:10"),
        (5, 5, "00:05-00:05"),
        (5.5, 5.5, "00:05-00:06"),
    ],
)
def test_render_span(start: float, end: float, expected: str) -> None:
    assert render_span(start, end) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (10, 5),
        (-1, 5),
        (-0.5, 5),
        (0, math.inf),
        (-math.inf, 0),
        (math.nan, 1),
        (0, math.nan),
    ],
)
def test_render_span_rejects(start: float, end: float) -> None:
    with pytest.raises(ValueError):
        render_span(start, end)


@pytest.mark.parametrize(("start", "end"), [(0.3, 4.7), (12.0, 31.0), (59.9, 61.1), (3600.5, 3700)])
def test_render_span_contains_true_window(start: float, end: float) -> None:
    s, e = parse_time_span(render_span(start, end))
    assert s <= start and e >= end
    assert start - s < 1 and e - end < 1


# --------------------------------------------------------------------------------------------
# render_trace -> parse_trace
# --------------------------------------------------------------------------------------------

SEGMENTS = [
    Segment(start=0.0, end=10.0, caption="a red square enters", think="red comes first"),
    Segment(start=12.0, end=31.0, caption="a blue circle appears", think="blue is second"),
    Segment(start=3600.0, end=3725.0, caption="the screen goes dark", think="so the end is dark"),
]


def test_render_trace_exact_text() -> None:
    text = render_trace(SEGMENTS[:2], "C")
    assert text == (
        "<time>00:00-00:10</time> <caption>a red square enters</caption> "
        "<think>red comes first</think>\n"
        "<time>00:12-00:31</time> <caption>a blue circle appears</caption> "
        "<think>blue is second</think>\n"
        "<answer>C</answer>"
    )


def test_render_trace_without_answer_and_custom_sep() -> None:
    text = render_trace(SEGMENTS[:2], sep=" ")
    assert text == (
        "<time>00:00-00:10</time> <caption>a red square enters</caption> "
        "<think>red comes first</think> "
        "<time>00:12-00:31</time> <caption>a blue circle appears</caption> "
        "<think>blue is second</think>"
    )
    assert "<answer>" not in text


def test_render_trace_empty_and_stripped_fields() -> None:
    seg = Segment(start=1.2, end=2.1, caption="  spaced  ", think=None)
    assert render_trace([seg]) == (
        "<time>00:01-00:03</time> <caption>spaced</caption> <think></think>"
    )
    assert render_trace([]) == ""
    assert render_trace([], "A") == "<answer>A</answer>"


def test_render_trace_rejects_segment_without_span() -> None:
    with pytest.raises(ValueError, match="segment 1 has no time span"):
        render_trace([SEGMENTS[0], Segment(caption="x", think="y")])


@pytest.mark.parametrize("answer", ["C", "3.5", "a free-form answer"])
def test_round_trip_with_answer(answer: str) -> None:
    text = render_trace(SEGMENTS, answer)
    trace = parse_trace(text)
    assert trace.text == text
    assert trace.well_formed is True
    assert trace.answer == answer
    assert trace.spans == [(0.0, 10.0), (12.0, 31.0), (3600.0, 3725.0)]
    assert trace.captions == [s.caption for s in SEGMENTS]
    assert [s.think for s in trace.segments] == [s.think for s in SEGMENTS]
    assert [s.time_text for s in trace.segments] == ["00:00-00:10", "00:12-00:31", "60:00-62:05"]
    assert [(s.start, s.end, s.caption, s.think) for s in trace.segments] == [
        (s.start, s.end, s.caption, s.think) for s in SEGMENTS
    ]


def test_round_trip_without_answer() -> None:
    trace = parse_trace(render_trace(SEGMENTS))
    assert trace.answer is None
    assert trace.well_formed is False  # the rule needs exactly one answer
    assert trace.spans == [(0.0, 10.0), (12.0, 31.0), (3600.0, 3725.0)]
    assert len(trace.segments) == 3
    assert trace.captions == [s.caption for s in SEGMENTS]
    assert [s.span for s in trace.segments] == [s.span for s in SEGMENTS]


def test_render_trace_answer_whitespace_is_stripped_on_parse() -> None:
    trace = parse_trace(render_trace(SEGMENTS[:1], "  B \n"))
    assert trace.answer == "B"
    assert trace.well_formed is True


# --------------------------------------------------------------------------------------------
# parse_trace
# --------------------------------------------------------------------------------------------

CANONICAL = """<time>00:00-00:10</time> <caption>what is visible in that window</caption>
<think>what it means for the question</think>
<answer>C</answer>"""


def test_parse_canonical() -> None:
    trace = parse_trace(CANONICAL)
    assert trace == Trace(
        text=CANONICAL,
        segments=[
            Segment(
                start=0.0,
                end=10.0,
                caption="what is visible in that window",
                think="what it means for the question",
                time_text="00:00-00:10",
            )
        ],
        spans=[(0.0, 10.0)],
        answer="C",
        well_formed=True,
    )
    assert trace.captions == ["what is visible in that window"]
    assert trace.segments[0].span == (0.0, 10.0)


def test_parse_multiple_blocks_with_free_text_between() -> None:
    text = (
        "Let me look at the video first.\n"
        "<time>00:00-00:05</time><caption>A man opens a door.</caption><think>Entry.</think>\n"
        "Next I check what happens later, around the one-minute mark.\n"
        "<time>01:00-01:12.5</time>\n\t<caption>He sits down.</caption>\n<think>Rest.</think>\n"
        "So overall the order is clear.\n"
        "<time>1:00:00-1:00:03</time> <caption>Lights off.</caption> <think>End.</think>\n"
        "Final: <answer> B </answer> done."
    )
    trace = parse_trace(text)
    assert trace.well_formed is True
    assert trace.answer == "B"
    assert trace.spans == [(0.0, 5.0), (60.0, 72.5), (3600.0, 3603.0)]
    assert trace.captions == ["A man opens a door.", "He sits down.", "Lights off."]
    assert [s.think for s in trace.segments] == ["Entry.", "Rest.", "End."]
    assert [s.time_text for s in trace.segments] == [
        "00:00-00:05",
        "01:00-01:12.5",
        "1:00:00-1:00:03",
    ]


def test_parse_is_case_insensitive() -> None:
    text = "<TIME>00:01-00:02</time> <Caption>x</CAPTION> <THINK>y</Think> <Answer>b</ANSWER>"
    trace = parse_trace(text)
    assert trace.well_formed is True
    assert trace.answer == "b"  # content case is kept
    assert trace.spans == [(1.0, 2.0)]
    assert trace.segments == [
        Segment(start=1.0, end=2.0, caption="x", think="y", time_text="00:01-00:02")
    ]


def test_missing_answer() -> None:
    text = "<time>00:01-00:02</time><caption>x</caption><think>y</think>"
    trace = parse_trace(text)
    assert trace.answer is None
    assert trace.well_formed is False
    assert trace.spans == [(1.0, 2.0)]
    assert len(trace.segments) == 1


def test_two_answers_last_wins_and_ill_formed() -> None:
    text = (
        "<answer>A</answer><time>00:01-00:02</time><caption>x</caption><think>y</think>"
        "<answer>D</answer>"
    )
    trace = parse_trace(text)
    assert trace.answer == "D"
    assert trace.well_formed is False
    assert trace.spans == [(1.0, 2.0)]


def test_unequal_tag_counts_are_ill_formed_but_parsed() -> None:
    text = (
        "<time>00:01-00:02</time><caption>x</caption><think>y</think>"
        "<time>00:03-00:04</time><caption>z</caption>"
        "<answer>A</answer>"
    )
    trace = parse_trace(text)
    assert trace.well_formed is False
    assert trace.answer == "A"
    assert trace.spans == [(1.0, 2.0), (3.0, 4.0)]
    assert [(s.span, s.caption, s.think) for s in trace.segments] == [
        ((1.0, 2.0), "x", "y"),
        ((3.0, 4.0), "z", None),
    ]


def test_extra_think_opens_a_new_segment() -> None:
    text = (
        "<time>00:01-00:02</time><caption>x</caption><think>y</think><think>more</think>"
        "<answer>A</answer>"
    )
    trace = parse_trace(text)
    assert trace.well_formed is False  # 1 time, 1 caption, 2 think
    assert [(s.span, s.caption, s.think) for s in trace.segments] == [
        ((1.0, 2.0), "x", "y"),
        (None, None, "more"),
    ]


def test_unparseable_time_keeps_segment_but_not_span() -> None:
    text = (
        "<time>around the middle</time> <caption>x</caption> <think>y</think>\n"
        "<time>00:03-00:04</time> <caption>z</caption> <think>w</think>\n"
        "<answer>A</answer>"
    )
    trace = parse_trace(text)
    first, second = trace.segments
    assert first == Segment(
        start=None, end=None, caption="x", think="y", time_text="around the middle"
    )
    assert first.span is None
    assert second.span == (3.0, 4.0)
    assert trace.spans == [(3.0, 4.0)]
    # The format rule only looks at tags, not at whether the time text parses.
    assert trace.well_formed is True


def test_reversed_span_is_unparseable() -> None:
    text = "<time>00:09-00:05</time><caption>x</caption><think>y</think><answer>A</answer>"
    trace = parse_trace(text)
    assert trace.spans == []
    assert trace.segments[0].start is None
    assert trace.segments[0].time_text == "00:09-00:05"
    assert trace.well_formed is True


def test_time_inside_think_is_a_span_video_r2_style() -> None:
    text = (
        "<time>00:00-00:04</time><caption>a dog</caption>"
        "<think>the dog barks at <time>00:02-00:03</time>, before the cat</think>"
        "<answer>A</answer>"
    )
    trace = parse_trace(text)
    assert trace.spans == [(0.0, 4.0), (2.0, 3.0)]
    assert len(trace.segments) == 1
    assert trace.segments[0].think == "the dog barks at <time>00:02-00:03</time>, before the cat"
    # Two time tags against one caption and one think: counts differ.
    assert trace.well_formed is False


def test_video_r2_style_only_think_with_times() -> None:
    text = "<think>at <time>00:05-00:09</time> he jumps; at [00:10-00:12] he lands</think>"
    trace = parse_trace(text)
    assert trace.spans == [(5.0, 9.0)]  # only tagged times are spans
    assert trace.answer is None
    assert trace.well_formed is False


def test_unclosed_tags() -> None:
    text = "<time>00:01-00:02 <caption>x</caption> <think>y <answer>B"
    trace = parse_trace(text)
    assert trace.spans == []
    assert trace.answer is None
    assert trace.well_formed is False
    assert trace.segments == [Segment(caption="x")]


def test_unclosed_answer_after_a_good_block() -> None:
    text = "<time>00:01-00:02</time><caption>x</caption><think>y</think><answer>B"
    trace = parse_trace(text)
    assert trace.answer is None
    assert trace.well_formed is False
    assert trace.spans == [(1.0, 2.0)]


def test_nested_garbage() -> None:
    text = "<think><caption><time></time></caption></think><answer><answer>A</answer></answer>"
    trace = parse_trace(text)
    assert trace.well_formed is False
    assert trace.answer == "<answer>A"  # non-greedy: first open up to the first close
    assert trace.spans == []
    assert [(s.caption, s.think) for s in trace.segments] == [
        (None, "<caption><time></time></caption>")
    ]


def test_self_closing_and_malformed_tags_are_ignored() -> None:
    text = "<time/> <caption /> <think> </ think> < answer>A</answer >"
    trace = parse_trace(text)
    assert trace == Trace(text=text)


@pytest.mark.parametrize("text", ["", "   ", "no tags at all", "<>", "</answer><answer>"])
def test_empty_and_tagless(text: str) -> None:
    trace = parse_trace(text)
    assert trace == Trace(text=text)
    assert trace.captions == []


@pytest.mark.parametrize("value", [None, 3, 1.5, b"<answer>A</answer>", ["<answer>A</answer>"]])
def test_non_string_input(value: object) -> None:
    trace = parse_trace(value)  # type: ignore[arg-type]
    assert trace == Trace(text="")
    assert trace.well_formed is False
    assert trace.answer is None


def test_answer_and_contents_are_stripped_multiline() -> None:
    text = (
        "<time>\n 00:01 - 00:02 \n</time>\n"
        "<caption>\n  line one\n  line two\n</caption>\n"
        "<think>\nfirst thought\n\nsecond thought\n</think>\n"
        "<answer>\n  C  \n</answer>\n"
    )
    trace = parse_trace(text)
    assert trace.well_formed is True
    assert trace.answer == "C"
    assert trace.spans == [(1.0, 2.0)]
    (seg,) = trace.segments
    assert seg.time_text == "00:01 - 00:02"
    assert seg.caption == "line one\n  line two"
    assert seg.think == "first thought\n\nsecond thought"


def test_empty_answer_is_empty_string_not_none() -> None:
    trace = parse_trace(
        "<time>00:01-00:02</time><caption></caption><think></think><answer></answer>"
    )
    assert trace.answer == ""
    assert trace.well_formed is True
    assert trace.segments[0].caption == ""
    assert trace.segments[0].think == ""
    assert trace.captions == [""]


def test_every_accepted_time_format_inside_a_trace() -> None:
    times = ["1:02:03-1:02:10", "12.5s-20s", "0.0-5.0 seconds", "[00:01-00:04]", "00:05\u201300:09"]
    text = "".join(f"<time>{t}</time><caption>c</caption><think>t</think>" for t in times)
    trace = parse_trace(text + "<answer>A</answer>")
    assert trace.spans == [(3723.0, 3730.0), (12.5, 20.0), (0.0, 5.0), (1.0, 4.0), (5.0, 9.0)]
    assert trace.well_formed is True


# --- the format rule, borderline cases ------------------------------------------------------

WF = [
    # minimal
    "<time>00:00-00:01</time><caption>c</caption><think>t</think><answer>A</answer>",
    # whitespace of every kind between the three tags
    "<time>x</time> \n\t <caption>c</caption>\n\n<think>t</think>\n<answer>A</answer>",
    # answer first is still one answer
    "<answer>A</answer><time>x</time><caption>c</caption><think>t</think>",
    # one good block is enough, the others may be out of order as long as counts match
    "<time>a</time><caption>c</caption><think>t</think>"
    "<think>t2</think><caption>c2</caption><time>b</time><answer>A</answer>",
    # free text around the block
    "Sure! <time>a</time> <caption>c</caption> <think>t</think> so... <answer>A</answer> bye",
    # unparseable time content does not matter to the rule
    "<time>???</time><caption>c</caption><think>t</think><answer>A</answer>",
]

ILL = [
    # no answer
    "<time>a</time><caption>c</caption><think>t</think>",
    # two answers
    "<time>a</time><caption>c</caption><think>t</think><answer>A</answer><answer>B</answer>",
    # non-whitespace text between time and caption: no block
    "<time>a</time> then <caption>c</caption><think>t</think><answer>A</answer>",
    # non-whitespace text between caption and think: no block
    "<time>a</time><caption>c</caption>.<think>t</think><answer>A</answer>",
    # think before caption
    "<time>a</time><think>t</think><caption>c</caption><answer>A</answer>",
    # caption before time
    "<caption>c</caption><time>a</time><think>t</think><answer>A</answer>",
    # unequal counts despite a good block
    "<time>a</time><caption>c</caption><think>t</think><think>u</think><answer>A</answer>",
    "<time>a</time><caption>c</caption><think>t</think><time>b</time><answer>A</answer>",
    # no block at all, only an answer
    "<answer>A</answer>",
    # only think + answer (plain R1 format)
    "<think>t</think><answer>A</answer>",
    # empty
    "",
    # two blocks that are each broken by text: counts match but no block is contiguous;
    # a match must not stretch from the first block's tags to the second's
    "<time>a</time> <caption>c</caption> junk <think>t</think> "
    "<time>b</time> junk2 <caption>d</caption> <think>e</think><answer>A</answer>",
    "<time>a</time> x <caption>c</caption> <think>t</think> "
    "<time>b</time> <caption>d</caption> y <think>e</think><answer>A</answer>",
    # unclosed time
    "<time>a <caption>c</caption><think>t</think><answer>A</answer>",
]


@pytest.mark.parametrize("text", WF)
def test_format_rule_accepts(text: str) -> None:
    assert is_well_formed(text) is True
    assert parse_trace(text).well_formed is True


@pytest.mark.parametrize("text", ILL)
def test_format_rule_rejects(text: str) -> None:
    assert is_well_formed(text) is False
    assert parse_trace(text).well_formed is False


def test_think_before_caption_makes_separate_segments() -> None:
    text = "<time>00:01-00:02</time><think>t</think><caption>c</caption><answer>A</answer>"
    trace = parse_trace(text)
    assert [(s.span, s.caption, s.think) for s in trace.segments] == [
        ((1.0, 2.0), None, "t"),
        (None, "c", None),
    ]


# --- robustness ----------------------------------------------------------------------------

_ALPHABET = string.printable + "\u2013\u2014\u00e9\u4e2d"
_PIECES = [
    "<time>",
    "</time>",
    "<caption>",
    "</caption>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<TIME>",
    "</Think>",
    "00:12-00:31",
    "1:02:03-1:02:10",
    "12.5s-20s",
    "00:75-01:00",
    "9" * 50 + ":00:00-1:00:00",
    "-",
    ":",
    " ",
    "\n",
    "to",
]


def _random_text(rng: random.Random, n: int) -> str:
    parts = []
    for _ in range(n):
        if rng.random() < 0.5:
            parts.append(rng.choice(_PIECES))
        else:
            parts.append("".join(rng.choices(_ALPHABET, k=rng.randint(1, 8))))
    return "".join(parts)


def test_random_strings_never_raise() -> None:
    rng = random.Random(1234)
    for i in range(300):
        text = _random_text(rng, rng.randint(0, 60 if i % 10 else 600))
        trace = parse_trace(text)
        assert trace.text == text
        assert isinstance(trace.well_formed, bool)
        assert trace.well_formed == is_well_formed(text)
        for start, end in trace.spans:
            assert math.isfinite(start) and math.isfinite(end) and 0 <= start <= end
        if trace.well_formed:
            assert trace.answer is not None


def test_random_time_texts_raise_only_value_error() -> None:
    rng = random.Random(99)
    alphabet = "0123456789:.-\u2013~ sto[]()"
    for _ in range(2000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 16)))
        try:
            start, end = parse_time_span(text)
        except ValueError:
            continue
        assert 0 <= start <= end and math.isfinite(end)


def test_huge_hour_count_does_not_break_parse_trace() -> None:
    text = "<time>" + "9" * 400 + ":00:00-1:00:00</time><caption>c</caption><think>t</think>"
    trace = parse_trace(text + "<answer>A</answer>")
    assert trace.spans == []
    assert trace.segments[0].span is None
    assert trace.well_formed is True


def test_long_repetitive_output_is_fast() -> None:
    # A degenerate rollout repeating half-blocks must not trigger regex backtracking blow-up.
    text = "<time>00:01-00:02</time> <caption>b</caption> junk " * 2000 + "<answer>A</answer>"
    trace = parse_trace(text)
    assert trace.well_formed is False
    assert len(trace.spans) == 2000
    assert len(trace.segments) == 2000


def test_render_trace_as_each_sibling_style():
    from vthinker.trace import TRACE_STYLES, render_trace_as

    segs = [
        Segment(start=2.0, end=5.0, caption="a red square appears", think="It is first."),
        Segment(start=6.0, end=8.0, caption="a blue circle appears", think="It comes later."),
    ]
    seen = "00:02-00:05: a red square appears. 00:06-00:08: a blue circle appears."
    both = (
        "00:02-00:05: a red square appears. It is first. "
        "00:06-00:08: a blue circle appears. It comes later."
    )
    assert render_trace_as(segs, "B", "observation") == (
        f"<observation>{seen}</observation>\n<think>It is first. It comes later.</think>\n"
        "<answer>B</answer>"
    )
    assert render_trace_as(segs, "B", "think") == f"<think>{both}</think>\n<answer>B</answer>"
    assert render_trace_as(segs, "B", "answer_think_answer") == (
        f"<answer>B</answer>\n<think>{both}</think>\n<answer>B</answer>"
    )
    assert render_trace_as(segs, "B", "video_thinker") == render_trace(segs, "B")
    assert set(TRACE_STYLES) == {"video_thinker", "observation", "think", "answer_think_answer"}
    with pytest.raises(ValueError, match="unknown trace style 'r1'"):
        render_trace_as(segs, "B", "r1")
    with pytest.raises(ValueError, match="segment 0 has no time span"):
        render_trace_as([Segment(caption="x")], "B", "think")
