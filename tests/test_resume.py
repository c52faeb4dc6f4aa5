"""A resumed run is the same run.

First, the data order under Lightning's own resume bookkeeping, on a model-free module: from
every checkpoint (mid-epoch, an epoch's last batch, the epoch's end; runs bounded by
``max_steps`` or ``max_epochs``; 0 or 1 loader workers) the resumed run trains on the same
batches at the same steps as the uninterrupted one.

Then a run killed with SIGKILL after a checkpoint and resumed with ``--ckpt_path`` ends with
the same weights as the uninterrupted run (GRPO and SFT on the tiny model, CPU).

Three processes per method through the real CLI: uninterrupted; killed right after the
checkpoint of step 4 (mid-epoch: 3 batches per epoch); resumed from that checkpoint. Sampling,
data order (the resumed epoch skips the batches already trained on), optimizer, LR schedule
and generators must all continue exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
STEPS, KILL_AT, BATCH = 7, 4, 2


class _Recorder(L.LightningModule):
    """Records (global step, sample indices) of each training step; trains nothing."""

    def __init__(self, seen: list) -> None:
        super().__init__()
        self.lin, self.seen = torch.nn.Linear(1, 1), seen

    def training_step(self, batch, batch_idx):
        self.seen.append((self.global_step, batch.tolist()))
        return self.lin(batch.float()[:, None]).sum() * 0.0

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class _Data(L.LightningDataModule):
    def __init__(self, workers: int) -> None:
        super().__init__()
        self.workers = workers

    def train_dataloader(self):
        from vthinker.data.resume import ResumableLoader

        loop = self.trainer.fit_loop.epoch_loop
        return ResumableLoader(
            list(range(6)),  # 3 batches per epoch
            batches_done=lambda: loop.batch_progress.total.processed,
            batch_size=2,
            num_workers=self.workers,
            persistent_workers=self.workers > 0,
        )


def _order(root: Path, workers: int, bound: str, save: dict, ckpt: Path | None = None) -> list:
    from lightning.pytorch.callbacks import ModelCheckpoint

    seen: list = []
    L.seed_everything(0)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=8 if bound == "max_steps" else -1,
        max_epochs=3 if bound == "max_epochs" else -1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        callbacks=[ModelCheckpoint(dirpath=root / "ckpt", save_top_k=-1, **save)],
    )
    trainer.fit(_Recorder(seen), datamodule=_Data(workers), ckpt_path=ckpt)
    return seen


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("bound", ["max_steps", "max_epochs"])
@pytest.mark.parametrize(
    "save",
    [{"every_n_train_steps": 2}, {"every_n_train_steps": 3}, {"save_on_train_epoch_end": True}],
    ids=["mid-epoch", "last-batch", "epoch-end"],
)
def test_data_order_resumes_from_every_checkpoint(tmp_path, workers, bound, save):
    full = _order(tmp_path / "full", workers, bound, save)
    checkpoints = sorted((tmp_path / "full" / "ckpt").glob("*.ckpt"))
    assert len(checkpoints) >= 2
    for ckpt in checkpoints:
        step = int(ckpt.stem.split("step=")[1])
        resumed = _order(tmp_path / ckpt.stem, workers, bound, save, ckpt=ckpt)
        assert resumed == [s for s in full if s[0] >= step], ckpt.name


def _fit(config: str, out: Path, extra: list[str], *, kill: bool = False, ckpt: Path | None = None):
    args = [
        sys.executable, "-m", "vthinker.cli", "fit", "--config", str(ROOT / config),
        "--trainer.max_steps", str(STEPS), "--trainer.max_epochs", "-1",
        "--trainer.limit_val_batches", "0", "--trainer.val_check_interval", "null",
        "--trainer.check_val_every_n_epoch", "null", "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", str(out), "--trainer.logger", "false",
        "--trainer.callbacks", "[]",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.dirpath", str(out / "ckpt"),
        "--trainer.callbacks.every_n_train_steps", "2",
        "--trainer.callbacks.save_top_k", "-1",
        "--model.init_args.export_dir", str(out / "hf"),
        "--data.init_args.batch_size", str(BATCH),
        "--data.init_args.limit", "6",  # 3 batches per epoch: the kill is mid-epoch
        *extra,
    ]  # fmt: skip
    if kill:
        args += ["--trainer.callbacks+=resume_helpers.KillAtStep", "--trainer.callbacks.step",
                 str(KILL_AT)]  # fmt: skip
    if ckpt is not None:
        args += ["--ckpt_path", str(ckpt)]
    env = {
        **os.environ,
        "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}" + os.environ.get("PYTHONPATH", ""),
    }
    return subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(next(folder.glob("*.safetensors")))


def _check_resume(config: str, extra: list[str], tmp_path: Path) -> float:
    full = _fit(config, tmp_path / "full", extra)
    assert full.returncode == 0, full.stderr[-3000:]
    killed = _fit(config, tmp_path / "cut", extra, kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    ckpt = tmp_path / "cut" / "ckpt" / f"epoch=1-step={KILL_AT}.ckpt"
    assert ckpt.is_file(), sorted(p.name for p in (tmp_path / "cut" / "ckpt").iterdir())
    resumed = _fit(config, tmp_path / "cut", extra, ckpt=ckpt)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _weights(tmp_path / "full" / "hf"), _weights(tmp_path / "cut" / "hf")
    assert a.keys() == b.keys()
    start = _weights(Path(extra[extra.index("--model.init_args.policy.name_or_path") + 1]))
    moved = max(float((a[k].float() - start[k].float()).abs().max()) for k in a if k in start)
    assert moved > 1e-4  # training changed the weights
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.mark.slow
def test_grpo_resumed_after_kill_equals_uninterrupted(tiny_model_dir, toy_dir, tmp_path):
    extra = [
        "--model.init_args.policy.name_or_path", str(tiny_model_dir),
        "--model.init_args.rewards", "[{class_path: resume_helpers.LengthReward}]",
        "--model.init_args.grpo.group_size", "4",
        "--model.init_args.rollout.max_new_tokens", "12",
        "--model.init_args.log_completions_every", "0",
        "--data.init_args.train_file", str(toy_dir / "train.jsonl"),
        "--data.init_args.val_file", "null",
    ]  # fmt: skip
    assert _check_resume("configs/demo/grpo.yaml", extra, tmp_path) <= 1e-6


@pytest.mark.slow
def test_sft_resumed_after_kill_equals_uninterrupted(tiny_model_dir, toy_dir, tmp_path):
    extra = [
        "--model.init_args.policy.name_or_path", str(tiny_model_dir),
        "--data.init_args.train_file", str(toy_dir / "train.jsonl"),
        "--data.init_args.val_file", "null",
    ]  # fmt: skip
    assert _check_resume("configs/demo/sft.yaml", extra, tmp_path) <= 1e-6
