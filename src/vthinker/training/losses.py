"""GRPO math in plain PyTorch: group-relative advantages, token log-probs, the clipped
policy-gradient loss with its aggregation variants, and the k3 KL estimator.

Conventions (rows are completions, ``N = num_prompts * group_size``, rows of one
group are contiguous; ``C`` is the completion width):

* Advantage (DeepSeekMath GRPO, Video-Thinker): ``A_i = (r_i - mean(r_group)) /
  (std(r_group) + eps)`` with the *unbiased* group std (``torch.std``, as TRL and
  Video-R1 compute it). ``scale="batch"`` divides by the std of all rewards in the
  batch instead; ``scale="none"`` only centres (Dr. GRPO). A group whose rewards are
  all equal gets zero advantage, never NaN.
* Per-token objective: ``-min(ρ A, clip(ρ, 1-ε_low, 1+ε_high) A) + β KL_k3 - c H`` with
  ``ρ = exp(logp - old_logp)``, ``KL_k3 = exp(ref - logp) - (ref - logp) - 1`` and ``H`` the
  token's entropy (entropy bonus ``c = entropy_coef``, TRL and verl; 0 by default).
* Ratio level (``ratio_level``): ``token`` (above) or ``sequence`` (GSPO, Zheng et al. 2025;
  TRL ``importance_sampling_level="sequence"``): ``ρ_i = exp(mean_t (logp - old_logp))``,
  one ratio per completion, clipped as a whole.
* Policy loss (``policy_loss``): ``clip`` (above) or ``cispo`` (MiniMax-M1's CISPO): the
  importance weight is clipped and detached and multiplies the log-prob, ``-sg(clip(ρ,
  1-ε_low, 1+ε_high)) A logp``, so every token keeps a gradient (PPO clipping drops it).
* KL estimator (``kl_estimator``): k3 above (default), or k1 ``logp - ref`` or k2
  ``(logp - ref)² / 2`` (`kl_estimate`; verl and EasyR1 offer the same three).
* Guards (EasyR1's ``compute_policy_loss`` / ``compute_kl``): ``logp - old_logp`` and
  ``ref - logp`` are clamped to ``±log_ratio_clip`` (20) before the exp, and the per-token
  k3 to at most ``kl_clip`` (10). Without them one token with ``ref - logp = 15`` has
  k3 = 3.3e6 and swamps the batch. A clamped value passes no gradient. None turns a guard
  off.
* Aggregation (``loss_type``): ``grpo`` per-sequence token mean, then mean over
  sequences; ``bnpo`` token mean over the batch; ``dr_grpo`` token sum over
  ``(num_sequences * max_completion_len)``; ``dapo`` token mean over the *global*
  batch (all micro-batches and ranks of one optimizer step: pass ``num_tokens``).
  The normalisers ``num_sequences`` / ``num_tokens`` let a caller split a batch into
  micro-batches whose losses add up exactly to the full-batch loss.
* Sampler correction (`sampler_correction`; truncated importance sampling, as TRL and verl
  apply it to vLLM rollouts): the engine that sampled a completion (vLLM) and the trainer
  score its tokens slightly differently, so the policy part of the per-token loss is
  weighted by ``w = π_old(token) / π_sampler(token)`` (token level) or by the product of a
  completion's ratios (sequence level), truncated at ``cap`` or with tokens above ``cap``
  masked out. The weight carries no gradient.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "GRPOStats",
    "KLEstimator",
    "LossType",
    "PolicyLoss",
    "RatioLevel",
    "SamplerStats",
    "group_advantages",
    "grpo_loss",
    "informative_groups",
    "kl_estimate",
    "kl_k3",
    "kl_reward_penalty",
    "masked_max",
    "masked_mean",
    "mix_into_reference",
    "overlong_penalty",
    "pooled_std",
    "sampler_correction",
    "token_entropy",
    "token_logprobs",
]

LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]
RatioLevel = Literal["token", "sequence"]
PolicyLoss = Literal["clip", "cispo"]


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    scale: Literal["group", "batch", "none"] = "group",
    eps: float = 1e-4,
    batch_std: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Group-relative advantages.

    Args:
        rewards: Total reward per completion; groups are contiguous rows.
        group_size: Completions per prompt (G).
        scale: ``group`` (divide by the group std), ``batch`` (by the batch std) or ``none``.
        eps: Added to the std.
        batch_std: The std to use for ``scale="batch"`` instead of that of ``rewards``
            (under data parallelism: the std over every rank's rewards, `pooled_std`).

    Shape:
        rewards: (N,) with N divisible by G → advantages: (N,)
    """
    if rewards.ndim != 1 or rewards.numel() % group_size != 0:
        raise ValueError(
            f"rewards must be 1-D with a length divisible by group_size={group_size}, "
            f"got shape {tuple(rewards.shape)}"
        )
    r = rewards.float().view(-1, group_size)  # (B, G)
    centred = r - r.mean(dim=1, keepdim=True)  # (B, G)
    if scale == "none":
        return centred.view(-1)
    if group_size == 1 and scale == "group":
        std = torch.zeros_like(r)
    elif scale == "group":
        std = r.std(dim=1, keepdim=True).expand_as(r)  # (B, G), unbiased
    elif scale == "batch" and batch_std is not None:
        std = torch.full_like(r, float(batch_std))
    elif scale == "batch":
        std = r.flatten().std().expand_as(r) if r.numel() > 1 else torch.zeros_like(r)  # (B, G)
    else:
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    return (centred / (std + eps)).view(-1)


