"""Tabulate `tools/mixed_tgrpo.sh`: held-out accuracy (all, video, image questions) of the SFT
start and of T-GRPO trained on video questions only vs on image + video questions, per seed,
with the mean and sample standard deviation over seeds, and the paired difference.

    python tools/mixed_tgrpo_table.py [outputs/demo/mixed_tgrpo]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def accuracies(summary: Path) -> dict[str, float]:
    """Accuracy in percent over all questions and per data_type."""
    d = json.loads(summary.read_text())
    groups = d["groups"]["data_type"]
    return {
        "all": 100 * d["metrics"]["accuracy"],
        "video": 100 * groups["video"]["accuracy"],
        "image": 100 * groups["image"]["accuracy"],
    }


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def main(root: Path) -> None:
    sft = accuracies(root / "sft" / "summary.json")
    seeds = sorted(p for p in root.glob("seed*") if (p / "mixed" / "summary.json").is_file())
    arms = {
        arm: [accuracies(s / arm / "summary.json") for s in seeds] for arm in ("videos", "mixed")
    }
    keys = ("all", "video", "image")
    print(f"seeds: {', '.join(s.name for s in seeds)}\n")
    print("| model | all | video questions | image questions |")
    print("|---|---|---|---|")
    print(f"| SFT start | {' | '.join(f'{sft[k]:.1f}' for k in keys)} |")
    for arm, label in (("videos", "T-GRPO, video questions"), ("mixed", "T-GRPO, image + video")):
        cells = [spread([r[k] for r in arms[arm]]) for k in keys]
        print(f"| {label} | {' | '.join(cells)} |")
    print("\nper seed, mixed − videos (points):")
    for s, v, m in zip(seeds, arms["videos"], arms["mixed"], strict=True):
        print(f"  {s.name}: " + ", ".join(f"{k} {m[k] - v[k]:+.1f}" for k in keys))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/demo/mixed_tgrpo"))
