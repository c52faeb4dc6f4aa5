"""Group rollouts and teacher-forced log-probs on the tiny model."""

from __future__ import annotations

import pytest
import torch

from vthinker.data.collate import FrameSampling, VideoQACollator, VideoQADataset
from vthinker.data.schema import read_jsonl
from vthinker.models.policy import PolicyConfig, load_policy
from vthinker.training.rollout import (
    HFRollout,
    RolloutSettings,
    completion_ends,
    completion_logprobs,
    encode_prompt_videos,
    encode_videos,
    end_token_ids,
    stopped_on_string,
)


@pytest.fixture(scope="module")
def setup(tiny_model_dir, toy_dir, processor):
    model = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32"))
    model.eval()
    samples = read_jsonl(toy_dir / "train.jsonl")[:2]
    samples[1].question += " Look carefully at every shape and its colour."  # unequal lengths
    ds = VideoQADataset(samples, video_root=toy_dir, frames=FrameSampling(max_frames=4))
    collate = VideoQACollator(processor, mode="generate", max_pixels=112 * 112, min_pixels=3136)
    return model, collate([ds[0], ds[1]])


def test_completion_mask_exact():
    end = {9}
    ids = torch.tensor([[5, 6, 9, 9, 9], [5, 6, 7, 8, 4], [9, 1, 1, 1, 1]])
    mask, lengths, truncated = completion_ends(ids, end)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert lengths.tolist() == [2, 5, 0]  # the end token is not counted
    assert truncated.tolist() == [False, True, False]


def test_completion_mask_drops_the_filler_after_a_stop_string():
    # 9 is both the pad and an EOS id (as <|endoftext|> is for Qwen). Row 0 stopped on a
    # stop string (its 9 is generate's filler), row 1 sampled EOS 9, row 2 stopped on a stop
    # string with no room left for filler, row 3 ran out of tokens.
    end = {8, 9}
    ids = torch.tensor([[5, 6, 9, 9], [5, 6, 9, 9], [5, 6, 7, 4], [5, 6, 7, 4]])
    stopped = torch.tensor([True, False, True, False])
    mask, lengths, truncated = completion_ends(ids, end, stopped)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    assert lengths.tolist() == [2, 2, 4, 4]
    assert truncated.tolist() == [False, False, False, True]


def test_stopped_on_string_decodes_up_to_the_first_end_token(processor):
    tok = processor.tokenizer
    stop, pad, im_end = (
        tok.convert_tokens_to_ids(t) for t in ("</answer>", "<|endoftext|>", "<|im_end|>")
    )
    words = tok.encode("the red square")
    rows = [
        [*words, stop, pad, pad],  # stop string, then filler
        [*words, pad, pad, pad],  # sampled <|endoftext|> (an EOS id)
        [*words, im_end, pad, pad],  # sampled <|im_end|>
        [pad, stop, pad, pad, pad, pad],  # an end token first: nothing before it
        [*words[:2], *words, stop],  # stop string as the last token, no filler
    ]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    end = {pad, im_end}
    got = stopped_on_string(ids, end, tok, ["</answer>"])
    assert got.tolist() == [True, False, False, False, True]
    assert stopped_on_string(ids, end, tok, []).tolist() == [False] * 5


def test_group_rollout_shapes_and_single_vision_pass(setup, processor):
    model, batch = setup
    calls = []
    vt = model.model.visual
    handle = vt.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    torch.manual_seed(0)
    traj = HFRollout(RolloutSettings(max_new_tokens=10), processor.tokenizer)(model, batch, 4)
    handle.remove()
    n_patches = int(batch["video_grid_thw"].prod(-1).sum())
    assert calls == [n_patches]  # one vision pass for both prompts, not one per completion
    assert traj.completion_ids.shape[0] == 8 and traj.completion_ids.shape[1] <= 10
    assert traj.prompt_ids.shape[0] == 8
    assert torch.equal(traj.prompt_ids[0], traj.prompt_ids[3])  # rows of a group share a prompt
    assert not torch.equal(traj.prompt_ids[0], traj.prompt_ids[4])
    assert len(traj.texts) == 8
    assert traj.row_vision(slice(0, 8))["video_grid_thw"].shape == (8, 3)
    assert traj.vision["prompt_video_index"].tolist() == [0, 1]
    # texts are the decoded masked completions
    for i in range(8):
        ids = traj.completion_ids[i][traj.completion_mask[i].bool()]
        assert processor.tokenizer.decode(ids, skip_special_tokens=True) == traj.texts[i]


