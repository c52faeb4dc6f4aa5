import math

import pytest
import torch

from vthinker.training.schedules import LRSchedule, lr_factor


def test_lr_factor_warmup_then_cosine_exact():
    # 10 steps, 2 warmup: 0.5, 1.0, then cosine over 8 steps from 1 to 0.
    assert lr_factor(0, 10, 2) == 0.5
    assert lr_factor(1, 10, 2) == 1.0
    assert lr_factor(2, 10, 2) == 1.0
    assert lr_factor(6, 10, 2) == pytest.approx(0.5)  # half way: (1 + cos(pi/2)) / 2
    assert lr_factor(4, 10, 2) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(10, 10, 2) == pytest.approx(0.0)
    assert lr_factor(50, 10, 2) == pytest.approx(0.0)  # clamped past the end


def test_lr_factor_min_ratio_and_constant():
    assert lr_factor(10, 10, 0, min_lr_ratio=0.1) == pytest.approx(0.1)
    assert lr_factor(6, 10, 2, min_lr_ratio=0.2) == pytest.approx(0.2 + 0.8 * 0.5)
    assert lr_factor(7, 10, 2, kind="constant") == 1.0


def test_schedule_drives_optimizer():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = LRSchedule(warmup_steps=2).build(opt, total_steps=10)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 8))])


@pytest.mark.parametrize("kwargs", [{"warmup_ratio": 1.0}, {"min_lr_ratio": 1.5}])
def test_schedule_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        LRSchedule(**kwargs)
