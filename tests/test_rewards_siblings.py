"""Exact values of the sibling methods' rewards on hand-written completions.

VideoP2R (perception), ReWatch-R1 (observation, reasoning), Video-R2 (temporal alignment,
consistency gate) and the tag-sequence format reward. Judged rewards use deterministic
judges (`RuleJudge`, `CallableJudge`). ROUGE-L values are computed by hand in comments
(COCO tokens, LCS, F = (1 + 1.44) P R / (R + 1.44 P)).
"""

from __future__ import annotations

import pytest

from vthinker.data.schema import Evidence, VideoSample
from vthinker.rewards import (
    CallableJudge,
    ConsistencyGate,
    ObservationReward,
    PerceptionReward,
    ReasoningReward,
    RewardError,
    RuleJudge,
    TagSequenceFormatReward,
    TemporalAlignmentReward,
    combine,
)
from vthinker.rewards.judge import JudgeQuery
from vthinker.rewards.rewatch import observation_text
from vthinker.rewards.tags import matches_tag_sequence
from vthinker.rewards.video_r2 import CitedEvent, cited_events, reasoning_text

OPTIONS = ["blue circle", "yellow triangle", "green triangle", "red square"]


def _sample(answer: str = "C", evidence=None, **kw) -> VideoSample:
    return VideoSample(
        id=kw.pop("id", "s1"),
        video="v.mp4",
        question="Which shape appears last?",
        answer=answer,
        options=kw.pop("options", OPTIONS),
        evidence=evidence or [],
        **kw,
    )


def _replying(reply):
    """A CallableJudge that records its queries and answers ``reply`` (str or callable)."""
    seen: list[JudgeQuery] = []

    def fn(q: JudgeQuery):
        seen.append(q)
        return reply(q) if callable(reply) else reply

    return CallableJudge(fn), seen


# --- tag-sequence format ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>x</think> <answer>B</answer>", True),
        ("\n <think>x</think>\n<answer>B</answer>\n", True),
        ("<THINK>x</THINK><Answer>B</Answer>", True),  # tag names are case-insensitive
        ("<think>x</think> junk <answer>B</answer>", False),  # text outside the sections
        ("<think> </think><answer>B</answer>", False),  # an empty section
        ("<think>x <answer>A</answer></think><answer>B</answer>", False),  # answer inside think
        ("<answer>B</answer><think>x</think>", False),  # wrong order
        ("<think>x</think>", False),  # missing answer
        ("<think>x</think><answer>B</answer><answer>C</answer>", False),  # extra section
    ],
)
def test_tag_sequence_think_answer(text, ok):
    reward = TagSequenceFormatReward(tags=["think", "answer"])
    assert reward.score(text, _sample()) == float(ok)


def test_tag_sequence_three_sections_and_bad_names():
    tags = ["observation", "think", "answer"]
    assert matches_tag_sequence(
        "<observation>o</observation><think>t</think><answer>A</answer>", tags
    )
    assert not matches_tag_sequence("<think>t</think><answer>A</answer>", tags)
    assert matches_tag_sequence(
        "<answer>A</answer><think>t</think><answer>B</answer>", ["answer", "think", "answer"]
    )
    with pytest.raises(ValueError, match="invalid tag"):
        TagSequenceFormatReward(tags=["<think>"])
    with pytest.raises(ValueError, match="at least one"):
        TagSequenceFormatReward(tags=[])


# --- VideoP2R perception reward ---------------------------------------------------------------


def test_perception_rule_judge_right_wrong_and_tie():
    reward = PerceptionReward(judge=RuleJudge())
    s = _sample("C")
    right = "<observation>Only a green triangle is left at the end.</observation><think>t</think><answer>C</answer>"
    # Option word shares: blue circle 0/2, yellow triangle 1/2, green triangle 2/2, red square 0/2.
    assert reward.score(right, s) == 1.0
    wrong = "<observation>A red square slides in.</observation><think>t</think><answer>C</answer>"
    assert reward.score(wrong, s) == 0.0  # red square 2/2 -> D
    tie = "<observation>A yellow triangle and a green triangle.</observation><answer>C</answer>"
    assert reward.score(tie, s) == 0.0  # two options at 2/2: the judge says none


def test_perception_without_section_asks_nothing():
    judge, seen = _replying("<answer>C</answer>")
    reward = PerceptionReward(judge=judge)
    s = _sample("C")
    assert reward.score("<think>t</think><answer>C</answer>", s) == 0.0
    assert reward.score("<observation>  </observation><answer>C</answer>", s) == 0.0
    assert seen == []


