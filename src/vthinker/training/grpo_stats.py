"""What a GRPO step reports: the update's statistics, the logged metrics, the sample
completions written to ``completions.jsonl`` and the reason a step is skipped."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

from vthinker.training.losses import masked_mean
from vthinker.training.rollout import Trajectory

__all__ = [
    "UpdateStats",
    "accumulate",
    "completion_records",
    "log_completions_table",
    "nan_reason",
    "step_metrics",
]

TABLE_COLUMNS = ["step", "id", "gold", "reward", "completion"]


class UpdateStats(NamedTuple):
    """What one GRPO update reports (token-weighted means over the batch)."""

    loss: float  # first pass: the policy that sampled the rollout
    kl: float
    kl_max: float
    entropy: float
    clip_low: float  # last pass
    clip_high: float
    ratio_mean: float
    sampler_ratio: float | None = None  # first pass, when another engine sampled
    sampler_clipped: float | None = None


def step_metrics(
    group_size: int,
    traj: Trajectory,
    breakdown: Any,
    total: torch.Tensor,
    stats: UpdateStats,
    times: tuple[float, float, float],
    means: dict[str, float],
) -> dict[str, Any]:
    """The step's rewards, update statistics, completion lengths and phase times.
    ``means``: each reward's mean over every rank's samples (`reward_means`); a reward with
    no value (NaN) is not logged.

    Shape:
        total: (N,) rewards, N = B * group_size
    """
    groups = total.view(-1, group_size)
    lengths = traj.lengths.float()
    metrics = {
        "reward/total_mean": total.mean(),
        "reward/total_std": total.std() if total.numel() > 1 else total.new_zeros(()),
        "train/zero_std_groups": (groups.std(dim=1) < 1e-6).float().mean(),
        "train/loss": stats.loss,
        "train/kl": stats.kl,
        "train/clip_low": stats.clip_low,
        "train/clip_high": stats.clip_high,
        "train/ratio": stats.ratio_mean,
        **({"train/sampler_ratio": stats.sampler_ratio} if stats.sampler_ratio is not None else {}),
        **(
            {"train/sampler_clipped": stats.sampler_clipped}
            if stats.sampler_clipped is not None
            else {}
        ),
        "train/entropy": stats.entropy,
        "train/completion_len_mean": lengths.mean(),
        "train/truncated": traj.truncated.float().mean(),
        "time/rollout": times[0],
        "time/scoring": times[1],
        "time/update": times[2],
    }
    for name, mean in means.items():
        if not math.isnan(mean):
            metrics[f"reward/{name}"] = mean
    if "accuracy" in breakdown.parts and "reward/accuracy" in metrics:
        metrics["train/accuracy"] = metrics["reward/accuracy"]
    if "format" in breakdown.parts and "reward/format" in metrics:
        metrics["train/format_rate"] = metrics["reward/format"]
    return metrics


def reward_means(breakdown: Any, device: torch.device | str = "cpu") -> dict[str, float]:
    """Each reward's mean over the samples where it applies on every rank (one all_reduce of
    (sum, count) per reward, in name order): the same value on each rank, NaN where no
    sample of any rank had one. Logged without a second reduction, so a rank on which a reward
    applied to nothing (T-GRPO's temporal term on image questions) logs the same keys as the
    others and the ranks' collectives stay paired."""
    names = sorted(breakdown.parts)
    sums, counts = breakdown.sums(), breakdown.counts()
    values = [sums[name] for name in names] + [float(counts[name]) for name in names]
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(totals)
    n = len(names)
    return {
        name: float(totals[i] / totals[n + i]) if totals[n + i] > 0 else math.nan
        for i, name in enumerate(names)
    }


def completion_records(
    step: int, traj: Trajectory, samples: list[Any], breakdown: Any, total: torch.Tensor, k: int
) -> list[dict[str, Any]]:
    """The first ``k`` completions of a step with their rewards (``completions.jsonl``)."""
    return [
        {
            "step": step,
            "id": samples[i].id,
            "gold": samples[i].answer,
            "reward": float(total[i]),
            "parts": {n: v[i] for n, v in breakdown.parts.items()},
            "completion": traj.texts[i],
        }
        for i in range(min(k, len(traj.texts)))
    ]


def log_completions_table(loggers: list[Any], step: int, records: list[dict[str, Any]]) -> None:
    """The step's sample completions as a table, in the loggers that keep tables: a W&B
    ``completions`` table, an MLflow ``completions/step_<N>.json`` artifact (columns and
    rows, MLflow's table layout). Other loggers get none (TensorBoard: `add_text`)."""
    from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

    rows = [[r[c] for c in TABLE_COLUMNS] for r in records]
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_table(key="completions", columns=TABLE_COLUMNS, data=rows, step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_dict(
                logger.run_id,
                {"columns": TABLE_COLUMNS, "data": rows},
                f"completions/step_{step:06d}.json",
            )


def nan_reason(samples: list[Any], total: torch.Tensor, breakdown: Any) -> str:
    """Which reward parts gave NaN, on which samples (the reason a step is skipped)."""
    bad = sorted({samples[i].id for i in torch.nonzero(torch.isnan(total)).flatten().tolist()})
    parts = [
        n
        for n, vals in breakdown.parts.items()
        if any(v is not None and math.isnan(v) for v in vals)
    ]
    return f"NaN reward from {parts} on samples {bad}"


def accumulate(
    sums: dict[str, float],
    first: bool,
    last: bool,
    loss: torch.Tensor,
    stats: Any,
    entropy: torch.Tensor | None,
    mask: torch.Tensor,
    w: float,
    sampler: Any = None,
) -> None:
    """Add one micro-batch (token weight ``w``) to the step's `UpdateStats` sums
    (``sampler``: its `vthinker.training.losses.SamplerStats`, if any)."""
    if last:
        # The ratio and clipping of the last pass: on the first the ratio is 1 by
        # construction (old log-probs = the current ones).
        for key in ("clip_low", "clip_high", "ratio_mean"):
            sums[key] = sums.get(key, 0.0) + float(getattr(stats, key)) * w
    if first:
        # Loss, KL and entropy of the policy that sampled the rollout.
        assert entropy is not None
        sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
        sums["kl"] = sums.get("kl", 0.0) + float(stats.kl) * w
        sums["kl_max"] = max(sums.get("kl_max", 0.0), float(stats.kl_max))
        sums["entropy"] = sums.get("entropy", 0.0) + float(masked_mean(entropy, mask)) * w
        if sampler is not None:
            for key, value in (
                ("sampler_ratio", sampler.ratio_mean),
                ("sampler_clipped", sampler.clipped),
            ):
                sums[key] = sums.get(key, 0.0) + float(value) * w
