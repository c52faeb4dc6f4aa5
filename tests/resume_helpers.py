"""Callbacks and a reward for tests/test_resume.py (imported by the `vthinker fit` processes
it starts, through PYTHONPATH)."""

from __future__ import annotations

import os
import signal

import lightning as L

from vthinker.rewards import Reward


class KillAtStep(L.Callback):
    """SIGKILL this process when the trainer is about to take optimizer step ``step + 1``
    (after the checkpoint taken at ``step`` was written): no cleanup, as on preemption."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class LengthReward(Reward):
    """Varied rewards for the random tiny model (equal rewards would give no update)."""

    name = "length"

    def score(self, completion, sample):
        return len(completion) / 100.0
