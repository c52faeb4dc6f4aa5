"""GRPO variants on the tiny model (issue 16): dynamic sampling, truncated-completion
masking, reward shaping, entropy bonus, reference sync. The math itself has exact-value tests
in test_losses.py; these check that each setting reaches the update."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from test_grpo import ConstantReward, LengthReward, _module, _snapshot
from tiny_fit import fit_toy

import vthinker.training.grpo as grpo_mod
from vthinker.training.grpo import GRPOSettings


class ConstantThenLength(LengthReward):
    """Equal rewards for the first ``constant`` rollouts (G completions each), then length."""

    name = "length"

    def __init__(self, constant: int, group_size: int = 4) -> None:
        super().__init__()
        self.left = constant * group_size

    def score(self, completion, sample):
        if self.left > 0:
            self.left -= 1
            return 1.0
        return super().score(completion, sample)


def _unchanged(before, module) -> bool:
    return all(torch.equal(before[n], p) for n, p in module.policy.named_parameters())


def test_dynamic_sampling_rolls_out_until_a_group_is_informative(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(
        tiny_model_dir, rewards=[ConstantThenLength(2)], beta=0.0, dynamic_sampling=True
    )
    module.configure_model()
    before = _snapshot(module)
    trainer = fit_toy(module, toy_dir, tmp_path, steps=1, batches=3)
    m = trainer.callback_metrics
    assert trainer.global_step == 1  # three rollouts, one optimizer update
    assert m["train/rollout_batches"] == 3.0
    assert m["train/trained_groups"] == 1.0
    assert m["train/informative_groups"] == pytest.approx(1 / 3)
    assert not _unchanged(before, module)


def test_dynamic_sampling_gives_up_after_the_extra_rollouts(tiny_model_dir, toy_dir, tmp_path):
    module = _module(
        tiny_model_dir,
        rewards=[ConstantReward()],
        beta=0.0,
        dynamic_sampling=True,
        max_extra_rollouts=1,
    )
    module.configure_model()
    before = _snapshot(module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit_toy(module, toy_dir, tmp_path, steps=1, batches=4)
    assert trainer.global_step == 0 and module.skipped_steps == {"no_signal": 2}  # 2 x 2 rollouts
    assert any("no informative group in 2 rollout batches" in str(w.message) for w in caught)
    assert _unchanged(before, module)


def test_without_dynamic_sampling_equal_groups_still_take_a_step(tiny_model_dir, toy_dir, tmp_path):
    module = _module(tiny_model_dir, rewards=[ConstantReward()], beta=0.0)
    trainer = fit_toy(module, toy_dir, tmp_path, steps=1, batches=1)
    assert trainer.global_step == 1


@pytest.mark.parametrize("masked", [True, False])
def test_truncated_completions_can_be_masked_out(tiny_model_dir, toy_dir, tmp_path, masked):
    # 12-token rollouts with no stop string: the random tiny model never ends, so every
    # completion is truncated; masked, nothing is left to learn from.
    L.seed_everything(0)
    module = _module(tiny_model_dir, beta=0.0, mask_truncated=masked)
    module.rollout_settings.stop_strings = []
    module.configure_model()
    before = _snapshot(module)
    trainer = fit_toy(module, toy_dir, tmp_path)
    assert trainer.callback_metrics["train/truncated"] == 1.0
    assert _unchanged(before, module) == masked


def test_overlong_and_kl_reward_shaping_exact(tiny_model_dir):
    module = _module(tiny_model_dir, beta=0.5, overlong_buffer=4, overlong_factor=0.5)
    traj = SimpleNamespace(
        lengths=torch.tensor([8, 10, 12]), completion_mask=torch.ones(3, 2)
    )  # max_new_tokens 12: penalties 0, -0.5 * 2/4, -0.5
    total = torch.tensor([1.0, 1.0, 0.0])
    shaped, extra = module.shape_rewards(traj, total, None, None)
    assert shaped.tolist() == pytest.approx([1.0, 0.75, -0.5])
    assert extra == {"reward/overlong": pytest.approx(-0.25)}
    module.grpo.overlong_buffer = None
    old = torch.tensor([[-1.0, -2.0]] * 3)
    ref = torch.tensor([[-1.5, -1.0]] * 3)
    module.grpo.kl_estimator = "k1"
    shaped, extra = module.shape_rewards(traj, total, ref, old)
    # beta * sum_t (logp - ref) = 0.5 * (0.5 - 1) = -0.25 subtracted from each reward
    assert shaped.tolist() == pytest.approx([1.25, 1.25, 0.25])
    assert extra["reward/kl_penalty"] == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="overlong_buffer"):
        _module(tiny_model_dir, overlong_buffer=13)


def test_kl_as_reward_penalty_leaves_the_loss_without_kl(tiny_model_dir, toy_dir, tmp_path):
    L.seed_everything(0)
    module = _module(tiny_model_dir, lora=False, kl_penalty="reward")
    losses = []
    real = grpo_mod.grpo_loss
    monkeypatch_loss = lambda *a, **k: losses.append(k["beta"]) or real(*a, **k)  # noqa: E731
    grpo_mod.grpo_loss = monkeypatch_loss
    try:
        trainer = fit_toy(module, toy_dir, tmp_path, steps=2)
    finally:
        grpo_mod.grpo_loss = real
    m = trainer.callback_metrics
    assert losses and set(losses) == {0.0}  # no KL term in the loss
    assert m["reward/kl_penalty"] > 0  # step 2: the policy moved away from the reference
    # the logged KL is the per-token KL the penalty is made of: beta * tokens * KL = penalty
    assert m["train/kl"] > 0


def test_entropy_bonus_alone_moves_the_policy(tiny_model_dir, toy_dir, tmp_path):
    # Equal rewards (zero advantage) and no KL: only the entropy bonus has a gradient.
    for coef, moves in ((0.0, False), (0.1, True)):
        L.seed_everything(0)
        module = _module(tiny_model_dir, rewards=[ConstantReward()], beta=0.0, entropy_coef=coef)
        module.configure_model()
        before = _snapshot(module)
        fit_toy(module, toy_dir, tmp_path)
        assert _unchanged(before, module) != moves


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_reference_sync_mixes_the_policy_into_the_reference(
    tiny_model_dir, toy_dir, tmp_path, alpha
):
    L.seed_everything(0)
    module = _module(tiny_model_dir, lora=False, ref_sync_every=1, ref_sync_alpha=alpha)
    module.configure_model()
    start = {n: p.detach().clone() for n, p in module.ref_model.named_parameters()}
    fit_toy(module, toy_dir, tmp_path)
    policy = dict(module.policy.named_parameters())
    moved = 0
    for name, ref in module.ref_model.named_parameters():
        want = alpha * policy[name].detach() + (1 - alpha) * start[name]
        torch.testing.assert_close(ref, want, atol=1e-7, rtol=0)
        moved += not torch.equal(ref, start[name])
    assert moved
    assert any(k.startswith("ref_model.") for k in module.state_dict())


def test_reference_sync_is_refused_for_lora_fsdp_and_without_a_reference(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    with pytest.raises(ValueError, match="beta"):
        GRPOSettings(beta=0.0, ref_sync_every=5)
    module = _module(tiny_model_dir, ref_sync_every=5)
    with pytest.raises(ValueError, match="full fine-tuning"):
        module.configure_model()
    monkeypatch.setattr(grpo_mod, "is_sharded", lambda model: True)  # as under FSDP
    with pytest.raises(ValueError, match="sharded"):
        fit_toy(_module(tiny_model_dir, lora=False, ref_sync_every=5), toy_dir, tmp_path)


@pytest.mark.parametrize(
    "variant", [{"ratio_level": "sequence"}, {"policy_loss": "cispo", "eps_low": 1.0}]
)
def test_gspo_and_cispo_steps_update_the_policy(tiny_model_dir, toy_dir, tmp_path, variant):
    L.seed_everything(0)
    module = _module(tiny_model_dir, beta=0.0, num_iterations=2, **variant)
    module.configure_model()
    before = _snapshot(module)
    trainer = fit_toy(module, toy_dir, tmp_path)
    assert not _unchanged(before, module)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_batch_budget_counts_rollouts_not_optimizer_steps(tiny_model_dir, toy_dir, tmp_path):
    """Dynamic sampling spends 2 rollouts on its first step here; a budget of 4 batches
    stops after the 4th rollout (3 optimizer steps), however the epoch is limited."""
    from tiny_fit import fit_toy as _fit

    from vthinker.training.callbacks import BatchBudget

    L.seed_everything(0)
    module = _module(
        tiny_model_dir, rewards=[ConstantThenLength(1)], beta=0.0, dynamic_sampling=True
    )
    calls = []
    step = module.training_step
    module.training_step = lambda *a, **k: calls.append(1) or step(*a, **k)
    budget = BatchBudget(4)
    trainer = _fit(module, toy_dir, tmp_path, steps=-1, callbacks=[budget])
    assert len(calls) == 4 and budget.seen == 4
    assert trainer.global_step == 3
