"""Clustered confidence intervals: values computed by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from vthinker.metrics.intervals import Z95, clustered_mean, paired_difference


def test_one_question_per_video_is_the_usual_standard_error():
    xs = [1.0, 0.0, 1.0, 1.0, 0.0]
    got = clustered_mean(xs)
    assert got.mean == pytest.approx(0.6)
    assert got.se == pytest.approx(statistics.stdev(xs) / math.sqrt(5))  # sqrt(0.3 / 5)
    assert (got.low, got.high) == pytest.approx((0.6 - Z95 * got.se, 0.6 + Z95 * got.se))
    assert got.clusters == 5


def test_clustered_by_video_exact():
    # videos a (1, 1), b (0, 0), c (1, 0): mean 0.5; cluster sums of deviations
    # a: +1, b: -1, c: 0 -> SE^2 = 3/2 * (1 + 1 + 0) / 36 = 1/12
    xs = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    videos = ["a", "a", "b", "b", "c", "c"]
    got = clustered_mean(xs, videos)
    assert got.mean == 0.5 and got.clusters == 3
    assert got.se == pytest.approx(math.sqrt(1 / 12))
    # wider than treating the 6 questions as independent: sqrt(0.3 / 6)
    assert got.se > clustered_mean(xs).se == pytest.approx(math.sqrt(0.3 / 6))


def test_degenerate_and_bad_input():
    assert clustered_mean([1.0, 1.0], ["a", "a"]).se == 0.0
    assert math.isinf(clustered_mean([1.0, 0.0], ["a", "a"]).se)  # one video: unknown spread
    with pytest.raises(ValueError, match="no values"):
        clustered_mean([])
    with pytest.raises(ValueError, match="cluster labels"):
        clustered_mean([1.0], ["a", "b"])


def test_paired_difference_exact():
    a = {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 1.0, "only_a": 1.0}
    b = {"q1": 0.0, "q2": 1.0, "q3": 0.0, "q4": 0.0, "only_b": 0.0}
    videos = {"q1": "v1", "q2": "v1", "q3": "v2", "q4": "v3"}
    got = paired_difference(a, b, videos)
    # differences q1..q4: 1, 0, 0, 1 -> mean 0.5; clusters v1 (+0.5 - 0.5 = 0), v2 (-0.5),
    # v3 (+0.5): SE^2 = 3/2 * (0 + 0.25 + 0.25) / 16 = 3/64
    assert got.mean == 0.5 and got.n == 4 and got.clusters == 3
    assert got.se == pytest.approx(math.sqrt(3 / 64))
    with pytest.raises(ValueError, match="share no"):
        paired_difference({"x": 1.0}, {"y": 1.0})
