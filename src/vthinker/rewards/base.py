"""The reward interface for GRPO, and the weighted combination of several rewards.

A `Reward` scores one completion for one `VideoSample` with a float, or None when it does
not apply to that sample (a temporal reward for a question without evidence spans). The GRPO
module takes ``rewards: list[Reward]`` (swapped in YAML by ``class_path``) and calls
`combine`, which returns the weighted total per completion and every reward's unweighted
values. Rewards never import Lightning.

Conventions:

- None counts 0 in the total, and is left out of `RewardBreakdown.means`.
- NaN is kept: a NaN value makes that completion's total NaN (``0 * NaN`` too), so the GRPO
  module can detect it (`RewardBreakdown.nan_mask`), skip the step and count it.
- An exception inside a reward becomes a `RewardError` naming the reward and the sample id.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from vthinker.data.schema import VideoSample

__all__ = ["Reward", "RewardBreakdown", "RewardError", "combine"]


class RewardError(RuntimeError):
    """A reward failed on a sample; the message names the reward and the sample id."""


class Reward(abc.ABC):
    """A scalar reward for a completion.

    Subclasses set the class attribute ``name`` and implement `score`; they may override
    `__call__` to score a whole batch at once (an LLM judge, say), keeping its contract.

    Args:
        weight: Factor of this reward in the total (`combine`).
        name: Overrides the class's ``name`` (needed to use one reward class twice).
    """

    name: str = "reward"

    def __init__(self, weight: float = 1.0, name: str | None = None) -> None:
        if not math.isfinite(weight):
            raise ValueError(f"reward weight must be finite, got {weight}")
        self.weight = float(weight)
        if name is not None:
            if not name:
                raise ValueError("reward name must not be empty")
            self.name = name

    @abc.abstractmethod
    def score(self, completion: str, sample: VideoSample) -> float | None:
        """Score one completion; None when the reward does not apply to the sample."""

    def __call__(
        self, completions: Sequence[str], samples: Sequence[VideoSample]
    ) -> list[float | None]:
        """Score completions (``completions[i]`` answers ``samples[i]``).

        Raises:
            ValueError: if the two lists differ in length.
            RewardError: if scoring a sample fails or returns something other than a number
                or None; the message names the reward and the sample id.
        """
        if len(completions) != len(samples):
            raise ValueError(
                f"reward {self.name!r}: {len(completions)} completions for {len(samples)} samples"
            )
        out: list[float | None] = []
        for completion, sample in zip(completions, samples, strict=True):
            try:
                value = self.score(completion, sample)
            except Exception as err:
                raise RewardError(
                    f"reward {self.name!r} failed on sample {sample.id!r}: "
                    f"{type(err).__name__}: {err}"
                ) from err
            out.append(_check_value(value, self.name, sample.id))
        return out

    def stats(self) -> dict[str, float]:
        """Extra statistics to log beside the reward's mean, as ``reward/<name>/<key>``
        (an LLM judge's failure count, a gate's pass rate). Default: none."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, weight={self.weight})"


def _check_value(value: object, name: str, sample_id: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RewardError(
            f"reward {name!r} returned {value!r} for sample {sample_id!r}: expected a float or None"
        )
    return float(value)


@dataclass
class RewardBreakdown:
    """The rewards of N completions.

    Attributes:
        total: Weighted sum per completion, float32, shape ``(N,)``; None parts count 0,
            NaN parts make the total NaN.
        parts: Unweighted values per reward name, N each (None = not applicable).
        weights: The weight of each reward name.

    Shape:
        total: ``(N,)``
    """

    total: torch.Tensor
    parts: dict[str, list[float | None]]
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def nan_mask(self) -> torch.Tensor:
        """Bool ``(N,)``: completions whose total is NaN."""
        return torch.isnan(self.total)

    @property
    def has_nan(self) -> bool:
        return bool(self.nan_mask.any())

    def _applicable(self) -> dict[str, list[float]]:
        """Each reward's values on the samples where it applies (not None, not NaN)."""
        return {
            name: [v for v in values if v is not None and not math.isnan(v)]
            for name, values in self.parts.items()
        }

    def means(self) -> dict[str, float]:
        """Unweighted mean of each reward over the samples where it applies.

        None and NaN values are left out; a reward with no such value has mean NaN.
        """
        return {n: sum(ok) / len(ok) if ok else math.nan for n, ok in self._applicable().items()}

    def sums(self) -> dict[str, float]:
        """Sum of each reward over the samples where it applies (0 where it applies to none)."""
        return {name: float(sum(ok)) for name, ok in self._applicable().items()}

    def counts(self) -> dict[str, int]:
        """Number of samples where each reward applies (not None, not NaN)."""
        return {name: len(ok) for name, ok in self._applicable().items()}


def combine(
    rewards: Sequence[Reward], completions: Sequence[str], samples: Sequence[VideoSample]
) -> RewardBreakdown:
    """Score completions with every reward and add them up with the rewards' weights.

    Args:
        rewards: The rewards (distinct names).
        completions: N completions.
        samples: The sample each completion answers (N).

    Returns:
        The `RewardBreakdown`: ``total[i] = sum_r weight_r * value_r[i]`` (None counts 0).

    Raises:
        ValueError: on duplicate reward names or mismatched lengths.
        RewardError: from a failing reward.
    """
    names = [r.name for r in rewards]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"reward names must be distinct, repeated: {dupes} (pass name=...)")
    if len(completions) != len(samples):
        raise ValueError(f"{len(completions)} completions for {len(samples)} samples")
    parts: dict[str, list[float | None]] = {}
    total = torch.zeros(len(completions), dtype=torch.float64)  # (N,)
    for reward in rewards:
        values = reward(completions, samples)
        if len(values) != len(completions):
            raise RewardError(
                f"reward {reward.name!r} returned {len(values)} values for "
                f"{len(completions)} completions"
            )
        parts[reward.name] = values
        dense = torch.tensor([0.0 if v is None else v for v in values], dtype=torch.float64)
        total += reward.weight * dense
    return RewardBreakdown(
        total=total.to(torch.float32),
        parts=parts,
        weights={r.name: r.weight for r in rewards},
    )
