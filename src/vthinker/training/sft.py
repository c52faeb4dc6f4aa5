"""Supervised fine-tuning: teach the policy the thinking format.

Cross-entropy on the assistant tokens only (the collate masks system, user, vision
and padding tokens), averaged over those tokens in each micro-batch. Under data
parallelism the average is over the tokens of the *global* micro-batch (all ranks), so
2 processes with 2 samples each take the same step as 1 process with 4 samples (DDP
averages gradients: each rank divides its token sum by ``global tokens / world size``;
tests/test_distributed.py checks it). Gradient
accumulation is the Trainer's ``accumulate_grad_batches``; the paper's batch of 16
is ``batch_size × accumulate_grad_batches × devices``.
"""

from __future__ import annotations

from typing import Any

import torch

from vthinker.data.collate import IGNORE_INDEX, model_inputs
from vthinker.training.base import VideoLLMModule

__all__ = ["SFTModule"]


class SFTModule(VideoLLMModule):
    """SFT on tagged traces (see `VideoLLMModule` for the arguments)."""

    def _loss(self, batch: dict[str, Any], global_mean: bool = False) -> tuple[torch.Tensor, int]:
        labels = batch["labels"]
        # HF shifts labels inside the loss: count the tokens that are actually predicted.
        n = (labels[:, 1:] != IGNORE_INDEX).sum().float()
        kwargs: dict[str, Any] = {}
        world = self._world()
        if global_mean and world > 1:
            # Token sum / (global tokens / world): DDP's gradient mean is then the global
            # token mean (module docstring).
            kwargs["num_items_in_batch"] = self.all_gather(n).sum() / world
        out = self.policy(**model_inputs(batch), labels=labels, **kwargs)
        return out.loss, int(n)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.note_skipped(batch, "train")
        if not batch["samples"]:
            # Every sample in this batch was skipped (reported at epoch end). Alone, skip the
            # step; under data parallelism every rank must run backward, so use a zero loss.
            if self._world() > 1:
                self.all_gather(torch.zeros((), device=self.device))  # the token count (_loss)
                return sum(p.sum() for p in self.policy.parameters() if p.requires_grad) * 0.0
            return None
        loss, n_tokens = self._loss(batch, global_mean=True)
        bs = len(batch["samples"])
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/target_tokens", float(n_tokens), reduce_fx="sum", batch_size=bs)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.note_skipped(batch, "val")
        if not batch["samples"]:
            return
        loss, _ = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["samples"]))
