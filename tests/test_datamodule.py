"""Bad input: every problem names the sample; a partly bad dataset trains on the rest."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch

from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.data.schema import SampleError, read_jsonl, write_jsonl
from vthinker.models.policy import PolicyConfig
from vthinker.training.sft import SFTModule


@pytest.fixture()
def messy_dir(toy_dir: Path, tmp_path: Path) -> Path:
    """Four good samples, plus: a missing video, a corrupt mp4, a record with a missing
    field, a line of broken JSON."""
    shutil.copytree(toy_dir / "videos", tmp_path / "videos")
    good = read_jsonl(toy_dir / "train.jsonl")[:4]
    missing, corrupt = read_jsonl(toy_dir / "train.jsonl")[4:6]
    missing.id, missing.video = "bad-missing-video", "videos/does_not_exist.mp4"
    corrupt.id, corrupt.video = "bad-corrupt-video", "videos/corrupt.mp4"
    (tmp_path / "videos" / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)
    write_jsonl([*good[:2], missing, *good[2:], corrupt], tmp_path / "train.jsonl")
    no_question = good[0].to_dict()
    no_question["id"] = "bad-no-question"
    del no_question["question"]
    with (tmp_path / "train.jsonl").open("a") as f:
        f.write(json.dumps(no_question) + "\n")
        f.write('{"id": "bad-json", "video": \n')
    return tmp_path


def _dm(path: Path, processor, **kw) -> VideoQADataModule:
    dm = VideoQADataModule(
        train_file=str(path / "train.jsonl"),
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=2,
        **kw,
    )
    dm.connect(processor)
    return dm


def test_strict_stops_at_the_bad_record_naming_file_and_line(messy_dir, processor):
    with pytest.raises(SampleError) as exc:
        _dm(messy_dir, processor, strict=True).setup("fit")
    msg = str(exc.value)
    assert f"{messy_dir / 'train.jsonl'}:7" in msg and "question" in msg


def test_lenient_reports_bad_records(messy_dir, processor):
    dm = _dm(messy_dir, processor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup("fit")
    report = dm.reports["fit"]
    assert report.read == 6
    assert [ln for ln, _ in report.skipped] == [7, 8]
    assert "missing field(s) question" in report.skipped[0][1]
    assert "invalid JSON" in report.skipped[1][1]
    assert any("skipped 2 bad record(s)" in str(w.message) for w in caught)


def test_partly_bad_dataset_trains_on_the_rest_and_reports(messy_dir, tiny_model_dir, processor):
    L.seed_everything(0)
    seen: list[str] = []

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.extend(s.id for s in batch["samples"])

    module = SFTModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32"),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3),
        export_hf=False,
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Spy()],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, datamodule=_dm(messy_dir, processor))
    assert len(seen) == 4 and not any(s.startswith("bad") for s in seen)
    assert trainer.callback_metrics["train/skipped"] == 2
    report = [str(w.message) for w in caught if "skipped 2 sample(s)" in str(w.message)]
    assert report, [str(w.message) for w in caught]
    assert "bad-missing-video" in report[0] and "bad-corrupt-video" in report[0]
    assert "does_not_exist.mp4" in report[0]


def test_missing_annotation_file_and_empty_dataset(tmp_path, processor):
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        _setup(tmp_path / "nope.jsonl", processor)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no usable samples"):
        _setup(tmp_path / "empty.jsonl", processor)


def _setup(path: Path, processor) -> None:
    dm = VideoQADataModule(train_file=str(path))
    dm.connect(processor)
    dm.setup("fit")


def test_fit_without_train_file_is_a_clear_error(processor):
    dm = VideoQADataModule()
    dm.connect(processor)
    with pytest.raises(ValueError, match="train_file"):
        dm.setup("fit")


def test_resumable_sampler_order_start_and_ranks():
    from vthinker.data.resume import ResumableSampler

    data = list(range(10))
    s = ResumableSampler(data, seed=3)
    s.start(1)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3 + 1)).tolist()
    assert list(s) == order and len(s) == 10
    s.start(1, 4)
    assert list(s) == order[4:] and len(s) == 10  # Lightning counts the epoch's batches
    s.set_epoch(7)  # Lightning's call is ignored: the loader sets the epoch
    assert list(s) == order[4:]
    # Two ranks split the same order as DistributedSampler does (rank r: every other index).
    halves = []
    for rank in (0, 1):
        r = ResumableSampler.__new__(ResumableSampler)
        torch.utils.data.DistributedSampler.__init__(r, data, num_replicas=2, rank=rank, seed=3)
        r.start(1)
        halves.append(list(r))
    assert halves == [order[0::2], order[1::2]]


def test_resumable_loader_continues_from_the_trained_batch_count(monkeypatch):
    from vthinker.data.resume import ResumableLoader

    monkeypatch.setenv("PL_GLOBAL_SEED", "0")  # the seed the loader's sampler uses
    done = [0]
    loader = ResumableLoader(list(range(6)), batches_done=lambda: done[0], batch_size=2)
    epoch = [torch.randperm(6, generator=torch.Generator().manual_seed(e)).tolist() for e in (0, 1)]
    assert [b.tolist() for b in loader] == [epoch[0][0:2], epoch[0][2:4], epoch[0][4:6]]
    done[0] = 4  # the trainer has trained on 4 batches: epoch 1 from its second batch
    assert [b.tolist() for b in loader] == [epoch[1][2:4], epoch[1][4:6]]
    assert loader.state_dict() == {"batches": 4, "batch_size": 2, "world_size": 1}
    # Resumed: the restored count is one behind the checkpoint; the first iter calibrates.
    done[0] = 3
    loader.load_state_dict({"batches": 4, "batch_size": 2, "world_size": 1})
    assert next(b.tolist() for b in loader) == epoch[1][2:4]
    assert loader.state_dict()["batches"] == 4
    with pytest.raises(ValueError, match="batch_size 4, this run has 2"):
        loader.load_state_dict({"batches": 1, "batch_size": 4, "world_size": 1})
