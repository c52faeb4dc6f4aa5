"""Confidence intervals for benchmark scores whose questions share videos.

Questions about the same video are not independent (a model that misreads a video tends to
miss all its questions), so the standard error of a mean score is clustered by video
(Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640; lmms-eval reports the same):

    SE² = G / (G - 1) · Σ_c (Σ_{i ∈ c} (x_i - x̄))² / n²

over ``n`` scores in ``G`` clusters: the cluster-robust (CR1) variance of a mean. With one
question per cluster it is the usual ``s² / n`` (sample variance). The 95% interval is
``x̄ ± 1.96 SE`` (normal approximation, as Miller uses). lmms-eval's clustered error is
Miller's eq. 4, without the ``G / (G - 1)`` factor: the two agree with one question per
video, and this one is slightly wider with few videos. Fewer than 2 clusters give no
interval (the callers show none).

`paired_difference` compares two runs on the same questions: the mean of the per-question
differences, its interval clustered the same way (pairing removes the questions' shared
difficulty, so it is narrower than the two runs' intervals suggest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Z95", "MeanInterval", "clustered_mean", "paired_difference"]

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class MeanInterval:
    """A mean with its clustered standard error and 95% interval."""

    mean: float
    se: float
    low: float
    high: float
    n: int  # scores
    clusters: int  # distinct clusters (videos)

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


def clustered_mean(
    values: Sequence[float], clusters: Sequence[str] | None = None, z: float = Z95
) -> MeanInterval:
    """Mean of ``values`` with its standard error clustered by ``clusters`` (module
    docstring; None: each value its own cluster).

    Raises:
        ValueError: on no values, or ``clusters`` of another length.
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values to average")
    keys = list(range(n)) if clusters is None else list(clusters)
    if len(keys) != n:
        raise ValueError(f"{n} values but {len(keys)} cluster labels")
    mean = math.fsum(values) / n
    sums: dict[object, float] = {}
    for key, x in zip(keys, values, strict=True):
        sums[key] = sums.get(key, 0.0) + (x - mean)
    g = len(sums)
    if g < 2:
        se = 0.0 if n == 1 or all(v == values[0] for v in values) else math.inf
    else:
        se = math.sqrt(g / (g - 1) * math.fsum(s * s for s in sums.values()) / (n * n))
    return MeanInterval(mean, se, mean - z * se, mean + z * se, n, g)


def paired_difference(
    a: dict[str, float],
    b: dict[str, float],
    clusters: dict[str, str] | None = None,
    z: float = Z95,
) -> MeanInterval:
    """Mean of ``a[q] - b[q]`` over the questions ``q`` both runs scored, clustered by
    ``clusters[q]`` (None or a missing entry: the question is its own cluster).

    Raises:
        ValueError: when the runs share no question.
    """
    shared = sorted(a.keys() & b.keys())
    if not shared:
        raise ValueError("the two runs share no scored question")
    labels = [(clusters or {}).get(q, f"question:{q}") for q in shared]
    return clustered_mean([a[q] - b[q] for q in shared], labels, z)
