"""A training DataLoader that resumes mid-epoch exactly where a checkpoint left it.

Lightning saves a DataLoader's ``state_dict()`` in every checkpoint and hands it back to
``load_state_dict()`` of the new loader before iterating when a run resumes (``--ckpt_path``).
`ResumableLoader` stores the epoch and the number of batches the trainer has processed in
it (read from the trainer's loop, not counted on the iterator, which runs a batch ahead of
training); on resume its `ResumableSampler` skips those batches' indices, so the run
continues with the batch it would have taken next and never decodes the skipped videos.

`ResumableSampler` is a `DistributedSampler` (so Lightning does not replace it under DDP):
each epoch's order is a permutation drawn from its own generator seeded with
``seed + epoch`` (no draw from the global RNG, whose state belongs to the run), split across
ranks as `DistributedSampler` does. With one process it is a seeded shuffle.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = ["ResumableLoader", "ResumableSampler"]


class ResumableSampler(DistributedSampler):
    """A seeded (distributed) shuffle that can start an epoch after its first ``skip``
    indices of this rank.

    Args:
        dataset: The training dataset.
        seed: Base seed; default: the seed ``seed_everything`` recorded (``PL_GLOBAL_SEED``),
            as Lightning's own distributed sampler uses.
        shuffle: Shuffle each epoch.
    """

    def __init__(self, dataset: Dataset, seed: int | None = None, shuffle: bool = True) -> None:
        if seed is None:
            seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        distributed = dist.is_available() and dist.is_initialized()
        super().__init__(
            dataset,
            num_replicas=dist.get_world_size() if distributed else 1,
            rank=dist.get_rank() if distributed else 0,
            shuffle=shuffle,
            seed=seed,
        )
        self.skip = 0
        self._skip_epoch: int | None = None

    def resume(self, epoch: int, skip: int) -> None:
        """Start at ``epoch``, leaving out this rank's first ``skip`` indices of it."""
        self.set_epoch(epoch)
        self._skip_epoch, self.skip = epoch, skip

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if epoch != self._skip_epoch:  # the skip applies to the resumed epoch only
            self.skip = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.skip :])

    def __len__(self) -> int:
        # The full epoch: Lightning counts the resumed epoch's batches from its own
        # progress, and the iterator simply ends early.
        return super().__len__()


class ResumableLoader(DataLoader):
    """A DataLoader over a `ResumableSampler` whose state is the training position.

    Args:
        position: Returns ``(epoch, batches processed in it)`` from the trainer.
        batch_size: Samples per batch (also how far ``batches`` moves the sampler).
        **kwargs: Passed to `DataLoader` (not ``shuffle`` or ``sampler``).
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        position: Callable[[], tuple[int, int]],
        batch_size: int,
        shuffle: bool = True,
        **kwargs: Any,
    ) -> None:
        sampler = ResumableSampler(dataset, shuffle=shuffle)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self.position = position

    def state_dict(self) -> dict[str, int]:
        epoch, batches = self.position()
        return {"epoch": int(epoch), "batches": int(batches), "batch_size": int(self.batch_size)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("batch_size", self.batch_size) != self.batch_size:
            raise ValueError(
                f"the checkpoint was taken with data.batch_size {state['batch_size']}, this run "
                f"has {self.batch_size}: the resumed epoch would skip the wrong samples"
            )
        sampler = self.sampler
        assert isinstance(sampler, ResumableSampler)
        sampler.resume(state["epoch"], state["batches"] * self.batch_size)
