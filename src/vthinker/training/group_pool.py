"""The groups a GRPO update trains on, and DAPO's pool of informative groups.

A `RolloutPart` is one rollout's groups with what the update needs: advantages, the loss
mask, the frozen tower's per-row output and, once computed, the reference and old
log-probs. An update may train on several parts (dynamic sampling: groups from several
rollout batches).

`GroupPool` (dynamic sampling, DAPO, Yu et al. 2025; EasyR1 ``online_filtering``, verl
``filter_groups``) keeps the informative groups of successive rollouts (rewards not all
equal: the others have zero advantage and give no policy gradient) until a step has enough.
It does no collective operation: the GRPO module agrees with the other ranks on how many
groups each rank trains on and asks for exactly that many.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from vthinker.training.rollout import Trajectory

__all__ = ["GroupPool", "RolloutPart"]


class RolloutPart(NamedTuple):
    """Groups of one rollout, ready for the update (rows of a group contiguous)."""

    traj: Trajectory
    adv: torch.Tensor  # (n,) advantages
    mask: torch.Tensor  # (n, C) the loss mask (the completion mask, truncated rows off if asked)
    video_embeds: tuple[torch.Tensor, ...] | None  # per row, frozen tower only
    ref_logp: torch.Tensor | None = None  # (n, C)
    old_logp: torch.Tensor | None = None  # (n, C)

    @property
    def num_groups(self) -> int:
        return self.traj.num_groups

    def select(self, groups: list[int]) -> RolloutPart:
        """Only the groups ``groups`` (prompt indices), every per-row tensor indexed."""
        rows = self.traj.group_rows(groups)
        pick = rows.to(self.adv.device)
        embeds = self.video_embeds
        return RolloutPart(
            traj=self.traj.select_groups(groups),
            adv=self.adv[pick],
            mask=self.mask[pick],
            video_embeds=None if embeds is None else tuple(embeds[i] for i in rows.tolist()),
            ref_logp=None if self.ref_logp is None else self.ref_logp[pick],
            old_logp=None if self.old_logp is None else self.old_logp[pick],
        )


class GroupPool:
    """Informative groups collected over the rollouts of one step (module docstring).

    Under data parallelism the batch is filtered as a whole, as DAPO and verl do: the step
    trains once every rank's informative groups together fill the global batch (or no extra
    rollout is left), each rank on its own (at most one batch's worth). `take` hands out one
    part per group and pads a rank that has fewer groups than the others with filler groups
    that carry no loss (zero mask, zero advantage), so that every rank runs the same forward
    and backward passes, which FSDP's collectives need.
    """

    def __init__(self) -> None:
        self.parts: list[RolloutPart] = []
        self.rollouts = 0
        self.groups = 0
        self.target = 0  # groups one batch has (set by the first rollout of a step)
        self.filler: RolloutPart | None = None  # a group to pad with (the last rollout's)

    @property
    def size(self) -> int:
        """Informative groups held."""
        return sum(p.num_groups for p in self.parts)

    @property
    def usable(self) -> int:
        """Groups this rank would train on now: what it holds, at most one batch's worth."""
        return min(self.size, self.target)

    def add(self, part: RolloutPart, informative: torch.Tensor, batch_groups: int) -> int:
        """Keep ``part``'s groups where ``informative`` (bool, one per group) holds; returns
        how many groups the pool holds now."""
        keep = [k for k, ok in enumerate(informative.tolist()) if ok]
        if keep:
            self.parts.append(part if len(keep) == part.num_groups else part.select(keep))
        self.rollouts += 1
        self.groups += part.num_groups
        self.target = self.target or batch_groups
        self.filler = part.select([0])
        return self.size

    def take(self, pad_to: int = 0) -> tuple[list[RolloutPart], dict[str, float]]:
        """The `usable` groups, one part each in rollout order, then filler parts up to
        ``pad_to`` in all; and the step's statistics. The pool is empty afterwards."""
        singles = [p.select([g]) for p in self.parts for g in range(p.num_groups)]
        parts = singles[: self.usable]
        stats: dict[str, Any] = {
            "train/rollout_batches": float(self.rollouts),
            "train/informative_groups": self.size / max(1, self.groups),
            "train/trained_groups": float(len(parts)),
        }
        if len(parts) < pad_to:
            assert self.filler is not None
            f = self.filler
            empty = f._replace(adv=torch.zeros_like(f.adv), mask=torch.zeros_like(f.mask))
            parts += [empty] * (pad_to - len(parts))
        self.clear()
        return parts, stats

    def clear(self) -> None:
        self.parts, self.rollouts, self.groups, self.target = [], 0, 0, 0
        self.filler = None
