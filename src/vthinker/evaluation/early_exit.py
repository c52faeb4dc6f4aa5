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
either group. From the command line (`run_early_exit`)::

    vthinker early-exit --model outputs/grpo/videoauto_r1/hf --data data/x/test.jsonl \
        --threshold 0.5 --out outputs/early_exit/x

writes one row per sample to ``predictions.jsonl`` and the counts to ``summary.json``. The paper's criterion is the confidence with threshold 0.97; the entropy
criterion is this project's default (the issue's wording); both are available.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm import tqdm

from vthinker.data.collate import MAX_PIXELS, MIN_PIXELS
from vthinker.data.schema import VideoSample
from vthinker.extract import extract_answer, is_correct
from vthinker.rewards.autor1 import AUTO_R1_SYSTEM, FALLBACK_PHRASE, is_fallback, parse_auto_r1
from vthinker.trace import ANSWER_RE
from vthinker.training.base import GenerationSettings
from vthinker.training.rollout import end_token_ids

__all__ = [
    "EarlyExitResult",
    "EarlyExitSettings",
    "answer_token_mask",
    "early_exit_generate",
    "main",
    "run_early_exit",
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


def _length(row: list[int], end_ids: set[int]) -> tuple[int, bool]:
    """Tokens before the first end token, and whether an end token was found."""
    for i, t in enumerate(row):
        if t in end_ids:
            return i, True
    return len(row), False


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
    scores = torch.stack(first.scores, dim=1)  # (B, T1, V)
    entropy = token_entropy(scores).cpu()  # (B, T1)
    picked = first.sequences[:, p:].unsqueeze(-1)  # (B, T1, 1)
    logp = torch.log_softmax(scores.float(), dim=-1).gather(-1, picked).squeeze(-1).cpu()  # (B, T1)

    # 2. Score the first answer of every row.
    prefixes, ended, rows_out = [], [], []
    for b, row in enumerate(new_ids):
        n, has_end = _length(row, end_ids)
        ids = row[:n]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        mask = torch.tensor(answer_token_mask(text, token_char_spans(tokenizer, ids)), dtype=bool)
        if mask.any():
            if s.criterion == "entropy":
                score = float(entropy[b, :n][mask].mean())
            else:
                score = math.exp(float(logp[b, :n][mask].mean()))
        else:
            score = math.nan
        m = ANSWER_RE.search(text)
        answer = m.group(1).strip() if m else None
        early = (
            answer is not None
            and not is_fallback(answer, s.fallback_phrase)
            and s.is_confident(score)
        )
        prefixes.append(ids)
        # The pad token may be the EOS token: a row cut by the stop string ends with
        # "</answer>", one that ends otherwise before the budget chose to stop.
        ended.append(has_end and not text.rstrip().endswith("</answer>"))
        rows_out.append(EarlyExitResult(text, answer, score, early, n))

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
        for i, b in enumerate(rows):
            more = out[i, width:].tolist()
            k, _ = _length(more, end_ids)
            ids = prefixes[b] + more[:k]
            r = rows_out[b]
            r.text = tokenizer.decode(ids, skip_special_tokens=True)
            r.num_tokens = len(ids)
    return rows_out


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


def run_early_exit(
    model_path: str,
    data: str,
    out_dir: str,
    settings: EarlyExitSettings | None = None,
    *,
    video_root: str | None = None,
    max_frames: int = 16,
    max_pixels: int = MAX_PIXELS,
    min_pixels: int = MIN_PIXELS,
    batch_size: int = 1,
    limit: int | None = None,
    dtype: str = "bfloat16",
    strict: bool = False,
) -> dict[str, Any]:
    """Decode a JSONL split with the early exit; write predictions and a summary.

    Args:
        model_path: The policy (Hugging Face folder or hub id).
        data: Samples (`vthinker.data.schema.read_jsonl` formats).
        out_dir: Gets ``predictions.jsonl`` and ``summary.json``.
        settings: Exit rule and budgets.
        video_root: Folder of relative video paths (default: the JSONL's folder).
        max_frames: Frames per video (2 fps sampling, capped).
        max_pixels: Pixels per frame upper bound.
        min_pixels: Pixels per frame lower bound.
        batch_size: Prompts per decoding batch.
        limit: Use the first ``limit`` samples only.
        dtype: Weight dtype.
        strict: Stop at a bad annotation record instead of skipping it.

    Returns:
        The summary (`summarize_early_exit` plus the skipped samples and the settings).
    """
    from torch.utils.data import DataLoader

    from vthinker.data.collate import FrameSampling, VideoQACollator, VideoQADataset, model_inputs
    from vthinker.data.prompts import PromptTemplate
    from vthinker.data.schema import ReadReport, read_jsonl
    from vthinker.models.policy import PolicyConfig, load_policy, load_processor

    s = settings or EarlyExitSettings()
    report = ReadReport(data)
    samples = read_jsonl(data, strict=strict, report=report)[:limit]
    if not samples:
        raise ValueError(f"{data}: no usable samples ({report.summary()})")
    processor = load_processor(model_path)
    model = load_policy(PolicyConfig(model_path, dtype=dtype)).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    dataset = VideoQADataset(
        samples,
        video_root if video_root is not None else Path(data).parent,
        FrameSampling(max_frames=max_frames),
    )
    collator = VideoQACollator(
        processor,
        PromptTemplate(system=AUTO_R1_SYSTEM),
        mode="generate",
        max_pixels=max_pixels,
        min_pixels=min_pixels,
    )
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collator)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, scored, skipped = [], [], []
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for batch in tqdm(loader, desc="early-exit decoding", unit="batch"):
            skipped.extend({"id": x.sample_id, "reason": x.reason} for x in batch["skipped"])
            if not batch["samples"]:
                continue
            inputs = {k: v.to(device) for k, v in model_inputs(batch).items()}
            rows = early_exit_generate(model, processor.tokenizer, inputs, s)
            for sample, r in zip(batch["samples"], rows, strict=True):
                results.append(r)
                scored.append(sample)
                row = {"id": sample.id, "gold": sample.answer, **asdict(r)}
                row["final_answer"] = r.final_answer
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary: dict[str, Any] = dict(summarize_early_exit(results, scored))
    summary.update(
        {
            "skipped": len(skipped),
            "skipped_samples": skipped,
            "bad_records": len(report.skipped),
            "settings": asdict(s),
            "model": model_path,
            "data": data,
        }
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``vthinker early-exit``: decode a split with VideoAuto-R1's early exit."""
    parser = argparse.ArgumentParser(
        prog="vthinker early-exit",
        description="Answer first, think only when unsure (VideoAuto-R1); report the exit "
        "rate and the accuracy of early and continued answers.",
    )
    parser.add_argument("--model", required=True, help="policy folder or hub id")
    parser.add_argument("--data", required=True, help="samples (JSONL)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--video-root", default=None)
    parser.add_argument("--threshold", type=float, default=EarlyExitSettings.threshold)
    parser.add_argument("--criterion", choices=["entropy", "confidence"], default="entropy")
    parser.add_argument("--max-first-tokens", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--max-frames", type=int, default=16)
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    parser.add_argument("--min-pixels", type=int, default=MIN_PIXELS)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--strict", action="store_true", help="stop at a bad record")
    args = parser.parse_args(argv)
    settings = EarlyExitSettings(
        threshold=args.threshold,
        criterion=args.criterion,
        max_first_tokens=args.max_first_tokens,
        max_new_tokens=args.max_new_tokens,
    )
    summary = run_early_exit(
        args.model,
        args.data,
        args.out,
        settings,
        video_root=args.video_root,
        max_frames=args.max_frames,
        max_pixels=args.max_pixels,
        min_pixels=args.min_pixels,
        batch_size=args.batch_size,
        limit=args.limit,
        dtype=args.dtype,
        strict=args.strict,
    )
    keys = ("n", "early_exits", "early_exit_rate", "accuracy", "accuracy_early")
    keys += ("accuracy_continued", "mean_tokens", "skipped")
    print(json.dumps({k: summary[k] for k in keys}))
    return 0
