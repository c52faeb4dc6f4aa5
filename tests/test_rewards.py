"""Rewards on hand-written completions, and their weighted combination."""

from __future__ import annotations

import math

import pytest
import torch

from vthinker.data.schema import Evidence, VideoSample
from vthinker.rewards import (
    AccuracyReward,
    CaptionReward,
    FormatReward,
    Reward,
    RewardBreakdown,
    RewardError,
    TemporalIoUReward,
    combine,
)
from vthinker.rewards.accuracy import word_error_rate


def mc(answer: str = "B", **kw) -> VideoSample:
    return VideoSample(
        id=kw.pop("id", "q1"),
        video="v.mp4",
        question="What appears second?",
        answer=answer,
        options=["a red ball", "a blue cube", "a green cone"],
        **kw,
    )


def typed(problem_type: str, answer: str, **kw) -> VideoSample:
    return VideoSample(
        id=kw.pop("id", "q2"),
        video="v.mp4",
        question="?",
        answer=answer,
        problem_type=problem_type,
        **kw,
    )


GOOD = (
    "<time>00:00-00:04</time> <caption>a red ball rolls in</caption> "
    "<think>the ball is first</think>\n"
    "<time>00:04-00:09</time> <caption>a blue cube appears</caption> "
    "<think>the cube is second</think>\n<answer>B</answer>"
)


# --- format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        (GOOD.replace("<answer>B</answer>", ""), 0.0),  # no answer
        (GOOD + " <answer>C</answer>", 0.0),  # two answers
        (GOOD.replace("<think>the ball is first</think>", ""), 0.0),  # unequal tag counts
        ("<answer>B</answer>", 0.0),  # no (time, caption, think) block
        ("", 0.0),
    ],
)
def test_format_reward(text: str, expected: float) -> None:
    assert FormatReward().score(text, mc()) == expected


# --- accuracy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("<answer>b</answer>", 1.0),
        ("<answer>a blue cube</answer>", 1.0),  # option text
        ("Final answer: B", 1.0),
        ("<answer>C</answer>", 0.0),
        ("<answer>B</answer> no wait <answer>A</answer>", 0.0),  # the last answer counts
        ("<answer>D</answer>", 0.0),  # not an option
        ("", 0.0),
        ("I am not sure.", 0.0),
    ],
)
def test_accuracy_multiple_choice(text: str, expected: float) -> None:
    assert AccuracyReward().score(text, mc()) == expected


def test_accuracy_numbers() -> None:
    r = AccuracyReward()
    s = typed("numerical", "3.5")
    assert r.score("<answer>3.50</answer>", s) == 1.0
    assert r.score("<answer>3.51</answer>", s) == 0.0
    assert r.score("<answer>three and a half</answer>", s) == 0.0
    assert AccuracyReward(abs_tol=0.01).score("<answer>3.51</answer>", s) == 1.0
    assert AccuracyReward(rel_tol=0.1).score("<answer>3.8</answer>", s) == 1.0  # 0.3 <= 0.35
    assert AccuracyReward(rel_tol=0.1).score("<answer>3.9</answer>", s) == 0.0  # 0.4 > 0.35
    reg = typed("regression", "10")
    assert r.score("<answer>8</answer>", reg) == pytest.approx(0.8)  # 1 - 2/10
    assert r.score("<answer>12.5</answer>", reg) == pytest.approx(0.75)  # 1 - 2.5/10
    assert r.score("<answer>25</answer>", reg) == 0.0  # 1 - min(1, 15/10)
    assert r.score("<answer>?</answer>", reg) == 0.0


def test_accuracy_text_types() -> None:
    r = AccuracyReward()
    # free-form: ROUGE-L F, beta 1.2. [red ball] vs [a red ball]: LCS 2, P 1, R 2/3
    # -> 2.44 * 1 * (2/3) / (2/3 + 1.44 * 1)
    expected = 2.44 * (2 / 3) / (2 / 3 + 1.44)
    assert r.score("<answer>red ball</answer>", typed("free-form", "a red ball")) == pytest.approx(
        expected
    )
    assert r.score("<answer></answer>", typed("free-form", "a red ball")) == 0.0
    # OCR: 1 - WER; one substitution in three words -> 2/3
    assert r.score("<answer>hello word foo</answer>", typed("OCR", "hello world foo")) == (
        pytest.approx(2 / 3)
    )
    assert r.score("<answer>x y z w v u</answer>", typed("OCR", "a b")) == 0.0  # WER 3 -> clip
    assert word_error_rate("a b c", "a c") == pytest.approx(1 / 3)  # one deletion
    assert word_error_rate("", "a") == 1.0  # one insertion over max(1, 0) words


