"""Video-R1's T-GRPO: reward correct answers only when frame order helped.

Source: Video-R1 (arXiv 2503.21776), the baseline the sibling methods compare to
(docs/method.md, Video-R1 T-GRPO).
Besides the G ordinary rollouts of each prompt, T-GRPO samples ``G_s`` more completions
(Video-R1: ``G // 2``) on the same video with its frames in a random order. With ``p`` the
accuracy of the ordered group and ``p~`` that of the shuffled one, every ordered completion
that is correct gets a bonus ``alpha`` when ``p >= mu * p~``:

    bonus_i = alpha * [acc_i > threshold] * [p >= mu * p~]

with Video-R1's ``alpha = 0.3``, ``mu = 0.8`` and ``threshold = 0.1`` (an accuracy above
0.1 counts as correct, so graded rewards also earn it). The shuffled completions are only
measured, never trained on. The bonus enters the total as the reward part ``temporal``
(weight 1), so it is logged as ``reward/temporal`` beside the other parts, with
``train/shuffled_accuracy`` and ``train/temporal_applied`` (share of groups that earned it).

Shuffling: a Qwen2.5-VL video arrives as patches ordered (temporal patch, row, column),
each patch holding ``temporal_patch_size`` consecutive frames; `permute_video_frames`
re-orders the frames inside that layout, which gives exactly the pixels the processor
would produce for the re-ordered frames (tested), so no video is decoded twice. The
time positions (``second_per_grid_ts``) are kept: the model sees shuffled content at the
usual times, as in Video-R1.

Departures, stated: Video-R1 compares accuracies over the whole per-device batch (one
prompt per GPU in its recipe); here ``p`` and ``p~`` are per prompt group. When a video's
frame count is odd the processor repeats the last frame to fill the last temporal patch,
and that copy is shuffled like any frame.

Image questions (Video-R1-260k mixes them in): frame order means nothing for an image, so
the shuffled rollout runs on the batch's video questions only, and image groups get no
temporal term (``reward/temporal`` None for their rows, as in Video-R1, where the
temporal comparison runs for video data only). Under FSDP image questions are refused
(`vthinker.training.base.refuse_sharded_images`), so every rank's batch holds video there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vthinker.models.policy import PolicyConfig
from vthinker.rewards.base import Reward, RewardBreakdown
from vthinker.training.grpo import GRPOModule
from vthinker.training.rollout import Trajectory

__all__ = ["TemporalGRPOModule", "TemporalSettings", "permute_video_frames", "temporal_bonus"]

BONUS_PART = "temporal"


@dataclass
class TemporalSettings:
    """T-GRPO's knobs (defaults: Video-R1).

    Attributes:
        alpha: Bonus for a correct ordered completion.
        mu: The bonus applies when ordered accuracy ``>= mu *`` shuffled accuracy.
        threshold: An accuracy above this counts as correct.
        shuffled_group_size: Completions per prompt on shuffled frames (None: ``G // 2``).
        accuracy_reward: Name of the reward whose values are the accuracy.
    """

    alpha: float = 0.3
    mu: float = 0.8
    threshold: float = 0.1
    shuffled_group_size: int | None = None
    accuracy_reward: str = "accuracy"

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if self.mu < 0:
            raise ValueError(f"mu must be >= 0, got {self.mu}")
        if self.shuffled_group_size is not None and self.shuffled_group_size < 1:
            raise ValueError(f"shuffled_group_size must be >= 1, got {self.shuffled_group_size}")


def temporal_bonus(
    acc: torch.Tensor,
    shuffled_acc: torch.Tensor,
    alpha: float = 0.3,
    mu: float = 0.8,
    threshold: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """T-GRPO's bonus per ordered completion.

    Args:
        acc: Accuracy of the ordered completions, one row per prompt.
        shuffled_acc: Accuracy of the shuffled completions, one row per prompt.
        alpha: Bonus size.
        mu: Ratio of shuffled accuracy that ordered accuracy must reach.
        threshold: Accuracy above which a completion counts as correct.

    Returns:
        ``(bonus, applied)``: ``bonus[b, i] = alpha`` when completion ``i`` of prompt ``b``
        is correct and ``mean(acc[b]) >= mu * mean(shuffled_acc[b])``, else 0; ``applied[b]``
        is that group condition. A NaN accuracy is never correct, a group with one never
        qualifies.

    Shape:
        acc: (B, G), shuffled_acc: (B, G_s) → bonus (B, G), applied (B,) bool
    """
    if acc.dim() != 2 or shuffled_acc.dim() != 2 or acc.shape[0] != shuffled_acc.shape[0]:
        raise ValueError(
            f"need (B, G) and (B, G_s) accuracies, got {tuple(acc.shape)} and "
            f"{tuple(shuffled_acc.shape)}"
        )
    p = acc.mean(dim=1)  # (B,)
    p_shuffled = shuffled_acc.mean(dim=1)  # (B,)
    applied = p >= mu * p_shuffled  # (B,) NaN compares False
    correct = acc > threshold  # (B, G) NaN compares False
    bonus = alpha * (correct & applied[:, None]).to(acc.dtype)  # (B, G)
    return bonus, applied


def permute_video_frames(
    pixel_values_videos: torch.Tensor,
    video_grid_thw: torch.Tensor,
    perms: list[torch.Tensor],
    temporal_patch_size: int,
    channels: int = 3,
) -> torch.Tensor:
    """Re-order the frames of processed Qwen2.5-VL videos.

    Each video's rows are ``t * h * w`` patches in (temporal patch, row, column) order;
    each row is a flattened ``(channels, temporal_patch_size, patch, patch)`` block. Frame
    ``f`` is slot ``f % temporal_patch_size`` of temporal patch ``f // temporal_patch_size``.

    Args:
        pixel_values_videos: Patches of all videos, concatenated.
        video_grid_thw: ``(t, h, w)`` per video.
        perms: Per video, a permutation of its ``t * temporal_patch_size`` frames: new
            frame ``j`` is old frame ``perms[v][j]``.
        temporal_patch_size: Frames per temporal patch (Qwen2.5-VL: 2).
        channels: Colour channels per frame.

    Returns:
        The patches of the re-ordered videos, same shape.

    Shape:
        pixel_values_videos: (sum_v t_v h_v w_v, D) → same; video_grid_thw: (V, 3)
    """
    if len(perms) != video_grid_thw.shape[0]:
        raise ValueError(f"{len(perms)} permutations for {video_grid_thw.shape[0]} videos")
    d = pixel_values_videos.shape[1]
    tp = temporal_patch_size
    if d % (channels * tp):
        raise ValueError(f"patch size {d} is not divisible by channels * temporal patch {tp}")
    px = d // (channels * tp)
    sizes = video_grid_thw.prod(-1).tolist()
    out = []
    for block, (t, h, w), perm in zip(
        torch.split(pixel_values_videos, sizes), video_grid_thw.tolist(), perms, strict=True
    ):
        n_frames = t * tp
        if sorted(perm.tolist()) != list(range(n_frames)):
            raise ValueError(f"not a permutation of {n_frames} frames: {perm.tolist()}")
        x = block.reshape(t, h * w, channels, tp, px)  # (t, hw, C, tp, P)
        frames = x.permute(0, 3, 1, 2, 4).reshape(n_frames, h * w, channels, px)  # (F, hw, C, P)
        frames = frames[perm]
        x = frames.reshape(t, tp, h * w, channels, px).permute(0, 2, 3, 1, 4)  # (t, hw, C, tp, P)
        out.append(x.reshape(t * h * w, d))
    return torch.cat(out) if out else pixel_values_videos


class TemporalGRPOModule(GRPOModule):
    """GRPO with Video-R1's temporal bonus (see the module docstring).

    Args:
        policy: The policy to train.
        rewards: Rewards whose weighted sum is the total reward; one of them, named
            ``temporal.accuracy_reward``, is the accuracy the bonus compares.
        temporal: T-GRPO settings.
        **kwargs: The other `GRPOModule` arguments (``grpo``, ``rollout``: the shuffled
            rollouts use its sampling settings too, ``optimizer``, ``lr_schedule``, …).
    """

    def __init__(
        self,
        policy: PolicyConfig,
        rewards: list[Reward],
        temporal: TemporalSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(policy, rewards, **kwargs)
        self.temporal = temporal or TemporalSettings()
        by_name = {r.name: r for r in self.rewards}
        if self.temporal.accuracy_reward not in by_name:
            raise ValueError(
                f"T-GRPO compares the reward named {self.temporal.accuracy_reward!r}, but the "
                f"rewards are {sorted(by_name)} (set temporal.accuracy_reward)"
            )
        if BONUS_PART in by_name:
            raise ValueError(f"reward name {BONUS_PART!r} is reserved for the T-GRPO bonus")
        self.accuracy_reward = by_name[self.temporal.accuracy_reward]
        vp = getattr(self.processor, "video_processor", None)
        self.temporal_patch_size = int(getattr(vp, "temporal_patch_size", 2))

    @property
    def shuffled_group_size(self) -> int:
        """Shuffled-frame completions per prompt (``G // 2`` unless set, at least 1)."""
        return self.temporal.shuffled_group_size or max(1, self.grpo.group_size // 2)

    def shuffled_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``batch`` whose videos have their frames in a random order (a batch of
        video questions: `video_prompts`)."""
        grid = batch["video_grid_thw"]
        perms = [torch.randperm(int(t) * self.temporal_patch_size) for t in grid[:, 0].tolist()]
        shuffled = dict(batch)
        shuffled["pixel_values_videos"] = permute_video_frames(
            batch["pixel_values_videos"], grid, perms, self.temporal_patch_size
        )
        return shuffled

    def score_rollout(
        self, batch: dict[str, Any], traj: Trajectory, samples: list[Any]
    ) -> RewardBreakdown:
        """The rewards of the ordered rollout plus the temporal bonus (module docstring)."""
        breakdown = super().score_rollout(batch, traj, samples)
        n = len(samples)
        b, g, gs = len(batch["samples"]), self.grpo.group_size, self.shuffled_group_size
        videos = [i for i, s in enumerate(batch["samples"]) if s.data_type == "video"]
        if "pixel_values_videos" not in batch:  # e.g. a batch whose videos were all skipped
            videos = []
        # The policy is in eval mode here (step 1 of the GRPO step).
        if not videos:  # image questions only: no temporal term
            breakdown.parts[BONUS_PART] = [None] * n
            breakdown.weights[BONUS_PART] = 1.0
            return breakdown
        shuffled = self.rollout(self.policy, self.shuffled_batch(video_prompts(batch)), gs)
        shuffled_samples = [batch["samples"][i] for i in videos for _ in range(gs)]
        shuffled_acc = _dense(self.accuracy_reward(shuffled.texts, shuffled_samples))
        acc = _dense(breakdown.parts[self.temporal.accuracy_reward]).view(b, g)
        t = self.temporal
        bonus, applied = temporal_bonus(
            acc[videos], shuffled_acc.view(len(videos), gs), t.alpha, t.mu, t.threshold
        )
        full = torch.zeros(b, g, dtype=bonus.dtype)
        full[videos] = bonus
        flat = full.flatten()  # (N,)
        video_set = set(videos)
        is_video = [i // g in video_set for i in range(n)]
        breakdown.parts[BONUS_PART] = [
            v if keep else None for v, keep in zip(flat.tolist(), is_video, strict=True)
        ]
        breakdown.weights[BONUS_PART] = 1.0
        breakdown.total = breakdown.total + flat.to(breakdown.total.dtype)
        if self._trainer is not None:  # not synced: ranks may skip steps independently
            self.log_dict(
                {
                    "train/shuffled_accuracy": float(shuffled_acc.nanmean()),
                    "train/temporal_applied": float(applied.float().mean()),
                },
                batch_size=b,
            )
        return breakdown


def video_prompts(batch: dict[str, Any]) -> dict[str, Any]:
    """The video questions of a collated generate-mode batch that may mix image and video
    questions: their rows, every video (each video question shows one, in row order), no
    images. A batch of videos only is returned as it is."""
    keep = [i for i, s in enumerate(batch["samples"]) if s.data_type == "video"]
    if len(keep) == len(batch["samples"]):
        return batch
    rows = torch.tensor(keep, dtype=torch.long)
    out = {k: v for k, v in batch.items() if k not in ("pixel_values", "image_grid_thw")}
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if key in batch:
            out[key] = batch[key][rows.to(batch[key].device)]
    for key in ("samples", "timestamps"):
        if key in batch:
            out[key] = [batch[key][i] for i in keep]
    return out


def _dense(values: list[float | None]) -> torch.Tensor:
    """Reward values as float64, None counting 0 (as in the total). Shape: (N,)"""
    return torch.tensor([0.0 if v is None else v for v in values], dtype=torch.float64)
