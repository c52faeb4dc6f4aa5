"""SFT end to end on the tiny model: parameter updates, LoRA/QLoRA, checkpoints, export."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.models.policy import LoraSettings, PolicyConfig, load_policy
from vthinker.training.sft import SFTModule


def _data(toy_dir: Path, **kw) -> VideoQADataModule:
    return VideoQADataModule(
        train_file=str(toy_dir / "train.jsonl"),
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=2,
        **kw,
    )


def _trainer(tmp_path: Path, **kw) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    return L.Trainer(**{**defaults, **kw})


def _snapshot(module: SFTModule) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.policy.named_parameters()}


def _changed(before: dict[str, torch.Tensor], module: SFTModule) -> set[str]:
    return {n for n, p in module.policy.named_parameters() if not torch.equal(before[n], p)}


def test_one_step_changes_trainable_params_and_only_them(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = SFTModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32"),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3),
        export_hf=False,
    )
    module.configure_model()
    before = _snapshot(module)
    trainable = {n for n, p in module.policy.named_parameters() if p.requires_grad}
    assert trainable and not any(".visual." in f".{n}" for n in trainable)  # vision frozen
    _trainer(tmp_path).fit(module, datamodule=_data(toy_dir))
    changed = _changed(before, module)
    assert changed <= trainable
    # Every trainable weight that got a gradient moved (embeddings of unseen tokens aside).
    assert {n for n in trainable if "layers" in n} <= changed


def test_lora_step_checkpoint_and_export(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = SFTModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8)),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2),
    )
    module.configure_model()
    before = _snapshot(module)
    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = _trainer(tmp_path, enable_checkpointing=True, callbacks=[ckpt_cb], max_steps=2)
    trainer.fit(module, datamodule=_data(toy_dir))
    changed = _changed(before, module)
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed)  # B starts at zero, so the adapter now acts

    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    keys = list(ckpt["state_dict"])
    assert keys and all("lora_" in k for k in keys)  # adapters only, no base weights

    export = Path(trainer.default_root_dir) / "hf"
    assert (export / "adapter_config.json").is_file()
    assert (export / "processor_config.json").is_file()
    reloaded = load_policy(PolicyConfig(str(export), dtype="float32"))
    reloaded.eval()
    module.policy.eval()
    ids = torch.randint(0, 500, (1, 10))
    with torch.no_grad():  # the reloaded adapter is merged into its base: rounding differs
        assert torch.allclose(
            reloaded(input_ids=ids).logits, module.policy(input_ids=ids).logits, atol=1e-5
        )

    # Resuming from the adapter-only checkpoint restores the adapters.
    fresh = SFTModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8)),
        export_hf=False,
    )
    fresh.configure_model()
    fresh.load_state_dict(ckpt["state_dict"], strict=False)
    fresh.policy.eval()
    with torch.no_grad():
        assert torch.allclose(
            fresh.policy(input_ids=ids).logits, module.policy(input_ids=ids).logits
        )


def test_qlora_builds_and_steps_on_cpu(tiny_model_dir, toy_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    L.seed_everything(0)
    module = SFTModule(
        PolicyConfig(
            str(tiny_model_dir),
            dtype="bfloat16",
            lora=LoraSettings(r=4, alpha=8),
            quantization="nf4",
            gradient_checkpointing=True,
        ),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2),
        export_hf=False,
    )
    module.configure_model()
    linear4 = [n for n, m in module.policy.named_modules() if type(m).__name__ == "Linear4bit"]
    assert linear4 and not any("visual" in n for n in linear4)  # only the LM is quantized
    before = _snapshot(module)
    _trainer(tmp_path, max_steps=2).fit(module, datamodule=_data(toy_dir))
    changed = _changed(before, module)
    assert changed and all("lora_" in n for n in changed)


def test_loss_falls_when_overfitting_a_batch(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    module = SFTModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32"),
        optimizer=lambda p: torch.optim.AdamW(p, lr=3e-3),
        export_hf=False,
    )
    trainer = _trainer(tmp_path, max_steps=25, overfit_batches=1, callbacks=[Record()])
    trainer.fit(module, datamodule=_data(toy_dir))
    assert len(losses) == 25
    assert losses[-1] < 0.6 * losses[0], losses


def test_qlora_without_lora_is_rejected(tiny_model_dir):
    with pytest.raises(ValueError, match="set `lora` too"):
        PolicyConfig(str(tiny_model_dir), quantization="nf4")