def pooled_std(count: torch.Tensor, total: torch.Tensor, total_sq: torch.Tensor) -> torch.Tensor:
    """Unbiased std of values known only by their count, sum and sum of squares.

    Each rank contributes ``(n, Σx, Σx²)`` of its rewards; summed over ranks they give the
    std of the global batch without gathering tensors of different lengths.
    """
    n = count.double()
    if n <= 1:
        return torch.zeros((), dtype=torch.float32)
    mean = total.double() / n
    var = (total_sq.double() - n * mean * mean) / (n - 1)
    return var.clamp(min=0).sqrt().float()


CHUNK_TOKENS = 256  # positions per float32 block: 256 x 152k vocabulary = 156 MB


def _blocks(logits: torch.Tensor, chunk: int) -> list[tuple[int, slice]]:
    """(row, position slice) blocks of at most ``chunk`` positions; each block of a
    (B, T, V) tensor is a contiguous view even when the tensor is a slice of a larger one."""
    b, t = logits.shape[:2]
    return [(r, slice(i, min(i + chunk, t))) for r in range(b) for i in range(0, t, chunk)]


class _ChunkedTokenLogprobs(torch.autograd.Function):
    """``log_softmax(logits / temperature)`` at ``token_ids``, float32 math a block at a time.

    The plain formula keeps float32 copies of the whole (B, T, V) logits alive for backward
    (at 7B: micro-batch 4 x 768 tokens x 152k vocabulary = 1.9 GB per copy). Here forward
    keeps only the logits (in their own dtype) and each position's log-normaliser;
    backward rebuilds the softmax block by block: d logp_t / d z = (onehot(t) - softmax(z)) / T.
    """

    @staticmethod
    def forward(ctx, logits, token_ids, temperature, chunk):  # type: ignore[override]
        out = torch.empty(token_ids.shape, dtype=torch.float32, device=logits.device)
        lse = torch.empty_like(out)
        for r, ts in _blocks(logits, chunk):
            z = logits[r, ts].float() / temperature  # (t, V)
            lse[r, ts] = torch.logsumexp(z, dim=-1)
            out[r, ts] = z.gather(-1, token_ids[r, ts].unsqueeze(-1)).squeeze(-1) - lse[r, ts]
        ctx.save_for_backward(logits, token_ids, lse)
        ctx.temperature, ctx.chunk = temperature, chunk
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        logits, token_ids, lse = ctx.saved_tensors
        t = ctx.temperature
        grad = torch.empty_like(logits)
        for r, ts in _blocks(logits, ctx.chunk):
            g = grad_out[r, ts].float()  # (t,)
            soft = torch.exp(logits[r, ts].float() / t - lse[r, ts].unsqueeze(-1))  # (t, V)
            block = soft.mul_(-g.unsqueeze(-1))
            block.scatter_add_(-1, token_ids[r, ts].unsqueeze(-1), g.unsqueeze(-1))
            grad[r, ts] = (block / t).to(grad.dtype)
        return grad, None, None, None


