"""Data parallelism: 2 processes (gloo, CPU) take the same step as 1 process.

The same global batch (4 samples) and seed, two optimizer steps, through the real
Lightning DDP launcher (tests/distributed_step.py). GRPO: every group stays on one rank,
advantages (batch-scaled, so the std is pooled across ranks), the logged loss (DAPO token
mean over the global batch) and the parameter update match 1 process. SFT: the parameter
update matches (the token mean is over the global batch). SGD with lr 1 makes the update
the (clipped) gradient itself, so a gradient scaled by the world size would show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("distributed_step.py")


def _run(mode: str, devices: int, model: Path, train: Path, out: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--devices",
            str(devices),
            "--mode",
            mode,
            "--model",
            str(model),
            "--train-file",
            str(train),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)]
    return {
        "ranks": ranks,
        "metrics": json.loads((out / "metrics.json").read_text()),
        "params": torch.load(out / "params.pt"),
    }


def _updates(run: dict) -> dict[str, torch.Tensor]:
    p = run["params"]
    return {n: p["after"][n] - p["before"][n] for n in p["after"]}


def _assert_same_update(one: dict, two: dict) -> None:
    u1, u2 = _updates(one), _updates(two)
    assert u1.keys() == u2.keys()
    for n in u1:
        torch.testing.assert_close(one["params"]["before"][n], two["params"]["before"][n])
        # Updates are read as after - before in fp32: for weights near 1 (norm scales) that
        # difference is only known to one ulp of 1.0 (1.19e-7), so atol is two ulps.
        torch.testing.assert_close(
            u2[n], u1[n], rtol=1e-4, atol=2.4e-7, msg=lambda m, n=n: f"{n}: {m}"
        )
    assert any(u.abs().max() > 0 for u in u1.values())  # the step did change something


def test_grpo_two_processes_match_one(tiny_model_dir, toy_dir, tmp_path):
    train = toy_dir / "train.jsonl"
    # 2 completions per micro-batch: each rank's 2 prompts x G 4 take 4 backward passes.
    micro = ("--micro-batch-size", "2")
    one = _run("grpo", 1, tiny_model_dir, train, tmp_path / "one", *micro)
    two = _run("grpo", 2, tiny_model_dir, train, tmp_path / "two", *micro)

    # One gradient all-reduce per optimizer step, on the last of its 4 micro-batches
    # (the hook may fire once per DDP bucket; never on an earlier micro-batch).
    for rank in two["ranks"]:
        assert len(rank["losses"]) == 8
        assert set(rank["syncs"]) == {4, 8}

    # Each group (a sample's G completions in a step) was rolled out on one rank only.
    ids0, ids1 = (set(r["samples"]) for r in two["ranks"])
    assert not ids0 & ids1
    assert ids0 | ids1 == set(one["ranks"][0]["samples"])
    assert len(ids0) == len(ids1) == 4  # 2 steps × 2 samples per rank
    merged = {**two["ranks"][0]["samples"], **two["ranks"][1]["samples"]}
    for sid, ref in one["ranks"][0]["samples"].items():
        assert merged[sid]["rewards"] == ref["rewards"]
        assert merged[sid]["adv"] == pytest.approx(ref["adv"], abs=1e-5)
    # Batch-scaled advantages are not trivially zero.
    assert any(abs(a) > 0.1 for s in merged.values() for a in s["adv"])
    for key in ("train/loss", "reward/total_mean", "reward/accuracy", "reward/format"):
        assert two["metrics"][key] == pytest.approx(one["metrics"][key], abs=1e-5), key
    _assert_same_update(one, two)


def test_sft_two_processes_match_one(tiny_model_dir, toy_dir, tmp_path):
    train = toy_dir / "train.jsonl"
    one = _run("sft", 1, tiny_model_dir, train, tmp_path / "one")
    two = _run("sft", 2, tiny_model_dir, train, tmp_path / "two")
    _assert_same_update(one, two)


def _sharded_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist
    from torch import nn
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from vthinker.models.policy import is_sharded

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        plain = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
        # FSDP2 shards on CPU (FSDP1, Lightning's FSDPStrategy, needs a GPU).
        layer = nn.Linear(4, 4)
        fully_shard(layer, mesh=init_device_mesh("cpu", (world,)))
        wrapped = nn.Sequential(layer, nn.Linear(4, 2))
        result = {"plain": is_sharded(plain), "wrapped": is_sharded(wrapped)}
    finally:
        dist.destroy_process_group()
    Path(out).with_suffix(f".{rank}.json").write_text(json.dumps(result))


def test_sharded_models_generate_in_step(tmp_path):
    """FSDP-wrapped parts are detected, so rollouts pass ``synced_gpus=True`` to generate."""
    from vthinker.models.policy import is_sharded

    assert not is_sharded(torch.nn.Linear(2, 2))  # no process group
    torch.multiprocessing.spawn(
        _sharded_worker,
        args=(2, str(tmp_path / "init"), str(tmp_path / "out")),
        nprocs=2,
        join=True,
    )
    for rank in range(2):
        result = json.loads((tmp_path / f"out.{rank}.json").read_text())
        assert result == {"plain": False, "wrapped": True}


def test_dynamic_sampling_filters_the_global_batch_in_lockstep(tiny_model_dir, toy_dir, tmp_path):
    """One sample's groups carry no signal: the rank that holds it has 1 informative group,
    the other 2. The batch is filtered as a whole (no extra rollout allowed here): each rank
    trains on its own informative groups, the short one padded with a filler group that has
    no loss, so both run the same passes; one optimizer update per step, no hang."""
    train = toy_dir / "train.jsonl"
    first = json.loads(train.read_text().splitlines()[0])["id"]
    two = _run(
        "grpo", 2, tiny_model_dir, train, tmp_path / "two",
        "--dynamic-sampling", "--uninformative", first,
    )  # fmt: skip
    r0, r1 = two["ranks"]
    assert len(r0["parts"]) == len(r1["parts"]) == 2  # 2 steps
    for step in range(2):
        kept = sorted([r0["informative"][step], r1["informative"][step]])
        assert kept == [1, 2]
        assert sorted([r0["trained_groups"][step], r1["trained_groups"][step]]) == [1, 2]
        assert r0["parts"][step] == r1["parts"][step] == 2  # same passes on both ranks
        # rows that carry loss: G = 4 per real group, none in the filler
        assert sorted([r0["trained_rows"][step], r1["trained_rows"][step]]) == [4, 8]
    assert any(u.abs().max() > 0 for u in _updates(two).values())