def test_perception_query_is_question_plus_first_perception_only():
    judge, seen = _replying("<answer>c</answer>")
    reward = PerceptionReward(judge=judge)
    text = (
        "<observation> green triangle last </observation><observation>ignored</observation>"
        "<think>so C</think><answer>C</answer>"
    )
    assert reward.score(text, _sample("C")) == 1.0  # "c" is a marked label: option C
    (q,) = seen
    assert q.context == "green triangle last"
    assert q.question == "Which shape appears last?"
    assert q.options == tuple(OPTIONS) and q.task == "answer"
    assert "so C" not in q.context  # the reasoning is not shown to the judge


def test_perception_judge_none_and_failure():
    s = _sample("C")
    text = "<observation>something</observation><think>t</think><answer>C</answer>"
    none_judge, _ = _replying("<answer>none</answer>")
    assert PerceptionReward(judge=none_judge).score(text, s) == 0.0
    garbage, _ = _replying("I cannot see the video, sorry")
    assert PerceptionReward(judge=garbage).score(text, s) is None  # failed: not applicable
    assert garbage.stats()["failures_unparsable"] == 1.0


def test_perception_batch_asks_each_distinct_text_once():
    judge, seen = _replying(
        lambda q: "<answer>C</answer>" if "green" in q.context else "<answer>A</answer>"
    )
    reward = PerceptionReward(judge=judge)
    s = _sample("C")
    texts = [
        "<observation>green</observation><answer>C</answer>",
        "<observation>green</observation><answer>B</answer>",
        "<observation>blue</observation><answer>C</answer>",
        "<answer>C</answer>",
    ]
    assert reward(texts, [s] * 4) == [1.0, 1.0, 0.0, 0.0]
    assert len(seen) == 2  # two distinct perceptions, one judgement each
    assert reward.stats()["judge_requests"] == 3.0


def test_judged_reward_names_the_sample_on_bad_gold():
    judge, _ = _replying("<answer>C</answer>")
    bad = VideoSample(id="bad1", video="v", question="q", answer="maybe")  # not a letter
    with pytest.raises(RewardError, match=r"'bad1'.*not an option letter"):
        PerceptionReward(judge=judge).score("<observation>o</observation>", bad)


# --- ReWatch-R1 observation and reasoning rewards ----------------------------------------------

EVIDENCE = [Evidence(0, 10, "a red ball rolls left"), Evidence(10, 20, "a blue cube falls down")]


def test_observation_reward_overlap_weighted_rouge():
    s = _sample("A", evidence=EVIDENCE)
    one = "<time>00:05-00:15</time> <caption>a blue ball rolls</caption> <think>t</think>"
    # Window 5-15 overlaps each reference by 5 s.
    # vs "a red ball rolls left": LCS(a ball rolls)=3, P=3/4, R=3/5 ->
    #   F = 2.44*0.45/(0.6+1.08) = 1.098/1.68 = 183/280
    # vs "a blue cube falls down": LCS(a blue)=2, P=2/4, R=2/5 ->
    #   F = 2.44*0.2/(0.4+0.72) = 0.488/1.12 = 122/280
    # overlap-weighted mean: (5*183/280 + 5*122/280)/10 = 305/560 = 61/112
    reward = ObservationReward()
    assert reward.name == "observation"
    assert reward.score(one + "<answer>A</answer>", s) == pytest.approx(61 / 112, abs=1e-12)
    # A second caption whose window overlaps no reference scores 0: mean over 2 segments.
    two = one + "<time>00:30-00:40</time> <caption>a blue ball rolls</caption> <think>t</think>"
    assert reward.score(two, s) == pytest.approx(61 / 224, abs=1e-12)
    assert reward.score("<answer>A</answer>", s) == 0.0  # no observation
    assert reward.score(one, _sample("A")) is None  # no reference captions


def test_observation_text_renders_windows():
    text = (
        "<time>00:05-00:15</time> <caption>a blue ball rolls</caption> <think>x</think> "
        "<time>soon</time> <caption>then it stops</caption> <think>y</think><answer>A</answer>"
    )
    assert observation_text(text) == "00:05-00:15: a blue ball rolls\nthen it stops"
    assert observation_text("<think>no captions</think>") == ""


