"""What every vthinker LightningModule shares: the policy, its processor, the optimizer,
the LR schedule, adapter-only checkpoints, the Hugging Face export, skipped-sample
reports and answer generation for ``predict``.

The model is built in `configure_model` (so strategies such as FSDP can wrap it as it
is created); the processor is loaded in ``__init__`` because the DataModule needs it in
``setup``, before the model exists.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from vthinker.data.collate import Skipped, model_inputs
from vthinker.models.policy import (
    PolicyConfig,
    is_peft_model,
    is_sharded,
    load_policy,
    load_processor,
    trainable_parameters,
)
from vthinker.trace import parse_trace
from vthinker.training.rng import RNG_KEY, restore_rng_states, rng_states_of_all_ranks
from vthinker.training.schedules import LRSchedule

log = logging.getLogger(__name__)


def _fsdp_root(module: L.LightningModule) -> Any:
    """The root FSDP1 module that wraps ``module`` under Lightning's FSDPStrategy, or None."""
    if module._trainer is None:
        return None
    from torch.distributed.fsdp import FullyShardedDataParallel

    root = getattr(module.trainer.strategy, "model", None)
    return root if isinstance(root, FullyShardedDataParallel) else None


__all__ = ["GenerationSettings", "VideoLLMModule", "adamw"]


def adamw(params: Any) -> torch.optim.Optimizer:
    """Default optimizer: AdamW, lr 1e-5 (the paper's SFT rate), no weight decay."""
    return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)


def refuse_sharded_images(model: torch.nn.Module, datamodule: Any) -> None:
    """Refuse image questions when the policy is FSDP-sharded.

    Under FSDP every vision-tower call gathers the tower's weights from all ranks, so the
    ranks must call it equally often. A batch of images, of videos or of both calls it a
    different number of times (images are encoded apart from videos, and once per scoring
    pass), so ranks holding different kinds would wait on each other. DDP (full weights per
    rank) and one device take image questions.

    Raises:
        ValueError: naming the split, the count and the first image question.
    """
    if not is_sharded(model):
        return
    for key, dataset in (getattr(datamodule, "datasets", None) or {}).items():
        images = [s.id for s in dataset.samples if s.data_type == "image"]
        if images:
            raise ValueError(
                f"{len(images)} image question(s) in the {key} data (first: {images[0]}): "
                "image questions are not supported with an FSDP-sharded policy (its vision "
                "tower calls would differ between ranks); use DDP or one device, or keep the "
                "videos only (a Video-R1 source's data_types: [video])"
            )


@dataclass
class GenerationSettings:
    """Decoding settings. Defaults are the paper's evaluation settings.

    Attributes:
        max_new_tokens: Longest completion.
        do_sample: Sample (True) or greedy decode (False).
        temperature: Sampling temperature.
        top_p: Nucleus sampling mass.
    """

    max_new_tokens: int = 1024
    do_sample: bool = True
    temperature: float = 0.1
    top_p: float = 0.001

    def kwargs(self) -> dict[str, Any]:
        if not self.do_sample:
            return {"max_new_tokens": self.max_new_tokens, "do_sample": False}
        return {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }


