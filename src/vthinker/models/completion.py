"""Where a generated completion ends: the one rule that rollouts, evaluation and the early
exit share.

``generate`` fills the rows that finished early with the pad token, which is also an end
token here (Qwen pads with ``<|endoftext|>``, one of its EOS ids), so the first end token of
a row is either a sampled EOS or filler. `completion_ends` reads a batch of completions:

- ``lengths``: tokens before the first end token (the whole row when it has none) — what
  an evaluation reports as the output's length;
- ``mask``: the sampled tokens, which are those tokens plus a sampled EOS (TRL masks up to
  and including the first EOS). A row that stopped on a stop string (`stopped_on_string`)
  ends at the token that completed it; its first end token is filler, outside the mask;
- ``truncated``: rows that hit the token limit (no end token, no stop string).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = ["CompletionEnds", "completion_ends", "end_token_ids", "stopped_on_string"]


def end_token_ids(model: nn.Module, tokenizer: Any) -> set[int]:
    """Token ids that end a completion: the model's generation EOS id(s), the tokenizer's
    EOS and its pad token (``generate`` pads finished rows with it)."""
    ids: set[int] = set()
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (eos, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return ids


class CompletionEnds(NamedTuple):
    """Where each completion of a batch ends (module docstring).

    Shape:
        mask (N, C) int64, lengths (N,) int64, truncated (N,) bool
    """

    mask: torch.Tensor
    lengths: torch.Tensor
    truncated: torch.Tensor


def completion_ends(
    completion_ids: torch.Tensor, end_ids: set[int], stopped: torch.Tensor | None = None
) -> CompletionEnds:
    """Mask, lengths and truncation of generated completions.

    Args:
        completion_ids: The generated tokens.
        end_ids: Token ids that end a completion (`end_token_ids`).
        stopped: Rows that ended on a stop string; None: no row did.

    Shape:
        completion_ids: (N, C), stopped: (N,) → `CompletionEnds`
    """
    is_end = torch.zeros_like(completion_ids, dtype=torch.bool)
    for t in end_ids:
        is_end |= completion_ids == t
    if stopped is None:
        stopped = torch.zeros(completion_ids.shape[0], dtype=torch.bool)
    stopped = stopped.to(device=completion_ids.device, dtype=torch.bool)
    # Number of end tokens strictly before each position.
    ends_before = torch.cumsum(is_end.long(), dim=1) - is_end.long()  # (N, C)
    first_end = is_end & (ends_before == 0)  # (N, C)
    mask = (ends_before == 0) & ~(first_end & stopped[:, None])  # (N, C)
    lengths = ((ends_before == 0) & ~is_end).sum(dim=1)  # (N,)
    truncated = ~is_end.any(dim=1) & ~stopped
    return CompletionEnds(mask.long(), lengths, truncated)


def stopped_on_string(
    completion_ids: torch.Tensor, end_ids: set[int], tokenizer: Any, stop_strings: list[str]
) -> torch.Tensor:
    """Which rows of a ``generate`` output ended because they completed a stop string.

    Per row, the tokens before the first end token are decoded (special tokens kept); the
    row stopped on a stop string when that text contains one. ``generate`` halts a row on
    the token that completes a stop string (that token may run past it: transformers'
    ``StopStringCriteria``), so a stop string only ever appears at the end of a row, and a
    row that sampled an EOS contains none.

    Shape:
        completion_ids: (N, C) → (N,) bool
    """
    n = completion_ids.shape[0]
    if not stop_strings:
        return torch.zeros(n, dtype=torch.bool)
    out = torch.zeros(n, dtype=torch.bool)
    for i, row in enumerate(completion_ids.tolist()):
        cut = next((j for j, t in enumerate(row) if t in end_ids), len(row))
        text = tokenizer.decode(row[:cut], skip_special_tokens=False)
        out[i] = any(x in text for x in stop_strings)
    return out