def test_accuracy_temporal_grounding() -> None:
    r = AccuracyReward()
    s = typed("temporal grounding", "00:10-00:20")
    assert r.score("<answer>00:15-00:25</answer>", s) == pytest.approx(5 / 15)
    assert r.score("<answer>from 10 to 20 seconds</answer>", s) == pytest.approx(1.0)
    assert r.score("<answer>00:25-00:15</answer>", s) == 0.0  # inverted: unparseable
    assert r.score("<answer>later on</answer>", s) == 0.0
    assert r.score("", s) == 0.0


# Gold B. Evaluation-time extraction reads all of these as B; a reward must not.
LENIENT_ONLY = [
    "<think>I would say Option (B)</think>",  # no answer tag
    "<think>the cube is second</think> <answer>B",  # cut off before </answer>
    "<answer>A or B</answer>",  # two options
    "<answer>b</answer>",  # lower case
    "<answer>a blue cube</answer>",  # option text, not a letter
    "<answer>Option B</answer>",
    "<answer>(B</answer>",  # unbalanced parenthesis
]


@pytest.mark.parametrize("text", LENIENT_ONLY)
def test_strict_accuracy_rejects_what_extraction_forgives(text: str) -> None:
    assert AccuracyReward().score(text, mc()) == 1.0
    assert AccuracyReward(strict=True).score(text, mc()) == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("<answer>B</answer>", 1.0),
        ("<answer> B. </answer>", 1.0),  # stripped, a trailing period
        ("<answer>(B)</answer>", 1.0),
        ("<answer>(B).</answer>", 1.0),
        ("<answer>\nB\n</answer>", 1.0),
        ("<answer>A</answer> no wait <answer>B</answer>", 1.0),  # the last closed answer
        ("<answer>B</answer> no wait <answer>A</answer>", 0.0),
        ("<answer>C</answer>", 0.0),
        ("<answer>B.</answer>.", 1.0),
        ("<answer>B)</answer>", 0.0),
        ("<answer>B..</answer>", 0.0),
        ("<answer></answer>", 0.0),
        ("", 0.0),
    ],
)
def test_strict_accuracy_multiple_choice(text: str, expected: float) -> None:
    assert AccuracyReward(strict=True).score(text, mc()) == expected


@pytest.mark.parametrize(
    ("gold", "text", "expected"),
    [
        ("3.5", "<answer>3.5</answer>", 1.0),
        ("3.5", "<answer> 3.50 </answer>", 1.0),
        ("3.5", "<answer>3.504</answer>", 1.0),  # round(3.504, 2) == 3.5
        ("3.5", "<answer>3.51</answer>", 0.0),
        ("3.5", "<answer>3.5 meters</answer>", 0.0),  # not one number
        ("3.5", "<answer>about 3.5</answer>", 0.0),
        ("3.5", "<answer>3.5 or 4</answer>", 0.0),
        ("3.5", "<think>it is 3.5</think> <answer>3.5", 0.0),  # no closed answer
        ("3", "<answer>3</answer>", 1.0),
        ("3", "<answer>3.0</answer>", 0.0),  # Video-R1: decimal mark in one of the two only
        ("1200", "<answer>1200</answer>", 1.0),
        ("-2.25", "<answer>-2.25</answer>", 1.0),
    ],
)
def test_strict_accuracy_numerical_follows_video_r1(gold: str, text: str, expected: float) -> None:
    assert AccuracyReward(strict=True).score(text, typed("numerical", gold)) == expected


def test_strict_accuracy_other_types_need_the_closed_tag() -> None:
    strict, lenient = AccuracyReward(strict=True), AccuracyReward()
    reg = typed("regression", "10")
    assert strict.score("<answer>8</answer>", reg) == pytest.approx(0.8)  # 1 - 2/10
    assert strict.score("<answer>8", reg) == 0.0
    assert lenient.score("<answer>8", reg) == pytest.approx(0.8)
    free = typed("free-form", "a red ball")
    assert strict.score("<answer>a red ball</answer>", free) == pytest.approx(1.0)
    assert strict.score("a red ball", free) == 0.0
    assert lenient.score("a red ball", free) == pytest.approx(1.0)
    ocr = typed("OCR", "hello world foo")
    assert strict.score("x <answer>hello word foo</answer>", ocr) == pytest.approx(2 / 3)
    assert strict.score("<answer>hello world foo", ocr) == 0.0
    span = typed("temporal grounding", "00:10-00:20")
    assert strict.score("<answer>00:15-00:25</answer>", span) == pytest.approx(5 / 15)
    assert strict.score("<answer>00:10-00:20", span) == 0.0
    assert lenient.score("<answer>00:10-00:20", span) == pytest.approx(1.0)


