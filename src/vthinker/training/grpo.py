"""GRPO: reinforce the thinking format and the answer with group-relative advantages.

One training step (manual optimization), for a batch of B prompts:

1. **Rollout**: sample G completions per prompt (one batched ``generate``; the video of
   each prompt is encoded once).
2. **Rewards**: score every completion with the configured rewards (weighted sum).
   A NaN total skips the step (counted, never trained on).
3. **Advantages**: ``(r - mean_group) / (std_group + eps)`` (or batch/none scaling), after
   the optional reward shaping (DAPO's overlong punishment, the KL as a reward penalty).
   With dynamic sampling (DAPO) the groups of equal rewards are dropped and the step rolls
   out further batches until it has a batch's worth of informative groups
   (`vthinker.training.group_pool`).
4. **Reference log-probs** (``beta > 0``): LoRA → the same model with adapters
   disabled; full fine-tuning → a frozen copy made before training. A LoRA SFT export
   (adapter folder) as the start point is merged into its base when loaded
   (`vthinker.models.policy`), so either reference is the SFT model.
5. **Old log-probs** (``num_iterations > 1`` only): once per rollout batch.
6. **Update**: ``num_iterations`` optimizer steps over the rollout, each accumulating
   gradients over micro-batches of rows; with ``num_iterations == 1`` the ratio is
   exactly 1 (old log-probs are the current ones, detached). The logged ratio and clip
   fractions are those of the last pass; loss, KL and entropy those of the first.

The policy's dropout is off (``GRPOSettings.disable_dropout``, as in TRL): rollouts sample
in eval mode and the scoring passes run in train mode, and both must be the same policy.

Departures from the paper, stated: group size 8 and the unbiased group std follow
Video-R1 (the paper does not publish them); log-probs divide the logits by the
sampling temperature (as TRL does).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from vthinker.models.policy import (
    PolicyConfig,
    disable_dropout,
    is_adapter_folder,
    is_peft_model,
    is_sharded,
    vision_tower,
)
from vthinker.rewards.base import Reward, RewardBreakdown, combine
from vthinker.training.base import GenerationSettings, VideoLLMModule, adamw
from vthinker.training.group_pool import GroupPool, RolloutPart
from vthinker.training.grpo_stats import (
    UpdateStats,
    accumulate,
    completion_records,
    log_completions_table,
    nan_reason,
    reward_means,
    step_metrics,
)
from vthinker.training.losses import (
    KLEstimator,
    LossType,
    PolicyLoss,
    RatioLevel,
    SamplerStats,
    group_advantages,
    grpo_loss,
    informative_groups,
    kl_estimate,
    kl_reward_penalty,
    masked_mean,
    mix_into_reference,
    overlong_penalty,
    pooled_std,
    sampler_correction,
)
from vthinker.training.rollout import (
    HFEngine,
    RolloutEngine,
    RolloutSettings,
    Trajectory,
    completion_logprobs,
    encode_prompt_videos,
    encode_videos,
)
from vthinker.training.schedules import LRSchedule

log = logging.getLogger(__name__)

__all__ = ["GRPOModule", "GRPOSettings"]


@dataclass
class GRPOSettings:
    """The GRPO algorithm's knobs (defaults: Video-Thinker / Video-R1).

    Attributes:
        group_size: Completions per prompt (G).
        beta: KL coefficient (0 loads no reference policy).
        eps_low: Lower clip range.
        eps_high: Upper clip range.
        loss_type: ``grpo``, ``bnpo``, ``dr_grpo`` or ``dapo`` aggregation.
        scale_rewards: Advantage scaling: ``group``, ``batch`` or ``none``.
        adv_eps: Added to the std in the advantage.
        num_iterations: Optimizer passes per rollout batch (mu).
        micro_batch_size: Completions per forward/backward (None: all at once).
        max_grad_norm: Gradient clipping by global norm (the paper: 5).
        log_ratio_clip: Clamp ``logp - old_logp`` and ``ref - logp`` to ``±log_ratio_clip``
            before the exp (EasyR1; None: off). Clamped tokens pass no gradient.
        kl_clip: Clamp the per-token KL estimate to at most this (EasyR1; None: off).
        kl_estimator: ``k3`` (default, Video-R1/TRL), ``k1`` or ``k2``
            (`vthinker.training.losses.kl_estimate`).
        sampler_correction: Weight the policy loss by the ratio of the trainer's to the
            sampler's probability of each sampled token when another engine (vLLM) sampled
            the rollout (`vthinker.training.losses.sampler_correction`): ``token`` or
            ``sequence`` level, or None for off. The HF rollout samples with the policy
            itself and needs none.
        sampler_mode: ``truncate`` (cap the weight) or ``mask`` (drop tokens above the cap).
        sampler_cap: The cap.
        disable_dropout: Set every dropout of the policy to 0 (LoRA dropout and attention
            dropout included; `vthinker.models.policy.disable_dropout`), as TRL's
            ``disable_dropout`` does. Rollouts sample in eval mode and scoring runs in train
            mode; with dropout on, the scored log-probs are not those of the sampling policy
            and the importance ratio is noise.
        ratio_level: ``token`` importance ratios, or ``sequence`` (GSPO: one ratio per
            completion, the geometric mean of its token ratios).
        policy_loss: ``clip`` (PPO) or ``cispo`` (MiniMax-M1: clipped, detached weight times
            the log-prob; set ``eps_low`` large to leave the weight without a lower bound).
        entropy_coef: Entropy bonus: ``entropy_coef * H`` per token is subtracted from the loss
            (TRL ``entropy_coef``, verl; 0: off).
        kl_penalty: ``loss`` (the KL term in the loss, Video-R1/TRL) or ``reward`` (``beta *
            sum_t KL_t`` subtracted from each completion's reward before the advantages, verl
            ``use_kl_in_reward``; the loss then has no KL term).
        mask_truncated: Completions that hit ``max_new_tokens`` without an end take no part in
            the loss (TRL ``mask_truncated_completions``, DAPO).
        overlong_buffer: DAPO's soft overlong punishment: the last this many tokens before
            ``max_new_tokens`` lower the reward linearly to ``-overlong_factor``
            (`vthinker.training.losses.overlong_penalty`; None: off).
        overlong_factor: The punishment at ``max_new_tokens``.
        dynamic_sampling: DAPO's dynamic sampling: drop the groups whose rewards (before
            shaping) are all equal (they give no policy gradient) and roll out further
            batches until the informative groups fill the global batch (EasyR1
            ``online_filtering``, verl ``filter_groups``; `vthinker.training.group_pool`).
        max_extra_rollouts: Dynamic sampling rolls out at most this many extra batches per
            step, then trains on the informative groups it has (``train/trained_groups``).
        ref_sync_every: Every this many optimizer steps the reference moves toward the policy
            (TR-DPO; TRL ``sync_ref_model``); 0: never. Full fine-tuning only.
        ref_sync_alpha: ``ref ← α π + (1 - α) ref`` at each sync.
    """

    group_size: int = 8
    beta: float = 0.04
    eps_low: float = 0.2
    eps_high: float = 0.2
    loss_type: LossType = "grpo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    adv_eps: float = 1e-4
    num_iterations: int = 1
    micro_batch_size: int | None = None
    max_grad_norm: float | None = 5.0
    disable_dropout: bool = True
    log_ratio_clip: float | None = 20.0
    kl_clip: float | None = 10.0
    kl_estimator: KLEstimator = "k3"
    sampler_correction: Literal["token", "sequence"] | None = "token"
    sampler_mode: Literal["truncate", "mask"] = "truncate"
    sampler_cap: float = 2.0
    ratio_level: RatioLevel = "token"
    policy_loss: PolicyLoss = "clip"
    entropy_coef: float = 0.0
    kl_penalty: Literal["loss", "reward"] = "loss"
    mask_truncated: bool = False
    overlong_buffer: int | None = None
    overlong_factor: float = 1.0
    dynamic_sampling: bool = False
    max_extra_rollouts: int = 3
    ref_sync_every: int = 0
    ref_sync_alpha: float = 0.6

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(
                f"group_size must be >= 2 for group-relative advantages, got {self.group_size}"
            )
        if self.num_iterations < 1:
            raise ValueError(f"num_iterations must be >= 1, got {self.num_iterations}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1, got {self.micro_batch_size}")
        if self.max_extra_rollouts < 0 or self.ref_sync_every < 0:
            raise ValueError(
                "max_extra_rollouts and ref_sync_every must be >= 0, got "
                f"{self.max_extra_rollouts} and {self.ref_sync_every}"
            )
        if not 0 < self.ref_sync_alpha <= 1:
            raise ValueError(f"ref_sync_alpha must be in (0, 1], got {self.ref_sync_alpha}")
        if self.ref_sync_every and self.beta == 0:
            raise ValueError("ref_sync_every needs a reference policy: set beta > 0")
        if self.overlong_buffer is not None and self.overlong_buffer < 1:
            raise ValueError(f"overlong_buffer must be >= 1 (or null), got {self.overlong_buffer}")
        for name in ("log_ratio_clip", "kl_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 (or null to turn it off), got {value}")


class GRPOModule(VideoLLMModule):
    """GRPO on a video LLM with swappable rewards.

    Args:
        policy: The policy to train (usually the SFT export).
        rewards: Rewards whose weighted sum is the total reward.
        grpo: Algorithm settings.
        rollout: Sampling settings.
        optimizer: Optimizer factory.
        lr_schedule: LR schedule per optimizer step.
        generation: Decoding settings for validation and ``predict`` (greedy by default).
        log_completions_every: Every this many steps, append sample completions to
            ``<log_dir>/completions.jsonl`` (0: never).
        export_hf: Export the policy to ``<log_dir>/hf`` at the end of fit.
        export_dir: Export folder instead of ``<log_dir>/hf``.
        engine: What samples the rollouts (default `HFEngine`, ``generate`` on the policy;
            `vthinker.training.vllm_rollout.VLLMRollout` for vLLM).
    """

    collate_modes: ClassVar[dict[str, str]] = {"train": "generate", "val": "generate"}

    def __init__(
        self,
        policy: PolicyConfig,
        rewards: list[Reward],
        grpo: GRPOSettings | None = None,
        rollout: RolloutSettings | None = None,
        optimizer: OptimizerCallable = adamw,
        lr_schedule: LRSchedule | None = None,
        generation: GenerationSettings | None = None,
        log_completions_every: int = 50,
        export_hf: bool = True,
        export_dir: str | None = None,
        engine: RolloutEngine | None = None,
    ) -> None:
        super().__init__(
            policy,
            optimizer=optimizer,
            lr_schedule=lr_schedule or LRSchedule(kind="constant", warmup_ratio=0.0),
            generation=generation or GenerationSettings(max_new_tokens=768, do_sample=False),
            export_hf=export_hf,
            export_dir=export_dir,
        )
        if not rewards:
            raise ValueError("GRPO needs at least one reward")
        names = [r.name for r in rewards]
        if len(set(names)) != len(names):
            raise ValueError(f"reward names must be unique (set `name`), got {names}")
        self.automatic_optimization = False
        self.rewards = list(rewards)
        self.grpo = grpo or GRPOSettings()
        if (
            self.grpo.beta > 0
            and policy.quantization is not None
            and is_adapter_folder(policy.name_or_path)
        ):
            # An adapter folder is merged into its base at load time, so that the reference
            # (adapters off) is the SFT model; 4-bit weights cannot take the merge.
            raise ValueError(
                f"policy.name_or_path {policy.name_or_path!r} is a LoRA adapter folder and the "
                f"base is quantized ({policy.quantization}): the adapter cannot be merged into "
                "4-bit weights, so the KL reference (adapters off) would be the base model, "
                "not the SFT model. Merge it first: `vthinker export "
                f"{policy.name_or_path} --out DIR` and set policy.name_or_path to DIR (or set "
                "grpo.beta: 0)"
            )
        self.rollout_settings = rollout or RolloutSettings()
        buffer = self.grpo.overlong_buffer
        if buffer is not None and buffer > self.rollout_settings.max_new_tokens:
            raise ValueError(
                f"grpo.overlong_buffer {buffer} is longer than rollout.max_new_tokens "
                f"{self.rollout_settings.max_new_tokens}"
            )
        self.engine = engine or HFEngine()
        self.rollout = self.engine.build(self.rollout_settings, self.processor, policy.name_or_path)
        self.log_completions_every = log_completions_every
        self.ref_model: torch.nn.Module | None = None
        self.skipped_steps: dict[str, int] = {}
        self._pool = GroupPool()  # dynamic sampling's informative groups
        self.strict_loading = False  # the frozen reference copy is never checkpointed

    @property
    def needs_videos(self) -> bool:
        """The rollout engine processes the decoded frames itself (the DataModule then puts
        them in generate-mode batches)."""
        return self.engine.needs_videos

    # --- model and reference ---------------------------------------------------------------

    def configure_model(self) -> None:
        if self.model is not None:
            return
        super().configure_model()
        if self.grpo.disable_dropout:
            # Kept in train mode (gradient checkpointing needs it), with dropout at 0.
            disable_dropout(self.policy)
        if self.grpo.ref_sync_every and is_peft_model(self.policy):
            raise ValueError(
                "grpo.ref_sync_every needs full fine-tuning: with LoRA the reference is the "
                "base model with the adapters off, which a sync cannot move (set "
                "ref_sync_every: 0 or drop policy.lora)"
            )
        if self.grpo.beta > 0 and not is_peft_model(self.policy):
            # Full fine-tuning: the reference is a frozen copy of the starting policy.
            ref = copy.deepcopy(self.policy)
            ref.eval()
            for p in ref.parameters():
                p.requires_grad_(False)
            self.ref_model = ref

    def on_fit_start(self) -> None:
        if self.grpo.ref_sync_every and is_sharded(self.policy):
            # FSDP shards the policy and its reference copy differently on each rank (their
            # small parameters share the root unit), so they cannot be mixed shard by shard.
            raise ValueError(
                "grpo.ref_sync_every is not supported with a sharded (FSDP) policy; use DDP "
                "or one device, or set ref_sync_every: 0"
            )

    def _vision_frozen(self) -> bool:
        vt = vision_tower(self.policy)
        return vt is None or not any(p.requires_grad for p in vt.parameters())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if not self.grpo.ref_sync_every:
            # The reference is the start policy, rebuilt at load; a synced one has moved and
            # is saved with the policy.
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("ref_model.")
            }
        super().on_save_checkpoint(checkpoint)

    # --- one step ---------------------------------------------------------------------------

    def _row_chunks(self, n: int) -> Iterator[slice]:
        step = self.grpo.micro_batch_size or n
        for i in range(0, n, step):
            yield slice(i, min(i + step, n))

    @torch.no_grad()
    def _logprobs(
        self, model: torch.nn.Module, traj: Trajectory, video_embeds: Any, use_adapters: bool = True
    ) -> torch.Tensor:
        outs = []
        for rows in self._row_chunks(traj.completion_ids.shape[0]):
            # Without adapters (LoRA reference): the same weights, adapters switched off.
            with contextlib.nullcontext() if use_adapters else model.disable_adapter():
                lp, _ = completion_logprobs(
                    model,
                    traj,
                    rows,
                    video_embeds=video_embeds,
                    temperature=self.rollout_settings.temperature,
                )
            outs.append(lp)
        return torch.cat(outs)

    def reference_logprobs(self, traj: Trajectory, video_embeds: Any) -> torch.Tensor:
        """Per-token log-probs under the reference policy. Shape: (N, C)"""
        if self.ref_model is not None:
            return self._logprobs(self.ref_model, traj, video_embeds)
        if not is_peft_model(self.policy):
            raise RuntimeError("beta > 0 needs a reference: LoRA or a frozen copy")
        return self._logprobs(self.policy, traj, video_embeds, use_adapters=False)

    def _num_tokens(self, count: torch.Tensor) -> torch.Tensor:
        """Token normaliser from this rank's ``count`` of loss tokens: the rank's batch (bnpo)
        or the global batch (dapo)."""
        n = count.float()
        if self.grpo.loss_type == "dapo" and self._world() > 1:
            total = self.all_gather(n).sum()
            # DDP averages gradients over ranks: scale so the result is sum / global tokens.
            return total / self._world()
        return n

    def _any_rank(self, flag: bool) -> bool:
        """True if ``flag`` holds on any rank (every rank must call this at the same point)."""
        if self._world() == 1:
            return flag
        return bool(self.all_gather(torch.tensor(float(flag), device=self.device)).sum() > 0)

    def _fewest_over_ranks(self, count: int) -> int:
        """The smallest ``count`` over the ranks (every rank must call this at the same point)."""
        if self._world() == 1:
            return count
        return int(self.all_gather(torch.tensor(float(count), device=self.device)).min())

    def _batch_std(self, total: torch.Tensor) -> torch.Tensor | None:
        """The std of every rank's rewards for ``scale_rewards="batch"`` (None: local)."""
        if self.grpo.scale_rewards != "batch" or self._world() == 1:
            return None
        t = total.double()
        stats = torch.stack([t.new_tensor(float(t.numel())), t.sum(), (t * t).sum()])
        summed = self.all_gather(stats).view(-1, 3).sum(0)
        return pooled_std(summed[0], summed[1], summed[2])

    def _skip_step(self, reason: str, batch: dict[str, Any], counter: str = "nan") -> None:
        """Skip the step on every rank (they reach here together), counted by kind: a NaN
        reward or an empty batch (``nan``), or no informative group (``no_signal``)."""
        self.skipped_steps[counter] = self.skipped_steps.get(counter, 0) + 1
        self._pool.clear()  # dynamic sampling starts again
        n = self.skipped_steps[counter]
        rank_zero_warn(f"step {self.global_step}: {reason}; step skipped ({n} so far)")
        name = "train/nan_reward_steps" if counter == "nan" else f"train/{counter}_steps"
        self.log(name, float(n), batch_size=max(1, len(batch["samples"])))

    @property
    def nan_steps(self) -> int:
        """Steps skipped for a NaN reward or an empty batch on some rank."""
        return self.skipped_steps.get("nan", 0)

    def score_rollout(
        self, batch: dict[str, Any], traj: Trajectory, samples: list[Any]
    ) -> RewardBreakdown:
        """Step 2: the rewards of a rollout (a subclass may add rollout-level terms, as
        `vthinker.training.tgrpo.TemporalGRPOModule` does)."""
        return combine(self.rewards, traj.texts, samples)

    def shape_rewards(
        self, traj: Trajectory, total: torch.Tensor, ref_logp: torch.Tensor | None, old_logp: Any
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Step 3a: DAPO's overlong punishment and the KL reward penalty, added to the total
        before the advantages. Returns the shaped total and what each term added (logged)."""
        g, extra = self.grpo, {}
        if g.overlong_buffer is not None:
            pen = overlong_penalty(
                traj.lengths, self.rollout_settings.max_new_tokens, g.overlong_buffer
            )
            pen = (g.overlong_factor * pen).to(total)
            total, extra["reward/overlong"] = total + pen, float(pen.mean())
        if ref_logp is not None:
            clips = (g.kl_estimator, g.log_ratio_clip, g.kl_clip)
            mask = traj.completion_mask
            # The loss has no KL term: the per-token KL the penalty is made of is logged.
            per_token = kl_estimate(old_logp.detach(), ref_logp.detach(), *clips)
            kl = kl_reward_penalty(per_token, mask, g.beta).to(total)
            total, extra["reward/kl_penalty"] = total - kl, float(kl.mean())
            extra["train/kl"] = float(masked_mean(per_token, mask))
        return total, extra

    def _micro_batch_loss(
        self,
        part: RolloutPart,
        rows: slice,
        n_rows: int,
        num_tokens: torch.Tensor | None,
        with_entropy: bool,
    ) -> tuple[torch.Tensor, Any, torch.Tensor | None, SamplerStats | None]:
        """The GRPO loss of the completions ``rows`` of ``part`` (a share of the step's loss,
        already normalised over the whole batch), its statistics, the token entropy and, for
        a rollout another engine sampled, the sampler correction's statistics."""
        g, traj = self.grpo, part.traj
        bonus = g.entropy_coef != 0.0
        logp, entropy = completion_logprobs(
            self.policy,
            traj,
            rows,
            video_embeds=part.video_embeds,
            temperature=self.rollout_settings.temperature,
            with_entropy=with_entropy or bonus,
            entropy_grad=bonus,
        )
        mask = part.mask[rows]
        old = logp.detach() if part.old_logp is None else part.old_logp[rows]
        weights, sampler = None, None
        if traj.sampler_logp is not None and g.sampler_correction is not None:
            weights, sampler = sampler_correction(
                old,
                traj.sampler_logp[rows].to(old),
                mask,
                g.sampler_correction,
                g.sampler_mode,
                g.sampler_cap,
            )
        kl_in_loss = g.kl_penalty == "loss" and part.ref_logp is not None
        loss, stats = grpo_loss(
            logp,
            old,
            part.ref_logp[rows] if kl_in_loss else None,
            part.adv[rows],
            mask,
            beta=g.beta if kl_in_loss else 0.0,
            eps_low=g.eps_low,
            eps_high=g.eps_high,
            loss_type=g.loss_type,
            max_completion_len=self.rollout_settings.max_new_tokens,
            num_sequences=n_rows,
            num_tokens=num_tokens,
            log_ratio_clip=g.log_ratio_clip,
            kl_clip=g.kl_clip,
            sampler_weights=weights,
            kl_estimator=g.kl_estimator,
            ratio_level=g.ratio_level,
            policy_loss=g.policy_loss,
            entropy=entropy if bonus else None,
            entropy_coef=g.entropy_coef,
        )
        return loss, stats, None if entropy is None else entropy.detach(), sampler

    def _with_logprobs(self, part: RolloutPart) -> RolloutPart:
        """Steps 4-5: the reference log-probs (KL in the loss) and the old ones (``mu > 1``)
        a part still lacks."""
        g = self.grpo
        ref, old = part.ref_logp, part.old_logp
        if ref is None and g.beta > 0 and g.kl_penalty == "loss":
            ref = self.reference_logprobs(part.traj, part.video_embeds)
        if old is None and g.num_iterations > 1:
            old = self._logprobs(self.policy, part.traj, part.video_embeds)
        return part._replace(ref_logp=ref, old_logp=old)

    def _update(self, parts: list[RolloutPart]) -> UpdateStats:
        """Step 6: ``num_iterations`` optimizer steps over the rollout parts, each accumulating
        every micro-batch's share of the loss (normalised over all parts together).

        Returns:
            Loss, KL and entropy of the policy that sampled the rollout (first pass), ratio
            and clip fractions of the last pass, all token-weighted over the batch.
        """
        g = self.grpo
        opt, sched = self.optimizers(), self.lr_schedulers()
        n_rows = sum(p.mask.shape[0] for p in parts)
        tokens = torch.stack([p.mask.sum() for p in parts]).sum()
        num_tokens = self._num_tokens(tokens)
        n_tok = float(tokens.clamp(min=1))
        chunks = [(p, rows) for p in parts for rows in self._row_chunks(p.mask.shape[0])]
        sums: dict[str, float] = {}
        for iteration in range(g.num_iterations):
            opt.zero_grad()
            for k, (part, rows) in enumerate(chunks):
                # DDP all-reduces once per optimizer step, on the last micro-batch.
                with self.gradient_sync(k == len(chunks) - 1):
                    loss, stats, entropy, sampler = self._micro_batch_loss(
                        part, rows, n_rows, num_tokens, with_entropy=iteration == 0
                    )
                    self.manual_backward(loss)
                last, first = iteration == g.num_iterations - 1, iteration == 0
                w = float(part.mask[rows].sum()) / n_tok
                accumulate(sums, first, last, loss, stats, entropy, part.mask[rows], w, sampler)
            if g.max_grad_norm is not None:
                self.clip_gradients(
                    opt, gradient_clip_val=g.max_grad_norm, gradient_clip_algorithm="norm"
                )
            opt.step()
            sched.step()
            self.engine.weights_updated()
            if g.ref_sync_every and self.global_step % g.ref_sync_every == 0:
                assert self.ref_model is not None  # configure_model refuses LoRA
                mix_into_reference(self.ref_model, self.policy, g.ref_sync_alpha)
        return UpdateStats(**sums)

    def _pool_ready(self, part: RolloutPart, total: torch.Tensor, n_prompts: int) -> int | None:
        """Dynamic sampling: add ``part``'s informative groups to the pool. Returns the
        number of parts every rank trains on (its own groups, padded to the most any rank
        has; `GroupPool`), 0 when no rank has an informative group left to train on, or None
        to roll out another batch first.

        The batch is filtered as a whole: the step trains once the ranks' usable groups
        together fill the global batch, or after ``max_extra_rollouts`` extra batches.
        """
        pool = self._pool
        pool.add(part, informative_groups(total, self.grpo.group_size), n_prompts)
        counts = torch.tensor([float(pool.usable), float(pool.target)], device=self.device)
        if self._world() > 1:
            counts = self.all_gather(counts).view(-1, 2)  # (ranks, 2): usable, target
        counts = counts.view(-1, 2)
        usable, target = counts[:, 0], counts[:, 1]
        if usable.sum() >= target.sum() or pool.rollouts > self.grpo.max_extra_rollouts:
            return int(usable.max())
        return None

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """One GRPO step (module docstring).

        Under data parallelism each rank rolls out and scores its own prompts (a group never
        spans ranks); the ranks then agree whether to train: if any rank has a NaN reward
        or no usable sample, every rank skips the step, so the collective operations
        (gradient all-reduce, global token count, metric sync) stay in lockstep. With dynamic
        sampling a call may only roll out (no optimizer step) and keep its informative groups
        for the next call.
        """
        self.note_skipped(batch, "train")
        empty = not batch["samples"]
        if empty and self._world() == 1:
            return
        g, policy, t0 = self.grpo, self.policy, time.perf_counter()
        step = self.global_step  # the step this rollout trains (0-based, as the metrics)
        if empty:
            # Nothing to roll out on this rank; tell the others, then skip with them.
            self._any_rank(True)
            self._skip_step("a rank had no usable sample in its batch", batch)
            return

        # 1. Rollout.
        policy.eval()
        # A frozen vision tower runs once per prompt: its output serves the rollout and
        # every scoring pass below.
        frozen = self._vision_frozen()
        prompt_videos = encode_prompt_videos(policy, batch) if frozen else None
        traj = self.rollout(policy, batch, g.group_size, video_features=prompt_videos)
        t1 = time.perf_counter()

        # 2. Rewards.
        samples = [s for s in batch["samples"] for _ in range(g.group_size)]
        breakdown = self.score_rollout(batch, traj, samples)
        total = breakdown.total.to(self.device)  # (N,)
        t2 = time.perf_counter()
        has_nan = bool(torch.isnan(total).any())
        if self._any_rank(has_nan):
            reason = (
                nan_reason(samples, total, breakdown)
                if has_nan
                else "another rank had a NaN reward or no usable sample"
            )
            self._skip_step(reason, batch)
            return

        # 3. Reward shaping (the KL penalty needs the policy's and reference's log-probs
        # first), then advantages.
        policy.train()
        video_embeds = encode_videos(policy, traj) if frozen else None
        ref_logp = old_logp = None
        if g.kl_penalty == "reward" and g.beta > 0:
            ref_logp = self.reference_logprobs(traj, video_embeds)
            old_logp = self._logprobs(policy, traj, video_embeds)
        shaped, shaping = self.shape_rewards(traj, total, ref_logp, old_logp)
        adv = group_advantages(
            shaped,
            g.group_size,
            scale=g.scale_rewards,
            eps=g.adv_eps,
            batch_std=self._batch_std(shaped),
        )  # (N,)
        mask = traj.completion_mask
        if g.mask_truncated:
            mask = mask * (~traj.truncated).unsqueeze(1).to(mask.dtype)
        # With one pass the ratio is 1 by construction (old = current, detached); the
        # policy's log-probs computed for the KL penalty would only add rounding to it.
        old_for_loss = old_logp if g.num_iterations > 1 else None
        part = RolloutPart(traj, adv, mask, video_embeds, ref_logp, old_for_loss)

        # Dynamic sampling: keep the informative groups (judged on the rewards before
        # shaping: a penalty alone is no task signal); train once there are enough.
        parts, pool_stats = [part], {}
        if g.dynamic_sampling:
            pad_to = self._pool_ready(part, total, len(batch["samples"]))
            if pad_to is None:
                return
            rollouts = self._pool.rollouts
            parts, pool_stats = self._pool.take(pad_to)
            if pad_to == 0:
                self._skip_step(
                    f"no informative group in {rollouts} rollout batches on any rank (every "
                    "group's rewards were equal)",
                    batch,
                    counter="no_signal",
                )
                return

        # 4-6. Reference and old log-probs, then the update.
        stats = self._update([self._with_logprobs(p) for p in parts])
        t3 = time.perf_counter()

        extra = {**shaping, **pool_stats}
        times = (t1 - t0, t2 - t1, t3 - t2)
        self._log_step(batch, traj, breakdown, total, stats, times, extra)
        if self.log_completions_every and step % self.log_completions_every == 0:
            # trainer.log_dir broadcasts under DDP: every rank asks, rank 0 writes.
            folder = Path(self.trainer.log_dir or self.trainer.default_root_dir)
            self._write_completions(folder, step, traj, samples, breakdown, total)

    # --- logging ---------------------------------------------------------------------------

    def _log_step(
        self,
        batch: dict[str, Any],
        traj: Trajectory,
        breakdown: Any,
        total: torch.Tensor,
        stats: UpdateStats,
        times: tuple[float, float, float],
        extra: dict[str, float] | None = None,
    ) -> None:
        means = reward_means(breakdown, self.device)  # already over every rank
        metrics = step_metrics(self.grpo.group_size, traj, breakdown, total, stats, times, means)
        metrics.update(extra or {})
        metrics["train/lr"] = self.optimizers().param_groups[0]["lr"]
        for reward in self.rewards:  # extra statistics (judge failures, gate pass rates)
            for key, value in reward.stats().items():
                metrics[f"reward/{reward.name}/{key}"] = value
        bs = len(batch["samples"])
        reduced = {f"reward/{name}" for name in means} | {"train/accuracy", "train/format_rate"}
        self.log_dict({k: float(v) for k, v in metrics.items() if k in reduced}, batch_size=bs)
        # Averaged over ranks under data parallelism; the longest completion is the max.
        self.log_dict(
            {k: float(v) for k, v in metrics.items() if k not in reduced},
            batch_size=bs,
            sync_dist=True,
        )
        longest = float(traj.lengths.float().max())
        self.log(
            "train/completion_len_max", longest, batch_size=bs, sync_dist=True, reduce_fx="max"
        )
        self.log("train/kl_max", stats.kl_max, batch_size=bs, sync_dist=True, reduce_fx="max")
        self.log("reward", float(total.mean()), prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("kl", metrics["train/kl"], prog_bar=True, batch_size=bs, sync_dist=True)

    @rank_zero_only
    def _write_completions(
        self,
        folder: Path,
        step: int,
        traj: Trajectory,
        samples: list[Any],
        breakdown: Any,
        total: torch.Tensor,
        k: int = 4,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        records = completion_records(step, traj, samples, breakdown, total, k)
        with (folder / "completions.jsonl").open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        log_completions_table(self.loggers, step, records)
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):  # TensorBoard
                experiment.add_text("completions", traj.texts[0], step)

    # --- validation: greedy decode, same rewards ---------------------------------------------

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.note_skipped(batch, "val")
        if not batch["samples"]:
            return
        texts = self.generate_texts(batch)
        breakdown = combine(self.rewards, texts, batch["samples"])
        bs = len(batch["samples"])
        self.log("val/reward_total", float(breakdown.total.mean()), batch_size=bs, sync_dist=True)
        for name, mean in breakdown.means().items():
            if not math.isnan(mean):
                self.log(f"val/{name}", mean, batch_size=bs, sync_dist=True)
