"""Span IoU and the mIoU / R@k metric, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from vthinker.metrics import TemporalGrounding, iou, max_iou_per_gt


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 1), (2, 3), 0.0),  # disjoint
        ((0, 10), (2, 4), 2 / 10),  # nested: inter 2, union 10
        ((0, 5), (5, 9), 0.0),  # touching: empty intersection
        ((3, 3), (3, 3), 0.0),  # identical points: union 0 -> 0
        ((5, 5), (0, 10), 0.0),  # a point inside a span
        ((10, 0), (2, 4), 2 / 10),  # reversed ends are sorted
        ((0, 10), (5, 15), 5 / 15),  # partial overlap: inter 5, union 15
        ((1.5, 2.5), (1.5, 2.5), 1.0),  # identical spans
        ((0, 4), (-2, 2), 2 / 6),  # negative times are just numbers
    ],
)
def test_iou(a, b, expected) -> None:
    assert iou(a, b) == pytest.approx(expected, abs=1e-12)
    assert iou(b, a) == pytest.approx(expected, abs=1e-12)


def test_iou_rejects_bad_spans() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        iou((0, math.inf), (0, 1))
    with pytest.raises(ValueError, match="pair"):
        iou((0, 1, 2), (0, 1))


def test_max_iou_per_gt() -> None:
    # gt (5, 10): best of (0, 10) -> 5/10 and (20, 30) -> 0; gt (20, 25): (20, 30) -> 5/10.
    assert max_iou_per_gt([(0, 10), (20, 30)], [(5, 10), (20, 25)]) == [0.5, 0.5]
    assert max_iou_per_gt([], [(0, 1), (2, 3)]) == [0.0, 0.0]
    assert max_iou_per_gt([(0, 1)], []) == []


PREDS = [
    [(0.0, 10.0), (20.0, 30.0)],  # gt (5,10): max(5/10, 0) = 0.5
    [(0.0, 4.0)],  # gts (0,5): 4/5 = 0.8 ; (10,20): 0
    [],  # gt (1,2): no prediction -> 0
    [(30.0, 40.0), (0.0, 10.0)],  # gt (0,10): max 1.0, first span 0.0
]
GOLDS = [[(5.0, 10.0)], [(0.0, 5.0), (10.0, 20.0)], [(1.0, 2.0)], [(0.0, 10.0)]]


def test_temporal_grounding_max_mode() -> None:
    m = TemporalGrounding()
    m.update(PREDS[:2], GOLDS[:2])
    m.update(PREDS[2:], GOLDS[2:])
    out = {k: float(v) for k, v in m.compute().items()}
    # Per-gt IoUs: 0.5, 0.8, 0.0, 0.0, 1.0 -> mean 2.3 / 5; >= 0.3: 3; >= 0.5: 3; >= 0.7: 2.
    assert out == pytest.approx({"miou": 0.46, "r@0.3": 0.6, "r@0.5": 0.6, "r@0.7": 0.4})


def test_temporal_grounding_top1_mode() -> None:
    m = TemporalGrounding(thresholds=(0.3, 0.5, 0.7), mode="top1")
    m.update(PREDS, GOLDS)
    out = {k: float(v) for k, v in m.compute().items()}
    # First spans only: 0.5, 0.8, 0.0, 0.0, 0.0 -> mean 1.3 / 5; >= 0.3: 2; >= 0.7: 1.
    assert out == pytest.approx({"miou": 0.26, "r@0.3": 0.4, "r@0.5": 0.4, "r@0.7": 0.2})


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_temporal_grounding_edge_cases() -> None:
    m = TemporalGrounding(thresholds=(0.5,))
    assert math.isnan(float(m.compute()["miou"]))  # no data
    m.update([[(0.0, 1.0)]], [[]])  # a sample without ground truth adds nothing
    assert int(m.count) == 0
    m.update([[(0.0, 2.0)]], [[(1.0, 2.0)]])  # IoU exactly 0.5 counts as a hit
    assert {k: float(v) for k, v in m.compute().items()} == {"miou": 0.5, "r@0.5": 1.0}
    m.reset()
    assert int(m.count) == 0
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        m.update([[], []], [[(0, 1)]])
    with pytest.raises(ValueError, match="batch item 0"):
        m.update([[(0.0, math.nan)]], [[(0.0, 1.0)]])
    with pytest.raises(ValueError, match="mode"):
        TemporalGrounding(mode="mean")
