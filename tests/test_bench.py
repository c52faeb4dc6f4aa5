"""tools/bench.py: the 7B architecture config, and every subcommand end to end on CPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_tool("bench")

# Qwen2.5's own ids for the special tokens and its tokenizer size (151643 BPE tokens + 22).
QWEN_IDS = {
    "<|endoftext|>": 151643,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}


@pytest.mark.slow
def test_7b_config_is_qwen2_5_vl_7b():
    cfg = bench.qwen2_5_vl_config(bench.ARCHS["7b"], QWEN_IDS, 151665)
    t, v = cfg.text_config, cfg.vision_config
    assert (t.vocab_size, t.hidden_size, t.intermediate_size) == (152064, 3584, 18944)
    assert (t.num_hidden_layers, t.num_attention_heads, t.num_key_value_heads) == (28, 28, 4)
    assert t.rope_parameters["mrope_section"] == [16, 24, 24]
    assert t.rope_parameters["rope_theta"] == 1e6
    assert (v.depth, v.hidden_size, v.out_hidden_size, v.intermediate_size) == (
        32,
        1280,
        3584,
        3420,
    )
    assert v.fullatt_block_indexes == [7, 15, 23, 31]
    assert (v.window_size, v.patch_size, v.spatial_merge_size) == (112, 14, 2)
    assert (v.temporal_patch_size, v.num_heads, v.tokens_per_second) == (2, 16, 2)
    assert cfg.video_token_id == 151656 and cfg.vision_start_token_id == 151652
    # Qwen2.5-VL-7B-Instruct has 8.29 B parameters (model card). By hand:
    # text: embed + lm_head 2 * 152064*3584 = 1,089,994,752; per decoder layer
    #   q 3584*3584+3584 = 12,848,640, k and v 3584*512+512 = 1,835,520 each,
    #   o 3584*3584 = 12,845,056, MLP 3*3584*18944 = 203,685,888, 2 norms 7,168
    #   = 233,057,792; x 28 = 6,525,618,176; final norm 3,584 → 7,615,616,512.
    # vision: patch embed 3*2*14*14*1280 = 1,505,280; per block 2 norms 2,560,
    #   qkv 1280*3840+3840 = 4,919,040, proj 1280*1280+1280 = 1,639,680,
    #   gate+up 2*(1280*3420+3420) = 8,762,040, down 3420*1280+1280 = 4,378,880
    #   = 19,702,200; x 32 = 630,470,400; merger 1,280 + 5120*5120+5120 + 5120*3584+3584
    #   = 44,574,464 → 676,550,144.
    # total 7,615,616,512 + 676,550,144 = 8,292,166,656.
    assert bench.count_parameters(cfg) == 8_292_166_656
    with pytest.raises(ValueError, match="vocab_size 152064 < tokenizer size 160000"):
        bench.qwen2_5_vl_config(bench.ARCHS["7b"], QWEN_IDS, 160000)


def test_7b_mini_keeps_the_7b_head_layout():
    cfg = bench.qwen2_5_vl_config(bench.ARCHS["7b-mini"], QWEN_IDS, 2100)
    t = cfg.text_config
    assert t.vocab_size == 2176  # 2100 rounded up to a multiple of 128 = 17 * 128
    assert t.hidden_size // t.num_attention_heads == 128  # 7B head dim: 3584 / 28
    assert t.rope_parameters["mrope_section"] == [16, 24, 24]


def test_figure_text_and_report_lookup():
    report = bench.Report("x", {})
    assert report.add_median("a", [3.0, 1.0, 2.0], "s") == 2.0
    report.add("b", 12345.6, "tokens")
    assert report["a"] == 2.0
    assert report.figures[0].spread() == "1-3, n=3"
    assert report.figures[1].text() == "12,346"
    with pytest.raises(KeyError):
        report["missing"]


def _names(out: str) -> set[str]:
    rows = out.split("spread (min-max)")[-1].splitlines()
    return {r.split()[0] for r in rows if r.strip() and not r.startswith("note:")}


@pytest.fixture
def bench_tiny(tiny_model_dir: Path, toy_dir: Path, capsys):
    """Runs ``"<sub-command> <options>"`` on the tiny model and the toy data; returns the
    report and the names of the figures printed."""

    def run(command_line: str) -> tuple[bench.Report, set[str]]:
        command, *options = command_line.split()
        argv = [command, "--model", str(tiny_model_dir), "--toy", str(toy_dir), *options]
        report = bench.main(argv)
        return report, _names(capsys.readouterr().out)

    return run


@pytest.mark.slow
def test_data_subcommand(tmp_path: Path, capsys):
    out_json = tmp_path / "data.json"
    report = bench.main(
        [
            "--json",
            str(out_json),
            "data",
            "--width",
            "128",
            "--height",
            "72",
            "--seconds",
            "2",
            "--fps",
            "10",
            "--frames",
            "4",
            "8",
            "--repeats",
            "2",
        ]
    )
    names = _names(capsys.readouterr().out)
    for n in (4, 8):
        for key in (
            "decode_{n}f_videos_per_s",
            "decode_{n}f_frames_per_s",
            "cache_{n}f_videos_per_s",
            "cache_{n}f_frames_per_s",
            "cache_{n}f_speedup",
            "cache_{n}f_entry_mb",
            "cache_fill_{n}f_s",
        ):
            assert key.format(n=n) in names
        assert report[f"decode_{n}f_frames_per_s"] == pytest.approx(
            n * report[f"decode_{n}f_videos_per_s"]
        )
        assert report[f"cache_{n}f_speedup"] > 1.0
        # n frames of 128 x 72 x 3 bytes, plus timestamps, indices and zip headers.
        assert report[f"cache_{n}f_entry_mb"] * 2**20 > n * 128 * 72 * 3
    data = json.loads(out_json.read_text())
    assert data["command"] == "data" and data["figures"]["cache_8f_speedup"]["unit"] == "x"


@pytest.mark.slow
def test_rollout_subcommand(bench_tiny):
    report, names = bench_tiny("rollout --group-size 2 --prompts 1 --max-new-tokens 4")
    assert {
        "batched_tokens_per_s",
        "naive_tokens_per_s",
        "speedup",
        "completion_tokens",
        "peak_rss",
    } <= names
    assert report["completion_tokens"] == 1 * 2 * 4  # prompts x G x new tokens
    assert report["speedup"] == pytest.approx(report["naive_s"] / report["batched_s"])
    assert "mfu_batched" not in names  # CPU without --peak-tflops: no MFU


@pytest.mark.slow
def test_sft_subcommand(bench_tiny):
    report, names = bench_tiny("sft --batch-size 1 --steps 1 --warmup 0 --peak-tflops 1")
    assert {"step_s", "data_s", "fwd_bwd_s", "optimizer_s", "tokens_per_s", "mfu"} <= names
    # One step: the parts add up to the step exactly (consecutive clock readings).
    parts = report["data_s"] + report["fwd_bwd_s"] + report["optimizer_s"]
    assert report["step_s"] == pytest.approx(parts, rel=1e-9)
    flops = 6 * report["params_total"] * report["tokens_per_step"]
    assert report["mfu"] == pytest.approx(100 * flops / report["step_s"] / 1e12)
    assert report["params_trainable"] < report["params_total"]  # the vision tower is frozen


@pytest.mark.slow
def test_grpo_subcommand(bench_tiny):
    report, names = bench_tiny(
        "grpo --group-size 2 --prompts 1 --max-new-tokens 4 --steps 1 --warmup 0"
    )
    assert {"step_s", "rollout_s", "scoring_s", "update_s", "rollout_tokens_per_s"} <= names
    assert 2 <= report["completion_tokens_per_step"] <= 2 * 4  # G rows of 1..4 tokens
    inner = report["rollout_s"] + report["scoring_s"] + report["update_s"]
    assert inner <= report["step_s"]


@pytest.mark.slow
def test_7b_mini_builds_through_the_7b_path_with_lora(
    tmp_path: Path, tiny_model_dir: Path, toy_dir: Path, capsys
):
    from transformers import AutoConfig, AutoTokenizer

    model_dir = tmp_path / "mini"
    report = bench.main(
        [
            "rollout",
            "--model-config",
            "7b-mini",
            "--model",
            str(model_dir),
            "--toy",
            str(toy_dir),
            "--processor",
            str(tiny_model_dir),
            "--mode",
            "lora",
            "--group-size",
            "2",
            "--prompts",
            "1",
            "--max-new-tokens",
            "2",
        ]
    )
    assert "batched_tokens_per_s" in _names(capsys.readouterr().out)
    cfg = AutoConfig.from_pretrained(model_dir)
    assert cfg.text_config.hidden_size // cfg.text_config.num_attention_heads == 128
    assert cfg.vision_config.fullatt_block_indexes == [1, 3]
    vocab = len(AutoTokenizer.from_pretrained(model_dir))
    assert (
        cfg.text_config.vocab_size % 128 == 0 and vocab <= cfg.text_config.vocab_size < vocab + 128
    )
    # N counts the base weights and the LoRA adapters (rank 64 on 7 projections x 2 layers).
    assert report["params_total"] > bench.count_parameters(cfg)


@pytest.mark.slow
def test_bench_grpo_script_still_runs(tiny_model_dir: Path, toy_dir: Path, capsys):
    bench_grpo = _load_tool("bench_grpo")
    bench_grpo.main(
        [
            "--model",
            str(tiny_model_dir),
            "--toy",
            str(toy_dir),
            "--group-size",
            "2",
            "--prompts",
            "1",
            "--new-tokens",
            "4",
            "--steps",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert "== bench rollout ==" in out and "== bench grpo ==" in out
    rollout_part, grpo_part = out.split("== bench grpo ==")
    assert "speedup" in _names(rollout_part)
    assert {"rollout_s", "scoring_s", "update_s"} <= _names(grpo_part)
