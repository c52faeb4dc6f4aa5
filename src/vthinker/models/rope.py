"""Qwen2.5-VL's multimodal rotary positions (M-RoPE), the published algorithm.

Every token of Qwen2.5-VL gets three position components (temporal, height, width). Text
tokens get the same value in all three, counting up by one. The visual tokens of an image or
video start at ``s`` = one past the largest position so far, and the merged token at
(frame group ``t``, row ``h``, column ``w``) gets::

    (s + floor(t * second_per_grid_t * tokens_per_second), s + h, s + w)

where ``second_per_grid_t`` is the seconds one temporal patch covers (a video sampled at 2
fps with temporal patch 2 has 1.0) and ``tokens_per_second`` comes from the vision config
(2 for Qwen2.5-VL); the product is taken in float32 and floored. Text after the visual block
starts at **one past the largest of all three components** of that block. This is the code
Qwen2.5-VL was released with (transformers 4.49-4.51) and what vLLM computes. Later 4.x
releases (4.57) and 5.x truncate ``second_per_grid_t`` to an integer first, which changes
the temporal positions whenever a video is sampled below 2 fps (16 frames of a 60 s video:
7.5 s per group, 15 positions apart here, 14 there).

transformers 5.x (checked up to 5.25) starts the following text at ``s + max(grid h, grid
w) / merge`` instead, ignoring the temporal component: after a video longer than a couple of
seconds the text overlaps the video's temporal positions, so the model sees positions it was
never pretrained with (8 frames at 2 fps: temporal positions s+0, 2, 4, 6; the next text token
gets s+4 instead of s+7). Upstream reports of the same family: huggingface/transformers#45381,
huggingface/lerobot#3648. :func:`install_published_rope` replaces the model's
``get_rope_index`` by :func:`rope_index` on the loaded model object, so training, rollout,
scoring and evaluation (all of which go through ``get_rope_index``, for prompts and for
generation) use the published positions. :func:`transformers_agrees` says whether the
installed transformers already computes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch
from torch import nn

log = logging.getLogger(__name__)

__all__ = ["install_published_rope", "rope_index", "transformers_agrees"]

# Token types as the Qwen2.5-VL processor writes them in ``mm_token_type_ids``.
TEXT, IMAGE, VIDEO = 0, 1, 2
_PAD_POSITION = 1  # value at padded positions (masked out of attention), as in Qwen's code


def _segments(types_row: list[int]) -> Iterator[tuple[int, int]]:
    """(token type, length) of each run of equal types in one row."""
    start = 0
    for i in range(1, len(types_row) + 1):
        if i == len(types_row) or types_row[i] != types_row[start]:
            yield types_row[start], i - start
            start = i


def rope_index(
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor | None = None,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    *,
    spatial_merge_size: int = 2,
    tokens_per_second: float = 2.0,
    image_token_id: int | None = None,
    video_token_id: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Published Qwen2.5-VL M-RoPE positions for a (padded) batch.

    Args:
        input_ids: (B, L) token ids.
        mm_token_type_ids: (B, L) 0 text, 1 image, 2 video. When None it is read from
            ``input_ids`` with ``image_token_id`` / ``video_token_id``.
        image_grid_thw: (num_images, 3) patch grid (T, H, W) of each image, batch order.
        video_grid_thw: (num_videos, 3) patch grid of each video (T counts frame pairs).
        second_per_grid_ts: (num_videos,) seconds per temporal patch; 1.0 when None.
        attention_mask: (B, L) 1 for real tokens; padding (either side) is skipped and gets
            position 1.
        spatial_merge_size: Patches merged per side into one visual token.
        tokens_per_second: Temporal positions per second of video.

    Returns:
        ``positions`` (3, B, L) long and ``deltas`` (B, 1): one past each row's largest
        position minus its number of real tokens (generation continues from there).
    """
    # Over 60 lines only for the documented arguments; the code is the rest.
    batch, length = input_ids.shape
    device = input_ids.device
    if mm_token_type_ids is None:
        mm_token_type_ids = torch.zeros_like(input_ids)
        for token, kind in ((image_token_id, IMAGE), (video_token_id, VIDEO)):
            if token is not None:
                mm_token_type_ids[input_ids == token] = kind
    grids = {
        IMAGE: iter(image_grid_thw.tolist() if image_grid_thw is not None else []),
        VIDEO: iter(video_grid_thw.tolist() if video_grid_thw is not None else []),
    }
    seconds = iter(second_per_grid_ts.tolist() if second_per_grid_ts is not None else [])
    positions = torch.full((3, batch, length), _PAD_POSITION, dtype=torch.long, device=device)
    deltas = []
    for b in range(batch):
        keep = torch.ones(length, dtype=torch.bool, device=device)
        if attention_mask is not None:
            keep = attention_mask[b].bool()
        types_row = mm_token_type_ids[b][keep].tolist()
        parts: list[torch.Tensor] = []
        start = 0  # one past the largest position so far
        for kind, n in _segments(types_row):
            if kind == TEXT:
                parts.append(torch.arange(start, start + n).expand(3, n))
                start += n
                continue
            sec = float(next(seconds, 1.0)) if kind == VIDEO else 0.0
            block = _vision_block(
                b, kind, n, grids[kind], sec, spatial_merge_size, tokens_per_second
            )
            block = block + start
            parts.append(block)
            start = int(block.max()) + 1
        row = torch.cat(parts, dim=1) if parts else torch.zeros(3, 0, dtype=torch.long)
        positions[:, b, keep] = row.to(device)
        deltas.append(start - len(types_row))
    return positions, torch.tensor(deltas, dtype=torch.long, device=device).unsqueeze(1)


