"""vLLM rollouts and decoding against the HF policy, on the tiny model on CPU.

Run in the project-made vLLM environment (`make vllm-env`, then `make test-vllm`); skipped
where vLLM is not installed. The tiny model here has a text head_dim of 32 (vLLM's CPU
attention supports no smaller head size).
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("vllm")

from tiny_fit import fit_toy

from vthinker.data.collate import FrameSampling, VideoQACollator, VideoQADataset
from vthinker.data.schema import read_jsonl
from vthinker.models.policy import LoraSettings, PolicyConfig, load_policy
from vthinker.rewards import FormatReward, Reward
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings, completion_logprobs
from vthinker.training.vllm_rollout import VLLMRollout


class LengthReward(Reward):
    """Longer completions score higher (a reward that always has a spread)."""

    name = "length"

    def score(self, completion, sample):
        return min(len(completion), 40) / 40


@pytest.fixture(scope="module")
def tiny32(tmp_path_factory):
    """The tiny Qwen2.5-VL with hidden size 128 (4 heads of 32)."""
    from vthinker.models.tiny import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny32") / "m", hidden_size=128, seed=0)


@pytest.fixture(scope="module")
def engine(tiny32):
    """One vLLM engine for the module's tests (starting one takes seconds); vision tokens not
    suppressed, so its log-probs are the policy's own."""
    from vthinker.models.policy import load_processor

    rollout = VLLMRollout(dtype="float32", enforce_eager=True, suppress_vision_tokens=False)
    settings = RolloutSettings(temperature=1.0, max_new_tokens=8, stop_strings=[])
    rollout.build(settings, load_processor(str(tiny32)), str(tiny32))
    return rollout


def _batch(toy_dir, processor, n=2):
    samples = read_jsonl(toy_dir / "train.jsonl")[:n]
    ds = VideoQADataset(samples, video_root=toy_dir, frames=FrameSampling(max_frames=4))
    collate = VideoQACollator(
        processor, mode="generate", max_pixels=112 * 112, min_pixels=3136, keep_videos=True
    )
    return collate([ds[i] for i in range(n)])


def _until_end(rows, end_ids):
    """Each row up to and including its first end token."""
    out = []
    for row in rows:
        cut = next((i + 1 for i, t in enumerate(row) if t in end_ids), len(row))
        out.append(row[:cut])
    return out


