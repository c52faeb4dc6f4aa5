"""Every metric gives the same result on one process and split across two (gloo, CPU).

Rank 0 and rank 1 get uneven shares; rank 1 gets no caption at all (the empty-rank case)
and group values that only one rank has. ``compute`` syncs (torchmetrics' default
``sync_on_compute``), and the local states are restored afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vthinker.metrics import CaptionScores, ChoiceAccuracy, TemporalGrounding

SPANS_PRED = [
    [(0.0, 10.0), (20.0, 30.0)],
    [(0.0, 4.0)],
    [],
    [(30.0, 40.0), (0.0, 10.0)],
    [(1.0, 3.0)],
]
SPANS_GOLD = [[(5.0, 10.0)], [(0.0, 5.0), (10.0, 20.0)], [(1.0, 2.0)], [(0.0, 10.0)], [(2.0, 4.0)]]
CAPTIONS = [
    "A man is slicing an onion on a wooden cutting board.",
    "The woman pours the batter into a hot pan.",
    "A dog catches a frisbee in the park.",
]
REFERENCES = [
    ["A man chops an onion on a cutting board.", "Someone is cutting onions into slices."],
    ["She pours pancake batter into a frying pan."],
    ["A dog jumps and catches the frisbee.", "The brown dog leaps to grab a flying disc."],
]
CORRECT = [True, False, True, True, False]
GROUPS = [
    {"source": "star"},
    {"source": "star"},
    {"source": "lvbench"},
    {"source": "scalelong"},
    {"source": "scalelong"},
]
SHARDS = {  # rank -> (span samples, captions, accuracy samples)
    0: (slice(0, 2), slice(0, 3), slice(0, 3)),
    1: (slice(2, 5), slice(0, 0), slice(3, 5)),
}


def _metrics() -> tuple[TemporalGrounding, CaptionScores, ChoiceAccuracy]:
    return TemporalGrounding(), CaptionScores(), ChoiceAccuracy(group_by=["source"])


def _results(spans: slice, caps: slice, acc: slice) -> dict[str, dict[str, float]]:
    grounding, captions, accuracy = _metrics()
    grounding.update(SPANS_PRED[spans], SPANS_GOLD[spans])
    if caps.stop > caps.start:
        captions.update(CAPTIONS[caps], REFERENCES[caps])
    accuracy.update(CORRECT[acc], GROUPS[acc])
    out = {
        name: {k: float(v) for k, v in metric.compute().items()}
        for name, metric in (
            ("grounding", grounding),
            ("captions", captions),
            ("accuracy", accuracy),
        )
    }
    # After compute the local (unsynced) states are back.
    out["local"] = {"captions": float(len(captions.preds)), "records": float(len(accuracy.records))}
    return out


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = _results(*SHARDS[rank])
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_metrics_sync_exactly_across_two_processes(tmp_path: Path) -> None:
    single = _results(slice(0, 5), slice(0, 3), slice(0, 5))
    # Fork is fast (no re-import in the children); spawn where fork is unsafe.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method=method, join=True
    )
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for name in ("grounding", "captions", "accuracy"):
            assert got[name].keys() == single[name].keys(), (rank, name)
            for key, value in single[name].items():
                assert got[name][key] == pytest.approx(value, rel=1e-12, abs=1e-15), (rank, key)
        local_caps = SHARDS[rank][1].stop - SHARDS[rank][1].start
        local_acc = SHARDS[rank][2].stop - SHARDS[rank][2].start
        assert got["local"] == {"captions": local_caps, "records": local_acc}
    assert single["accuracy"]["accuracy/source/scalelong"] == 0.5
    # per-gt IoUs 0.5, 0.8, 0, 0, 1.0 and (1,3) vs (2,4): 1/3
    assert single["grounding"]["miou"] == pytest.approx((0.5 + 0.8 + 0 + 0 + 1.0 + 1 / 3) / 6)
