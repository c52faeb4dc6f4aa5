"""Tabulate tools/grpo_variants.sh: held-out accuracy and mIoU of each GRPO variant, mean and
sample sd over the seeds found in outputs/miniature/variants/seed*/, with the gain over the
same seed's SFT model and what each run spent (optimizer steps, rollout batches, wall time).

    python tools/grpo_variants_table.py [outputs/miniature/variants]
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from pathlib import Path

ARMS = ["sft", "grpo", "dapo", "gspo", "dr_grpo"]


def mean_sd(xs: list[float]) -> str:
    if not xs:
        return "–"
    if len(xs) == 1:
        return f"{xs[0]:.1f} (1 seed)"
    return f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs):.1f}"


def heldout(folder: Path, arm: str) -> tuple[float, float] | None:
    path = folder / f"{arm}.json"
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    return 100 * d["metrics"]["accuracy"], 100 * d["grounding_of_reasoning"]["miou"]


def spent(folder: Path, arm: str) -> tuple[int, int, int] | None:
    """Optimizer steps, rollout batches and fit seconds of one run.

    Lightning writes a metrics row for every training batch, and a batch that only rolled
    out (dynamic sampling waiting for informative groups) repeats the previous batch's
    values: such rows (the same ``time/rollout`` as the row before) are no optimizer step.
    """
    path = folder / f"{arm}_metrics.csv"
    times = (folder / "times.txt").read_text() if (folder / "times.txt").exists() else ""
    walls = re.findall(rf"^fit_{arm} wall_s=(\d+)", times, re.M)  # the last run counts
    if not path.exists() or not walls:
        return None
    rows = [r for r in csv.DictReader(path.open()) if r.get("train/loss")]
    steps = [
        r for k, r in enumerate(rows) if k == 0 or r["time/rollout"] != rows[k - 1]["time/rollout"]
    ]
    rollouts = sum(int(float(r.get("train/rollout_batches") or 1)) for r in steps)
    return len(steps), rollouts, int(walls[-1])


def main(root: Path) -> None:
    seeds = sorted(root.glob("seed*"), key=lambda p: int(p.name[4:]))
    print(f"Seeds: {', '.join(p.name[4:] for p in seeds)}\n")
    print(
        "| variant | held-out accuracy (%) | gain over SFT (points) | per seed | mIoU (%) "
        "| optimizer steps | rollout batches | fit (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for arm in ARMS:
        acc, miou, gain, steps, rollouts, wall = [], [], [], [], [], []
        for folder in seeds:
            got, sft = heldout(folder, arm), heldout(folder, "sft")
            if got is None:
                continue
            acc.append(got[0])
            miou.append(got[1])
            if arm != "sft" and sft is not None:
                gain.append(got[0] - sft[0])
            s = spent(folder, arm)
            if s is not None:
                steps.append(s[0])
                rollouts.append(s[1])
                wall.append(s[2])
        per_seed = ", ".join(f"{g:+.1f}" for g in gain)
        cells = [
            arm,
            mean_sd(acc),
            mean_sd(gain) if arm != "sft" else "",
            per_seed,
            mean_sd(miou),
            mean_sd(steps) if steps else "",
            mean_sd(rollouts) if rollouts else "",
            mean_sd(wall) if wall else "",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/miniature/variants"))