def _vision_block(
    b: int,
    kind: int,
    n: int,
    grids: Iterator[list[int]],
    sec: float,
    merge: int,
    tokens_per_second: float,
) -> torch.Tensor:
    """Positions (temporal, height, width) of one image or video run of ``n`` tokens in row
    ``b``, from its grid (the next of ``grids``), before the offset of the text before it.
    A video's temporal position is ``floor(t * sec * tokens_per_second)`` in float32.

    Shape: (3, n)
    """
    kind_name = "image" if kind == IMAGE else "video"
    try:
        t, h, w = next(grids)
    except StopIteration:
        raise ValueError(
            f"row {b} has more {kind_name} token runs than {kind_name}_grid_thw entries"
        ) from None
    gh, gw = h // merge, w // merge
    if t * gh * gw != n:
        raise ValueError(
            f"row {b}: a {kind_name} run of {n} tokens does not match its grid "
            f"{t}x{h}x{w} (merge {merge}: {t * gh * gw} tokens)"
        )
    tpos = (torch.arange(t) * torch.tensor(sec) * tokens_per_second).long()  # float32, floored
    return torch.stack(
        torch.meshgrid(tpos, torch.arange(gh), torch.arange(gw), indexing="ij")
    ).reshape(3, -1)


def _published_get_rope_index(
    self: nn.Module,
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor | None = None,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    **_: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``get_rope_index`` with the signature transformers 5.x calls, bound to the model."""
    vision = self.config.vision_config
    return rope_index(
        input_ids,
        mm_token_type_ids,
        image_grid_thw,
        video_grid_thw,
        second_per_grid_ts,
        attention_mask,
        spatial_merge_size=vision.spatial_merge_size,
        tokens_per_second=vision.tokens_per_second,
        image_token_id=getattr(self.config, "image_token_id", None),
        video_token_id=getattr(self.config, "video_token_id", None),
    )


def _qwen2_5_vl_cores(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that own Qwen2.5-VL's ``get_rope_index``."""
    return [
        m
        for m in model.modules()
        if getattr(getattr(m, "config", None), "model_type", None) == "qwen2_5_vl"
        and callable(getattr(m, "get_rope_index", None))
        and hasattr(m, "rope_deltas")
    ]


class _PublishedRopeIndex:
    """``get_rope_index`` for one Qwen2.5-VL core (a plain object, so the model pickles and
    deep-copies with it: a copy's attribute points at the copied core)."""

    def __init__(self, core: nn.Module) -> None:
        self.core = core

    def __call__(self, *args: object, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        return _published_get_rope_index(self.core, *args, **kwargs)  # type: ignore[arg-type]


def install_published_rope(model: nn.Module) -> int:
    """Make every Qwen2.5-VL core in ``model`` compute the published positions.

    Sets ``get_rope_index`` on the module object (not its class), so other models in the
    process are untouched and a ``copy.deepcopy`` of the model (a reference policy) keeps
    the fix. Models of other families are left alone.

    Returns:
        How many modules were changed (0 for non-Qwen2.5-VL models).
    """
    cores = _qwen2_5_vl_cores(model)
    for core in cores:
        core.get_rope_index = _PublishedRopeIndex(core)
    if cores:
        log.debug("installed the published Qwen2.5-VL rotary positions on %d module(s)", len(cores))
    return len(cores)


def transformers_agrees(model: nn.Module) -> bool:
    """Whether the installed transformers' own ``get_rope_index`` gives the published
    positions for text after a multi-second video (on ``model``'s config; no forward pass).

    Raises:
        ValueError: if ``model`` holds no Qwen2.5-VL core.
    """
    cores = _qwen2_5_vl_cores(model)
    if not cores:
        raise ValueError("the model holds no Qwen2.5-VL module")
    core = cores[0]
    merge = core.config.vision_config.spatial_merge_size
    grid = torch.tensor([[4, 2 * merge, 2 * merge]])  # 8 frames, 2x2 merged tokens each
    types_row = [TEXT] * 3 + [VIDEO] * 16 + [TEXT] * 3
    ids = torch.zeros(1, len(types_row), dtype=torch.long)
    kinds = torch.tensor([types_row])
    args = {
        "input_ids": ids,
        "mm_token_type_ids": kinds,
        "video_grid_thw": grid,
        "second_per_grid_ts": torch.tensor([1.0]),
        "attention_mask": torch.ones_like(ids),
    }
    own = type(core).get_rope_index(core, **args)
    ours = _published_get_rope_index(core, **args)
    return torch.equal(own[0], ours[0]) and torch.equal(own[1], ours[1])
