"""Shared fixtures: the tiny Qwen2.5-VL and a small toy dataset, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the test suite may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vthinker.models.tiny import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "tiny-qwen2.5-vl", seed=0)


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten toy videos; ``VTHINKER_TEST_TOY`` names a folder written beforehand with the same
    settings (tools/gpu_check.sh: the GPU machine has no video writer)."""
    from vthinker.data.toy import make_toy_dataset

    prebuilt = os.environ.get("VTHINKER_TEST_TOY")
    if prebuilt:
        return Path(prebuilt)
    out = tmp_path_factory.mktemp("toy")
    make_toy_dataset(out, num_videos=10, questions_per_video=2, seed=0)
    return out


@pytest.fixture(scope="session")
def processor(tiny_model_dir: Path):
    from vthinker.models.policy import load_processor

    return load_processor(str(tiny_model_dir))


@pytest.fixture(scope="session")
def sft_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA SFT export as `VideoLLMModule.export_pretrained` writes it (a peft adapter
    folder with the processor), with adapters far from zero so that the SFT model and its
    base differ clearly."""
    import torch

    from vthinker.models.policy import LoraSettings, PolicyConfig, load_policy, load_processor

    model = load_policy(
        PolicyConfig(str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8))
    )
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    out = tmp_path_factory.mktemp("sft") / "hf"
    model.save_pretrained(out)
    load_processor(str(tiny_model_dir)).save_pretrained(out)
    return out
