"""The policy's weights handed to an inference engine: plain, and LoRA merged out of place."""

from __future__ import annotations

import json

import torch

from vthinker.models.policy import LoraSettings, PolicyConfig, load_policy
from vthinker.models.weights import base_model_path, merged_weights


def test_plain_model_weights_are_its_state_dict(tiny_model_dir):
    model = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32"))
    got = dict(merged_weights(model))
    want = model.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_lora_weights_are_merged_out_of_place(tiny_model_dir):
    cfg = PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8))
    model = load_policy(cfg)
    plain = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32")).state_dict()
    for name, p in model.named_parameters():  # make the adapters non-zero
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = dict(merged_weights(model))
    assert got.keys() == plain.keys()  # the plain model's names, no adapter tensors
    # The merged model computes what the adapted one does: W + B A * alpha / r by hand.
    layer = model.get_base_model().model.language_model.layers[0].self_attn.q_proj
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    name = "model.language_model.layers.0.self_attn.q_proj.weight"
    want = layer.base_layer.weight + (b @ a) * (8 / 4)
    assert torch.allclose(got[name], want, atol=1e-6)
    assert not torch.equal(got[name], layer.base_layer.weight)
    # The model itself is untouched (a push never drifts the trained weights).
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_base_model_path_follows_adapter_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tmp_path / "b")})
    )
    (tmp_path / "b" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-VL-7B-Instruct"})
    )
    assert base_model_path(str(tmp_path / "a")) == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert base_model_path("outputs/x") == "outputs/x"
