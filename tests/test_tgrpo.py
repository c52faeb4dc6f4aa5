"""Video-R1 T-GRPO: the bonus rule, the frame shuffle, and the module's scoring step."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers.video_utils import VideoMetadata

from vthinker.data.schema import VideoSample
from vthinker.models.policy import PolicyConfig
from vthinker.rewards import AccuracyReward, FormatReward, TagSequenceFormatReward
from vthinker.training.grpo import GRPOSettings
from vthinker.training.rollout import RolloutSettings
from vthinker.training.tgrpo import (
    TemporalGRPOModule,
    TemporalSettings,
    permute_video_frames,
    temporal_bonus,
)

# --- the bonus --------------------------------------------------------------------------------


def test_temporal_bonus_exact():
    acc = torch.tensor(
        [
            [1.0, 0.0, 1.0, 0.0],  # p = 0.5 >= 0.8 * 0.5: correct ones get 0.3
            [1.0, 1.0, 1.0, 1.0],  # p = 1 >= 0.8 * 1
            [0.0, 0.0, 0.0, 0.0],  # p = 0 >= 0.8 * 0, but nothing is correct
            [0.5, 0.05, 0.0, 0.0],  # p = 0.1375 < 0.8 * 0.5: no bonus
            [1.0, 0.0, 0.0, 0.0],  # p = 0.25 >= 0.8 * 0.25 = 0.2
            [math.nan, 1.0, 1.0, 1.0],  # a NaN accuracy: the group never qualifies
        ]
    )
    shuffled = torch.tensor(
        [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [0.0, 0.0]]
    )
    bonus, applied = temporal_bonus(acc, shuffled, alpha=0.3, mu=0.8, threshold=0.1)
    assert applied.tolist() == [True, True, True, False, True, False]
    expected = torch.tensor(
        [
            [0.3, 0.0, 0.3, 0.0],
            [0.3, 0.3, 0.3, 0.3],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],  # 0.5 would count as correct (> 0.1), but p is too low
            [0.3, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    assert torch.equal(bonus, expected)


def test_temporal_bonus_boundary_and_threshold():
    # p = 0.5 and mu * p~ = 0.5 * 1.0 = 0.5 exactly: ">=" applies the bonus.
    f64 = torch.float64
    bonus, applied = temporal_bonus(
        torch.tensor([[1.0, 0.0]], dtype=f64), torch.tensor([[1.0]], dtype=f64), mu=0.5
    )
    assert applied.tolist() == [True] and bonus.tolist() == [[0.3, 0.0]]
    # Graded accuracies: 0.1 is not above the threshold, 0.11 is.
    bonus, _ = temporal_bonus(
        torch.tensor([[0.1, 0.11]], dtype=f64), torch.tensor([[0.0]], dtype=f64), alpha=0.5
    )
    assert bonus.tolist() == [[0.0, 0.5]]
    with pytest.raises(ValueError, match=r"\(B, G\)"):
        temporal_bonus(torch.zeros(4), torch.zeros(2))


# --- the frame shuffle ------------------------------------------------------------------------


def _process(processor, frames: np.ndarray):
    md = VideoMetadata(
        total_num_frames=len(frames),
        fps=2.0,
        width=frames.shape[2],
        height=frames.shape[1],
        duration=len(frames) / 2,
        frames_indices=list(range(len(frames))),
    )
    return processor.video_processor(
        videos=[frames],
        video_metadata=[md],
        do_sample_frames=False,
        return_tensors="pt",
        size={"shortest_edge": 3136, "longest_edge": 12544},
    )


def test_permuting_patches_equals_processing_permuted_frames(processor):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (6, 56, 56, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (4, 84, 56, 3), dtype=np.uint8)
    pa, pb = _process(processor, a), _process(processor, b)
    pixels = torch.cat([pa["pixel_values_videos"], pb["pixel_values_videos"]])
    grid = torch.cat([pa["video_grid_thw"], pb["video_grid_thw"]])
    perm_a, perm_b = torch.tensor([3, 0, 5, 1, 4, 2]), torch.tensor([2, 3, 0, 1])
    tp = processor.video_processor.temporal_patch_size
    out = permute_video_frames(pixels, grid, [perm_a, perm_b], tp)
    want = torch.cat(
        [
            _process(processor, a[perm_a.numpy()])["pixel_values_videos"],
            _process(processor, b[perm_b.numpy()])["pixel_values_videos"],
        ]
    )
    assert torch.equal(out, want)
    same = permute_video_frames(pixels, grid, [torch.arange(6), torch.arange(4)], tp)
    assert torch.equal(same, pixels)
    with pytest.raises(ValueError, match="not a permutation"):
        permute_video_frames(pixels, grid, [torch.tensor([0, 0, 1, 2, 3, 4]), perm_b], tp)
    with pytest.raises(ValueError, match="2 videos"):
        permute_video_frames(pixels, grid, [perm_a], tp)


# --- the module's scoring step ----------------------------------------------------------------


class FakeRollout:
    """Returns scripted completions and records the batches it was given."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.calls: list[tuple[dict, int]] = []

    def __call__(self, model, batch, group_size, video_features=None):
        self.calls.append((batch, group_size))
        return SimpleNamespace(texts=self.texts)