def _per_row_pixels(traj) -> torch.Tensor:
    """Each prompt's patches repeated for each of its rows (what a plain forward needs)."""
    v = traj.vision
    blocks = torch.split(
        v["prompt_pixel_values_videos"], v["prompt_video_grid_thw"].prod(-1).tolist()
    )
    return torch.cat([b for b in blocks for _ in range(traj.group_size)])


def test_trained_vision_tower_runs_once_per_prompt_with_gradient(setup, processor):
    """Scoring with a trained tower encodes each prompt's video once (not once per row) and
    its gradient reaches the tower; the log-probs equal those from per-row pixels."""
    model, batch = setup
    traj = HFRollout(
        RolloutSettings(max_new_tokens=4, top_k=1, stop_strings=[]), processor.tokenizer
    )(model, batch, 3)
    encoded: list[int] = []
    tower = model.model.visual
    hook = tower.register_forward_hook(
        lambda m, a, kw, out: encoded.append(int(kw["grid_thw"].shape[0])), with_kwargs=True
    )
    try:
        for p in tower.parameters():
            p.requires_grad_(True)
        lp, _ = completion_logprobs(model, traj, slice(1, 6))  # rows 1-2 of prompt 0, 3-5 of 1
        lp.sum().backward()
    finally:
        hook.remove()
    assert encoded == [2]  # two prompts, one call, not five rows
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tower.parameters())
    with torch.no_grad():
        ref, _ = completion_logprobs(
            model, traj, slice(0, 6), video_embeds=encode_videos(model, traj)
        )
    torch.testing.assert_close(lp.detach(), ref[1:6], rtol=1e-5, atol=1e-5)
    model.zero_grad()
    for p in tower.parameters():
        p.requires_grad_(False)


def test_logprobs_match_generation_and_reuse_video_embeddings(setup, processor):
    model, batch = setup
    # top_k=1 sampling is greedy: every generated token must be the argmax of the
    # teacher-forced logits, which checks positions (mrope, left padding) end to end.
    traj = HFRollout(
        RolloutSettings(max_new_tokens=8, top_k=1, stop_strings=[]), processor.tokenizer
    )(model, batch, 2)
    emb = encode_videos(model, traj)
    with torch.no_grad():
        lp_pixels, ent = completion_logprobs(model, traj, slice(0, 4), with_entropy=True)
        lp_cached, _ = completion_logprobs(model, traj, slice(0, 4), video_embeds=emb)
        lp_part, _ = completion_logprobs(model, traj, slice(1, 3), video_embeds=emb)
        full = model(
            input_ids=torch.cat([traj.prompt_ids, traj.completion_ids], 1),
            attention_mask=torch.cat([traj.prompt_mask, traj.completion_mask], 1),
            pixel_values_videos=_per_row_pixels(traj),
            video_grid_thw=traj.row_vision(slice(0, 4))["video_grid_thw"],
            second_per_grid_ts=traj.row_vision(slice(0, 4))["second_per_grid_ts"],
            mm_token_type_ids=torch.cat(
                [traj.vision["mm_token_type_ids"], torch.zeros_like(traj.completion_ids)], 1
            ),
        ).logits
    assert torch.allclose(lp_pixels, lp_cached, atol=1e-5)
    assert torch.allclose(lp_part, lp_cached[1:3], atol=1e-5)
    c = traj.completion_ids.shape[1]
    argmax = full[:, -c - 1 : -1].argmax(-1)
    m = traj.completion_mask.bool()
    assert torch.equal(argmax[m], traj.completion_ids[m])
    assert (ent >= 0).all()


def test_rollout_rejects_training_batches(setup, processor):
    model, batch = setup
    with pytest.raises(ValueError, match="generate"):
        HFRollout(RolloutSettings(max_new_tokens=2), processor.tokenizer)(
            model, {**batch, "labels": batch["input_ids"]}, 2
        )


def test_settings_validation():
    with pytest.raises(ValueError, match="temperature"):
        RolloutSettings(temperature=0)


def test_vision_placeholders_are_never_sampled(setup, processor):
    model, batch = setup
    vocab = processor.tokenizer.get_vocab()
    banned = [vocab["<|video_pad|>"], vocab["<|image_pad|>"], vocab["<|vision_start|>"]]

    # Make the model prefer <|video_pad|> above everything else.
    def boost(module, inputs, output):
        output[..., banned[0]] += 100.0
        return output

    handle = model.lm_head.register_forward_hook(boost)
    try:
        traj = HFRollout(RolloutSettings(max_new_tokens=6), processor.tokenizer)(model, batch, 2)
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"][:1]).logits[0, -1]
        assert int(logits.argmax()) == banned[0]  # the boost works: only suppression stops it
    finally:
        handle.remove()
    assert not torch.isin(traj.completion_ids, torch.tensor(banned)).any()


