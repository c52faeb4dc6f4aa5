"""GRPO module on the tiny model: updates, reference policy, iterations, bad rewards."""

from __future__ import annotations

import math
import warnings

import lightning as L
import pytest
import torch
from tiny_fit import fit_toy

from vthinker.data.collate import FrameSampling, VideoQACollator, VideoQADataset
from vthinker.data.schema import read_jsonl
from vthinker.models.policy import LoraSettings, PolicyConfig, is_peft_model, load_policy
from vthinker.rewards import FormatReward, Reward
from vthinker.training.callbacks import MetricsPlot
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings, completion_logprobs


class LengthReward(Reward):
    """Deterministic, varied reward: longer completions score higher (a test signal)."""

    name = "length"

    def score(self, completion, sample):
        return len(completion) / 100.0


class ConstantReward(Reward):
    name = "constant"

    def score(self, completion, sample):
        return 1.0


class NaNReward(Reward):
    name = "broken"

    def score(self, completion, sample):
        return math.nan


def _module(tiny_model_dir, rewards=None, lora=True, **grpo) -> GRPOModule:
    return GRPOModule(
        PolicyConfig(
            str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8) if lora else None
        ),
        rewards=rewards or [LengthReward(), FormatReward()],
        grpo=GRPOSettings(**{"group_size": 4, "beta": 0.04, **grpo}),
        rollout=RolloutSettings(max_new_tokens=12),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.5),
        log_completions_every=0,
        export_hf=False,
    )


def _prompt_batch(toy_dir, processor, n=2):
    """A ``generate``-mode batch of the first ``n`` toy prompts (4 frames, 112 x 112)."""
    samples = read_jsonl(toy_dir / "train.jsonl")[:n]
    ds = VideoQADataset(samples, video_root=toy_dir, frames=FrameSampling(max_frames=4))
    collate = VideoQACollator(processor, mode="generate", max_pixels=112 * 112, min_pixels=3136)
    return collate([ds[i] for i in range(n)])


def _snapshot(module):
    return {n: p.detach().clone() for n, p in module.policy.named_parameters()}


