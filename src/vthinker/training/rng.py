"""The random generators of a training run, saved in checkpoints and restored on resume.

A resumed run is the same run only if every generator it draws from continues where it
stopped: sampling in rollouts (torch, CUDA), T-GRPO's frame shuffles, dropout, and anything
using Python's or NumPy's generators. Lightning checkpoints none of them. Each rank's state
is saved (rollouts end at different lengths on different ranks, so their generators drift
apart); on resume each rank takes its own. With another number of processes there is no
"own" state: every rank then takes rank 0's, with a warning (the training loader refuses
such a resume anyway, `vthinker.data.resume`).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.utilities import rank_zero_warn

__all__ = ["RNG_KEY", "restore_rng_states", "rng_state", "rng_states_of_all_ranks", "set_rng_state"]

RNG_KEY = "vthinker_rng_states"


def rng_state() -> dict[str, Any]:
    """This process's generator states (CUDA: the current device's, when there is one), as
    tensors and plain Python values, so checkpoints still load with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def rng_states_of_all_ranks() -> list[dict[str, Any]]:
    """Every rank's `rng_state`, in rank order (a collective: all ranks must call it)."""
    mine = rng_state()
    world = _world_size()
    if world == 1:
        return [mine]
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, mine)
    return gathered


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def restore_rng_states(states: list[dict[str, Any]], rank: int) -> None:
    """Set this rank's generators from a checkpoint's list of per-rank states."""
    if len(states) != _world_size():
        rank_zero_warn(
            f"the checkpoint holds generator states for {len(states)} process(es), this run has "
            f"{_world_size()}: every rank continues from rank 0's (the resumed run will differ "
            "from an uninterrupted one)"
        )
        rank = 0
    set_rng_state(states[rank])