def token_logprobs(
    logits: torch.Tensor,
    token_ids: torch.Tensor,
    temperature: float = 1.0,
    chunk_tokens: int = CHUNK_TOKENS,
) -> torch.Tensor:
    """Log-probability of each token under ``logits / temperature`` (float32 math).

    Computed ``chunk_tokens`` positions at a time, and differentiable without float32
    copies of the whole logits (`_ChunkedTokenLogprobs`).

    Shape:
        logits: (B, T, V), token_ids: (B, T) → (B, T) float32
    """
    return _ChunkedTokenLogprobs.apply(logits, token_ids, float(temperature), chunk_tokens)


class _ChunkedEntropy(torch.autograd.Function):
    """Entropy of ``softmax(logits / temperature)`` per position, float32 a block at a time.

    Backward rebuilds the softmax block by block (as `_ChunkedTokenLogprobs`):
    ``dH/dz_k = -p_k (log p_k + H)`` for ``z = logits / T``, divided by ``T`` for the logits.
    """

    @staticmethod
    def forward(ctx, logits, temperature, chunk):  # type: ignore[override]
        out = torch.empty(logits.shape[:2], dtype=torch.float32, device=logits.device)
        for r, ts in _blocks(logits, chunk):
            logp = F.log_softmax(logits[r, ts].float() / temperature, dim=-1)  # (t, V)
            out[r, ts] = -(logp.exp() * logp).sum(-1)
        ctx.save_for_backward(logits, out)
        ctx.temperature, ctx.chunk = temperature, chunk
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        logits, entropy = ctx.saved_tensors
        t = ctx.temperature
        grad = torch.empty_like(logits)
        for r, ts in _blocks(logits, ctx.chunk):
            logp = F.log_softmax(logits[r, ts].float() / t, dim=-1)  # (t, V)
            d = -logp.exp() * (logp + entropy[r, ts].unsqueeze(-1))  # dH/dz
            grad[r, ts] = (d * grad_out[r, ts].float().unsqueeze(-1) / t).to(grad.dtype)
        return grad, None, None


def token_entropy(
    logits: torch.Tensor, temperature: float = 1.0, chunk_tokens: int = CHUNK_TOKENS
) -> torch.Tensor:
    """Entropy of each next-token distribution of ``logits / temperature``, ``chunk_tokens``
    positions at a time in float32; differentiable (the entropy bonus) when ``logits`` is.

    Shape:
        logits: (B, T, V) → (B, T) float32
    """
    return _ChunkedEntropy.apply(logits, float(temperature), chunk_tokens)


def kl_k3(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    log_ratio_clip: float | None = 20.0,
    kl_clip: float | None = 10.0,
) -> torch.Tensor:
    """Schulman's k3 estimator of KL(π || π_ref) per token: ``e^{d} - d - 1``, ``d = ref - logp``.

    Non-negative, unbiased for samples from π (before clamping). As EasyR1 does, ``d`` is
    clamped to ``±log_ratio_clip`` before the exp and the result to at most ``kl_clip``
    (None: no clamp).

    Shape:
        logp, ref_logp: (B, C) → (B, C) (any equal shapes)
    """
    d = ref_logp - logp
    if log_ratio_clip is not None:
        d = d.clamp(-log_ratio_clip, log_ratio_clip)
    kl = torch.exp(d) - d - 1.0
    if kl_clip is not None:
        kl = kl.clamp(max=kl_clip)
    return kl


KLEstimator = Literal["k1", "k2", "k3"]


def kl_estimate(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    estimator: KLEstimator = "k3",
    log_ratio_clip: float | None = 20.0,
    kl_clip: float | None = 10.0,
) -> torch.Tensor:
    """Per-token estimate of KL(π || π_ref) from samples of π (Schulman's k1, k2, k3).

    With ``d = ref_logp - logp``: ``k1 = -d`` (unbiased, can be negative), ``k2 = d² / 2``
    (biased, low variance, non-negative), ``k3 = e^d - d - 1`` (unbiased, non-negative; with
    the clamps below it is verl's and EasyR1's ``low_var_kl``). ``d`` is clamped to
    ``±log_ratio_clip`` and the estimate to at most ``kl_clip`` (None: no clamp), for every
    estimator.

    Shape:
        logp, ref_logp: (B, C) → (B, C) (any equal shapes)
    """
    if estimator == "k3":
        return kl_k3(logp, ref_logp, log_ratio_clip, kl_clip)
    d = ref_logp - logp
    if log_ratio_clip is not None:
        d = d.clamp(-log_ratio_clip, log_ratio_clip)
    if estimator == "k1":
        kl = -d
    elif estimator == "k2":
        kl = 0.5 * d * d
    else:
        raise ValueError(f"KL estimator must be k1, k2 or k3, got {estimator!r}")
    return kl.clamp(max=kl_clip) if kl_clip is not None else kl


