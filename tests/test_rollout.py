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
    completion_logprobs,
    completion_mask_from_ids,
    encode_prompt_videos,
    encode_videos,
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
    mask, truncated = completion_mask_from_ids(ids, end)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert truncated.tolist() == [False, True, False]


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
    assert traj.vision["video_grid_thw"].shape == (8, 3)
    # texts are the decoded masked completions
    for i in range(8):
        ids = traj.completion_ids[i][traj.completion_mask[i].bool()]
        assert processor.tokenizer.decode(ids, skip_special_tokens=True) == traj.texts[i]


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
            pixel_values_videos=traj.vision["pixel_values_videos"],
            video_grid_thw=traj.vision["video_grid_thw"],
            second_per_grid_ts=traj.vision["second_per_grid_ts"],
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
