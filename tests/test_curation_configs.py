"""Shipped curation configs parse and instantiate; the local HF verifier runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vthinker.curation import (
    AnswerConditionedCaptions,
    HindsightVerify,
    LocalChatModel,
    LocalModel,
    QuestionSynthesis,
    ReverseTrace,
    VideoFilter,
)
from vthinker.curation.runner import build_parser, runner_from_args
from vthinker.curation.steps import CurationContext, SampleLog
from vthinker.data.schema import VideoSample, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs" / "curation").glob("*.yaml"))
STEP_TYPES = [
    VideoFilter,
    QuestionSynthesis,
    AnswerConditionedCaptions,
    ReverseTrace,
    HindsightVerify,
]


@pytest.fixture
def one_input(tmp_path) -> Path:
    write_jsonl(
        [VideoSample(id="a", video="a.mp4", question="q?", answer="A", options=["x", "y"])],
        tmp_path / "in.jsonl",
    )
    return tmp_path / "in.jsonl"


def test_configs_shipped():
    assert {p.name for p in CONFIGS} == {"video_thinker_10k.yaml", "local.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_instantiates(path, tmp_path, one_input):
    # Inputs are replaced (the shipped ones are the user's data); nothing is contacted.
    runner = runner_from_args(
        [
            "--config",
            str(path),
            "--inputs",
            f"[{one_input}]",
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    assert [type(s) for s in runner.steps] == STEP_TYPES
    endpoints = [s.endpoint for s in runner.steps[1:]]
    if path.name == "local.yaml":
        assert {e.base_url for e in endpoints} == {"http://127.0.0.1:8000/v1"}
        assert all(e.api_key_env is None for e in endpoints)
        assert runner.steps[3].overwrite is True
    else:
        assert [e.model for e in endpoints] == [
            "deepseek-reasoner",
            "gemini-2.5-flash-lite",
            "deepseek-chat",
            "Qwen/Qwen2.5-VL-7B-Instruct",
        ]
        assert [e.api_key_env for e in endpoints] == [
            "DEEPSEEK_API_KEY",
            "GEMINI_API_KEY",
            "DEEPSEEK_API_KEY",
            None,
        ]
        assert runner.steps[0].min_frames == 64
        assert runner.steps[4].max_attempts == 3
        assert (runner.steps[1].min_options, runner.steps[1].max_options) == (4, 6)
    # Steps that share an endpoint share one client (and its limits).
    ctx = CurationContext()
    for s in runner.steps:
        s.setup(ctx, runner.steps)
    assert len(ctx.clients) == len({e.key() for e in endpoints})
    assert runner.steps[4]._generator is runner.steps[3]


def test_config_errors_are_caught_at_parse_time(tmp_path, one_input, capsys):
    text = (ROOT / "configs/curation/local.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("      frames_per_window: 4", "      frames_per_windw: 4"))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--config", str(bad), "--inputs", f"[{one_input}]"])
    assert "frames_per_windw" in capsys.readouterr().err
    key = tmp_path / "key.yaml"
    key.write_text(text.replace("api_key_env: null", "api_key_env: sk-abc123"))
    with pytest.raises(ValueError, match="NAME of an environment variable"):
        runner_from_args(["--config", str(key), "--inputs", f"[{one_input}]"])


@pytest.mark.slow
def test_local_hf_verifier_runs(tiny_model_dir):
    spec = LocalModel(path=str(tiny_model_dir), max_new_tokens=4)
    ctx = CurationContext()
    model = ctx.local(spec)
    assert isinstance(model, LocalChatModel)
    messages = [
        {"role": "system", "content": "Answer."},
        {"role": "user", "content": "Moments: 00:00-00:02 a red square. Which colour?"},
    ]
    result = asyncio.run(model.chat(messages, temperature=0.0))
    assert isinstance(result.text, str) and not result.cached
    assert result.usage.prompt_tokens > 5 and 1 <= result.usage.completion_tokens <= 4
    assert model.usage == result.usage and model.requests == 1
    # The same model behind HindsightVerify (shared, loaded once): returns the extracted
    # answer (or None for the random model's text).
    step = HindsightVerify(local_model=LocalModel(path=str(tiny_model_dir), max_new_tokens=4))
    step.setup(ctx, [step])
    assert step._verifier is model
    sample = VideoSample(
        id="s", video="v.mp4", question="Which colour?", answer="A", options=["red", "blue"]
    )
    trace = (
        "<time>00:00-00:02</time> <caption>a red square</caption> <think>red</think> "
        "<answer>A</answer>"
    )
    pred = asyncio.run(step.verify(sample, trace, SampleLog()))
    assert pred is None or pred in ("A", "B")
    assert model.requests == 2


def test_local_causal_lm_fallback(tiny_model_dir, tmp_path):
    """A text-only causal LM (not image-text-to-text) loads through AutoModelForCausalLM."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "causal")
    tokenizer.save_pretrained(tmp_path / "causal")
    model = LocalChatModel(LocalModel(path=str(tmp_path / "causal"), max_new_tokens=3))
    result = model.generate([{"role": "user", "content": "Which colour? <answer>"}])
    assert isinstance(result.text, str) and 1 <= result.usage.completion_tokens <= 3
    assert type(model._model).__name__ == "Qwen2ForCausalLM"
