"""Rollouts: sample G completions per prompt, and score them under a policy.

`HFRollout` samples a whole batch of prompts × G completions in one batched
``generate`` call (``num_return_sequences=G``). transformers encodes the video of each
prompt once and repeats the resulting embeddings across the group, so the vision
tower runs once per prompt, not G times. Generation stops at EOS or after a stop
string (``</answer>``); the KV cache is on; prompts are left padded.

The rollout sits behind the small `Rollout` protocol (``__call__(model, batch,
group_size) -> Trajectory``) so another backend (vLLM) can replace it.

`completion_logprobs` runs the teacher-forced forward pass for a slice of rows and
returns per-token log-probs (and entropies) of the completion tokens. With a frozen
vision tower the video embeddings are computed once per prompt (`encode_prompt_videos`),
given to ``generate`` and, expanded per row by `encode_videos`,
passed as ``mm_encoder_outputs`` to every later forward pass (old, reference and
current policy, all ``num_iterations``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from vthinker.data.collate import model_inputs
from vthinker.models.completion import (
    completion_ends,
    end_token_ids,
    stopped_on_string,
)
from vthinker.models.policy import is_sharded
from vthinker.models.rope import IMAGE as IMAGE_TOKEN_TYPE
from vthinker.models.rope import VIDEO as VIDEO_TOKEN_TYPE
from vthinker.training.losses import token_entropy, token_logprobs

__all__ = [
    "HFEngine",
    "HFRollout",
    "Rollout",
    "RolloutEngine",
    "RolloutSettings",
    "Trajectory",
    "completion_ends",
    "completion_logprobs",
    "encode_prompt_videos",
    "encode_videos",
    "end_token_ids",
    "group_trajectory",
    "group_vision",
    "stopped_on_string",
    "vision_token_ids",
]


@dataclass
class RolloutSettings:
    """Sampling settings for GRPO rollouts.

    Attributes:
        temperature: Sampling temperature (log-probs for the loss use the same one).
        top_p: Nucleus mass.
        top_k: Top-k cut (None: off).
        max_new_tokens: Longest completion (the paper: 768).
        stop_strings: Generation also stops right after any of these.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    max_new_tokens: int = 768
    stop_strings: list[str] = field(default_factory=lambda: ["</answer>"])

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"rollout temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


