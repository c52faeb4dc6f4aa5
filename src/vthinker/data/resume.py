"""A training DataLoader that resumes exactly where a checkpoint left it, mid-epoch or not.

`ResumableLoader` derives where each epoch starts from the number of batches the trainer has
trained on (the trainer's loop progress, saved in every checkpoint), not from Lightning's
epoch bookkeeping, which differs on resume depending on where the checkpoint was taken
(mid-epoch, the last batch, the epoch's end; ``max_steps`` or ``max_epochs``). A resumed run
continues with the batch it would have taken next and never decodes the skipped videos.
Lightning saves the loader's ``state_dict()`` in checkpoints and hands it back before
iterating; it calibrates the trainer's restored count once.

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
    """A seeded (distributed) shuffle whose epoch and start are set by `ResumableLoader`.

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

    def start(self, epoch: int, skip: int = 0) -> None:
        """The next iteration yields ``epoch``'s indices of this rank after the first ``skip``."""
        self.epoch, self.skip = epoch, skip

    def set_epoch(self, epoch: int) -> None:
        """Ignored: Lightning calls it after the loader's iterator (and its workers' index
        queue) already exists when a run resumes; the loader sets the epoch itself."""

    def __iter__(self) -> Iterator[int]:
        # ``len()`` stays the full epoch's (Lightning counts the resumed epoch's batches from
        # its own progress); the iterator simply ends early.
        indices = list(super().__iter__())
        return iter(indices[self.skip :])


class ResumableLoader(DataLoader):
    """A DataLoader over a `ResumableSampler` whose every epoch starts where training is.

    Each ``iter()`` (Lightning makes one per epoch, and sometimes one more when it resumes)
    reads how many batches this rank has trained on since the run began, ``P``, and yields
    epoch ``P // B`` from batch ``P % B`` on (``B`` batches per epoch). The data stream is
    thus one continuous sequence of seeded epochs, whatever Lightning's own epoch
    bookkeeping does on resume. The checkpointed state is ``P`` at the moment of saving;
    after a resume the trainer's restored count is calibrated against it once.

    Args:
        batches_done: Returns how many batches this rank has trained on so far (the
            trainer's total, across epochs).
        batch_size: Samples per batch and process.
        **kwargs: Passed to `DataLoader`.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        batches_done: Callable[[], int],
        batch_size: int,
        shuffle: bool = True,
        **kwargs: Any,
    ) -> None:
        # Lightning rebuilds a loader with its own sampler for some settings (overfit_batches):
        # that sampler is then used as given, and the position is not applied.
        sampler = kwargs.pop("sampler", None) or ResumableSampler(dataset, shuffle=shuffle)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self.batches_done = batches_done
        self._offset = 0  # checkpoint position - the trainer's restored count
        self._resume_at: int | None = None

    def __iter__(self):  # type: ignore[override]
        sampler = self.sampler
        if isinstance(sampler, ResumableSampler):
            done = int(self.batches_done())
            if self._resume_at is not None:
                self._offset, self._resume_at = self._resume_at - done, None
            epoch, batch = divmod(done + self._offset, len(self))
            sampler.start(epoch, batch * int(self.batch_size))
        return super().__iter__()

    def state_dict(self) -> dict[str, int]:
        sampler = self.sampler
        if not isinstance(sampler, ResumableSampler):
            return {}
        return {
            "batches": int(self.batches_done()) + self._offset,
            "batch_size": int(self.batch_size),
            "world_size": int(sampler.num_replicas),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler = self.sampler
        if not isinstance(sampler, ResumableSampler) or not state:
            return
        now = {"batch_size": int(self.batch_size), "world_size": int(sampler.num_replicas)}
        for key, value in now.items():
            if state.get(key, value) != value:
                raise ValueError(
                    f"the checkpoint was taken with {key} {state[key]}, this run has {value}: "
                    "resume with the same data.batch_size and number of processes, or the "
                    "resumed run would train on other samples than the interrupted one"
                )
        self._resume_at = int(state["batches"])
