"""GRPO module on the tiny model: updates, reference policy, iterations, bad rewards."""

from __future__ import annotations

import math
import warnings

import lightning as L
import pytest
import torch
from tiny_fit import fit_toy

from vthinker.models.policy import LoraSettings, PolicyConfig
from vthinker.rewards import FormatReward, Reward
from vthinker.training.callbacks import MetricsPlot
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings


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
    with pytest.raises(ValueError, match="at least one reward"):
        GRPOModule(PolicyConfig(str(tiny_model_dir)), rewards=[])
    with pytest.raises(ValueError, match="unique"):
        GRPOModule(PolicyConfig(str(tiny_model_dir)), rewards=[FormatReward(), FormatReward()])