def _greedy_hf(model, batch, n_tokens, tokenizer):
    from vthinker.data.collate import model_inputs
    from vthinker.models.completion import end_token_ids

    with torch.no_grad():
        out = model.generate(
            **model_inputs(batch),
            do_sample=False,
            max_new_tokens=n_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
    rows = out[:, batch["input_ids"].shape[1] :].tolist()
    return _until_end(rows, end_token_ids(model, tokenizer))


def _greedy_vllm(engine, batch, n_tokens, model):
    from vllm import SamplingParams

    from vthinker.models.completion import end_token_ids

    params = SamplingParams(temperature=0.0, max_tokens=n_tokens)
    outs = engine._engine().generate(engine._requests(batch), params, use_tqdm=False)
    rows = [list(o.outputs[0].token_ids) for o in outs]
    return _until_end(rows, end_token_ids(model, engine.processor.tokenizer))


def test_sampled_logprobs_equal_teacher_forced_ones(engine, tiny32, toy_dir):
    """vLLM's log-probs of its sampled tokens equal the HF policy's teacher-forced ones (fp32):
    the same prompt tokens, frames, pixel budget and rotary positions on both sides."""
    model = load_policy(PolicyConfig(str(tiny32), dtype="float32")).eval()
    batch = _batch(toy_dir, engine.processor)
    traj = engine(model, batch, group_size=3)
    assert traj.completion_ids.shape[0] == 6 and traj.group_size == 3
    assert traj.sampler_logp is not None and engine.pushes >= 1
    logp, _ = completion_logprobs(model, traj, slice(0, 6), temperature=1.0)
    mask = traj.completion_mask.bool()
    assert mask.sum() > 0
    assert float((logp - traj.sampler_logp)[mask].abs().max()) < 1e-4
    # The group's rows share their prompt; the samples differ.
    assert torch.equal(traj.prompt_ids[0], traj.prompt_ids[2])
    assert len({tuple(r) for r in traj.completion_ids[:3].tolist()}) > 1


def test_a_batch_with_other_pixels_than_the_engine_saw_is_refused(engine, tiny32, toy_dir):
    model = load_policy(PolicyConfig(str(tiny32), dtype="float32")).eval()
    batch = _batch(toy_dir, engine.processor, n=1)
    batch["video_size"] = {"shortest_edge": 3136, "longest_edge": 56 * 56}  # not the batch's
    with pytest.raises(ValueError, match="prompt tokens"):
        engine(model, batch, group_size=2)


def test_weights_follow_a_grpo_step(tiny32, toy_dir, tmp_path):
    """A GRPO step sampled by vLLM; afterwards vLLM's greedy completion equals HF's from the
    updated weights (LoRA merged), and differed before the push."""
    rollout = VLLMRollout(dtype="float32", enforce_eager=True)
    module = GRPOModule(
        PolicyConfig(str(tiny32), dtype="float32", lora=LoraSettings(r=4, alpha=8)),
        rewards=[LengthReward(), FormatReward()],
        grpo=GRPOSettings(group_size=4, beta=0.0),
        rollout=RolloutSettings(max_new_tokens=8),
        optimizer=lambda p: torch.optim.SGD(p, lr=5.0),
        log_completions_every=0,
        export_hf=False,
        engine=rollout,
    )
    trainer = fit_toy(module, toy_dir, tmp_path, steps=1)
    assert rollout.pushes == 1  # the first rollout pushed the starting weights
    assert "train/sampler_ratio" in trainer.callback_metrics
    # π_old / π_sampler: the sampler renormalises over the tokens it may sample (no vision
    # placeholders), so its probabilities are a little higher; nothing else differs.
    assert 0.98 < float(trainer.callback_metrics["train/sampler_ratio"]) <= 1.0 + 1e-4
    policy = module.policy.eval()
    batch = _batch(toy_dir, module.processor)
    tok = module.processor.tokenizer
    stale = _greedy_vllm(rollout, batch, 12, policy)
    rollout.push_weights(policy)
    fresh = _greedy_vllm(rollout, batch, 12, policy)
    want = _greedy_hf(policy, batch, 12, tok)
    assert fresh == want
    assert stale != want  # the step moved the weights: without the push vLLM lags behind


def test_greedy_evaluation_with_vllm_gives_the_hf_predictions(tiny32, toy_dir, tmp_path):
    """`vthinker test` with the vLLM decoder (one line) writes the predictions HF wrote."""
    import json
    from pathlib import Path

    from vthinker.cli import cli

    root = Path(__file__).resolve().parents[1]
    base = ["test", "--config", str(root / "configs/demo/eval.yaml")]
    base += ["--model.init_args.policy.name_or_path", str(tiny32)]
    base += ["--model.init_args.policy.dtype", "float32"]
    base += ["--model.init_args.generation.max_new_tokens", "10"]
    base += ["--data.init_args.test_file", str(toy_dir / "train.jsonl")]
    base += ["--data.init_args.limit", "3", "--data.init_args.num_workers", "0"]
    base += ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
    rows = {}
    for name, extra in (
        ("hf", []),
        ("vllm", ["--model.init_args.decoder", "vthinker.evaluation.decoding.VLLMGenerate"]),
    ):
        out = tmp_path / name
        args = [
            *base,
            "--model.init_args.out_dir",
            str(out),
            "--trainer.default_root_dir",
            str(out),
        ]
        if extra:
            args += [*extra, "--model.init_args.decoder.init_args.dtype", "float32"]
            args += ["--model.init_args.decoder.init_args.enforce_eager", "true"]
        c = cli(args)
        lines = (c.model.run_dir / "predictions.jsonl").read_text().splitlines()
        rows[name] = [json.loads(x) for x in lines]
        settings = json.loads((c.model.run_dir / "run.json").read_text())
        assert settings.get("decoder") == ({"engine": "vllm"} if extra else None)
    assert len(rows["hf"]) == 3 and all(r["output_tokens"] > 0 for r in rows["hf"])
    for a, b in zip(rows["hf"], rows["vllm"], strict=True):
        assert (a["id"], a["output"], a["output_tokens"]) == (
            b["id"],
            b["output"],
            b["output_tokens"],
        )
        assert a["prompt_tokens"] == b["prompt_tokens"]