def test_precomputed_video_features_serve_rollout_and_scoring(setup, processor):
    model, batch = setup
    settings = RolloutSettings(max_new_tokens=8, top_k=1, stop_strings=[])
    plain = HFRollout(settings, processor.tokenizer)(model, batch, 2)
    features = encode_prompt_videos(model, batch)
    calls = []
    handle = model.model.visual.register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        traj = HFRollout(settings, processor.tokenizer)(model, batch, 2, video_features=features)
        emb = encode_videos(model, traj)
    finally:
        handle.remove()
    assert calls == []  # neither generate nor the scoring embeddings ran the vision tower
    assert torch.equal(traj.completion_ids, plain.completion_ids)  # same greedy completions
    assert len(emb) == 4 and emb[0] is emb[1] and emb[0] is features[0]


def test_rollout_mask_covers_exactly_the_sampled_tokens(setup, processor):
    """Rows forced to stop on ``</answer>``, to sample the EOS ``<|endoftext|>`` (also the pad),
    or to run to ``max_new_tokens``: the mask counts the sampled tokens only."""
    model, batch = setup
    tok = processor.tokenizer
    stop, pad = tok.convert_tokens_to_ids("</answer>"), tok.convert_tokens_to_ids("<|endoftext|>")
    word = tok.encode("red")[0]
    assert pad == tok.pad_token_id and pad in end_token_ids(model, tok)
    forced = [stop, pad, word]  # row i of the (4 x 3) generate batch samples forced[i % 3]

    def force(module, inputs, output):
        for i in range(output.shape[0]):
            output[i, :, forced[i % 3]] += 1000.0
        return output

    handle = model.lm_head.register_forward_hook(force)
    try:
        traj = HFRollout(RolloutSettings(max_new_tokens=5), tok)(model, batch, 3)
    finally:
        handle.remove()
    kinds = [i % 3 for i in range(6)]
    assert traj.completion_ids.shape[1] == 5
    assert traj.lengths.tolist() == [{0: 1, 1: 1, 2: 5}[k] for k in kinds]
    assert traj.truncated.tolist() == [k == 2 for k in kinds]
    for i, k in enumerate(kinds):
        kept = traj.completion_ids[i][traj.completion_mask[i].bool()].tolist()
        assert kept == [[stop], [pad], [word] * 5][k]
        if k == 0:
            assert pad not in kept  # the filler after the stop string is not trained on
    assert traj.texts[0] == "</answer>"


def test_select_groups_scores_like_the_full_rollout(setup, processor):
    """Dynamic sampling trains on a subset of a rollout's groups: the subset's rows, prompts
    and videos (pixels and tower outputs) must score exactly as they do in the full one."""
    model, batch = setup
    features = encode_prompt_videos(model, batch)
    traj = HFRollout(RolloutSettings(max_new_tokens=6, stop_strings=[]), processor.tokenizer)(
        model, batch, 3, video_features=features
    )
    sub = traj.select_groups([1])
    assert sub.num_groups == 1 and sub.texts == traj.texts[3:6]
    assert torch.equal(sub.completion_ids, traj.completion_ids[3:6])
    assert torch.equal(
        sub.vision["prompt_video_grid_thw"], traj.vision["prompt_video_grid_thw"][1:]
    )
    assert sub.vision["prompt_video_features"][0] is features[1]
    with torch.no_grad():
        full, _ = completion_logprobs(model, traj, slice(3, 6))  # tower run on the pixels
        from_pixels, _ = completion_logprobs(model, sub, slice(0, 3))
        cached, _ = completion_logprobs(
            model, sub, slice(0, 3), video_embeds=encode_videos(model, sub)
        )
    torch.testing.assert_close(from_pixels, full, atol=1e-5, rtol=0)
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=0)
    swapped = traj.select_groups([1, 0])
    torch.testing.assert_close(swapped.prompt_ids[3:], traj.prompt_ids[:3])
    with torch.no_grad():
        lp, _ = completion_logprobs(model, swapped, slice(0, 6))
    torch.testing.assert_close(lp[:3], full, atol=1e-5, rtol=0)
