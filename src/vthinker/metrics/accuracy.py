"""Answer accuracy, overall and broken down by sample attributes (source, question type, …).

`ChoiceAccuracy` takes per-sample correctness (decided elsewhere, e.g. by
`vthinker.extract.is_correct`) and optional string labels per sample, and reports
the overall accuracy plus the accuracy and count of every value of every grouping field.
Accuracies are fractions in [0, 1] (papers print them x100).

The records ``(correct, labels)`` are kept as Python objects and gathered from every rank
in `compute` (see `vthinker.metrics._objects`), so group values need not be known in advance
and the DDP result equals the single-process result. Labels are converted with ``str``; a
sample that lacks a grouping field is counted under the value ``"<missing>"``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from vthinker.metrics._objects import ObjectStateMetric

__all__ = ["MISSING", "ChoiceAccuracy"]

#: Group value used for a sample that lacks a grouping field.
MISSING = "<missing>"


class ChoiceAccuracy(ObjectStateMetric):
    """Overall and per-group accuracy.

    Args:
        group_by: Fields of the ``groups`` dicts to break the accuracy down by, in report
            order. ``None`` groups by every field that appears in any sample's dict
            (sorted by name); ``[]`` reports the overall accuracy only.
        **kwargs: Passed to `torchmetrics.Metric`.

    `compute` returns a flat dict of scalar tensors, ready for ``log_dict``::

        {"accuracy": ..., "count": ...,
         "accuracy/<field>/<value>": ..., "count/<field>/<value>": ..., ...}

    Example:
        >>> m = ChoiceAccuracy(group_by=["source"])
        >>> m.update([True, False, True], [{"source": "star"}, {"source": "star"}, {"source": "lv"}])
        >>> {k: round(float(v), 3) for k, v in m.compute().items()}  # doctest: +NORMALIZE_WHITESPACE
        {'accuracy': 0.667, 'count': 3.0, 'accuracy/source/lv': 1.0, 'count/source/lv': 1.0,
         'accuracy/source/star': 0.5, 'count/source/star': 2.0}
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    records: list[tuple[bool, tuple[tuple[str, str], ...]]]

    def __init__(self, group_by: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(group_by, str):
            raise TypeError(f"group_by must be a list of field names, got the string {group_by!r}")
        self.group_by = None if group_by is None else list(group_by)
        self.add_object_state("records")

    def update(
        self, correct: Sequence[bool], groups: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """Add a batch.

        Args:
            correct: Whether each sample was answered correctly (bools, 0/1, or a bool/0-1
                tensor of shape ``(N,)``).
            groups: Per sample, its labels (``{"source": "star", "type": "counting"}``).
                Needed when ``group_by`` names fields; may be omitted otherwise.

        Shape:
            correct: ``(N,)``
        """
        if isinstance(correct, torch.Tensor):
            correct = correct.reshape(-1).tolist()
        flags = []
        for i, c in enumerate(correct):
            if isinstance(c, str) or c not in (0, 1):
                raise ValueError(f"ChoiceAccuracy.update: correct[{i}] is not a bool: {c!r}")
            flags.append(bool(c))
        if groups is None:
            if self.group_by:
                raise ValueError(
                    f"ChoiceAccuracy.update: group_by={self.group_by} but no groups were given"
                )
            groups = [{}] * len(flags)
        if len(groups) != len(flags):
            raise ValueError(
                f"ChoiceAccuracy.update: {len(flags)} results but {len(groups)} group dicts"
            )
        for i, (flag, g) in enumerate(zip(flags, groups, strict=True)):
            if not isinstance(g, Mapping):
                raise TypeError(f"ChoiceAccuracy.update: groups[{i}] is not a dict: {g!r}")
            labels = tuple(sorted((str(k), str(v)) for k, v in g.items()))
            self.records.append((flag, labels))

    def compute(self) -> dict[str, torch.Tensor]:
        """Overall and per-group accuracy (NaN with no data) and counts, float32 scalars."""
        n = len(self.records)
        n_right = sum(flag for flag, _ in self.records)
        out = {"accuracy": _ratio(n_right, n), "count": float(n)}
        if self.group_by is None:
            fields = sorted({k for _, labels in self.records for k, _ in labels})
        else:
            fields = self.group_by
        for field in fields:
            totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for flag, labels in self.records:
                value = dict(labels).get(field, MISSING)
                totals[value][0] += flag
                totals[value][1] += 1
            for value in sorted(totals):
                right, count = totals[value]
                out[f"accuracy/{field}/{value}"] = _ratio(right, count)
                out[f"count/{field}/{value}"] = float(count)
        return {k: torch.tensor(v, dtype=torch.float32, device=self.device) for k, v in out.items()}


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan
