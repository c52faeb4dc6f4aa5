"""Benchmark GRPO on the tiny model (CPU by default): rollout tokens/s and step-time split.

Prints, for one batch of prompts:
- rollout: completion tokens/s of the batched group rollout (`HFRollout`, one
  ``generate`` for all prompts × G) and of the naive loop of G separate ``generate`` calls
  per prompt, same model, same prompts, same number of new tokens (min = max);
- step: the mean time split (rollout / scoring / update) of a few GRPO training steps, as
  the module logs it (``time/*``).

Usage::

    python tools/bench_grpo.py [--model DIR] [--toy DIR] [--group-size 8] [--prompts 2]
        [--new-tokens 64] [--steps 5]

The tiny model and toy data are built into a temporary folder when not given.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.data.toy import make_toy_dataset
from vthinker.models.policy import PolicyConfig, load_policy, load_processor
from vthinker.models.tiny import build_tiny_qwen2_5_vl
from vthinker.rewards import AccuracyReward, FormatReward
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings


def _data(toy: Path, prompts: int) -> VideoQADataModule:
    return VideoQADataModule(
        train_file=str(toy / "train.jsonl"),
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=prompts,
    )


def bench_rollout(model_dir: Path, toy: Path, g: int, prompts: int, new_tokens: int) -> None:
    processor = load_processor(str(model_dir))
    model = load_policy(PolicyConfig(str(model_dir), dtype="float32"))
    model.eval()
    dm = _data(toy, prompts)
    dm.connect(processor)
    dm.setup("fit")
    collate = dm.collator("generate")
    batch = collate([dm.datasets["fit"][i] for i in range(prompts)])
    inputs = {k: batch[k] for k in batch if isinstance(batch[k], torch.Tensor)}
    kw = {
        "do_sample": True,
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "pad_token_id": processor.tokenizer.pad_token_id,
    }
    with torch.no_grad():
        model.generate(**inputs, **kw, num_return_sequences=g)  # warm-up
        t = time.perf_counter()
        model.generate(**inputs, **kw, num_return_sequences=g)
        batched = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(prompts):
            one = {k: v[i : i + 1] for k, v in inputs.items() if k not in ("pixel_values_videos",)}
            sizes = batch["video_grid_thw"].prod(-1).tolist()
            start = sum(sizes[:i])
            one["pixel_values_videos"] = batch["pixel_values_videos"][start : start + sizes[i]]
            for _ in range(g):
                model.generate(**one, **kw)
        naive = time.perf_counter() - t
    tokens = prompts * g * new_tokens
    print(f"rollout: {prompts} prompts x G={g} x {new_tokens} new tokens = {tokens} tokens")
    print(f"  batched group rollout: {batched:.2f} s, {tokens / batched:.0f} tokens/s")
    print(f"  naive loop of G generate calls: {naive:.2f} s, {tokens / naive:.0f} tokens/s")
    print(f"  speed-up: {naive / batched:.1f}x")


def bench_steps(
    model_dir: Path, toy: Path, g: int, prompts: int, new_tokens: int, steps: int
) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench_grpo_"))
    module = GRPOModule(
        PolicyConfig(str(model_dir), dtype="float32"),
        rewards=[AccuracyReward(), FormatReward()],
        grpo=GRPOSettings(group_size=g),
        rollout=RolloutSettings(max_new_tokens=new_tokens),
        log_completions_every=0,
        export_hf=False,
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        max_epochs=1,
        logger=L.pytorch.loggers.CSVLogger(str(out)),
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=_data(toy, prompts))
    rows = [
        r for r in csv.DictReader(next(out.rglob("metrics.csv")).open()) if r.get("time/rollout")
    ]
    print(f"GRPO step ({len(rows)} steps, G={g}, {prompts} prompts, <= {new_tokens} new tokens):")
    for key in ("time/rollout", "time/scoring", "time/update"):
        print(f"  {key}: {statistics.mean(float(r[key]) for r in rows):.3f} s")
    lens = statistics.mean(float(r["train/completion_len_mean"]) for r in rows)
    print(f"  mean completion length: {lens:.1f} tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--toy", type=Path, default=None)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_assets_"))
    model_dir = args.model or build_tiny_qwen2_5_vl(tmp / "tiny")
    toy = args.toy
    if toy is None:
        toy = tmp / "toy"
        make_toy_dataset(toy, num_videos=10)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {model_dir}")
    bench_rollout(model_dir, toy, args.group_size, args.prompts, args.new_tokens)
    bench_steps(model_dir, toy, args.group_size, args.prompts, args.new_tokens, args.steps)


if __name__ == "__main__":
    main()