def test_one_step_changes_lora_params_only(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(tiny_model_dir)
    module.configure_model()
    before = _snapshot(module)
    plot = MetricsPlot(keys=["reward/total_mean", "train/kl"])
    trainer = fit_toy(module, toy_dir, tmp_path, callbacks=[plot])
    changed = {n for n, p in module.policy.named_parameters() if not torch.equal(before[n], p)}
    assert set(plot.history) == {"reward/total_mean", "train/kl"}  # reward curves get plotted
    assert (tmp_path / "metrics.png").is_file()
    assert changed and all("lora_" in n for n in changed)
    m = trainer.callback_metrics
    assert m["train/ratio"] == 1.0  # mu = 1: old log-probs are the current ones
    for key in (
        "reward/total_mean",
        "reward/length",
        "reward/format",
        "train/kl",
        "train/kl_max",
        "train/entropy",
        "train/completion_len_mean",
        "time/rollout",
        "time/update",
        "train/zero_std_groups",
        "train/truncated",
        "train/clip_low",
        "train/lr",
    ):
        assert key in m, key


def test_lora_reference_is_the_same_weights_with_adapters_off(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(tiny_model_dir)
    module.configure_model()
    assert module.ref_model is None
    # One copy of the base weights: every parameter tensor in the module is the policy's.
    all_ptrs = {p.data_ptr() for p in module.parameters()}
    policy_ptrs = {p.data_ptr() for p in module.policy.parameters()}
    assert all_ptrs == policy_ptrs
    fit_toy(module, toy_dir, tmp_path)
    policy = module.policy
    ids = torch.randint(0, 500, (1, 12))
    with torch.no_grad():
        pol = policy(input_ids=ids).logits
        with policy.disable_adapter():
            ref = policy(input_ids=ids).logits
    assert not torch.allclose(pol, ref)  # the step moved the policy away from the reference


def test_full_finetune_reference_is_a_frozen_copy(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(tiny_model_dir, lora=False)
    module.configure_model()
    ref = module.ref_model
    assert ref is not None and not any(p.requires_grad for p in ref.parameters())
    ref_before = {n: p.clone() for n, p in ref.named_parameters()}
    trainer = fit_toy(module, toy_dir, tmp_path, steps=2)
    assert all(torch.equal(ref_before[n], p) for n, p in ref.named_parameters())
    # The KL is measured before each update: 0 at step 1, > 0 once the policy has moved.
    assert trainer.callback_metrics["train/kl"] > 0


def test_beta_zero_loads_no_reference(tiny_model_dir, toy_dir, tmp_path, monkeypatch):
    module = _module(tiny_model_dir, lora=False, beta=0.0)
    module.configure_model()
    assert module.ref_model is None
    monkeypatch.setattr(
        module, "reference_logprobs", lambda *a, **k: pytest.fail("reference used with beta=0")
    )
    trainer = fit_toy(module, toy_dir, tmp_path)
    assert trainer.callback_metrics["train/kl"] == 0.0


def test_num_iterations_computes_old_logprobs_once(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(tiny_model_dir, beta=0.0, num_iterations=3, micro_batch_size=2)
    calls = []
    original = module._logprobs
    module._logprobs = lambda *a, **k: calls.append(1) or original(*a, **k)
    trainer = fit_toy(module, toy_dir, tmp_path)
    assert len(calls) == 1  # old log-probs once per rollout batch, reused by 3 passes
    assert trainer.optimizers[0].state_dict()["state"] == {}  # SGD keeps no state
    assert module.lr_schedulers().last_epoch == 3  # one scheduler step per optimizer pass


def test_nan_reward_skips_the_step_and_counts_it(tiny_model_dir, toy_dir, tmp_path):
    module = _module(tiny_model_dir, rewards=[LengthReward(), NaNReward()])
    module.configure_model()
    before = _snapshot(module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Skipped steps make no optimizer step: bound the batches, not the steps.
        fit_toy(module, toy_dir, tmp_path, steps=1, batches=2)
    assert module.nan_steps == 2
    assert all(torch.equal(before[n], p) for n, p in module.policy.named_parameters())
    assert any("NaN reward from ['broken']" in str(w.message) for w in caught)


def test_equal_rewards_give_zero_advantage_and_no_nan(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(tiny_model_dir, rewards=[ConstantReward()], beta=0.0)
    module.configure_model()
    before = _snapshot(module)
    trainer = fit_toy(module, toy_dir, tmp_path)
    m = trainer.callback_metrics
    assert m["train/zero_std_groups"] == 1.0
    assert m["train/loss"] == 0.0 and not math.isnan(float(m["train/loss"]))
    # Zero advantage and no KL: the gradient is zero, SGD leaves the weights alone.
    assert all(torch.equal(before[n], p) for n, p in module.policy.named_parameters())


def test_settings_are_validated(tiny_model_dir):
    with pytest.raises(ValueError, match="group_size"):
        GRPOSettings(group_size=1)
    with pytest.raises(ValueError, match="log_ratio_clip"):
        GRPOSettings(log_ratio_clip=0.0)
    with pytest.raises(ValueError, match="kl_clip"):
        GRPOSettings(kl_clip=-1.0)
    assert GRPOSettings(log_ratio_clip=None, kl_clip=None).kl_clip is None
    with pytest.raises(ValueError, match="at least one reward"):
        GRPOModule(PolicyConfig(str(tiny_model_dir)), rewards=[])
    with pytest.raises(ValueError, match="unique"):
        GRPOModule(PolicyConfig(str(tiny_model_dir)), rewards=[FormatReward(), FormatReward()])


def test_dropout_is_off_so_scoring_matches_sampling(tiny_model_dir, toy_dir, processor):
    """Rollouts sample in eval mode; scoring runs in train mode. With dropout off (LoRA
    dropout 0.05 here) both score the completions alike, pass after pass."""
    torch.manual_seed(0)
    module = GRPOModule(
        PolicyConfig(
            str(tiny_model_dir), dtype="float32", lora=LoraSettings(r=4, alpha=8, dropout=0.05)
        ),
        rewards=[LengthReward()],
        grpo=GRPOSettings(group_size=2),
        rollout=RolloutSettings(max_new_tokens=6),
        export_hf=False,
    )
    module.configure_model()
    policy = module.policy
    assert policy.training  # still in train mode (gradient checkpointing needs it)
    with torch.no_grad():  # lora_B starts at zero, which would hide the adapters' dropout
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.5)
    policy.eval()
    traj = module.rollout(policy, _prompt_batch(toy_dir, processor), 2)
    rows = slice(0, traj.completion_ids.shape[0])
    with torch.no_grad():
        policy.train()
        first, _ = completion_logprobs(policy, traj, rows)
        second, _ = completion_logprobs(policy, traj, rows)
        policy.eval()
        sampled, _ = completion_logprobs(policy, traj, rows)
    assert torch.equal(first, second)
    assert torch.allclose(first, sampled, rtol=0.0, atol=1e-6)


def _sft_model(tiny_model_dir, sft_adapter_dir):
    """The SFT model: its base with the adapter on (not merged), in eval mode."""
    from peft import PeftModel

    base = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32"))
    return PeftModel.from_pretrained(base, str(sft_adapter_dir)).eval()


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_grpo_from_an_sft_adapter_keeps_the_sft_model_as_reference(
    tiny_model_dir, sft_adapter_dir, toy_dir, processor, tmp_path, lora
):
    """The adapter is merged at load time: the reference (adapters off, or the frozen copy)
    is the SFT model, not the base the adapter was trained on."""
    torch.manual_seed(0)
    module = _module(sft_adapter_dir, lora=lora)
    module.configure_model()
    assert is_peft_model(module.policy) == lora
    assert (module.ref_model is None) == lora
    sft = _sft_model(tiny_model_dir, sft_adapter_dir)
    base = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32")).eval()
    module.policy.eval()
    traj = module.rollout(module.policy, _prompt_batch(toy_dir, processor), 2)
    rows = slice(0, traj.completion_ids.shape[0])
    with torch.no_grad():
        ref = module.reference_logprobs(traj, None)
        start, _ = completion_logprobs(module.policy, traj, rows)
        want, _ = completion_logprobs(sft, traj, rows)
        pre_sft, _ = completion_logprobs(base, traj, rows)
    m = traj.completion_mask.bool()
    assert torch.allclose(ref[m], want[m], atol=1e-4)
    assert torch.allclose(start[m], want[m], atol=1e-4)  # training starts from the SFT model
    assert (ref[m] - pre_sft[m]).abs().max() > 1e-2  # … which is not its base
    if lora:
        # The new adapter is exported on top of the SFT adapter it was trained on: loading the
        # export merges the SFT adapter again and applies the new one.
        with torch.no_grad():
            for n, p in module.policy.named_parameters():
                if "lora_B" in n:
                    p.normal_(0.0, 0.5)
        out = module.export_pretrained(tmp_path / "grpo")
        reloaded = load_policy(PolicyConfig(str(out), dtype="float32")).eval()
        ids = torch.randint(0, 500, (1, 12))
        with torch.no_grad():
            got, expected = reloaded(input_ids=ids).logits, module.policy(input_ids=ids).logits
        assert torch.allclose(got, expected, atol=1e-4)


def test_grpo_with_a_kl_on_a_4bit_adapter_folder_is_refused(sft_adapter_dir):
    policy = PolicyConfig(
        str(sft_adapter_dir), dtype="bfloat16", lora=LoraSettings(r=4), quantization="nf4"
    )
    with pytest.raises(ValueError, match=r"vthinker export .*--out"):
        GRPOModule(policy, rewards=[LengthReward()], grpo=GRPOSettings(beta=0.04))
    GRPOModule(policy, rewards=[LengthReward()], grpo=GRPOSettings(beta=0.0))  # no reference


def test_ratio_and_clip_fractions_are_logged_from_the_last_pass(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    """With num_iterations > 1 the first pass has ratio 1 by construction; the logged ratio
    and clip fractions come from the last pass (entropy and KL from the first)."""
    import vthinker.training.grpo as grpo_mod

    calls = []
    real = grpo_mod.grpo_loss

    def recording(*args, **kwargs):
        loss, stats = real(*args, **kwargs)
        calls.append(stats)
        return loss, stats

    monkeypatch.setattr(grpo_mod, "grpo_loss", recording)
    L.seed_everything(0)
    module = _module(tiny_model_dir, beta=0.04, num_iterations=3, eps_low=0.001, eps_high=0.001)
    trainer = fit_toy(module, toy_dir, tmp_path)
    m = trainer.callback_metrics
    assert len(calls) == 3  # one micro-batch, three passes
    assert float(calls[0].ratio_mean) == pytest.approx(1.0, abs=1e-6)
    last = calls[-1]
    assert float(last.ratio_mean) != pytest.approx(1.0, abs=1e-4)  # the policy moved
    assert float(m["train/ratio"]) == pytest.approx(float(last.ratio_mean), rel=1e-6)
    assert float(m["train/clip_low"]) == pytest.approx(float(last.clip_low), abs=1e-7)
    assert float(m["train/clip_high"]) == pytest.approx(float(last.clip_high), abs=1e-7)
    assert float(m["train/clip_low"]) + float(m["train/clip_high"]) > 0
    assert float(m["train/kl"]) == pytest.approx(float(calls[0].kl), abs=1e-7)


def test_a_vllm_engine_is_one_setting_and_pickles_without_its_engine(tiny_model_dir, toy_dir):
    """`engine=VLLMRollout()` builds without vLLM installed (it is imported when the first
    rollout starts), asks the DataModule for the decoded frames, and a checkpoint's pickled
    hyperparameters never hold the running engine."""
    import pickle

    from vthinker.data.datamodule import VideoQADataModule
    from vthinker.training.vllm_rollout import VLLMRollout

    engine = VLLMRollout()
    module = GRPOModule(
        PolicyConfig(str(tiny_model_dir), dtype="float32"),
        rewards=[LengthReward()],
        grpo=GRPOSettings(group_size=2, beta=0.0),
        engine=engine,
    )
    assert module.rollout is engine and module.needs_videos
    engine.llm, engine._stale = (lambda: None), False  # stands in for a running engine
    copy = pickle.loads(pickle.dumps(engine))
    assert copy.llm is None and copy._stale and copy.model_path == str(tiny_model_dir)
    # The DataModule puts prompt texts and frames into generate-mode batches for it.
    dm = VideoQADataModule(
        train_file=str(toy_dir / "train.jsonl"), frames=FrameSampling(max_frames=4)
    )
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    trainer.strategy.connect(module)
    trainer._data_connector.attach_datamodule(module, datamodule=dm)
    dm.connect(module.processor)
    assert dm._module_needs_videos() and dm.collator("generate").keep_videos
    assert not dm.collator("train").keep_videos
