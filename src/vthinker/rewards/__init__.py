"""GRPO rewards: one file per reward family; rewards never import Lightning.

Each reward is a `Reward` (``score(completion, sample) -> float | None``) chosen in YAML by
``class_path``; `combine` adds them up with their weights. The sibling methods' rewards
(ReWatch-R1, VideoP2R, VideoAuto-R1, Video-R2) live beside Video-Thinker's; the judged ones
ask a `Judge` (`vthinker.rewards.judge`).
"""

from vthinker.rewards.accuracy import AccuracyReward
from vthinker.rewards.autor1 import FallbackReward, FirstAnswerReward, SecondAnswerReward
from vthinker.rewards.base import Reward, RewardBreakdown, RewardError, combine
from vthinker.rewards.caption import CaptionReward
from vthinker.rewards.format import FormatReward
from vthinker.rewards.judge import (
    CallableJudge,
    EndpointJudge,
    HFJudge,
    Judge,
    JudgedReward,
    JudgePrompt,
    JudgeQuery,
    RuleJudge,
)
from vthinker.rewards.perception import PerceptionReward
from vthinker.rewards.rewatch import ObservationReward, ReasoningReward
from vthinker.rewards.tags import TagSequenceFormatReward
from vthinker.rewards.temporal import TemporalIoUReward
from vthinker.rewards.video_r2 import ConsistencyGate, TemporalAlignmentReward

__all__ = [
    "AccuracyReward",
    "CallableJudge",
    "CaptionReward",
    "ConsistencyGate",
    "EndpointJudge",
    "FallbackReward",
    "FirstAnswerReward",
    "FormatReward",
    "HFJudge",
    "Judge",
    "JudgePrompt",
    "JudgeQuery",
    "JudgedReward",
    "ObservationReward",
    "PerceptionReward",
    "ReasoningReward",
    "Reward",
    "RewardBreakdown",
    "RewardError",
    "RuleJudge",
    "SecondAnswerReward",
    "TagSequenceFormatReward",
    "TemporalAlignmentReward",
    "TemporalIoUReward",
    "combine",
]
