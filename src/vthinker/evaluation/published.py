"""Published Video-Thinker numbers (16 frames), used as reference rows in reports.

The values are those of the paper's tables (docs/method.md, Published numbers): accuracy (%)
on the out-of-domain benchmarks (Video-Holmes, CG-Bench-Reasoning, VRBench) and the
in-domain test splits (ActivityNet, STAR, ScaleLong, YouCook2, LVBench) for the base model,
Video-R1 and both Video-Thinker stages; temporal grounding (mIoU, R@0.3, R@0.5) for
Video-Thinker and the base model; caption scores (METEOR, ROUGE-L, BLEU-1) for
Video-Thinker. A metric the paper does not report is simply absent.

Benchmark keys are the ``benchmark`` names the shipped ``configs/eval/*.yaml`` give to
`vthinker.evaluation.module.EvalModule`; `BENCHMARK_LABELS` holds the column headers.
"""

from __future__ import annotations

__all__ = [
    "BENCHMARK_LABELS",
    "PUBLISHED_ACCURACY",
    "PUBLISHED_CAPTION",
    "PUBLISHED_FRAMES",
    "PUBLISHED_GROUNDING",
    "benchmark_label",
]

PUBLISHED_FRAMES = 16
"""Frame budget of every published number below."""

BENCHMARK_LABELS: dict[str, str] = {
    "video_holmes": "Holmes",
    "cg_bench_reasoning": "CG-Bench-R",
    "vrbench": "VRBench",
    "activitynet": "ActivityNet",
    "star": "STAR",
    "scalelong": "ScaleLong",
    "youcook2": "YouCook2",
    "lvbench": "LVBench",
}
"""Benchmark key -> column header, in the paper's column order."""

PUBLISHED_ACCURACY: dict[str, dict[str, float]] = {
    "Qwen2.5-VL-7B": {
        "video_holmes": 34.02,
        "cg_bench_reasoning": 27.10,
        "vrbench": 63.42,
        "activitynet": 70.96,
        "star": 69.25,
        "scalelong": 40.06,
        "youcook2": 63.74,
        "lvbench": 33.33,
    },
    "Video-R1-7B": {
        "video_holmes": 38.54,
        "cg_bench_reasoning": 27.81,
        "vrbench": 69.25,
        "activitynet": 76.00,
        "star": 67.76,
        "scalelong": 47.32,
        "youcook2": 65.65,
        "lvbench": 34.68,
    },
    "Video-Thinker-SFT-7B": {
        "video_holmes": 31.52,
        "cg_bench_reasoning": 24.95,
        "vrbench": 62.40,
        "activitynet": 70.80,
        "star": 64.18,
        "scalelong": 43.22,
        "youcook2": 56.11,
        "lvbench": 35.69,
    },
    "Video-Thinker-7B": {
        "video_holmes": 43.22,
        "cg_bench_reasoning": 33.25,
        "vrbench": 80.69,
        "activitynet": 78.72,
        "star": 70.66,
        "scalelong": 49.53,
        "youcook2": 73.66,
        "lvbench": 37.04,
    },
}
"""Model -> benchmark key -> accuracy (%), 16 frames."""

PUBLISHED_GROUNDING: dict[str, dict[str, float]] = {
    "Qwen2.5-VL-7B": {"miou": 27.47, "r@0.3": 39.52, "r@0.5": 23.71},
    "Video-Thinker-7B": {"miou": 48.22, "r@0.3": 79.29, "r@0.5": 51.49},
}
"""Model -> grounding metric -> value (%)."""

PUBLISHED_CAPTION: dict[str, dict[str, float]] = {
    "Video-Thinker-7B": {"meteor": 15.87, "rouge_l": 20.11, "bleu_1": 15.34},
}
"""Model -> caption metric -> value (x100)."""


def benchmark_label(key: str) -> str:
    """Column header of a benchmark key (the key itself when it is not a paper benchmark)."""
    return BENCHMARK_LABELS.get(key, key)
