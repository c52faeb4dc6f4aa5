"""`vthinker export`: checkpoints and adapters become plain, loadable HF folders."""

from __future__ import annotations

import dataclasses

import lightning as L
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from vthinker.cli import main
from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.models.export import export_merged
from vthinker.models.policy import LoraSettings, PolicyConfig, load_policy
from vthinker.training.sft import SFTModule


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, toy_dir, tmp_path_factory):
    """Two LoRA SFT steps: an adapter-only checkpoint and an adapter export."""
    out = tmp_path_factory.mktemp("lora_run")
    L.seed_everything(0)
    module = SFTModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8)),
        optimizer=lambda p: torch.optim.AdamW(p, lr=5e-2),
        export_dir=str(out / "adapter"),
    )
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=out / "ckpt", save_last=True)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        callbacks=[ckpt],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out),
    )
    dm = VideoQADataModule(
        train_file=str(toy_dir / "train.jsonl"),
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=2,
    )
    trainer.fit(module, datamodule=dm)
    module.policy.eval()
    return module, out


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_lora_checkpoint_exports_to_a_merged_folder(lora_run, tmp_path):
    module, out = lora_run
    dest = export_merged(out / "ckpt" / "last.ckpt", tmp_path / "merged", dtype="float32")
    assert not (dest / "adapter_config.json").exists()
    merged = AutoModelForImageTextToText.from_pretrained(dest)
    AutoProcessor.from_pretrained(dest)  # the processor travels with the weights
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    ids = torch.randint(0, 500, (1, 12))
    assert torch.allclose(_logits(merged, ids), _logits(module.policy, ids), atol=1e-4)


def test_adapter_folder_exports_through_the_cli(lora_run, tmp_path, capsys):
    module, out = lora_run
    main(["export", str(out / "adapter"), "--out", str(tmp_path / "m2"), "--dtype", "float32"])
    assert "exported" in capsys.readouterr().out
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "m2")
    ids = torch.randint(0, 500, (1, 12))
    assert torch.allclose(_logits(merged, ids), _logits(module.policy, ids), atol=1e-4)


@pytest.mark.parametrize("quantization", [None, "nf4"])
def test_checkpoint_of_a_run_from_an_adapter_folder(sft_adapter_dir, tmp_path, quantization):
    """A run from an SFT adapter folder trained a fresh adapter on the merged SFT model (or,
    on a 4-bit base, the SFT adapter itself): its export rebuilds that layout, unquantized."""
    policy = PolicyConfig(str(sft_adapter_dir), dtype="float32", lora=LoraSettings(r=2, alpha=4))
    model = load_policy(policy, merge_adapter=quantization is None)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.add_(torch.randn_like(p) * 0.1)
    state = {
        f"model.{n}": p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
    }
    trained = dataclasses.replace(policy, quantization=quantization)
    torch.save(
        {"hyper_parameters": {"policy": trained}, "state_dict": state}, tmp_path / "run.ckpt"
    )
    dest = export_merged(tmp_path / "run.ckpt", tmp_path / "merged", dtype="float32")
    merged = AutoModelForImageTextToText.from_pretrained(dest)
    ids = torch.randint(0, 500, (1, 12))
    assert torch.allclose(_logits(merged, ids), _logits(model.eval(), ids), atol=1e-4)


def test_export_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to export"):
        export_merged(tmp_path / "missing.ckpt", tmp_path / "out")
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}}, bad)
    with pytest.raises(ValueError, match="not a vthinker module"):
        export_merged(bad, tmp_path / "out")


def test_sharded_fsdp_checkpoint_exports_like_the_full_one(lora_run, tmp_path):
    """A checkpoint in the layout FSDPStrategy(state_dict_type="sharded") writes (the model
    and optimizer states as torch.distributed.checkpoint shards, the rest in meta.pt)
    consolidates to the same merged model as the single-file checkpoint."""
    from lightning.fabric.strategies.fsdp import _distributed_checkpoint_save

    module, out = lora_run
    ckpt = torch.load(out / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    folder = tmp_path / "last.ckpt"
    folder.mkdir()
    converted = {"model": ckpt.pop("state_dict")}
    converted.update({f"optimizer_{i}": s for i, s in enumerate(ckpt.pop("optimizer_states"))})
    _distributed_checkpoint_save(converted, folder)
    torch.save(ckpt, folder / "meta.pt")

    main(["export", str(folder), "--out", str(tmp_path / "merged"), "--dtype", "float32"])
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged")
    ids = torch.randint(0, 500, (1, 12))
    assert torch.allclose(_logits(merged, ids), _logits(module.policy, ids), atol=1e-4)

    (folder / ".metadata").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable sharded checkpoint"):
        export_merged(folder, tmp_path / "bad")
