"""Policy loading options: LoRA targets, vision freezing, attention, errors."""

from __future__ import annotations

import pytest

from vthinker.models.policy import (
    LoraSettings,
    PolicyConfig,
    disable_dropout,
    load_policy,
    load_processor,
    vision_tower,
)


def test_lora_targets_the_language_model_only(tiny_model_dir):
    model = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=2)))
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if ".lora_A." in n}
    # 2 layers x 7 projections, none in the vision tower.
    assert len(adapted) == 14
    assert all(".language_model." in n for n in adapted)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all("lora_" in n for n in trainable)


def test_lora_can_include_the_vision_tower(tiny_model_dir):
    model = load_policy(
        PolicyConfig(
            str(tiny_model_dir),
            dtype="float32",
            lora=LoraSettings(r=2, include_vision=True),
            freeze_vision=False,
        )
    )
    adapted = [n for n, _ in model.named_parameters() if ".lora_A." in n]
    # The vision MLPs share the gate/up/down projection names with the language model.
    assert any(".visual." in n for n in adapted)


def test_full_finetune_freezes_only_the_vision_tower(tiny_model_dir):
    model = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32"))
    vt = vision_tower(model)
    assert vt is not None and not any(p.requires_grad for p in vt.parameters())
    vision_ids = {id(p) for p in vt.parameters()}
    assert all(p.requires_grad for p in model.parameters() if id(p) not in vision_ids)
    unfrozen = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32", freeze_vision=False))
    assert all(p.requires_grad for p in unfrozen.parameters())


def test_dtype_attention_and_checkpointing(tiny_model_dir):
    import torch

    model = load_policy(
        PolicyConfig(
            str(tiny_model_dir),
            dtype="bfloat16",
            attn_implementation="eager",
            gradient_checkpointing=True,
        )
    )
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.config._attn_implementation == "eager"
    assert model.is_gradient_checkpointing if hasattr(model, "is_gradient_checkpointing") else True
    assert model.config.use_cache is False


def test_flash_attention_without_the_package_is_a_clear_error(tiny_model_dir, monkeypatch):
    import vthinker.models.policy as policy

    monkeypatch.setattr(policy, "_has_flash_attn", lambda: False)
    with pytest.raises(ValueError, match=r"pip install -e '\.\[flash\]'"):
        PolicyConfig(str(tiny_model_dir), attn_implementation="flash_attention_2")


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="cannot load a processor"):
        load_processor(str(tmp_path / "no-such-model"))
    with pytest.raises(OSError, match="cannot load model"):
        load_policy(PolicyConfig(str(tmp_path / "no-such-model")))


def test_bad_lora_settings():
    with pytest.raises(ValueError, match="rank"):
        LoraSettings(r=0)
    with pytest.raises(ValueError, match="target_modules"):
        LoraSettings(target_modules=[])


def test_disable_dropout_zeroes_every_dropout_and_keeps_train_mode(tiny_model_dir):
    import torch
    from torch import nn

    model = load_policy(
        PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=2, dropout=0.5))
    )
    # Attention dropout as a config may set it (the tiny model's config has 0).
    attention = [
        m for m in model.modules() if isinstance(getattr(m, "attention_dropout", None), float)
    ]
    assert attention
    for m in attention:
        m.attention_dropout = 0.5
    model.config.text_config.attention_dropout = 0.5
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.5)
    ids = torch.randint(0, 500, (2, 12))
    with torch.no_grad():
        assert not torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    disable_dropout(model)
    assert model.training
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, nn.Dropout))
    assert all(m.attention_dropout == 0.0 for m in attention)
    assert model.config.text_config.attention_dropout == 0.0
    with torch.no_grad():
        train = model(input_ids=ids).logits
        assert torch.equal(train, model(input_ids=ids).logits)
        model.eval()
        assert torch.allclose(train, model(input_ids=ids).logits, rtol=0.0, atol=1e-6)


def test_adapter_folder_is_merged_unless_the_base_is_4bit(tiny_model_dir, sft_adapter_dir):
    import torch
    from peft import PeftModel

    from vthinker.models.policy import is_peft_model

    ids = torch.randint(0, 500, (1, 12))
    sft = PeftModel.from_pretrained(
        load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32")), str(sft_adapter_dir)
    ).eval()
    # No `lora`: the merged SFT model, every (non-vision) weight trainable.
    full = load_policy(PolicyConfig(str(sft_adapter_dir), dtype="float32"))
    assert not is_peft_model(full)
    assert not any("lora_" in n for n, _ in full.named_parameters())
    vision = {id(p) for p in vision_tower(full).parameters()}
    assert all(p.requires_grad for p in full.parameters() if id(p) not in vision)
    # With `lora`: a fresh adapter (B = 0) on the merged SFT model.
    fresh = load_policy(
        PolicyConfig(str(sft_adapter_dir), dtype="float32", lora=LoraSettings(r=2, alpha=4))
    )
    assert is_peft_model(fresh)
    assert all("lora_" in n for n, p in fresh.named_parameters() if p.requires_grad)
    assert {p.shape[0] for n, p in fresh.named_parameters() if "lora_A" in n} == {2}
    with torch.no_grad():
        want = sft(input_ids=ids).logits
        assert torch.allclose(full.eval()(input_ids=ids).logits, want, atol=1e-4)
        assert torch.allclose(fresh.eval()(input_ids=ids).logits, want, atol=1e-4)
        with fresh.disable_adapter():  # the reference of a LoRA GRPO run
            assert torch.allclose(fresh(input_ids=ids).logits, want, atol=1e-4)


def test_adapter_folder_on_a_4bit_base_keeps_training_the_adapter(sft_adapter_dir):
    pytest.importorskip("bitsandbytes")

    from vthinker.models.policy import is_peft_model

    model = load_policy(
        PolicyConfig(
            str(sft_adapter_dir), dtype="bfloat16", lora=LoraSettings(r=2), quantization="nf4"
        )
    )
    assert is_peft_model(model)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    # The saved SFT adapter (rank 4) is what trains, not a fresh rank-2 one.
    assert {p.shape[0] for n, p in trainable.items() if "lora_A" in n} == {4}
    assert any(p.abs().sum() > 0 for n, p in trainable.items() if "lora_B" in n)
