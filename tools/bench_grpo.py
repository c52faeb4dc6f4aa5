"""Benchmark GRPO on the tiny model (CPU by default): rollout tokens/s and step-time split.

Kept so the command recorded in BENCHMARKS.md still runs; the code now lives in
``tools/bench.py`` (its ``rollout`` and ``grpo`` subcommands, which also take the 7B
architecture, CUDA, LoRA/QLoRA and ``--json``). This runs both on the same tiny model and
toy data and prints their tables:

- rollout: completion tokens/s of one batched ``generate`` for all prompts × G and of the
  naive loop of G separate ``generate`` calls per prompt, same model, prompts and number
  of new tokens (min = max);
- step: the time split (rollout / scoring / update) of GRPO training steps as the module
  logs it (``time/*``), median over ``--steps`` steps after one warm-up step.

Usage::

    python tools/bench_grpo.py [--model DIR] [--toy DIR] [--group-size 8] [--prompts 2]
        [--new-tokens 64] [--steps 5]

The tiny model and toy data are built into a temporary folder when not given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import main as bench_main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--toy", type=Path, default=None)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_assets_"))
    try:
        # Built on the first run into these folders, reused by the second.
        common = [
            "--model-config", "tiny",
            "--model", str(args.model or tmp / "tiny"),
            "--toy", str(args.toy or tmp / "toy"),
            "--group-size", str(args.group_size),
            "--prompts", str(args.prompts),
            "--max-new-tokens", str(args.new_tokens),
        ]  # fmt: skip
        bench_main(["rollout", *common])
        bench_main(["grpo", *common, "--steps", str(args.steps), "--warmup", "1"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
