"""Temporal grounding: span IoU and the mIoU / R@k metric of Video-Thinker.

Definitions (Video-Thinker §grounding; the usual moment-retrieval conventions):

- ``iou(a, b)`` is intersection over union of two closed time intervals in seconds.
  A span given with its ends reversed (``(10, 5)``) is the same interval as ``(5, 10)``:
  the two ends are sorted first. Intervals that only touch (``(0, 5)`` and ``(5, 9)``)
  have an empty intersection and IoU 0. When the union has zero length (both spans are
  the same single point) the IoU is defined as 0, as grounding evaluation code does when
  it guards the division (``inter / union if union > 0 else 0``); a point never scores.
  Non-finite ends raise `ValueError`.
- Per ground-truth span, the score is the **maximum** IoU over the sample's predicted
  spans (``mode="max"``, the paper's definition), or the IoU of the sample's **first**
  predicted span (``mode="top1"``, the usual single-moment convention). A sample with no
  prediction scores 0 for each of its ground-truth spans (unparseable output scores 0).
- mIoU is the mean of those per-ground-truth scores over the whole evaluation set, and
  R@t is the fraction of them with IoU >= t. Both are fractions in [0, 1] (papers print
  them x100). Every ground-truth span counts once, so a sample with two evidence windows
  weighs twice as much as a sample with one.

`TemporalGrounding` keeps only sums and counts (``dist_reduce_fx="sum"``), so the result
after a DDP sync is exactly the single-process result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchmetrics import Metric

__all__ = ["TemporalGrounding", "iou", "max_iou_per_gt"]

Span = tuple[float, float]


def _check_span(span: Sequence[float], what: str) -> tuple[float, float]:
    if len(span) != 2:
        raise ValueError(f"{what} must be a (start, end) pair, got {span!r}")
    lo, hi = float(span[0]), float(span[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{what} has a non-finite end: {span!r}")
    return (lo, hi) if lo <= hi else (hi, lo)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two time spans (seconds).

    Args:
        a: ``(start, end)``; reversed ends are sorted.
        b: ``(start, end)``; reversed ends are sorted.

    Returns:
        IoU in [0, 1]; 0 for disjoint or touching spans and when the union is empty
        (two identical points).

    Raises:
        ValueError: if a span is not a pair of finite numbers.
    """
    a0, a1 = _check_span(a, "span a")
    b0, b1 = _check_span(b, "span b")
    inter = min(a1, b1) - max(a0, b0)
    if inter <= 0.0:  # disjoint, touching, or a single point: nothing shared (0/0 -> 0 too)
        return 0.0
    # The spans overlap, so their union is their hull (and has positive length).
    return inter / (max(a1, b1) - min(a0, b0))


def max_iou_per_gt(preds: Sequence[Sequence[float]], gts: Sequence[Sequence[float]]) -> list[float]:
    """For each ground-truth span, the best IoU over the predicted spans.

    Args:
        preds: Predicted ``(start, end)`` spans (may be empty).
        gts: Ground-truth ``(start, end)`` spans.

    Returns:
        One IoU per ground-truth span, in order (0 for each when ``preds`` is empty).
    """
    return [max((iou(p, g) for p in preds), default=0.0) for g in gts]


class TemporalGrounding(Metric):
    """mIoU and recall at IoU thresholds over ground-truth spans (see module docstring).

    Args:
        thresholds: IoU thresholds for the recalls; keys are ``f"r@{t:g}"``.
        mode: ``"max"`` (max IoU over all predicted spans, the paper's definition) or
            ``"top1"`` (IoU of the first predicted span).
        **kwargs: Passed to `torchmetrics.Metric` (``process_group``, ``sync_on_compute``, …).

    Example:
        >>> m = TemporalGrounding()
        >>> m.update([[(0.0, 10.0)]], [[(5.0, 10.0)]])
        >>> {k: round(float(v), 3) for k, v in m.compute().items()}
        {'miou': 0.5, 'r@0.3': 1.0, 'r@0.5': 1.0, 'r@0.7': 0.0}
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    iou_sum: torch.Tensor
    hits: torch.Tensor
    count: torch.Tensor

    def __init__(
        self,
        thresholds: Sequence[float] = (0.3, 0.5, 0.7),
        mode: str = "max",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("max", "top1"):
            raise ValueError(f"mode must be 'max' or 'top1', got {mode!r}")
        self.thresholds = tuple(float(t) for t in thresholds)
        if not all(0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must lie in [0, 1], got {self.thresholds}")
        self.mode = mode
        # float64 sums: exact enough that summing per rank then across ranks matches one process.
        self.add_state("iou_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state(
            "hits", torch.zeros(len(self.thresholds), dtype=torch.long), dist_reduce_fx="sum"
        )
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self,
        preds: Sequence[Sequence[Sequence[float]]],
        target: Sequence[Sequence[Sequence[float]]],
    ) -> None:
        """Add a batch.

        Args:
            preds: Per sample, the predicted ``(start, end)`` spans in output order (may be
                empty when the output has no parseable span).
            target: Per sample, the ground-truth ``(start, end)`` spans.
        """
        if len(preds) != len(target):
            raise ValueError(
                f"TemporalGrounding.update: {len(preds)} predictions but {len(target)} targets"
            )
        scores: list[float] = []
        for i, (p, g) in enumerate(zip(preds, target, strict=True)):
            try:
                if self.mode == "top1":
                    scores.extend(iou(p[0], gt) if len(p) else 0.0 for gt in g)
                else:
                    scores.extend(max_iou_per_gt(p, g))
            except ValueError as err:
                raise ValueError(f"TemporalGrounding.update: batch item {i}: {err}") from err
        if not scores:
            return
        values = torch.tensor(scores, dtype=torch.float64, device=self.iou_sum.device)
        thr = torch.tensor(self.thresholds, dtype=torch.float64, device=values.device)
        self.iou_sum += values.sum()
        self.hits += (values[:, None] >= thr[None, :]).sum(dim=0)  # (S, T) -> (T,)
        self.count += values.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        """Return ``{"miou", "r@<t>" ...}`` as float32 scalars in [0, 1] (NaN with no data)."""
        n = self.count.to(torch.float64)
        out = {"miou": (self.iou_sum / n).float()}
        for t, h in zip(self.thresholds, self.hits, strict=True):
            out[f"r@{t:g}"] = (h.to(torch.float64) / n).float()
        return out
