"""Learning-rate schedules as small, testable functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["LRSchedule", "lr_factor"]


@dataclass
class LRSchedule:
    """Linear warmup then cosine (or constant) decay, per optimizer step.

    Attributes:
        kind: ``cosine`` decays to ``min_lr_ratio * lr`` at the last step; ``constant`` stays.
        warmup_ratio: Fraction of the total steps spent warming up (used when
            ``warmup_steps`` is None).
        warmup_steps: Warmup length in steps (overrides ``warmup_ratio``).
        min_lr_ratio: Final learning rate as a fraction of the peak.
    """

    kind: Literal["cosine", "constant"] = "cosine"
    warmup_ratio: float = 0.05
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")

    def warmup(self, total_steps: int) -> int:
        if self.warmup_steps is not None:
            return self.warmup_steps
        return int(self.warmup_ratio * total_steps)

    def build(self, optimizer: Optimizer, total_steps: int) -> LambdaLR:
        warmup = self.warmup(total_steps)
        return LambdaLR(
            optimizer,
            lambda step: lr_factor(step, total_steps, warmup, self.kind, self.min_lr_ratio),
        )


def lr_factor(
    step: int, total_steps: int, warmup_steps: int, kind: str = "cosine", min_lr_ratio: float = 0.0
) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based).

    Warmup: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps. Then cosine
    from 1 at ``warmup_steps`` to ``min_lr_ratio`` at ``total_steps``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
