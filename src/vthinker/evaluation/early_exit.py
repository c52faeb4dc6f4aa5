"""VideoAuto-R1 inference: answer first, think only when the first answer is unsure.

Source: VideoAuto-R1 (arXiv 2601.05175; docs/method.md, VideoAuto-R1), as a summary of the
paper puts it: "在推理过程中通过输出第一个答案时的信息熵决定是否继续后续的步骤"
(at inference, the uncertainty of the first answer decides whether to go on). A model
trained on the answer → think → answer format (`vthinker.rewards.autor1`) is decoded in
two stages:

1. generate until the first ``</answer>`` (at most ``max_first_tokens``), keeping the
   scores of every step (``generate(output_scores=True)``: the logits after the logits
   processors, i.e. the distribution actually decoded from);
2. score the first answer: the tokens of the first ``<answer>…</answer>`` *content* (a
   token counts when the characters it decodes to overlap the content) give the mean
   token entropy ``H = -sum_v p_v log p_v`` (nats), or with ``criterion="confidence"`` the
   length-normalised probability ``exp(mean log p(token))``;
3. stop there when the answer is confident (mean entropy ``< threshold``, or confidence
   ``>= threshold``) and is not the fallback phrase; otherwise continue generating from
   prompt + first answer (``max_new_tokens`` in all).

A first stage with no closed ``<answer>`` (or an empty one) continues, unless the model
ended its output there.
`summarize_early_exit` reports how often the model stopped early and the accuracy of
either group. An evaluation run decodes with it when its decoder is
`vthinker.evaluation.decoding.EarlyExit` (any ``vthinker test`` config); the command::

    vthinker early-exit --model outputs/grpo/videoauto_r1/hf --data data/x/test.jsonl \
        --threshold 0.5 --out outputs/early_exit/x

is that evaluation run (greedy, VideoAuto-R1's prompt) with the run folder ``--out``: one
row per sample in ``predictions.jsonl``, the exit rate and accuracies under
``early_exit`` in ``summary.json``; rerunning it resumes. The paper's criterion is the
confidence with threshold 0.97; the entropy criterion is this project's default; both are
available.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from vthinker.data.schema import VideoSample
from vthinker.extract import extract_answer, is_correct
from vthinker.models.completion import completion_ends, end_token_ids
from vthinker.rewards.autor1 import FALLBACK_PHRASE, is_fallback, parse_auto_r1
from vthinker.trace import ANSWER_RE
from vthinker.training.base import GenerationSettings

__all__ = [
    "EarlyExitResult",
    "EarlyExitSettings",
    "answer_token_mask",
    "early_exit_generate",
    "summarize_early_exit",
    "token_char_spans",
    "token_entropy",
]


@dataclass
class EarlyExitSettings:
    """Two-stage decoding settings.

    Attributes:
        threshold: Entropy (nats) below which, or confidence at or above which, the first
            answer is final.
        criterion: ``entropy`` (mean token entropy) or ``confidence`` (the paper's
            ``exp(mean log p)``).
        max_first_tokens: Token budget of the first stage (up to ``</answer>``).
        max_new_tokens: Token budget of both stages together.
        fallback_phrase: A first answer equal to it always continues.
    """

    threshold: float = 0.5
    criterion: Literal["entropy", "confidence"] = "entropy"
    max_first_tokens: int = 64
    max_new_tokens: int = 1024
    fallback_phrase: str = FALLBACK_PHRASE

    def __post_init__(self) -> None:
        if self.criterion not in ("entropy", "confidence"):
            raise ValueError(f"criterion must be 'entropy' or 'confidence', got {self.criterion!r}")
        if not 1 <= self.max_first_tokens <= self.max_new_tokens:
            raise ValueError(
                f"need 1 <= max_first_tokens <= max_new_tokens, got {self.max_first_tokens}, "
                f"{self.max_new_tokens}"
            )

    def is_confident(self, score: float) -> bool:
        """Whether a first answer with this score is final (NaN: never)."""
        if math.isnan(score):
            return False
        if self.criterion == "entropy":
            return score < self.threshold
        return score >= self.threshold


@dataclass
class EarlyExitResult:
    """One decoded sample.

    Attributes:
        text: The output (only the first answer when it stopped early).
        first_answer: Content of the first ``<answer>``, or None.
        score: Mean entropy (or confidence) of the first answer's tokens; NaN without one.
        exited_early: Whether decoding stopped after the first answer.
        num_tokens: Tokens generated in both stages.
    """

    text: str
    first_answer: str | None
    score: float
    exited_early: bool
    num_tokens: int

    @property
    def final_answer(self) -> str | None:
        """The answer given: the first when stopped early, else the last ``<answer>``."""
        if self.exited_early:
            return self.first_answer
        parsed = parse_auto_r1(self.text)
        if parsed.second is not None:
            return parsed.second
        found = ANSWER_RE.findall(self.text)
        return found[-1].strip() if found else None


def token_entropy(scores: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(scores)`` over the last dimension; ``-inf`` scores (masked
    tokens) contribute 0.

    Shape:
        scores: (..., V) → (...)
    """
    p = torch.softmax(scores.float(), dim=-1)
    return torch.special.entr(p).sum(dim=-1)


