"""GRPO rewards: one file per reward family; rewards never import Lightning.

Each reward is a `Reward` (``score(completion, sample) -> float | None``) chosen in YAML by
``class_path``; `combine` adds them up with their weights.
"""

from vthinker.rewards.accuracy import AccuracyReward
from vthinker.rewards.base import Reward, RewardBreakdown, RewardError, combine
from vthinker.rewards.caption import CaptionReward
from vthinker.rewards.format import FormatReward
from vthinker.rewards.temporal import TemporalIoUReward

__all__ = [
    "AccuracyReward",
    "CaptionReward",
    "FormatReward",
    "Reward",
    "RewardBreakdown",
    "RewardError",
    "TemporalIoUReward",
    "combine",
]