def test_accuracy_bad_gold_names_the_sample() -> None:
    s = typed("numerical", "many", id="count-7")
    with pytest.raises(RewardError, match=r"reward 'accuracy' failed on sample 'count-7'.*number"):
        AccuracyReward()(["<answer>3</answer>"], [s])
    with pytest.raises(ValueError, match="tolerances"):
        AccuracyReward(abs_tol=-1.0)
    strict = AccuracyReward(strict=True)
    with pytest.raises(RewardError, match=r"sample 'count-7'.*not a number"):
        strict(["no answer"], [s])


# --- temporal IoU -------------------------------------------------------------------------


def grounded(**kw) -> VideoSample:
    return mc(
        evidence=[Evidence(10, 20, "a man slices an onion"), Evidence(30, 40, "he fries it")], **kw
    )


def test_temporal_iou_reward() -> None:
    r = TemporalIoUReward()
    text = (
        "<time>00:12-00:20</time><caption>x</caption><think>y</think>"
        "<time>00:30-00:50</time><caption>x</caption><think>y</think>"
        "<time>soon</time><caption>x</caption><think>y</think><answer>B</answer>"
    )
    # evidence (10,20): best 8/10 (from 12-20); (30,40): best 10/20 (from 30-50) -> mean 0.65
    assert r.score(text, grounded()) == pytest.approx(0.65)
    assert r.score("<answer>B</answer>", grounded()) == 0.0  # no span
    assert r.score("<time>00:20-00:12</time>", grounded()) == 0.0  # inverted: ignored
    assert r.score("", grounded()) == 0.0
    assert r.score(text, mc()) is None  # no evidence: not applicable
    # Evidence is in file time; the model sees the clip from video_start = 100 s.
    clip = mc(evidence=[Evidence(110, 120)], video_start=100.0, video_end=130.0)
    assert r.score("<time>00:10-00:20</time>", clip) == pytest.approx(1.0)
    assert TemporalIoUReward(clip_relative=False).score("<time>00:10-00:20</time>", clip) == 0.0


# --- caption ------------------------------------------------------------------------------


CAPTIONED = (
    "<time>00:10-00:20</time><caption>a man slices an onion</caption><think>t</think>"
    "<time>00:15-00:35</time><caption>the man fries the onion</caption><think>t</think>"
    "<time>whenever</time><caption>something</caption><think>t</think><answer>B</answer>"
)


def test_caption_reward() -> None:
    sample = mc(
        evidence=[
            Evidence(10, 20, "a man slices an onion"),
            Evidence(20, 30, "the man fries the onion"),
        ]
    )
    # seg 1 (10-20) overlaps only evidence 1 (10 s): identical caption -> 1.0
    # seg 2 (15-35) overlaps evidence 1 by 5 s and evidence 2 by 10 s:
    #   ROUGE-L([the man fries the onion], [a man slices an onion]) = LCS 2 (man, onion),
    #   P = R = 2/5 -> F = 0.4; against evidence 2: 1.0 -> (5 * 0.4 + 10 * 1.0) / 15 = 0.8
    # seg 3: unparseable time -> 0. Mean over 3 captioned segments.
    assert CaptionReward().score(CAPTIONED, sample) == pytest.approx((1.0 + 0.8 + 0.0) / 3)
    # token F1: seg 2 vs evidence 1: common {man, onion} = 2 of 5 and 5 -> 0.4 as well.
    assert CaptionReward(similarity="token_f1").score(CAPTIONED, sample) == pytest.approx(0.6)
    # A segment that overlaps no evidence (or only touches it) scores 0.
    assert CaptionReward().score(
        "<time>00:30-00:40</time><caption>a man slices an onion</caption>", sample
    ) == pytest.approx(0.0)
    assert CaptionReward().score("<answer>B</answer>", sample) == 0.0  # no caption
    assert CaptionReward().score(CAPTIONED, mc()) is None  # no evidence
    assert CaptionReward().score(CAPTIONED, mc(evidence=[Evidence(0, 5)])) is None  # no caption
    with pytest.raises(ValueError, match="similarity"):
        CaptionReward(similarity="bleu")  # type: ignore[arg-type]