def token_char_spans(tokenizer: Any, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Character span of each token in ``decode(ids)`` (incremental decoding; special
    tokens are skipped, so they span nothing)."""
    spans, prev = [], 0
    for k in range(len(ids)):
        length = len(tokenizer.decode(list(ids[: k + 1]), skip_special_tokens=True))
        spans.append((prev, max(prev, length)))
        prev = max(prev, length)
    return spans


def answer_token_mask(text: str, spans: Sequence[tuple[int, int]]) -> list[bool]:
    """Which tokens overlap the content of the first ``<answer>…</answer>`` of ``text``
    (all False when there is none or it is empty)."""
    m = ANSWER_RE.search(text)
    if m is None or m.start(1) == m.end(1):
        return [False] * len(spans)
    lo, hi = m.start(1), m.end(1)
    return [start < hi and end > lo and end > start for start, end in spans]


def _continuation_inputs(
    inputs: dict[str, torch.Tensor], rows: list[int], prefixes: list[list[int]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Inputs for prompt + first-stage tokens of ``rows``, left padded again.

    Shape:
        input_ids (n, L), attention_mask (n, L); the video tensors of the chosen rows.
    """
    if "pixel_values" in inputs:
        raise ValueError("early-exit decoding supports video (or text) prompts, not images")
    cpu = {k: v.cpu() for k, v in inputs.items()}
    mask = cpu["attention_mask"].bool()
    seqs = [
        torch.cat([cpu["input_ids"][r][mask[r]], torch.tensor(p, dtype=torch.long)])
        for r, p in zip(rows, prefixes, strict=True)
    ]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = s
        attn[i, width - len(s) :] = 1
    out: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": attn}
    if "mm_token_type_ids" in cpu:
        types = torch.zeros((len(rows), width), dtype=cpu["mm_token_type_ids"].dtype)
        for i, r in enumerate(rows):
            t = cpu["mm_token_type_ids"][r][mask[r]]
            types[i, width - len(seqs[i]) : width - len(seqs[i]) + len(t)] = t
        out["mm_token_type_ids"] = types
    if "video_grid_thw" in cpu:
        grid = cpu["video_grid_thw"]
        if grid.shape[0] != cpu["input_ids"].shape[0]:
            raise ValueError("early-exit decoding needs exactly one video per prompt")
        blocks = torch.split(cpu["pixel_values_videos"], grid.prod(-1).tolist())
        out["pixel_values_videos"] = torch.cat([blocks[r] for r in rows])
        out["video_grid_thw"] = grid[rows]
    if "second_per_grid_ts" in cpu:
        out["second_per_grid_ts"] = cpu["second_per_grid_ts"][rows]
    device = inputs["input_ids"].device
    return {k: v.to(device) for k, v in out.items()}


@torch.no_grad()
def early_exit_generate(
    model: nn.Module,
    tokenizer: Any,
    inputs: dict[str, torch.Tensor],
    settings: EarlyExitSettings | None = None,
    generation: GenerationSettings | None = None,
    **generate_kwargs: Any,
) -> list[EarlyExitResult]:
    """Decode a batch of left-padded prompts with the early exit (module docstring).

    Args:
        model: The policy (a Hugging Face generation model).
        tokenizer: Its tokenizer.
        inputs: Model inputs of a ``generate``-mode batch (`vthinker.data.collate.model_inputs`)
            or a tokenised text prompt (``input_ids``, ``attention_mask``).
        settings: Exit rule and budgets.
        generation: Sampling settings (greedy by default; its ``max_new_tokens`` is ignored).
        **generate_kwargs: Passed to both ``generate`` calls (``logits_processor``, …).

    Returns:
        One `EarlyExitResult` per prompt.
    """
    # Over 60 lines only for the documented arguments; the code is the rest.
    if "pixel_values" in inputs:  # checked up front: not only when a row continues
        raise ValueError("early-exit decoding supports video (or text) prompts, not images")
    s = settings or EarlyExitSettings()
    gen = (generation or GenerationSettings(do_sample=False)).kwargs()
    gen.pop("max_new_tokens", None)
    pad_id = tokenizer.pad_token_id
    end_ids = end_token_ids(model, tokenizer)
    common = {**gen, "pad_token_id": pad_id, "use_cache": True, **generate_kwargs}

    # 1. Up to the first </answer>, with the scores of every step.
    first = model.generate(
        **inputs,
        **common,
        max_new_tokens=s.max_first_tokens,
        stop_strings=["</answer>"],
        tokenizer=tokenizer,
        output_scores=True,
        return_dict_in_generate=True,
    )
    p = inputs["input_ids"].shape[1]
    new_ids = first.sequences[:, p:].tolist()  # (B, T1)
    first_ends = completion_ends(first.sequences[:, p:].cpu(), end_ids)
    scores = torch.stack(first.scores, dim=1)  # (B, T1, V)
    entropy = token_entropy(scores).cpu()  # (B, T1)
    picked = first.sequences[:, p:].unsqueeze(-1)  # (B, T1, 1)
    logp = torch.log_softmax(scores.float(), dim=-1).gather(-1, picked).squeeze(-1).cpu()  # (B, T1)

    # 2. Score the first answer of every row.
    rows_out, prefixes, ended = [], [], []
    for b, row in enumerate(new_ids):
        n, has_end = int(first_ends.lengths[b]), not bool(first_ends.truncated[b])
        result = _first_answer(tokenizer, row[:n], entropy[b, :n], logp[b, :n], s)
        rows_out.append(result)
        prefixes.append(row[:n])
        # The pad token may be the EOS token: a row cut by the stop string ends with
        # "</answer>", one that ends otherwise before the budget chose to stop.
        ended.append(has_end and not result.text.rstrip().endswith("</answer>"))

    # 3. Continue the others from prompt + first stage.
    rows = [
        b
        for b, r in enumerate(rows_out)
        if not r.exited_early and not ended[b] and r.num_tokens < s.max_new_tokens
    ]
    if rows:
        budget = s.max_new_tokens - max(rows_out[b].num_tokens for b in rows)
        cont = _continuation_inputs(inputs, rows, [prefixes[b] for b in rows], pad_id)
        out = model.generate(**cont, **common, max_new_tokens=max(1, budget))
        width = cont["input_ids"].shape[1]
        more_ends = completion_ends(out[:, width:].cpu(), end_ids)
        for i, b in enumerate(rows):
            ids = prefixes[b] + out[i, width:].tolist()[: int(more_ends.lengths[i])]
            rows_out[b].text = tokenizer.decode(ids, skip_special_tokens=True)
            rows_out[b].num_tokens = len(ids)
    return rows_out


def _first_answer(
    tokenizer: Any,
    ids: list[int],
    entropy: torch.Tensor,
    logp: torch.Tensor,
    s: EarlyExitSettings,
) -> EarlyExitResult:
    """The first stage of one row: its first answer, that answer's score (mean entropy or
    confidence of its tokens; NaN without one) and whether decoding stops there.

    Shape:
        entropy, logp: (len(ids),) per generated token
    """
    text = tokenizer.decode(ids, skip_special_tokens=True)
    mask = torch.tensor(answer_token_mask(text, token_char_spans(tokenizer, ids)), dtype=bool)
    if not mask.any():
        score = math.nan
    elif s.criterion == "entropy":
        score = float(entropy[mask].mean())
    else:
        score = math.exp(float(logp[mask].mean()))
    m = ANSWER_RE.search(text)
    answer = m.group(1).strip() if m else None
    early = (
        answer is not None and not is_fallback(answer, s.fallback_phrase) and s.is_confident(score)
    )
    return EarlyExitResult(text, answer, score, early, len(ids))


def summarize_early_exit(
    results: Sequence[EarlyExitResult], samples: Sequence[VideoSample]
) -> dict[str, float | int | None]:
    """How often decoding stopped early, and the accuracy either way.

    Returns:
        ``n``, ``early_exits``, ``early_exit_rate``, ``accuracy`` (all),
        ``accuracy_early`` (stopped after the first answer) and ``accuracy_continued``
        (None for an empty group), ``mean_tokens``.
    """
    if len(results) != len(samples):
        raise ValueError(f"{len(results)} results for {len(samples)} samples")
    correct = []
    for r, sample in zip(results, samples, strict=True):
        answer = r.final_answer
        pred = (
            extract_answer(
                f"<answer>{answer}</answer>", sample.options or None, sample.problem_type
            )
            if answer
            else None
        )
        correct.append(is_correct(pred, sample.answer, sample.problem_type))

    def _acc(flags: list[bool]) -> float | None:
        return sum(flags) / len(flags) if flags else None

    early = [c for c, r in zip(correct, results, strict=True) if r.exited_early]
    late = [c for c, r in zip(correct, results, strict=True) if not r.exited_early]
    n = len(results)
    return {
        "n": n,
        "early_exits": len(early),
        "early_exit_rate": len(early) / n if n else None,
        "accuracy": _acc(correct),
        "accuracy_early": _acc(early),
        "accuracy_continued": _acc(late),
        "mean_tokens": sum(r.num_tokens for r in results) / n if n else None,
    }