class Trajectory(NamedTuple):
    """G completions for each of B prompts; rows of one prompt are contiguous (N = B*G).

    ``vision`` keeps each prompt's image or video once, never copied per row: per prompt
    ``prompt_video_index`` / ``prompt_image_index`` (B,) (which video / image of the lists
    below the prompt shows, -1 for none), the videos' ``prompt_pixel_values_videos``,
    ``prompt_video_grid_thw`` (V, 3), ``prompt_second_per_grid_ts`` (V,) and, when the
    rollout had the frozen tower's output, ``prompt_video_features``; the images'
    ``prompt_pixel_values`` and ``prompt_image_grid_thw`` (I, 3); per row
    ``mm_token_type_ids`` (N, P). `row_vision` gives the grids of any row slice, so any
    slice can be re-scored, in a batch that mixes image and video questions too.
    """

    prompt_ids: torch.Tensor  # (N, P) left padded
    prompt_mask: torch.Tensor  # (N, P)
    completion_ids: torch.Tensor  # (N, C), padded after the end token
    # (N, C) 1 on the sampled tokens: up to and including an EOS, or up to and including the
    # token that completed a stop string (never the pad filler after it)
    completion_mask: torch.Tensor
    texts: list[str]  # N decoded completions
    truncated: torch.Tensor  # (N,) bool: hit max_new_tokens without an end
    group_size: int
    vision: dict[str, Any]
    # (N, C) log-probs of the sampled tokens as the sampling engine reported them, when an
    # engine other than the policy itself sampled (vLLM); None for the HF rollout
    sampler_logp: torch.Tensor | None = None

    @property
    def lengths(self) -> torch.Tensor:
        """Completion lengths in tokens. Shape: (N,)"""
        return self.completion_mask.sum(1)

    @property
    def num_groups(self) -> int:
        return self.completion_ids.shape[0] // self.group_size

    def group_rows(self, groups: list[int]) -> torch.Tensor:
        """Row indices of ``groups`` (prompt indices), in order. Shape: (len(groups) * G,)"""
        g = self.group_size
        return torch.tensor([k * g + j for k in groups for j in range(g)], dtype=torch.long)

    def media_of_rows(self, kind: str, rows: slice) -> list[int]:
        """For each row of ``rows`` that shows a ``kind`` (``video`` or ``image``), the index
        of its medium in the prompt lists, in row order."""
        index = self.vision.get(f"prompt_{kind}_index")
        if index is None:
            return []
        n, g = self.completion_ids.shape[0], self.group_size
        per_prompt = index.tolist()
        return [per_prompt[r // g] for r in range(*rows.indices(n)) if per_prompt[r // g] >= 0]

    def row_vision(self, rows: slice) -> dict[str, torch.Tensor]:
        """The model inputs other than pixels for the prompts of ``rows``: ``video_grid_thw``
        and ``second_per_grid_ts`` (one per row showing a video), ``image_grid_thw`` (one
        per row showing an image), ``mm_token_type_ids`` of the prompt part (rows, P)."""
        v, out = self.vision, {}
        videos, images = self.media_of_rows("video", rows), self.media_of_rows("image", rows)
        if videos:
            out["video_grid_thw"] = v["prompt_video_grid_thw"][videos]
            if "prompt_second_per_grid_ts" in v:
                out["second_per_grid_ts"] = v["prompt_second_per_grid_ts"][videos]
        if images:
            out["image_grid_thw"] = v["prompt_image_grid_thw"][images]
        if "mm_token_type_ids" in v:
            out["mm_token_type_ids"] = v["mm_token_type_ids"][rows]
        return out

    def select_groups(self, groups: list[int]) -> Trajectory:
        """The trajectory of only the prompts ``groups`` (each with all its G rows): per-row
        tensors indexed, per-prompt images and videos (pixels, grids, tower outputs) sliced."""
        rows = self.group_rows(groups)
        pick = rows.to(self.completion_ids.device)
        vision: dict[str, Any] = {}
        for key, value in self.vision.items():
            if not key.startswith("prompt_"):
                vision[key] = value[pick]
        for kind in ("video", "image"):
            vision.update(_select_media(self.vision, kind, groups))
        return Trajectory(
            prompt_ids=self.prompt_ids[pick],
            prompt_mask=self.prompt_mask[pick],
            completion_ids=self.completion_ids[pick],
            completion_mask=self.completion_mask[pick],
            texts=[self.texts[i] for i in rows.tolist()],
            truncated=self.truncated[pick],
            group_size=self.group_size,
            vision=vision,
            sampler_logp=None if self.sampler_logp is None else self.sampler_logp[pick],
        )


# The per-prompt keys of each medium in `Trajectory.vision`: pixels, grid, and the others
# indexed by the medium (not by pixel patch).
_MEDIA_KEYS = {
    "video": ("prompt_pixel_values_videos", "prompt_video_grid_thw", "prompt_second_per_grid_ts"),
    "image": ("prompt_pixel_values", "prompt_image_grid_thw", None),
}


def _pixel_blocks(pixels: torch.Tensor, grid: torch.Tensor, which: list[int]) -> torch.Tensor:
    """The pixel patches of media ``which`` (indices into ``grid``), concatenated in order.

    Shape: pixels (sum_m t_m h_m w_m, D), grid (M, 3) → (sum over ``which``, D)
    """
    sizes = grid.prod(-1).tolist()
    starts = [sum(sizes[:m]) for m in range(len(sizes))]
    return torch.cat([pixels[starts[m] : starts[m] + sizes[m]] for m in which])


def _select_media(vision: dict[str, Any], kind: str, groups: list[int]) -> dict[str, Any]:
    """The per-prompt ``kind`` entries of ``vision`` for the prompts ``groups``, re-indexed."""
    index_key = f"prompt_{kind}_index"
    if index_key not in vision:
        return {}
    pixels_key, grid_key, per_medium_key = _MEDIA_KEYS[kind]
    chosen = [int(vision[index_key][k]) for k in groups]
    kept = [m for m in chosen if m >= 0]
    position = {m: i for i, m in enumerate(kept)}
    out: dict[str, Any] = {
        index_key: torch.tensor([position.get(m, -1) for m in chosen], dtype=torch.long)
    }
    if kept:
        grid = vision[grid_key]
        out[pixels_key] = _pixel_blocks(vision[pixels_key], grid, kept)
        out[grid_key] = grid[kept]
        if per_medium_key in vision:
            out[per_medium_key] = vision[per_medium_key][kept]
        if kind == "video" and "prompt_video_features" in vision:
            out["prompt_video_features"] = tuple(vision["prompt_video_features"][m] for m in kept)
    return out


class Rollout(Protocol):
    def __call__(
        self,
        model: nn.Module,
        batch: dict[str, Any],
        group_size: int,
        video_features: tuple[torch.Tensor, ...] | None = None,
    ) -> Trajectory: ...


_VISION_TOKENS = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def vision_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the vision placeholder tokens: a sampler never samples them (one would be read
    as a video slot when the completion is scored)."""
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in _VISION_TOKENS if t in vocab]


class RolloutEngine:
    """Which engine samples a GRPO module's rollouts: ``model.init_args.engine`` in a GRPO
    config (default `HFEngine`; `vthinker.training.vllm_rollout.VLLMRollout` for vLLM).

    `build` returns the `Rollout` the module calls; `weights_updated` is told after every
    optimizer step (an engine with its own copy of the weights pushes them before it
    samples again). ``needs_videos``: the engine processes the decoded frames itself, so
    generate-mode batches must carry them (`VideoQADataModule.keep_videos`).
    """

    needs_videos = False

    def build(self, settings: RolloutSettings, processor: Any, model_path: str) -> Rollout:
        raise NotImplementedError

    def weights_updated(self) -> None:
        """The policy's weights changed (after an optimizer step)."""


class HFEngine(RolloutEngine):
    """Sample with the policy itself through ``transformers`` ``generate`` (`HFRollout`)."""

    def build(self, settings: RolloutSettings, processor: Any, model_path: str) -> Rollout:
        return HFRollout(settings, processor.tokenizer)


class HFRollout:
    """Group rollouts with ``transformers`` ``generate``.

    Args:
        settings: Sampling settings.
        tokenizer: The policy's tokenizer (for decoding and stop strings).
    """

    def __init__(self, settings: RolloutSettings, tokenizer: Any) -> None:
        self.settings = settings
        self.tokenizer = tokenizer

    def _generate_kwargs(self, group_size: int, sharded: bool) -> dict[str, Any]:
        """``generate`` arguments: sampling settings, G sequences per prompt, stop strings."""
        s = self.settings
        kwargs: dict[str, Any] = {
            "do_sample": True,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_new_tokens": s.max_new_tokens,
            "num_return_sequences": group_size,
            "pad_token_id": self.tokenizer.pad_token_id,
            "use_cache": True,
            "synced_gpus": sharded,  # FSDP: ranks step together
        }
        if s.top_k is not None:
            kwargs["top_k"] = s.top_k
        # A sampled vision placeholder (<|video_pad|> …) would be read as a video slot when
        # the completion is scored: such tokens are never generated.
        kwargs["suppress_tokens"] = vision_token_ids(self.tokenizer)
        if s.stop_strings:
            kwargs["stop_strings"] = list(s.stop_strings)
            kwargs["tokenizer"] = self.tokenizer
        return kwargs

    @torch.no_grad()
    def __call__(
        self,
        model: nn.Module,
        batch: dict[str, Any],
        group_size: int,
        video_features: tuple[torch.Tensor, ...] | None = None,
    ) -> Trajectory:
        """Sample ``group_size`` completions per prompt of a ``generate``-mode batch.

        ``video_features`` (one merged-token tensor per prompt, `encode_prompt_videos`)
        replaces the pixels in ``generate`` and is kept in the trajectory, so the vision
        tower is not run again when the completions are scored.
        """
        s = self.settings
        inputs = model_inputs(batch)
        if "labels" in batch:
            raise ValueError("rollouts need a 'generate'-mode batch (prompt only, left padded)")
        kwargs = self._generate_kwargs(group_size, is_sharded(model))
        gen_inputs = dict(inputs)
        if video_features is not None:
            del gen_inputs["pixel_values_videos"]
            encoded = {"video": BaseModelOutputWithPooling(pooler_output=video_features)}
            if "pixel_values" in gen_inputs:  # the images of a mixed batch, encoded here too
                pooled = _encode(
                    model, "image", gen_inputs.pop("pixel_values"), gen_inputs["image_grid_thw"]
                )
                encoded["image"] = BaseModelOutputWithPooling(pooler_output=pooled)
            gen_inputs["mm_encoder_outputs"] = encoded
        out = model.generate(**gen_inputs, **kwargs)  # (N, P + C)
        completion_ids = out[:, inputs["input_ids"].shape[1] :]  # (N, C)
        return group_trajectory(
            model,
            self.tokenizer,
            inputs,
            completion_ids,
            group_size,
            s.stop_strings,
            video_features,
        )


def group_trajectory(
    model: nn.Module,
    tokenizer: Any,
    inputs: dict[str, Any],
    completion_ids: torch.Tensor,
    group_size: int,
    stop_strings: list[str],
    video_features: tuple[torch.Tensor, ...] | None,
    sampler_logp: torch.Tensor | None = None,
) -> Trajectory:
    """The `Trajectory` of ``group_size`` sampled completions per prompt of ``inputs``
    (prompt-major rows, padded with the pad token): where each ends (`completion_ends`,
    stop strings included), its text, the prompts and vision inputs per row. Any sampler
    (HF ``generate``, vLLM) ends here. ``sampler_logp`` is kept under the mask.

    Shape:
        completion_ids, sampler_logp: (N, C), N = prompts x group_size
    """
    end_ids = end_token_ids(model, tokenizer)
    stopped = stopped_on_string(completion_ids, end_ids, tokenizer, stop_strings)
    mask, _, truncated = completion_ends(completion_ids, end_ids, stopped)
    texts = tokenizer.batch_decode(
        completion_ids * mask + (1 - mask) * tokenizer.pad_token_id, skip_special_tokens=True
    )
    g = group_size
    device = inputs["input_ids"].device
    return Trajectory(
        prompt_ids=inputs["input_ids"].repeat_interleave(g, dim=0),
        prompt_mask=inputs["attention_mask"].repeat_interleave(g, dim=0),
        completion_ids=completion_ids.to(device),
        completion_mask=mask.to(device),
        texts=texts,
        truncated=truncated.to(device),
        group_size=g,
        vision=group_vision(inputs, g, video_features, _token_ids(model)),
        sampler_logp=None if sampler_logp is None else (sampler_logp * mask).to(device),
    )


def _token_ids(model: nn.Module) -> dict[int, int | None]:
    """The image and video placeholder token ids of ``model``'s config, by token type."""
    config = getattr(_base_model(model), "config", None)
    return {
        IMAGE_TOKEN_TYPE: getattr(config, "image_token_id", None),
        VIDEO_TOKEN_TYPE: getattr(config, "video_token_id", None),
    }


def _prompt_media(
    inputs: dict[str, Any], token_ids: dict[int, int | None], kind: int
) -> torch.Tensor:
    """For each prompt, the index of its image (``kind`` 1) or video (2) among the batch's
    media of that kind, -1 when it has none. Shape: (B,)

    Raises:
        ValueError: if a prompt shows more than one medium of the kind (vthinker's prompts
            show one), or the count disagrees with the grids.
    """
    types = inputs.get("mm_token_type_ids")
    ids = inputs["input_ids"]
    if types is not None:
        present = (types == kind).any(1)
        starts = ((types[:, 1:] == kind) & (types[:, :-1] != kind)).sum(1) + (types[:, 0] == kind)
    else:
        token = token_ids.get(kind)
        hit = ids == token if token is not None else torch.zeros_like(ids, dtype=torch.bool)
        present = hit.any(1)
        starts = (hit[:, 1:] & ~hit[:, :-1]).sum(1) + hit[:, 0]
    name = "video" if kind == VIDEO_TOKEN_TYPE else "image"
    if bool((starts > 1).any()):
        raise ValueError(f"a prompt shows more than one {name}: vthinker's prompts show one")
    grid = inputs.get(f"{name}_grid_thw")
    count = 0 if grid is None else len(grid)
    if int(present.sum()) != count:
        raise ValueError(f"{int(present.sum())} prompts show a {name}, but {count} {name} grids")
    order = torch.cumsum(present.long(), 0) - 1
    return torch.where(present, order, torch.full_like(order, -1)).cpu()


def group_vision(
    inputs: dict[str, Any],
    g: int,
    video_features: tuple[torch.Tensor, ...] | None,
    token_ids: dict[int, int | None] | None = None,
) -> dict[str, Any]:
    """A trajectory's vision inputs (`Trajectory`): each prompt's image or video once, the
    prompt token types per row (repeated ``g`` times). ``token_ids`` (by token type) find
    the media when the batch has no ``mm_token_type_ids``."""
    token_ids = token_ids or {}
    vision: dict[str, Any] = {}
    if "video_grid_thw" in inputs:
        vision["prompt_video_index"] = _prompt_media(inputs, token_ids, VIDEO_TOKEN_TYPE)
        vision["prompt_pixel_values_videos"] = inputs["pixel_values_videos"]
        vision["prompt_video_grid_thw"] = inputs["video_grid_thw"]
        if "second_per_grid_ts" in inputs:
            vision["prompt_second_per_grid_ts"] = inputs["second_per_grid_ts"]
        if video_features is not None:
            vision["prompt_video_features"] = video_features
    if "image_grid_thw" in inputs:
        vision["prompt_image_index"] = _prompt_media(inputs, token_ids, IMAGE_TOKEN_TYPE)
        vision["prompt_pixel_values"] = inputs["pixel_values"]
        vision["prompt_image_grid_thw"] = inputs["image_grid_thw"]
    if "mm_token_type_ids" in inputs:
        vision["mm_token_type_ids"] = inputs["mm_token_type_ids"].repeat_interleave(g, dim=0)
    return vision


def _base_model(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@torch.no_grad()
def encode_videos(model: nn.Module, traj: Trajectory) -> tuple[torch.Tensor | None, ...] | None:
    """Vision-tower output for every row's video, computed once per prompt (frozen tower).

    Returns:
        One tensor of merged video tokens per row (rows of a group share the tensor; None
        for a row whose prompt shows an image), or None when the trajectory has no video.
    """
    v = traj.vision
    if "prompt_pixel_values_videos" not in v:
        return None
    per_video = v.get("prompt_video_features")
    if per_video is None:
        per_video = _encode(
            model, "video", v["prompt_pixel_values_videos"], v["prompt_video_grid_thw"]
        )
    return tuple(
        per_video[m] if m >= 0 else None
        for m in v["prompt_video_index"].tolist()
        for _ in range(traj.group_size)
    )


def _encode(
    model: nn.Module, kind: str, pixels: torch.Tensor, grid: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """The vision tower's merged tokens of each image (``kind`` ``image``) or video."""
    base = _base_model(model)
    encode = base.get_video_features if kind == "video" else base.get_image_features
    return tuple(encode(pixels, grid, return_dict=True).pooler_output)


def _encode_rows(
    model: nn.Module, traj: Trajectory, rows: slice, kind: str
) -> tuple[torch.Tensor, ...]:
    """Vision-tower output of the ``kind`` medium of each row of ``rows`` that has one, each
    prompt's medium encoded once (gradient on when the tower trains)."""
    media = traj.media_of_rows(kind, rows)
    unique = sorted(set(media))
    pixels_key, grid_key, _ = _MEDIA_KEYS[kind]
    grid = traj.vision[grid_key]
    encoded = _encode(
        model, kind, _pixel_blocks(traj.vision[pixels_key], grid, unique), grid[unique]
    )
    by_medium = dict(zip(unique, encoded, strict=True))
    return tuple(by_medium[m] for m in media)


@torch.no_grad()
def encode_prompt_videos(
    model: nn.Module, batch: dict[str, Any]
) -> tuple[torch.Tensor, ...] | None:
    """Vision-tower output per prompt of a batch (frozen tower only), for `HFRollout`."""
    if "pixel_values_videos" not in batch:
        return None
    return _encode(model, "video", batch["pixel_values_videos"], batch["video_grid_thw"])


def completion_logprobs(
    model: nn.Module,
    traj: Trajectory,
    rows: slice,
    *,
    video_embeds: tuple[torch.Tensor, ...] | None = None,
    temperature: float = 1.0,
    with_entropy: bool = False,
    entropy_grad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs of the completion tokens of ``rows`` under ``model``.

    Args:
        model: The policy (or the reference).
        traj: The rollout.
        rows: Which rows to score.
        video_embeds: Precomputed per-row video tokens (`encode_videos`); None runs the
            vision tower on the rows' pixels (needed when it is trained).
        temperature: Logits are divided by it, matching the sampling distribution.
        with_entropy: Also return per-token entropies.
        entropy_grad: The entropies carry gradient (the entropy bonus).

    Shape:
        → logp (n, C), entropy (n, C) or None, with n the number of rows in ``rows``.
    """
    prompt_ids, completion_ids = traj.prompt_ids[rows], traj.completion_ids[rows]
    c = completion_ids.shape[1]
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)  # (n, P + C)
    attention_mask = torch.cat([traj.prompt_mask[rows], traj.completion_mask[rows]], dim=1)
    kwargs: dict[str, Any] = traj.row_vision(rows)
    encoded: dict[str, BaseModelOutputWithPooling] = {}
    if "video_grid_thw" in kwargs:
        # Frozen tower: its output per row, computed once per prompt (`encode_videos`).
        # Trained tower: encode each prompt of these rows once, with gradient, and share the
        # output across the prompt's rows (a prompt split over two micro-batches is encoded
        # in each: the graph is freed by each backward).
        if video_embeds is not None:
            pooled = tuple(e for e in video_embeds[rows] if e is not None)
        else:
            pooled = _encode_rows(model, traj, rows, "video")
        encoded["video"] = BaseModelOutputWithPooling(pooler_output=pooled)
    if "image_grid_thw" in kwargs:  # one image is cheap: encoded for every scoring pass
        pooled = _encode_rows(model, traj, rows, "image")
        encoded["image"] = BaseModelOutputWithPooling(pooler_output=pooled)
    if encoded:
        kwargs["mm_encoder_outputs"] = encoded
    if "mm_token_type_ids" in kwargs:
        prompt_types = kwargs["mm_token_type_ids"]
        kwargs["mm_token_type_ids"] = torch.cat(
            [prompt_types, torch.zeros_like(completion_ids, dtype=prompt_types.dtype)], dim=1
        )
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        logits_to_keep=c + 1,
        use_cache=False,
        **kwargs,
    )
    logits = out.logits[:, :-1]  # (n, C, V) view: position t predicts token t
    logp = token_logprobs(logits, completion_ids, temperature)
    entropy = None
    if with_entropy:
        entropy = token_entropy(logits if entropy_grad else logits.detach(), temperature)
    return logp, entropy