# --- base and combine ---------------------------------------------------------------------


class Const(Reward):
    name = "const"

    def __init__(self, values: list[float | None], **kw) -> None:
        super().__init__(**kw)
        self.values = values

    def score(self, completion: str, sample: VideoSample) -> float | None:
        return self.values[int(completion)]


class Broken(Reward):
    name = "broken"

    def score(self, completion: str, sample: VideoSample) -> float | None:
        raise KeyError("no such field")


class NotANumber(Reward):
    name = "nan_string"

    def score(self, completion: str, sample: VideoSample) -> float | None:
        return "high"  # type: ignore[return-value]


def test_combine_weights_none_and_nan() -> None:
    samples = [mc(id=f"s{i}") for i in range(3)]
    completions = ["0", "1", "2"]
    a = Const([1.0, 0.0, None], weight=2.0, name="a")
    b = Const([0.5, math.nan, 1.0], weight=0.5, name="b")
    out = combine([a, b], completions, samples)
    assert isinstance(out, RewardBreakdown)
    # total = 2 * a + 0.5 * b, None -> 0, NaN stays NaN
    assert out.total.dtype == torch.float32 and out.total.shape == (3,)
    assert out.total[0].item() == pytest.approx(2.25)
    assert math.isnan(out.total[1].item())
    assert out.total[2].item() == pytest.approx(0.5)
    assert out.nan_mask.tolist() == [False, True, False]
    assert out.has_nan
    assert out.parts["a"] == [1.0, 0.0, None]  # unweighted
    assert out.weights == {"a": 2.0, "b": 0.5}
    # means over applicable values: a (1 + 0) / 2; b (0.5 + 1) / 2 without the NaN
    assert out.means() == pytest.approx({"a": 0.5, "b": 0.75})
    assert out.counts() == {"a": 2, "b": 2}
    none_only = combine([Const([None], name="c")], ["0"], samples[:1])
    assert math.isnan(none_only.means()["c"]) and none_only.total.tolist() == [0.0]
    # A zero weight still propagates NaN (0 * NaN).
    assert math.isnan(combine([Const([math.nan], weight=0.0)], ["0"], samples[:1]).total.item())


def test_combine_with_real_rewards() -> None:
    samples = [mc(id="x"), mc(id="y")]
    out = combine(
        [AccuracyReward(weight=1.0), FormatReward(weight=0.5)],
        [GOOD, "<answer>C</answer>"],
        samples,
    )
    assert out.total.tolist() == pytest.approx([1.5, 0.0])
    assert out.parts == {"accuracy": [1.0, 0.0], "format": [1.0, 0.0]}
    assert combine([], ["a"], samples[:1]).total.tolist() == [0.0]


def test_reward_errors_name_reward_and_sample() -> None:
    samples = [mc(id="ok"), mc(id="vid-42/q3")]
    with pytest.raises(RewardError, match=r"reward 'broken' failed on sample 'ok': KeyError"):
        Broken()(["a", "b"], samples)
    with pytest.raises(RewardError, match=r"'custom' failed on sample 'ok'"):
        combine([Broken(name="custom")], ["a", "b"], samples)
    with pytest.raises(RewardError, match=r"'nan_string' returned 'high' for sample 'ok'"):
        NotANumber()(["a"], samples[:1])
    with pytest.raises(ValueError, match="distinct"):
        combine([FormatReward(), FormatReward()], ["a"], samples[:1])
    with pytest.raises(ValueError, match="2 completions for 1 samples"):
        FormatReward()(["a", "b"], samples[:1])
    with pytest.raises(ValueError, match="finite"):
        FormatReward(weight=math.inf)


def test_reward_names_and_repr() -> None:
    assert AccuracyReward().name == "accuracy"
    assert FormatReward().name == "format"
    assert TemporalIoUReward().name == "temporal_iou"
    assert CaptionReward().name == "caption"
    r = FormatReward(weight=0.5, name="fmt")
    assert (r.name, r.weight, FormatReward.name) == ("fmt", 0.5, "format")
    assert repr(r) == "FormatReward(name='fmt', weight=0.5)"
