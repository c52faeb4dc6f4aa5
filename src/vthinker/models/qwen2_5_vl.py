"""Qwen2.5-VL architectures as plain dicts, and the one function that turns one into a
`Qwen2_5_VLConfig`: the 7B's published values, the same structure at toy width
(``7b-mini``, for CPU runs of the 7B code path) and the tiny test model (`tiny_arch`,
built by `vthinker.models.tiny`). `tools/bench.py` builds random-weight models from them.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ARCHS", "QWEN2_5_VL_7B", "QWEN2_5_VL_7B_MINI", "qwen2_5_vl_config", "tiny_arch"]

# Qwen2.5-VL-7B-Instruct's config.json (transformers' Qwen2_5_VLConfig defaults differ:
# its text defaults are the 72B's and its vision hidden_size default is 3584, so every
# value is set here).
QWEN2_5_VL_7B: dict[str, dict[str, Any]] = {
    "text": {
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1e6,
        "mrope_section": [16, 24, 24],
    },
    "vision": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
}

# The 7B's structure at toy width: head dim 128 (so the same mrope sections), 2:1 GQA,
# windowed vision blocks with full attention in every second one. vocab_size None: the
# tokenizer's size rounded up to a multiple of 128.
QWEN2_5_VL_7B_MINI: dict[str, dict[str, Any]] = {
    "text": {
        **QWEN2_5_VL_7B["text"],
        "vocab_size": None,
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
    },
    "vision": {
        **QWEN2_5_VL_7B["vision"],
        "depth": 4,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 2,
        "out_hidden_size": 256,
        "fullatt_block_indexes": [1, 3],
    },
}

ARCHS: dict[str, dict[str, dict[str, Any]]] = {"7b": QWEN2_5_VL_7B, "7b-mini": QWEN2_5_VL_7B_MINI}
"""Random-weight architectures `build_random_qwen2_5_vl` can build."""


def tiny_arch(
    hidden_size: int = 64, num_layers: int = 2, vision_depth: int = 2, vision_hidden_size: int = 32
) -> dict[str, dict[str, Any]]:
    """The tiny test model: 4 heads (head dim ``hidden_size // 4``), 2 KV heads, mrope
    sections splitting half the head dim 2:3:3, windowed vision blocks with full attention in
    the last. ``vocab_size`` is left for the builder to set to its tokenizer's size."""
    heads = 4
    half = hidden_size // heads // 2
    return {
        "text": {
            "vocab_size": None,
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_theta": 1e6,
            "mrope_section": [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8],
        },
        "vision": {
            "depth": vision_depth,
            "hidden_size": vision_hidden_size,
            "intermediate_size": vision_hidden_size * 2,
            "num_heads": 2,
            "out_hidden_size": hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [vision_depth - 1],
            "tokens_per_second": 2,
        },
    }


def qwen2_5_vl_config(arch: dict[str, dict[str, Any]], token_ids: dict[str, int], vocab: int):
    """A `Qwen2_5_VLConfig` for ``arch`` with the special-token ids of a tokenizer.

    Args:
        arch: ``{"text": {...}, "vision": {...}}`` (see `QWEN2_5_VL_7B`).
        token_ids: Ids of ``<|endoftext|>``, ``<|im_end|>``, ``<|image_pad|>``,
            ``<|video_pad|>``, ``<|vision_start|>`` and ``<|vision_end|>``.
        vocab: Tokenizer size; the model's vocabulary is ``arch`` ``vocab_size`` (which
            must hold it) or, when that is None, ``vocab`` rounded up to a multiple of 128.

    Raises:
        ValueError: if the architecture's vocabulary is smaller than the tokenizer.
    """
    from transformers import Qwen2_5_VLConfig

    t = dict(arch["text"])
    vocab_size = t.pop("vocab_size") or 128 * math.ceil(vocab / 128)
    if vocab_size < vocab:
        raise ValueError(f"model vocab_size {vocab_size} < tokenizer size {vocab}")
    mrope = t.pop("mrope_section")
    theta = t.pop("rope_theta")
    head_dim = t["hidden_size"] // t["num_attention_heads"]
    if sum(mrope) * 2 != head_dim:
        raise ValueError(f"mrope_section {mrope} must sum to head_dim / 2 = {head_dim // 2}")
    pad, eos = token_ids["<|endoftext|>"], token_ids["<|im_end|>"]
    return Qwen2_5_VLConfig(
        text_config={
            **t,
            "vocab_size": vocab_size,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": theta,
                "mrope_section": mrope,
            },
            "bos_token_id": pad,
            "eos_token_id": eos,
            "pad_token_id": pad,
            "tie_word_embeddings": False,
        },
        vision_config=dict(arch["vision"]),
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
        tie_word_embeddings=False,
    )