class VideoLLMModule(L.LightningModule):
    """Base class: owns the policy and the plumbing around it.

    Args:
        policy: Which model to load and how (LoRA, QLoRA, dtype, attention).
        optimizer: Callable building the optimizer from the trainable parameters.
        lr_schedule: Warmup + decay per optimizer step.
        generation: Decoding settings for ``predict``.
        export_hf: At the end of ``fit``, save the model (adapters only with LoRA) and
            processor as a Hugging Face folder.
        export_dir: Where to export (default ``<log_dir>/hf``).
    """

    # How the DataModule collates batches for this module: ``train`` (prompt + target
    # with labels) or ``generate`` (prompt only, left padded).
    collate_modes: ClassVar[dict[str, str]] = {"train": "train", "val": "train"}

    def __init__(
        self,
        policy: PolicyConfig,
        optimizer: OptimizerCallable = adamw,
        lr_schedule: LRSchedule | None = None,
        generation: GenerationSettings | None = None,
        export_hf: bool = True,
        export_dir: str | None = None,
    ) -> None:
        super().__init__()
        # Decoding settings are chosen at predict/test time: keep them out of the checkpoint's
        # hyperparameters, which LightningCLI would otherwise apply over the command line.
        self.save_hyperparameters(ignore=["optimizer", "generation"])
        self.policy_config = policy
        self.optimizer_factory = optimizer
        self.lr_schedule = lr_schedule or LRSchedule()
        self.generation = generation or GenerationSettings()
        self.export_hf = export_hf
        self.export_dir = export_dir
        self.processor = load_processor(policy.name_or_path, policy.trust_remote_code)
        self.model: torch.nn.Module | None = None
        # Adapter-only checkpoints hold a subset of the weights.
        self.strict_loading = policy.lora is None
        self._skipped: dict[str, list[Skipped]] = {
            "train": [],
            "val": [],
            "test": [],
            "predict": [],
        }

    # --- model ----------------------------------------------------------------------------

    def configure_model(self) -> None:
        if self.model is not None:
            return
        device_map = None
        if self.policy_config.quantization is not None:
            # bitsandbytes quantizes while loading, onto the device that will run it.
            device = self.trainer.strategy.root_device if self._trainer else torch.device("cpu")
            device_map = {"": str(device)}
        self.model = load_policy(self.policy_config, device_map=device_map)

    @property
    def policy(self) -> torch.nn.Module:
        if self.model is None:
            raise RuntimeError("the model is not built yet: call configure_model() first")
        return self.model

    def configure_optimizers(self) -> Any:
        params = list(trainable_parameters(self.policy).values())
        if not params:
            raise ValueError("no trainable parameters: check `policy.lora` and `freeze_vision`")
        optimizer = self.optimizer_factory(params)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.lr_schedule.build(optimizer, total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # --- gradients -------------------------------------------------------------------------

    def clip_gradients(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip by global norm under every strategy, FSDP included.

        Lightning's FSDP precision plugin refuses norm clipping (it has no handle on the
        root FSDP module), so both the Trainer's ``gradient_clip_val`` (SFT) and GRPO's
        ``max_grad_norm`` would stop a FSDP run at its first optimizer step. Under FSDP the
        root module's own ``clip_grad_norm_`` computes the norm over all shards; everything
        else (DDP, one device, FSDP2's DTensor gradients) goes through Lightning.
        """
        root = _fsdp_root(self)
        if root is not None and gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            root.clip_grad_norm_(gradient_clip_val)
            return
        super().clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def gradient_sync(self, sync: bool) -> Any:
        """A context for one backward pass of several before an optimizer step: with
        ``sync`` False, DDP skips its gradient all-reduce (the gradients accumulate locally and
        the last backward all-reduces their sum once). No effect on one device or FSDP."""
        if sync or self._trainer is None:
            return contextlib.nullcontext()
        block = getattr(self.trainer.strategy, "block_backward_sync", None)
        return block() if block is not None else contextlib.nullcontext()

    # --- skipped samples -------------------------------------------------------------------

    def note_skipped(self, batch: dict[str, Any], stage: str) -> None:
        self._skipped[stage].extend(batch.get("skipped", []))

    def _report_skipped(self, stage: str) -> None:
        skipped = self._skipped[stage]
        n = torch.tensor(float(len(skipped)), device=self.device)
        if self._trainer is not None and stage in ("train", "val"):
            self.log(f"{stage}/skipped", n, reduce_fx="sum", sync_dist=True)
        if skipped:
            reasons = Counter(s.reason.split(":")[0] for s in skipped)
            lines = [f"  {s.sample_id}: {s.reason}" for s in skipped[:20]]
            if len(skipped) > 20:
                lines.append(f"  … and {len(skipped) - 20} more")
            rank_zero_warn(
                f"{stage} epoch {self.current_epoch}: skipped {len(skipped)} sample(s) "
                f"({dict(reasons)}):\n" + "\n".join(lines)
            )
        self._skipped[stage] = []

    def on_train_epoch_end(self) -> None:
        self._report_skipped("train")

    def on_validation_epoch_end(self) -> None:
        self._report_skipped("val")

    def on_predict_epoch_end(self) -> None:
        self._report_skipped("predict")

    # --- checkpoints and export ------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.model is not None and is_peft_model(self.model):
            keep = {f"model.{n}" for n in trainable_parameters(self.model)}
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if k in keep
            }
        checkpoint[RNG_KEY] = rng_states_of_all_ranks()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Applied when training starts, after everything that set up the run has drawn
        # from the generators (the uninterrupted run drew nothing more at that point).
        self._rng_to_restore = checkpoint.get(RNG_KEY)

    def on_train_start(self) -> None:
        refuse_sharded_images(self.policy, getattr(self.trainer, "datamodule", None))
        states = getattr(self, "_rng_to_restore", None)
        if states:
            restore_rng_states(states, self.global_rank)
            self._rng_to_restore = None

    def on_train_end(self) -> None:
        if self.export_hf:
            default = Path(self.trainer.log_dir or self.trainer.default_root_dir) / "hf"
            self.export_pretrained(self.export_dir or default)

    @rank_zero_only
    def export_pretrained(self, out_dir: str | Path) -> Path:
        """Save the policy (adapters only with LoRA) and its processor for `from_pretrained`."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.policy.save_pretrained(out)
        self.processor.save_pretrained(out)
        log.info("exported the policy to %s", out)
        return out

    def _world(self) -> int:
        """Processes training together (1 outside a Trainer)."""
        return self.trainer.world_size if self._trainer is not None else 1

    # --- generation ------------------------------------------------------------------------

    @torch.no_grad()
    def generate_completions(self, batch: dict[str, Any], **overrides: Any) -> torch.Tensor:
        """Completion token ids for a ``generate``-mode batch (left padded prompts), with
        the ``generation`` settings (``overrides`` win). Shape: (B, T_new)"""
        inputs = model_inputs(batch)
        out = self.policy.generate(
            **inputs,
            **{**self.generation.kwargs(), **overrides},
            pad_token_id=self.processor.tokenizer.pad_token_id,
            use_cache=True,
            synced_gpus=is_sharded(self.policy),
        )
        return out[:, inputs["input_ids"].shape[1] :]

    def generate_texts(self, batch: dict[str, Any], **overrides: Any) -> list[str]:
        """Decoded completions for a ``generate``-mode batch (`generate_completions`)."""
        completions = self.generate_completions(batch, **overrides)
        return self.processor.tokenizer.batch_decode(completions, skip_special_tokens=True)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        self.note_skipped(batch, "predict")
        if not batch["samples"]:
            return []
        texts = self.generate_texts(batch)
        results = []
        for sample, text in zip(batch["samples"], texts, strict=True):
            trace = parse_trace(text)
            results.append(
                {
                    "id": sample.id,
                    "output": text,
                    "answer": trace.answer,
                    "gold": sample.answer,
                    "well_formed": trace.well_formed,
                    "spans": trace.spans,
                }
            )
        return results