def kl_reward_penalty(kl: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """KL as a reward penalty instead of a loss term (verl ``use_kl_in_reward``, the
    InstructGPT form): ``β Σ_t KL_t`` over each completion's tokens, to subtract from its
    reward before the advantages. ``kl`` is the per-token estimate (`kl_estimate` of the
    sampling policy against the reference; the caller logs the same estimate). No gradient.

    Shape:
        kl, mask: (N, C) → (N,)
    """
    kl = kl.detach()
    return beta * (kl * mask.to(kl.dtype)).sum(1)


def overlong_penalty(
    lengths: torch.Tensor, max_len: int, buffer: int, factor: float = 1.0
) -> torch.Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13): 0 up to
    ``max_len - buffer`` tokens, then falling linearly to ``-factor`` at ``max_len``
    (``factor * (max_len - buffer - L) / buffer``), ``-factor`` beyond.

    Shape:
        lengths: (N,) → (N,) float32
    """
    if not 0 < buffer <= max_len:
        raise ValueError(f"overlong buffer must be in (0, max_len={max_len}], got {buffer}")
    over = (lengths.float() - (max_len - buffer)).clamp(min=0.0, max=float(buffer))  # (N,)
    return -factor * over / buffer


def informative_groups(rewards: torch.Tensor, group_size: int, tol: float = 1e-6) -> torch.Tensor:
    """Groups whose rewards are not all equal (DAPO's dynamic sampling keeps these: a group
    of equal rewards has zero advantage and gives no policy gradient).

    Shape:
        rewards: (N,) → (N / group_size,) bool
    """
    r = rewards.float().view(-1, group_size)
    return (r.max(1).values - r.min(1).values) > tol


@torch.no_grad()
def mix_into_reference(reference: torch.nn.Module, policy: torch.nn.Module, alpha: float) -> None:
    """Move the reference toward the policy: ``ref ← α π + (1 - α) ref`` for every parameter
    (TR-DPO, Gorbatovski et al. 2024; TRL ``sync_ref_model``). ``alpha = 1`` copies the policy.

    Raises:
        ValueError: if the two models' parameters differ in names or shapes.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    ref = dict(reference.named_parameters())
    pol = dict(policy.named_parameters())
    if ref.keys() != pol.keys():
        raise ValueError(
            f"reference and policy differ in parameters: {sorted(ref.keys() ^ pol.keys())[:5]}"
        )
    for name, p in pol.items():
        if ref[name].shape != p.shape:
            raise ValueError(
                f"{name}: reference shape {tuple(ref[name].shape)}, policy {tuple(p.shape)}"
            )
        ref[name].lerp_(p.to(ref[name].dtype), alpha)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is 1 (0 when the mask is empty)."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Largest value of ``x`` where ``mask`` is 1 (0 when the mask is empty).

    Shape:
        x, mask: (B, C) → scalar
    """
    keep = mask.bool()
    if not bool(keep.any()):
        return x.new_zeros(())
    return x[keep].max()


class SamplerStats(NamedTuple):
    """Detached statistics of `sampler_correction` over the mask."""

    ratio_mean: torch.Tensor  # scalar, mean ratio π_old / π_sampler (token or sequence)
    clipped: torch.Tensor  # scalar, fraction with the ratio above the cap


def sampler_correction(
    old_logp: torch.Tensor,
    sampler_logp: torch.Tensor,
    mask: torch.Tensor,
    level: Literal["token", "sequence"] = "token",
    mode: Literal["truncate", "mask"] = "truncate",
    cap: float = 2.0,
) -> tuple[torch.Tensor, SamplerStats]:
    """Importance weights for the sampler/trainer mismatch (module docstring).

    Args:
        old_logp: Log-probs of the sampled tokens under the policy that sampled them, as
            the trainer computes them (teacher forced).
        sampler_logp: The same as the sampling engine reported them.
        mask: 1 on the completion tokens.
        level: ``token`` (one ratio per token) or ``sequence`` (``exp(sum of log ratios)``
            of the completion, the same for all its tokens).
        mode: ``truncate`` (``min(ratio, cap)``) or ``mask`` (weight 0 above ``cap``).
        cap: The truncation point (> 0).

    Returns:
        Weights (0 off the mask) and `SamplerStats` (per token or per completion, by level).

    Shape:
        old_logp, sampler_logp, mask: (B, C) → weights (B, C)
    """
    if cap <= 0:
        raise ValueError(f"cap must be > 0, got {cap}")
    m = mask.to(old_logp.dtype)
    log_ratio = (old_logp - sampler_logp).detach() * m  # (B, C)
    if level == "sequence":
        seq = torch.exp(log_ratio.sum(1))  # (B,)
        ratio = seq.unsqueeze(1).expand_as(log_ratio)  # (B, C)
        has = (m.sum(1) > 0).to(seq.dtype)  # (B,)
        stats = SamplerStats(
            ratio_mean=(seq * has).sum() / has.sum().clamp(min=1.0),
            clipped=((seq > cap).to(seq.dtype) * has).sum() / has.sum().clamp(min=1.0),
        )
    elif level == "token":
        ratio = torch.exp(log_ratio)
        stats = SamplerStats(masked_mean(ratio, m), masked_mean((ratio > cap).to(m.dtype), m))
    else:
        raise ValueError(f"level must be 'token' or 'sequence', got {level!r}")
    if mode == "truncate":
        weights = ratio.clamp(max=cap)
    elif mode == "mask":
        weights = torch.where(ratio > cap, torch.zeros_like(ratio), ratio)
    else:
        raise ValueError(f"mode must be 'truncate' or 'mask', got {mode!r}")
    return weights * m, stats


class GRPOStats(NamedTuple):
    """Detached statistics of one `grpo_loss` call (token means over the mask)."""

    policy_loss: torch.Tensor  # scalar, the loss without the KL term
    kl: torch.Tensor  # scalar, mean k3 KL (0 when beta == 0 and no reference)
    kl_max: torch.Tensor  # scalar, largest per-token k3 KL under the mask (0 if none)
    clip_low: torch.Tensor  # scalar, fraction of tokens with ρ < 1-ε_low and A < 0
    clip_high: torch.Tensor  # scalar, fraction of tokens with ρ > 1+ε_high and A > 0
    ratio_mean: torch.Tensor  # scalar, mean ρ


def _aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    loss_type: LossType,
    max_completion_len: int | None,
    num_sequences: int | None,
    num_tokens: float | torch.Tensor | None,
) -> torch.Tensor:
    m = mask.to(per_token.dtype)
    n_seq = per_token.shape[0] if num_sequences is None else num_sequences
    if loss_type == "grpo":
        per_seq = (per_token * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B,)
        return per_seq.sum() / n_seq
    if loss_type in ("bnpo", "dapo"):
        denom = m.sum() if num_tokens is None else num_tokens
        denom = denom.clamp(min=1.0) if isinstance(denom, torch.Tensor) else max(float(denom), 1.0)
        return (per_token * m).sum() / denom
    if loss_type == "dr_grpo":
        width = per_token.shape[1] if max_completion_len is None else max_completion_len
        return (per_token * m).sum() / (n_seq * width)
    raise ValueError(f"loss_type must be grpo, bnpo, dr_grpo or dapo, got {loss_type!r}")


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    beta: float = 0.04,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    loss_type: LossType = "grpo",
    *,
    max_completion_len: int | None = None,
    num_sequences: int | None = None,
    num_tokens: float | torch.Tensor | None = None,
    log_ratio_clip: float | None = 20.0,
    kl_clip: float | None = 10.0,
    sampler_weights: torch.Tensor | None = None,
    kl_estimator: KLEstimator = "k3",
    ratio_level: RatioLevel = "token",
    policy_loss: PolicyLoss = "clip",
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
) -> tuple[torch.Tensor, GRPOStats]:
    """The clipped GRPO objective with an optional KL penalty and entropy bonus.

    Args:
        logp: Log-probs of the completion tokens under the current policy (with grad).
        old_logp: The same under the policy that sampled them (detached).
        ref_logp: The same under the reference policy; None (or ``beta == 0``) drops the KL.
        advantages: One advantage per completion.
        mask: 1 for completion tokens up to and including EOS/stop, else 0.
        beta: KL coefficient.
        eps_low: Lower clip range (ρ ≥ 1 - eps_low).
        eps_high: Upper clip range (ρ ≤ 1 + eps_high; DAPO's clip-higher uses 0.28).
        loss_type: Aggregation (module docstring).
        max_completion_len: ``dr_grpo`` constant; default: the mask's width.
        num_sequences: Sequences in the whole batch when this call sees a micro-batch.
        num_tokens: Masked tokens in the whole (``bnpo``) or global (``dapo``) batch.
        log_ratio_clip: ``logp - old_logp`` and ``ref_logp - logp`` are clamped to
            ``±log_ratio_clip`` before the exp (EasyR1; None: no clamp).
        kl_clip: The per-token k3 KL is clamped to at most this (EasyR1; None: no clamp).
        sampler_weights: Per-token weights of the policy part (`sampler_correction`;
            None: 1).
        kl_estimator: ``k1``, ``k2`` or ``k3`` (`kl_estimate`).
        ratio_level: ``token`` or ``sequence`` (GSPO; module docstring).
        policy_loss: ``clip`` (PPO) or ``cispo`` (module docstring).
        entropy: Per-token entropy of the current policy, with gradient (the bonus).
        entropy_coef: Bonus coefficient ``c`` (0: no bonus; needs ``entropy`` otherwise).

    Returns:
        The scalar loss and detached `GRPOStats`.

    Shape:
        logp, old_logp, ref_logp, mask: (B, C); advantages: (B,)
    """
    # Over 60 lines only for the documented arguments: the objective is the 45 lines below.
    if logp.shape != old_logp.shape or logp.shape != mask.shape:
        raise ValueError(
            f"shape mismatch: logp {tuple(logp.shape)}, old_logp {tuple(old_logp.shape)}, "
            f"mask {tuple(mask.shape)}"
        )
    adv = advantages.to(logp.dtype).unsqueeze(1)  # (B, 1)
    log_ratio = logp - old_logp  # (B, C)
    if ratio_level == "sequence":
        m = mask.to(logp.dtype)
        seq = (log_ratio * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1.0)
        log_ratio = seq.expand_as(logp)  # (B, C), one ratio per completion
    elif ratio_level != "token":
        raise ValueError(f"ratio_level must be 'token' or 'sequence', got {ratio_level!r}")
    if log_ratio_clip is not None:
        log_ratio = log_ratio.clamp(-log_ratio_clip, log_ratio_clip)
    ratio = torch.exp(log_ratio)  # (B, C)
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)  # (B, C)
    if policy_loss == "clip":
        per_token = -torch.min(ratio * adv, clipped * adv)  # (B, C)
    elif policy_loss == "cispo":
        per_token = -clipped.detach() * adv * logp  # (B, C)
    else:
        raise ValueError(f"policy_loss must be 'clip' or 'cispo', got {policy_loss!r}")
    if sampler_weights is not None:
        per_token = per_token * sampler_weights.detach()
    policy_part = per_token
    kl = torch.zeros_like(logp)
    if beta != 0.0 and ref_logp is not None:
        kl = kl_estimate(logp, ref_logp, kl_estimator, log_ratio_clip, kl_clip)  # (B, C)
        per_token = per_token + beta * kl
    if entropy_coef != 0.0:
        if entropy is None:
            raise ValueError("entropy_coef != 0 needs the per-token entropy (with gradient)")
        per_token = per_token - entropy_coef * entropy
    agg = (max_completion_len, num_sequences, num_tokens)
    loss = _aggregate(per_token, mask, loss_type, *agg)
    with torch.no_grad():
        m = mask.to(logp.dtype)
        stats = GRPOStats(
            policy_loss=_aggregate(policy_part.detach(), mask, loss_type, *agg),
            kl=masked_mean(kl.detach(), m),
            kl_max=masked_max(kl.detach(), mask),
            clip_low=masked_mean(((ratio < 1.0 - eps_low) & (adv < 0)).to(logp.dtype), m),
            clip_high=masked_mean(((ratio > 1.0 + eps_high) & (adv > 0)).to(logp.dtype), m),
            ratio_mean=masked_mean(ratio.detach(), m),
        )
    return loss, stats
