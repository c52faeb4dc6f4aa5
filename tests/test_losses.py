"""Exact values for the GRPO math, computed independently with plain Python floats."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from vthinker.training.losses import (
    group_advantages,
    grpo_loss,
    kl_k3,
    token_entropy,
    token_logprobs,
)

REWARDS = [1.0, 0.0, 2.0, 1.0, 3.0, 3.0, 0.0, 6.0]  # two groups of 4


def _adv_ref(rewards, g, scale, eps):
    out = []
    all_std = statistics.stdev(rewards)  # unbiased, n-1
    for k in range(0, len(rewards), g):
        grp = rewards[k : k + g]
        mu = sum(grp) / g
        std = statistics.stdev(grp)
        for r in grp:
            if scale == "group":
                out.append((r - mu) / (std + eps))
            elif scale == "batch":
                out.append((r - mu) / (all_std + eps))
            else:
                out.append(r - mu)
    return out


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_advantages_each_scale(scale):
    got = group_advantages(torch.tensor(REWARDS), 4, scale=scale, eps=1e-4).tolist()
    assert got == pytest.approx(_adv_ref(REWARDS, 4, scale, 1e-4), rel=1e-5, abs=1e-7)


def test_group_advantages_hand_values():
    # group [1, 0, 2, 1]: mean 1, unbiased std sqrt(2/3) = 0.816497
    got = group_advantages(torch.tensor([1.0, 0.0, 2.0, 1.0]), 4, eps=0.0)
    s = math.sqrt(2 / 3)
    assert got.tolist() == pytest.approx([0.0, -1 / s, 1 / s, 0.0])


def test_zero_std_group_gets_zero_advantage_not_nan():
    got = group_advantages(torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 0.0]), 3)
    assert not torch.isnan(got).any()
    assert got[:3].tolist() == [0.0, 0.0, 0.0]
    assert got[3:].tolist() == pytest.approx(
        [-1 / 3 / (math.sqrt(1 / 3) + 1e-4)] * 1
        + [2 / 3 / (math.sqrt(1 / 3) + 1e-4)]
        + [-1 / 3 / (math.sqrt(1 / 3) + 1e-4)]
    )
    assert group_advantages(torch.tensor([5.0]), 1).tolist() == [0.0]


def test_group_advantages_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible"):
        group_advantages(torch.zeros(5), 4)


def test_kl_k3_exact():
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.0, -1.0, -2.5])
    want = [math.exp(r - p) - (r - p) - 1 for p, r in zip(logp.tolist(), ref.tolist(), strict=True)]
    assert kl_k3(logp, ref).tolist() == pytest.approx(want)
    assert want[0] == 0.0 and all(w >= 0 for w in want)


def test_token_logprobs_and_entropy_exact():
    logits = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    ids = torch.tensor([[2, 1]])
    z = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert token_logprobs(logits, ids).tolist()[0] == pytest.approx([3 - z, -math.log(3)])
    probs = [math.exp(v - z) for v in (1.0, 2.0, 3.0)]
    h0 = -sum(p * math.log(p) for p in probs)
    assert token_entropy(logits).tolist()[0] == pytest.approx([h0, math.log(3)])


def _plain_logprobs(logits, ids, temperature):
    """Reference: the unchunked formula in float64."""
    z = logits.double() / temperature
    return z.log_softmax(-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("chunk", [1, 2, 3, 256])
def test_chunked_logprobs_and_gradient_match_the_plain_formula(chunk):
    gen = torch.Generator().manual_seed(0)
    full = torch.randn(3, 6, 11, generator=gen, dtype=torch.float64) * 3
    logits = full[:, :-1].clone().requires_grad_(True)  # (3, 5, 11)
    ids = torch.randint(0, 11, (3, 5), generator=gen)
    weights = torch.randn(3, 5, generator=gen, dtype=torch.float64)

    got = token_logprobs(logits, ids, temperature=0.7, chunk_tokens=chunk)
    (got * weights).sum().backward()
    ref_logits = logits.detach().clone().requires_grad_(True)
    want = _plain_logprobs(ref_logits, ids, 0.7)
    (want * weights).sum().backward()
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(logits.grad, ref_logits.grad, rtol=1e-6, atol=1e-6)
    h = token_entropy(logits.detach(), temperature=0.7, chunk_tokens=chunk)
    p = (ref_logits.detach() / 0.7).softmax(-1)
    torch.testing.assert_close(h.double(), -(p * p.log()).sum(-1), rtol=1e-6, atol=1e-6)


def test_chunked_logprobs_on_a_slice_of_bf16_logits_save_no_float32_copy():
    """Backward keeps the bf16 logits and one float per position, not float32 (B, T, V)."""
    logits = torch.randn(2, 9, 50, dtype=torch.bfloat16).requires_grad_(True)
    view = logits[:, :-1]  # what completion_logprobs passes: a non-contiguous view
    ids = torch.randint(0, 50, (2, 8))
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = token_logprobs(view, ids, chunk_tokens=3)
    assert max(t.numel() * t.element_size() for t in saved) <= view.numel() * 2
    out.sum().backward()
    assert logits.grad.dtype == torch.bfloat16
    want = torch.autograd.grad(
        _plain_logprobs(logits, torch.cat([ids, ids[:, :1]], 1), 1.0)[:, :-1].sum(), logits
    )[0]
    torch.testing.assert_close(logits.grad.float(), want.float(), rtol=0.02, atol=0.02)


# A batch of 2 completions, width 3; the second has 2 real tokens.
LOGP = [[-1.0, -0.5, -2.0], [-0.2, -1.5, -3.0]]
OLD = [[-1.1, -0.9, -2.0], [-0.1, -1.0, -1.0]]
REF = [[-1.0, -0.7, -1.5], [-0.4, -1.2, -2.0]]
MASK = [[1, 1, 1], [1, 1, 0]]
ADV = [1.0, -2.0]


def _per_token_ref(beta, lo, hi):
    """Plain-Python per-token objective and its pieces."""
    rows = []
    for lp_row, old_row, ref_row, a in zip(LOGP, OLD, REF, ADV, strict=True):
        row = []
        for lp, old, ref in zip(lp_row, old_row, ref_row, strict=True):
            rho = math.exp(lp - old)
            clipped = min(max(rho, 1 - lo), 1 + hi)
            pg = -min(rho * a, clipped * a)
            kl = math.exp(ref - lp) - (ref - lp) - 1
            row.append((pg + beta * kl, pg, kl, rho))
        rows.append(row)
    return rows


def _tensors():
    return (
        torch.tensor(LOGP, requires_grad=True),
        torch.tensor(OLD),
        torch.tensor(REF),
        torch.tensor(ADV),
        torch.tensor(MASK),
    )


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_every_loss_type_exact(loss_type):
    beta, lo, hi = 0.04, 0.2, 0.28
    rows = _per_token_ref(beta, lo, hi)
    kept = [
        [t[0] for t, m in zip(r, mr, strict=True) if m] for r, mr in zip(rows, MASK, strict=True)
    ]
    if loss_type == "grpo":
        want = sum(sum(k) / len(k) for k in kept) / 2
    elif loss_type in ("bnpo", "dapo"):
        want = sum(sum(k) for k in kept) / 5
    else:  # dr_grpo: sum / (batch * width)
        want = sum(sum(k) for k in kept) / (2 * 3)
    logp, old, ref, adv, mask = _tensors()
    loss, stats = grpo_loss(logp, old, ref, adv, mask, beta, lo, hi, loss_type)
    assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-7)
    kls = [t[2] for r, mr in zip(rows, MASK, strict=True) for t, m in zip(r, mr, strict=True) if m]
    assert stats.kl.item() == pytest.approx(sum(kls) / 5, rel=1e-5, abs=1e-7)
    ratios = [
        t[3] for r, mr in zip(rows, MASK, strict=True) for t, m in zip(r, mr, strict=True) if m
    ]
    assert stats.ratio_mean.item() == pytest.approx(sum(ratios) / 5, rel=1e-5, abs=1e-7)
    loss.backward()
    assert logp.grad[1, 2] == 0.0  # masked token gets no gradient


def test_clipping_at_both_bounds():
    # Row 0: A > 0, ratios e^0.1=1.105 (inside), e^0.4=1.49 (above 1.28: clipped), e^0=1.
    # Row 1: A < 0, ratios e^-0.1=0.905 (inside), e^-0.5=0.607 (below 0.8: clipped), e^-2 (clipped).
    logp, old, _ref, adv, _mask = _tensors()
    _, stats = grpo_loss(logp, old, None, adv, torch.ones(2, 3), 0.0, 0.2, 0.28, "bnpo")
    assert stats.clip_high.item() == pytest.approx(1 / 6)
    assert stats.clip_low.item() == pytest.approx(2 / 6)
    # Gradient vanishes exactly on clipped tokens (the min picks the constant clipped term).
    loss, _ = grpo_loss(logp, old, None, adv, torch.ones(2, 3), 0.0, 0.2, 0.28, "bnpo")
    loss.backward()
    assert logp.grad[0, 1] == 0.0 and logp.grad[1, 1] == 0.0 and logp.grad[1, 2] == 0.0
    # Unclipped token: d/dlogp of -(rho * A)/6 = -rho * A / 6.
    assert logp.grad[0, 0].item() == pytest.approx(-math.exp(0.1) * 1.0 / 6, rel=1e-5, abs=1e-7)
    assert logp.grad[1, 0].item() == pytest.approx(-math.exp(-0.1) * -2.0 / 6, rel=1e-5, abs=1e-7)


def test_ratio_one_and_zero_advantage_give_zero_policy_loss():
    lp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss, stats = grpo_loss(lp, lp.detach(), None, torch.zeros(1), torch.ones(1, 2), 0.0)
    assert loss.item() == 0.0 and stats.ratio_mean.item() == 1.0


def test_beta_zero_ignores_reference():
    logp, old, ref, adv, mask = _tensors()
    a, _ = grpo_loss(logp, old, ref, adv, mask, 0.0)
    b, _ = grpo_loss(logp, old, None, adv, mask, 0.0)
    assert a.item() == b.item()


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_micro_batches_add_up_to_the_full_batch(loss_type):
    logp, old, ref, adv, mask = _tensors()
    full, _ = grpo_loss(logp, old, ref, adv, mask, 0.04, loss_type=loss_type)
    parts = sum(
        grpo_loss(
            logp[i : i + 1],
            old[i : i + 1],
            ref[i : i + 1],
            adv[i : i + 1],
            mask[i : i + 1],
            0.04,
            loss_type=loss_type,
            max_completion_len=3,
            num_sequences=2,
            num_tokens=mask.sum(),
        )[0]
        for i in range(2)
    )
    assert parts.item() == pytest.approx(full.item(), rel=1e-5, abs=1e-7)


def test_empty_mask_row_does_not_produce_nan():
    logp = torch.tensor([[-1.0, -1.0]])
    loss, stats = grpo_loss(logp, logp, logp, torch.ones(1), torch.zeros(1, 2), 0.04)
    assert loss.item() == 0.0 and not math.isnan(stats.kl.item())


# One token far from the reference (ref - logp = 15: k3 = e^15 - 16 = 3.3e6 unclamped) and
# one whose ratio to the sampler is e^25; the last token of row 1 is masked out.
FAR_LOGP = [[-16.0, -1.0, -0.5], [-0.5, -1.0, -40.0]]
FAR_OLD = [[-16.0, -1.2, -0.5], [-25.5, -1.0, -1.0]]
FAR_REF = [[-1.0, -1.1, -26.0], [-0.4, -1.0, -1.0]]
FAR_MASK = [[1, 1, 1], [1, 1, 0]]
FAR_ADV = [1.0, -1.0]


def _k3_ref(lp, ref, clip_d, clip_kl):
    d = ref - lp
    if clip_d is not None:
        d = min(max(d, -clip_d), clip_d)
    kl = math.exp(d) - d - 1
    return kl if clip_kl is None else min(kl, clip_kl)


@pytest.mark.parametrize(("clip_d", "clip_kl"), [(20.0, 10.0), (20.0, None), (None, None)])
def test_kl_k3_clamps_exact(clip_d, clip_kl):
    logp = torch.tensor(FAR_LOGP, dtype=torch.float64)
    ref = torch.tensor(FAR_REF, dtype=torch.float64)
    want = [
        [_k3_ref(lp, r, clip_d, clip_kl) for lp, r in zip(lr, rr, strict=True)]
        for lr, rr in zip(FAR_LOGP, FAR_REF, strict=True)
    ]
    got = kl_k3(logp, ref, log_ratio_clip=clip_d, kl_clip=clip_kl)
    assert got.tolist() == [pytest.approx(w, rel=1e-9) for w in want]
    # Hand values: e^15 - 16 clamps to 10; ref - logp = -25.5 clamps to -20 before the exp.
    if clip_kl is not None:
        assert got[0, 0].item() == 10.0
    if clip_d is not None and clip_kl is None:
        assert got[0, 2].item() == pytest.approx(math.exp(-20.0) + 19.0, rel=1e-12)


def test_kl_k3_defaults_are_the_easyr1_clamps():
    logp, ref = torch.tensor(FAR_LOGP), torch.tensor(FAR_REF)
    assert torch.equal(kl_k3(logp, ref), kl_k3(logp, ref, log_ratio_clip=20.0, kl_clip=10.0))


def test_grpo_loss_clamps_log_ratio_and_kl_exact():
    beta, lo, hi = 0.04, 0.2, 0.2
    rows = []
    for lr, orow, rrow, a in zip(FAR_LOGP, FAR_OLD, FAR_REF, FAR_ADV, strict=True):
        row = []
        for lp, old, ref in zip(lr, orow, rrow, strict=True):
            rho = math.exp(min(max(lp - old, -20.0), 20.0))
            pg = -min(rho * a, min(max(rho, 1 - lo), 1 + hi) * a)
            kl = _k3_ref(lp, ref, 20.0, 10.0)
            row.append((pg + beta * kl, kl, rho))
        rows.append(row)
    kept = [
        [t for t, m in zip(r, mr, strict=True) if m] for r, mr in zip(rows, FAR_MASK, strict=True)
    ]
    want = sum(sum(t[0] for t in k) / len(k) for k in kept) / 2
    logp = torch.tensor(FAR_LOGP, dtype=torch.float64, requires_grad=True)
    args = (
        torch.tensor(FAR_OLD, dtype=torch.float64),
        torch.tensor(FAR_REF, dtype=torch.float64),
        torch.tensor(FAR_ADV, dtype=torch.float64),
        torch.tensor(FAR_MASK),
    )
    loss, stats = grpo_loss(logp, *args, beta, lo, hi, "grpo")
    assert loss.item() == pytest.approx(want, rel=1e-9)
    flat = [t for k in kept for t in k]
    assert stats.kl.item() == pytest.approx(sum(t[1] for t in flat) / 5, rel=1e-9)
    assert stats.kl_max.item() == 10.0
    assert stats.ratio_mean.item() == pytest.approx(sum(t[2] for t in flat) / 5, rel=1e-9)
    assert rows[1][0][2] == math.exp(20.0)  # log-ratio 25 clamped to 20
    loss.backward()
    # [0, 0]: ratio 1, A = 1 (gradient -1 / (3 tokens * 2 rows)); its clamped KL adds none.
    assert logp.grad[0, 0].item() == pytest.approx(-1 / 6, rel=1e-9)
    # [1, 0]: the clamped log-ratio passes no gradient; the KL term does (d = 0.1).
    assert logp.grad[1, 0].item() == pytest.approx(beta * (1 - math.exp(0.1)) / 4, rel=1e-9)


def test_kl_max_is_over_the_mask_and_clamps_can_be_off():
    logp = torch.tensor(FAR_LOGP, dtype=torch.float64)
    old, ref = (
        torch.tensor(FAR_OLD, dtype=torch.float64),
        torch.tensor(FAR_REF, dtype=torch.float64),
    )
    adv, mask = torch.tensor(FAR_ADV, dtype=torch.float64), torch.tensor(FAR_MASK)
    _, stats = grpo_loss(logp, old, ref, adv, mask, 0.04, kl_clip=None)
    # The masked-out token's k3 (e^20 - 21) is larger, and not counted.
    assert stats.kl_max.item() == pytest.approx(math.exp(15.0) - 16.0, rel=1e-9)
    _, raw = grpo_loss(logp, old, ref, adv, mask, 0.04, log_ratio_clip=None, kl_clip=None)
    assert raw.ratio_mean.item() == pytest.approx(
        (1 + math.exp(0.2) + 1 + math.exp(25.0) + 1) / 5, rel=1e-9
    )
    _, no_kl = grpo_loss(logp, old, None, adv, mask, 0.04)
    assert no_kl.kl_max.item() == 0.0


# --- sampler/trainer mismatch (truncated importance sampling) ---------------------------------


def test_sampler_correction_token_level_exact():
    from vthinker.training.losses import sampler_correction

    old = torch.tensor([[-1.0, -2.0, -0.5]])
    sampler = torch.tensor([[-1.5, -1.0, -0.7]])
    mask = torch.tensor([[1, 1, 0]])
    r0, r1 = math.exp(0.5), math.exp(-1.0)  # 1.6487, 0.3679; the third token is off the mask
    w, stats = sampler_correction(old, sampler, mask, cap=1.5)
    assert w.flatten().tolist() == pytest.approx([1.5, r1, 0.0])
    assert float(stats.ratio_mean) == pytest.approx((r0 + r1) / 2)
    assert float(stats.clipped) == pytest.approx(0.5)
    w, _ = sampler_correction(old, sampler, mask, mode="mask", cap=1.5)
    assert w.flatten().tolist() == pytest.approx([0.0, r1, 0.0])


def test_sampler_correction_sequence_level_exact():
    from vthinker.training.losses import sampler_correction

    old = torch.tensor([[-1.0, -2.0, -0.5], [-0.2, -0.1, -3.0]])
    sampler = torch.tensor([[-1.5, -1.0, -0.7], [-0.5, -0.6, -1.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    s0, s1 = math.exp(0.5 - 1.0), math.exp(0.3 + 0.5)  # products of the masked ratios
    w, stats = sampler_correction(old, sampler, mask, level="sequence", cap=1.5)
    assert w.flatten().tolist() == pytest.approx([s0, s0, 0.0, 1.5, 1.5, 0.0])
    assert float(stats.ratio_mean) == pytest.approx((s0 + s1) / 2)
    assert float(stats.clipped) == pytest.approx(0.5)
    w, _ = sampler_correction(old, sampler, mask, level="sequence", mode="mask", cap=1.5)
    assert w.flatten().tolist() == pytest.approx([s0, s0, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="level"):
        sampler_correction(old, sampler, mask, level="row")


def test_grpo_loss_weights_the_policy_part_by_the_sampler_weights():
    # ratio 1 (logp == old), A = 2: per-token policy loss -A * w; grpo: mean over the row.
    logp = torch.zeros(1, 2, requires_grad=True)
    w = torch.tensor([[0.5, 1.0]])
    loss, _ = grpo_loss(
        logp,
        torch.zeros(1, 2),
        None,
        torch.tensor([2.0]),
        torch.ones(1, 2),
        beta=0.0,
        sampler_weights=w,
    )
    assert float(loss) == pytest.approx(-(2.0 * 0.5 + 2.0 * 1.0) / 2)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx(
        [-0.5, -1.0]
    )  # d(-ρ A w / 2)/d logp at ρ=1


# --- KL estimators ----------------------------------------------------------------------------


def test_kl_estimators_exact():
    from vthinker.training.losses import kl_estimate

    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.0, -1.0, -2.5])  # d = ref - logp = 0, 1, -2
    assert kl_estimate(logp, ref, "k1").tolist() == pytest.approx([0.0, -1.0, 2.0])
    assert kl_estimate(logp, ref, "k2").tolist() == pytest.approx([0.0, 0.5, 2.0])
    k3 = [0.0, math.e - 2.0, math.exp(-2.0) + 1.0]
    assert kl_estimate(logp, ref, "k3").tolist() == pytest.approx(k3)
    # The clamps apply to every estimator: d to ±0.5, the estimate to at most 0.3.
    got = kl_estimate(logp, ref, "k1", log_ratio_clip=0.5, kl_clip=0.3)
    assert got.tolist() == pytest.approx([0.0, -0.5, 0.3])
    got = kl_estimate(logp, ref, "k2", log_ratio_clip=0.5, kl_clip=0.3)
    assert got.tolist() == pytest.approx([0.0, 0.125, 0.125])
    with pytest.raises(ValueError, match="k1, k2 or k3"):
        kl_estimate(logp, ref, "k4")


def test_grpo_loss_uses_the_chosen_kl_estimator():
    # ratio 1 and A = 0: the loss is beta x the token mean of the estimate (grpo aggregation).
    logp = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.0, -1.0, -2.5]])
    for estimator, mean in (("k1", 1.0 / 3), ("k2", 2.5 / 3)):
        loss, stats = grpo_loss(
            logp, logp, ref, torch.zeros(1), torch.ones(1, 3), beta=0.1, kl_estimator=estimator
        )
        assert float(loss) == pytest.approx(0.1 * mean)
        assert float(stats.kl) == pytest.approx(mean)


# --- GRPO variants (issue 16): hand-computed values ---------------------------------------


@pytest.mark.parametrize("chunk", [1, 2, 256])
def test_entropy_gradient_matches_autograd_of_the_plain_formula(chunk):
    gen = torch.Generator().manual_seed(1)
    logits = (torch.randn(2, 4, 7, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    weights = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    got = token_entropy(logits, temperature=0.8, chunk_tokens=chunk)
    (got * weights).sum().backward()
    ref = logits.detach().clone().requires_grad_(True)
    logp = (ref / 0.8).log_softmax(-1)
    want = -(logp.exp() * logp).sum(-1)
    (want * weights).sum().backward()
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(logits.grad, ref.grad, rtol=1e-6, atol=1e-6)


def test_sequence_level_ratio_exact():
    # log ratios on the two masked tokens: 0.5 and 0 -> GSPO ratio exp(0.25) for the sequence.
    logp = torch.tensor([[-1.0, -2.0, -3.0]], requires_grad=True)
    old = torch.tensor([[-1.5, -2.0, -2.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    rho = math.exp(0.25)
    up, _ = grpo_loss(logp, old, None, torch.tensor([1.0]), mask, beta=0.0, ratio_level="sequence")
    assert float(up) == pytest.approx(-1.2)  # clipped at 1 + 0.2: no gradient
    down, stats = grpo_loss(
        logp, old, None, torch.tensor([-1.0]), mask, beta=0.0, ratio_level="sequence"
    )
    assert float(down) == pytest.approx(rho)
    assert float(stats.ratio_mean) == pytest.approx(rho)
    down.backward()
    # d exp(mean_t d_t) / d logp_t = rho / 2 on each of the 2 masked tokens, 0 off the mask
    assert logp.grad.tolist()[0] == pytest.approx([rho / 2, rho / 2, 0.0])
    # token level differs: ratios exp(0.5) and 1, the first clipped (A = +1)
    tok, _ = grpo_loss(logp, old, None, torch.tensor([1.0]), mask, beta=0.0)
    assert float(tok) == pytest.approx(-(1.2 + 1.0) / 2)


def test_cispo_keeps_a_clipped_detached_weight_on_every_token_exact():
    logp = torch.tensor([[-1.0, -0.5]], requires_grad=True)
    old = torch.tensor([[-1.2, -0.5]])  # ratios exp(0.2) = 1.221 and 1
    mask = torch.ones(1, 2)
    loss, _ = grpo_loss(
        logp, old, None, torch.tensor([2.0]), mask, beta=0.0, eps_high=0.1, policy_loss="cispo"
    )
    # per token -clip(rho) * A * logp = -(1.1 * 2 * -1.0), -(1.0 * 2 * -0.5); mean of 2.2 and 1
    assert float(loss) == pytest.approx(1.6)
    loss.backward()
    assert logp.grad.tolist()[0] == pytest.approx([-1.1, -1.0])  # -clip * A / 2 tokens
    # PPO clipping gives the clipped token no gradient at all
    logp2 = logp.detach().clone().requires_grad_(True)
    ppo, _ = grpo_loss(logp2, old, None, torch.tensor([2.0]), mask, beta=0.0, eps_high=0.1)
    ppo.backward()
    assert logp2.grad.tolist()[0][0] == 0.0


def test_entropy_bonus_is_subtracted_per_token():
    logp = torch.tensor([[-1.0, -1.0]])
    entropy = torch.tensor([[math.log(3), 0.5]])
    mask = torch.tensor([[1.0, 0.0]])
    loss, stats = grpo_loss(
        logp, logp, None, torch.tensor([0.0]), mask, beta=0.0, entropy=entropy, entropy_coef=0.1
    )
    assert float(loss) == pytest.approx(-0.1 * math.log(3))  # zero advantage, masked 2nd token
    assert float(stats.policy_loss) == 0.0
    with pytest.raises(ValueError, match="entropy"):
        grpo_loss(logp, logp, None, torch.tensor([0.0]), mask, entropy_coef=0.1)


def test_overlong_penalty_exact():
    from vthinker.training.losses import overlong_penalty

    lengths = torch.tensor([5, 6, 7, 8, 10, 12])
    got = overlong_penalty(lengths, max_len=10, buffer=4)
    assert got.tolist() == pytest.approx([0.0, 0.0, -0.25, -0.5, -1.0, -1.0])
    assert overlong_penalty(lengths, 10, 4, factor=0.5).tolist()[3] == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="buffer"):
        overlong_penalty(lengths, 10, 0)


def test_informative_groups_exact():
    from vthinker.training.losses import informative_groups

    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.5, 0.0])
    assert informative_groups(rewards, 4).tolist() == [True, False, True]


def test_kl_reward_penalty_exact():
    from vthinker.training.losses import kl_estimate, kl_reward_penalty

    logp = torch.tensor([[-1.0, -2.0, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    # k1 = logp - ref = 0.5, -1 on the masked tokens
    k1 = kl_estimate(logp, ref, "k1")
    assert kl_reward_penalty(k1, mask, 0.1).tolist() == pytest.approx([-0.05])
    k3 = (math.exp(-0.5) + 0.5 - 1) + (math.exp(1.0) - 1.0 - 1)
    assert kl_reward_penalty(kl_estimate(logp, ref, "k3"), mask, 0.1).tolist() == pytest.approx(
        [0.1 * k3]
    )


def test_mix_into_reference_exact():
    from vthinker.training.losses import mix_into_reference

    ref, pol = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([[0.0, 4.0]]))
        ref.bias.fill_(1.0)
        pol.weight.copy_(torch.tensor([[1.0, 0.0]]))
        pol.bias.fill_(-1.0)
    mix_into_reference(ref, pol, 0.25)
    assert ref.weight.tolist() == [[0.25, 3.0]]
    assert ref.bias.tolist() == [0.5]
    with pytest.raises(ValueError, match="shape"):
        mix_into_reference(ref, torch.nn.Linear(3, 1), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        mix_into_reference(ref, pol, 0.0)