def tgrpo_module(model_dir, group_size: int) -> TemporalGRPOModule:
    """T-GRPO on the tiny model with accuracy + <think><answer> format rewards, built."""
    module = TemporalGRPOModule(
        PolicyConfig(str(model_dir), dtype="float32"),
        rewards=[AccuracyReward(), TagSequenceFormatReward(tags=["think", "answer"])],
        grpo=GRPOSettings(group_size=group_size, beta=0.0),
        rollout=RolloutSettings(max_new_tokens=4),
        export_hf=False,
    )
    module.configure_model()
    return module


@pytest.fixture(scope="module")
def tgrpo(tiny_model_dir):
    return tgrpo_module(tiny_model_dir, 4)


def _batch(processor):
    frames = np.random.default_rng(1).integers(0, 255, (4, 56, 56, 3), dtype=np.uint8)
    out = dict(_process(processor, frames))
    out["samples"] = [
        VideoSample(id="q1", video="v.mp4", question="q", answer="A", options=["x", "y"])
    ]
    return out


@pytest.mark.parametrize(
    ("shuffled_texts", "bonus"),
    [
        # ordered p = 0.5, shuffled p~ = 0.5: 0.5 >= 0.4, correct answers get 0.3
        (["<answer>A</answer>", "<answer>B</answer>"], [0.3, 0.0, 0.3, 0.0]),
        # shuffled p~ = 1: 0.5 < 0.8, no bonus
        (["<answer>A</answer>", "<answer>A</answer>"], [0.0, 0.0, 0.0, 0.0]),
    ],
)
def test_score_rollout_adds_the_bonus(tgrpo, processor, shuffled_texts, bonus):
    torch.manual_seed(0)
    batch = _batch(processor)
    ordered = [
        "<answer>A</answer>",
        "<answer>B</answer>",
        "<think>t</think><answer>A</answer>",
        "B",
    ]
    fake = FakeRollout(shuffled_texts)
    tgrpo.rollout = fake
    samples = batch["samples"] * 4
    out = tgrpo.score_rollout(batch, SimpleNamespace(texts=ordered), samples)
    assert out.parts["accuracy"] == [1.0, 0.0, 1.0, 0.0]
    assert out.parts["format"] == [0.0, 0.0, 1.0, 0.0]
    assert out.parts["temporal"] == pytest.approx(bonus)
    # total = accuracy + format + bonus
    assert out.total.tolist() == pytest.approx([1.0 + bonus[0], 0.0, 2.0 + bonus[2], 0.0])
    ((shuffled_batch, g),) = fake.calls
    assert g == 2  # G // 2 extra rollouts
    assert shuffled_batch["samples"] is batch["samples"]
    moved = shuffled_batch["pixel_values_videos"]
    assert moved.shape == batch["pixel_values_videos"].shape
    assert not torch.equal(moved, batch["pixel_values_videos"])  # frames re-ordered
    assert torch.equal(
        moved.sort().values.sum(0), batch["pixel_values_videos"].sort().values.sum(0)
    )


def test_score_rollout_without_video_adds_nothing(tgrpo):
    fake = FakeRollout([])
    tgrpo.rollout = fake
    s = VideoSample(id="t", video="v", question="q", answer="A", options=["x", "y"])
    out = tgrpo.score_rollout(
        {"samples": [s]}, SimpleNamespace(texts=["<answer>A</answer>"] * 4), [s] * 4
    )
    assert out.parts["temporal"] == [None] * 4 and fake.calls == []
    assert out.total.tolist() == [1.0] * 4


def test_module_validates_its_rewards(tiny_model_dir):
    policy = PolicyConfig(str(tiny_model_dir))
    with pytest.raises(ValueError, match="'accuracy'"):
        TemporalGRPOModule(policy, rewards=[FormatReward()])
    with pytest.raises(ValueError, match="reserved"):
        TemporalGRPOModule(policy, rewards=[AccuracyReward(), FormatReward(name="temporal")])
    with pytest.raises(ValueError, match="shuffled_group_size"):
        TemporalSettings(shuffled_group_size=0)


def test_video_r1_recipe_samples_with_video_r1_top_p():
    """Video-R1 samples its (ordered and shuffled) rollouts with top_p 0.95 (its
    grpo_trainer.py GenerationConfig)."""
    import contextlib
    import io
    from pathlib import Path

    import yaml

    from vthinker.cli import cli

    root = Path(__file__).resolve().parents[1]
    out = io.StringIO()  # the recipe as the CLI resolves it (layered over base_7b.yaml)
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        cli(["fit", "--config", str(root / "configs/grpo/video_r1_tgrpo.yaml"), "--print_config"])
    rollout = yaml.safe_load(out.getvalue())["model"]["init_args"]["rollout"]
    assert rollout["top_p"] == 0.95
    assert RolloutSettings(**rollout).top_p == 0.95
