"""Overall and per-group answer accuracy."""

from __future__ import annotations

import math

import pytest
import torch

from vthinker.metrics import ChoiceAccuracy
from vthinker.metrics.accuracy import MISSING


def _floats(out: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in out.items()}


def test_grouped_accuracy_by_hand() -> None:
    m = ChoiceAccuracy(group_by=["source", "type"])
    m.update(
        [True, False, True],
        [
            {"source": "star", "type": "count"},
            {"source": "star", "type": "order"},
            {"source": "lvbench", "type": "count"},
        ],
    )
    m.update(torch.tensor([False]), [{"source": "lvbench"}])  # no "type"
    out = _floats(m.compute())
    # 2 right of 4; star 1/2, lvbench 1/2; count 2/2, order 0/1, <missing> 0/1.
    assert out == {
        "accuracy": 0.5,
        "count": 4.0,
        "accuracy/source/lvbench": 0.5,
        "count/source/lvbench": 2.0,
        "accuracy/source/star": 0.5,
        "count/source/star": 2.0,
        "accuracy/type/<missing>": 0.0,
        "count/type/<missing>": 1.0,
        "accuracy/type/count": 1.0,
        "count/type/count": 2.0,
        "accuracy/type/order": 0.0,
        "count/type/order": 1.0,
    }
    assert MISSING == "<missing>"


def test_group_by_none_uses_every_field_and_empty_list_none() -> None:
    m = ChoiceAccuracy()
    m.update([1, 0, 1], [{"b": 1}, {"b": 2}, {"a": "x"}])  # values go through str()
    out = _floats(m.compute())
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["accuracy/a/x"] == 1.0
    assert out["accuracy/a/<missing>"] == 0.5
    assert out["accuracy/b/1"] == 1.0 and out["accuracy/b/2"] == 0.0
    overall = ChoiceAccuracy(group_by=[])
    overall.update([True, True, False])
    assert _floats(overall.compute()) == pytest.approx({"accuracy": 2 / 3, "count": 3.0})


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_empty_and_errors() -> None:
    m = ChoiceAccuracy(group_by=["source"])
    out = _floats(m.compute())
    assert math.isnan(out["accuracy"]) and out["count"] == 0.0
    with pytest.raises(ValueError, match="no groups were given"):
        m.update([True])
    with pytest.raises(ValueError, match="2 results but 1 group dicts"):
        m.update([True, False], [{"source": "x"}])
    with pytest.raises(ValueError, match=r"correct\[1\] is not a bool"):
        m.update([True, 0.5], [{}, {}])
    with pytest.raises(TypeError, match=r"groups\[0\] is not a dict"):
        m.update([True], ["star"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of field names"):
        ChoiceAccuracy(group_by="source")  # type: ignore[arg-type]