def test_reasoning_reward_judges_observations_only():
    judge, seen = _replying("<answer>A</answer>")
    reward = ReasoningReward(judge=judge)
    s = _sample("A", evidence=EVIDENCE)
    text = (
        "<time>00:05-00:15</time> <caption>a blue ball rolls</caption> "
        "<think>the answer must be B</think><answer>A</answer>"
    )
    assert reward.score(text, s) == 1.0
    assert seen[0].context == "00:05-00:15: a blue ball rolls"  # no <think>, no <answer>
    assert ReasoningReward(judge=_replying("<answer>B</answer>")[0]).score(text, s) == 0.0
    assert ReasoningReward(judge=_replying("<answer>none</answer>")[0]).score(text, s) == 0.0
    assert ReasoningReward(judge=_replying("")[0]).score(text, s) is None  # empty reply
    no_obs = _replying("<answer>A</answer>")
    assert ReasoningReward(judge=no_obs[0]).score("<think>x</think><answer>A</answer>", s) == 0.0
    assert no_obs[1] == []


def test_reasoning_reward_with_rule_judge():
    reward = ReasoningReward(judge=RuleJudge())
    s = _sample("C")
    good = "<time>00:01-00:03</time> <caption>a green triangle appears last</caption> <think>t</think><answer>C</answer>"
    assert reward.score(good, s) == 1.0
    bad = "<time>00:01-00:03</time> <caption>a blue circle moves</caption> <think>t</think><answer>C</answer>"
    assert reward.score(bad, s) == 0.0


# --- Video-R2 temporal alignment and consistency gate -----------------------------------------

R2_TEXT = (
    "<think>At 00:02-00:05 a yellow triangle grows. Then at 00:06 the green triangle appears; "
    "between 7s and 9s nothing moves. So the answer is C.</think><answer>C</answer>"
)
R2_EVIDENCE = [
    Evidence(2, 5, "a yellow triangle appears and grows bigger"),
    Evidence(5, 7, "a green triangle appears in the middle"),
]


def test_cited_events_ranges_points_and_descriptions():
    assert cited_events(R2_TEXT) == [
        CitedEvent(2.0, 5.0, "At a yellow triangle grows."),
        CitedEvent(6.0, 6.0, "Then at the green triangle appears;"),
        CitedEvent(7.0, 9.0, "between nothing moves."),
    ]
    # <time> tags (Video-Thinker style) and plain numbers without a unit.
    vt = "<time>00:01-00:04</time> <caption>3 dogs run</caption> <think>t</think><answer>A</answer>"
    assert cited_events(vt) == [CitedEvent(1.0, 4.0, "3 dogs run")]
    assert cited_events("<think>1:02:03 to 1:02:10 a car</think>") == [
        CitedEvent(3723.0, 3730.0, "a car")
    ]
    assert cited_events("<think>no times here, 3 people</think><answer>A</answer>") == []
    assert reasoning_text("plain reasoning <answer>B</answer>") == "plain reasoning"


def test_temporal_alignment_exact():
    s = _sample("C", evidence=R2_EVIDENCE)
    reward = TemporalAlignmentReward(iou_threshold=0.5, point_tolerance_s=0.5)
    # Event 1, 2-5 s: IoU 1 with window 1. "At a yellow triangle grows." (5 tokens) vs
    #   "a yellow triangle appears and grows bigger" (7): LCS 4 (a yellow triangle grows),
    #   P=4/5, R=4/7, F = 2.44*(3.2/7)/((4+8.064)/7) = 7.808/12.064.
    # Event 2, point 6 s: inside window 2 widened to 4.5-7.5 only (window 1 -> 1.5-5.5).
    #   "Then at the green triangle appears;" (6) vs "a green triangle appears in the middle"
    #   (7): LCS 3, P=1/2, R=3/7, F = 2.44*(1.5/7)/((3+5.04)/7) = 3.66/8.04.
    # Event 3, 7-9 s: touches window 2 (IoU 0), misses window 1: 0.
    expected = (7.808 / 12.064 + 3.66 / 8.04 + 0.0) / 3
    assert reward.score(R2_TEXT, s) == pytest.approx(expected, abs=1e-12)
    # With a 1 s tolerance the point also aligns with window 1 (1-6 s); the best counts:
    #   vs window 1: LCS 2 (triangle appears), F = 2.44*(2/6*2/7)/(2/7+1.44/3) = 4.88/16.08 < 3.66/8.04.
    wide = TemporalAlignmentReward(iou_threshold=0.5, point_tolerance_s=1.0)
    assert wide.score(R2_TEXT, s) == pytest.approx(expected, abs=1e-12)


def test_temporal_alignment_edge_cases():
    reward = TemporalAlignmentReward(iou_threshold=0.5, point_tolerance_s=0.0)
    s = _sample("C", evidence=[Evidence(2, 5, "")])  # a window without caption
    assert reward.score("<think>at 00:02-00:05 x</think>", s) == 1.0
    # 2-8 s: IoU 3/6 = 0.5 reaches the threshold; 2-9 s: 3/7 does not.
    assert reward.score("<think>00:02-00:08 x</think>", s) == 1.0
    assert reward.score("<think>00:02-00:09 x</think>", s) == 0.0
    assert reward.score("<think>no time</think><answer>C</answer>", s) == 0.0
    assert reward.score(R2_TEXT, _sample("C")) is None
    # Clip time: evidence 12-15 s of the file is 2-5 s of a clip starting at 10 s.
    clip = _sample("C", evidence=[Evidence(12, 15, "")], video_start=10.0, video_end=30.0)
    assert reward.score("<think>00:02-00:05 x</think>", clip) == 1.0
    assert (
        TemporalAlignmentReward(clip_relative=False).score("<think>00:02-00:05 x</think>", clip)
        == 0.0
    )
    with pytest.raises(ValueError, match="iou_threshold"):
        TemporalAlignmentReward(iou_threshold=0.0)


def _tar_green() -> float:
    # "At a yellow triangle grows, then the green triangle." -> tokens
    #   [at, a, yellow, triangle, grows, then, the, green, triangle] (9) vs
    #   "a yellow triangle grows" (4): LCS 4, P=4/9, R=1,
    #   F = 2.44*(4/9)/(1 + 1.44*4/9) = (9.76/9)/((9+5.76)/9) = 9.76/14.76
    return 9.76 / 14.76


def test_consistency_gate_values():
    s = _sample("C", evidence=[Evidence(2, 5, "a yellow triangle grows")])
    gate = ConsistencyGate(rewards=[TemporalAlignmentReward(weight=2.0)], judge=RuleJudge())
    think = "<think>At 00:02-00:05 a yellow triangle grows. So the answer is C.</think>"
    # TAR: "At a yellow triangle grows." (5) vs "a yellow triangle grows" (4): LCS 4, P=0.8,
    #   R=1, F = 2.44*0.8/(1+1.152) = 1.952/2.152; weighted by 2 inside the gate.
    tar = 1.952 / 2.152
    texts = [
        think + "<answer>C</answer>",  # implied C (cue) = final C: paid
        think + "<answer>B</answer>",  # implied C != final B: gated to 0
        "<think>At 00:02-00:05 a yellow triangle grows, then the green triangle.</think>"
        "<answer>C</answer>",  # no cue: the last option mentioned (green triangle) is C
        think,  # no final answer: inconsistent
        "<answer>C</answer>",  # no reasoning and no cited event: 0
    ]
    values = gate(texts, [s] * 5)
    assert values[0] == pytest.approx(2 * tar, abs=1e-12)
    assert values[1] == 0.0
    assert values[2] == pytest.approx(2 * _tar_green(), abs=1e-12)
    assert values[3:] == [0.0, 0.0]
    stats = gate.stats()
    # Gate open for 2 of the 5 completions the gated reward applies to (0 and 2).
    assert stats["pass_rate"] == pytest.approx(2 / 5)
    # Unweighted TAR of the five: tar, tar, tar_green, tar (the reasoning has the event), 0.
    assert stats["temporal_alignment_mean"] == pytest.approx((3 * tar + _tar_green()) / 5)
    assert stats["judge_requests"] == 3.0


def test_consistency_gate_not_applicable_and_failures():
    think = "<think>At 00:02-00:05 x. So the answer is C.</think><answer>C</answer>"
    gate = ConsistencyGate(rewards=[TemporalAlignmentReward()], judge=RuleJudge())
    assert gate.score(think, _sample("C")) is None  # no evidence: the gated reward is None
    failing, seen = _replying("no tag here")
    gate = ConsistencyGate(rewards=[TemporalAlignmentReward()], judge=failing)
    s = _sample("C", evidence=[Evidence(2, 5, "")])
    assert gate.score(think, s) is None  # failed judgement: not applicable
    assert seen[0].task == "implied"
    assert seen[0].context == "At 00:02-00:05 x. So the answer is C."
    assert gate.stats()["judge_failures"] == 1.0
    with pytest.raises(ValueError, match="at least one"):
        ConsistencyGate(rewards=[], judge=RuleJudge())


def test_gate_inside_combine_uses_its_own_weight():
    s = _sample("C", evidence=[Evidence(2, 5, "")])
    gate = ConsistencyGate(
        rewards=[TemporalAlignmentReward(weight=2.0)], judge=RuleJudge(), weight=0.5, name="g"
    )
    text = "<think>At 00:02-00:05 x. So the answer is C.</think><answer>C</answer>"
    out = combine([gate], [text], [s])
    # TAR = 1 (caption-less window, IoU 1); inside the gate 2 * 1; in the total 0.5 * 2.
    assert out.parts["g"] == [2.0]
    assert float(out.total[0]) == 1.0
