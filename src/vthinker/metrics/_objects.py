"""Metric states that hold Python objects (strings, tuples) and their DDP sync.

torchmetrics only syncs tensors. Caption texts and accuracy group labels are strings, so the
metrics that keep them register those states as lists with ``dist_reduce_fx=None`` and name
them in ``_object_states``; this mixin then

- gathers each such list from every rank with `torch.distributed.all_gather_object` and
  concatenates the parts in rank order (a rank with no data contributes an empty list), and
- leaves them alone when the metric is moved between devices or dtypes (torchmetrics would
  otherwise call ``.to(device)`` on every list element).

Tensor states of the same metric, if any, still go through torchmetrics' own sync. A custom
``dist_sync_fn`` given to the metric applies to tensor states only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch.distributed as dist
from torch.nn import Module
from torchmetrics import Metric
from torchmetrics.utilities.distributed import gather_all_tensors

__all__ = ["ObjectStateMetric"]


class ObjectStateMetric(Metric):
    """A `torchmetrics.Metric` whose ``_object_states`` are synced as Python objects."""

    _object_states: tuple[str, ...] = ()

    def add_object_state(self, name: str) -> None:
        """Register an (initially empty) list state of picklable Python objects."""
        self.add_state(name, default=[], dist_reduce_fx=None)
        self._object_states = (*self._object_states, name)

    def _apply(self, fn: Callable, exclude_state: Sequence[str] = "") -> Module:
        excluded = (exclude_state,) if isinstance(exclude_state, str) else tuple(exclude_state)
        return super()._apply(fn, exclude_state=(*excluded, *self._object_states))

    def _sync_dist(
        self, dist_sync_fn: Callable = gather_all_tensors, process_group: Any | None = None
    ) -> None:
        group = process_group or self.process_group
        tensor_reductions = {
            k: v for k, v in self._reductions.items() if k not in self._object_states
        }
        if tensor_reductions:
            all_reductions = self._reductions
            self._reductions = tensor_reductions
            try:
                super()._sync_dist(dist_sync_fn, process_group=process_group)
            finally:
                self._reductions = all_reductions
        world = dist.get_world_size(group)
        for name in self._object_states:
            parts: list[list[Any] | None] = [None] * world
            dist.all_gather_object(parts, list(getattr(self, name)), group=group)
            setattr(self, name, [item for part in parts for item in (part or [])])
