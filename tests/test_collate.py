"""Prompt + collate: the processor gets the decoded frames, and only assistant tokens
carry loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vthinker.data.collate import (
    IGNORE_INDEX,
    FrameSampling,
    LoadedSample,
    Skipped,
    VideoQACollator,
    VideoQADataset,
    assistant_label_mask,
)
from vthinker.data.prompts import PromptTemplate
from vthinker.data.schema import Evidence, VideoSample
from vthinker.data.video import VideoClip


def _sample(sid: str = "s1", trace: str | None = None) -> VideoSample:
    return VideoSample(
        id=sid,
        video="v.mp4",
        question="What colour is the shape that appears after the red square leaves?",
        answer="B",
        options=["red", "green", "blue", "yellow"],
        evidence=[Evidence(0.0, 3.0, "a red square"), Evidence(3.0, 6.0, "a green circle")],
        trace=trace
        if trace is not None
        else "<time>00:00-00:03</time> <caption>a red square</caption> <think>red first</think>\n"
        "<time>00:03-00:06</time> <caption>a green circle</caption> <think>then green</think>",
    )


def _clip(num_frames: int = 4, size: int = 112, fps: float = 8.0) -> VideoClip:
    idx = np.linspace(0, 47, num_frames).round().astype(np.int64)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (num_frames, size, size, 3), dtype=np.uint8)
    return VideoClip(frames=frames, timestamps=idx / fps, fps=fps, duration=6.0, indices=idx)


def test_assistant_label_mask_exact():
    header, end = [7, 8], 9
    ids = torch.tensor([[1, 7, 8, 5, 6, 9, 3, 0], [7, 8, 4, 9, 7, 8, 2, 0]])
    attn = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 0]])
    x = IGNORE_INDEX
    assert assistant_label_mask(ids, header, end, attn).tolist() == [
        [x, x, x, 5, 6, 9, x, x],
        # two assistant turns; the second has no end token before padding
        [x, x, 4, 9, x, x, 2, x],
    ]


def test_unmasked_tokens_are_exactly_the_assistant_text(processor):
    collate = VideoQACollator(processor, max_pixels=112 * 112, min_pixels=56 * 56)
    samples = [_sample("a"), _sample("b", trace="")]  # the second has a short target
    batch = collate([LoadedSample(s, _clip()) for s in samples])
    labels, ids = batch["labels"], batch["input_ids"]
    tok = processor.tokenizer
    for row, sample in enumerate(samples):
        kept = labels[row][labels[row] != IGNORE_INDEX]
        assert tok.decode(kept) == sample.target_text() + "<|im_end|>"
    # Vision, prompt and padding positions never carry loss.
    assert not ((ids == processor.video_token_id) & (labels != IGNORE_INDEX)).any()
    assert not ((batch["attention_mask"] == 0) & (labels != IGNORE_INDEX)).any()
    assert batch["attention_mask"][1, -1] == 0  # right padded: the short row ends in padding
    assert [s.id for s in batch["samples"]] == ["a", "b"]
    assert batch["skipped"] == []


def test_processor_receives_frames_and_timing(processor):
    collate = VideoQACollator(processor, max_pixels=112 * 112, min_pixels=56 * 56)
    clip = _clip(num_frames=4)
    batch = collate([LoadedSample(_sample(), clip)])
    # 4 frames of 112 px: grid (2, 8, 8) → 32 merged video tokens in the text.
    assert batch["video_grid_thw"].tolist() == [[2, 8, 8]]
    assert int((batch["input_ids"] == processor.video_token_id).sum()) == 32
    # Qwen2.5-VL places frames in time with temporal_patch / sampled fps.
    assert batch["second_per_grid_ts"].tolist() == pytest.approx([2 / clip.sample_fps])
    # max_pixels is honoured: 224 px frames come out at 112 px.
    big = VideoClip(
        frames=np.zeros((4, 224, 224, 3), np.uint8),
        timestamps=clip.timestamps,
        fps=8.0,
        duration=6.0,
        indices=clip.indices,
    )
    assert collate([LoadedSample(_sample(), big)])["video_grid_thw"].tolist() == [[2, 8, 8]]


def test_prompt_contains_question_options_and_duration(processor):
    collate = VideoQACollator(processor, mode="generate", max_pixels=112 * 112, min_pixels=3136)
    batch = collate([LoadedSample(_sample(), _clip())])
    text = processor.tokenizer.decode(batch["input_ids"][0])
    assert "What colour is the shape" in text
    assert "Options:\nA. red\nB. green\nC. blue\nD. yellow\n" in text
    assert "The video lasts 6.0 seconds." in text
    assert "<time>MM:SS-MM:SS</time>" in text  # the system prompt asks for the format
    assert text.endswith("<|im_start|>assistant\n")
    assert "labels" not in batch


def test_generate_mode_pads_left(processor):
    collate = VideoQACollator(processor, mode="generate", max_pixels=112 * 112, min_pixels=3136)
    short = _sample("short")
    long = _sample("long")
    long.question = long.question + " Think carefully about the order of events." * 3
    batch = collate([LoadedSample(short, _clip()), LoadedSample(long, _clip())])
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][0, -1] == 1
    assert batch["attention_mask"][1].all()


def test_too_long_sample_is_skipped_and_named(processor, caplog):
    collate = VideoQACollator(processor, max_pixels=112 * 112, min_pixels=3136, max_length=300)
    ok = _sample("fits", trace="")
    ok.question = "Q?"
    ok.options = []
    ok.problem_type = "numerical"
    ok.answer = "3"
    long = _sample("too-long")
    batch = collate([LoadedSample(ok, _clip(2)), LoadedSample(long, _clip(16))])
    assert [s.id for s in batch["samples"]] == ["fits"]
    assert len(batch["skipped"]) == 1
    assert batch["skipped"][0].sample_id == "too-long"
    assert "> max_length 300" in batch["skipped"][0].reason
    assert batch["input_ids"].shape[0] == 1
    assert "too-long" in caplog.text


def test_all_skipped_gives_empty_batch(processor):
    collate = VideoQACollator(processor)
    batch = collate([Skipped("x", "video: cannot read video x.mp4: missing")])
    assert batch["samples"] == [] and "input_ids" not in batch
    assert batch["skipped"][0].sample_id == "x"


def test_dataset_turns_bad_videos_into_skipped(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    samples = [_sample("missing"), _sample("empty")]
    samples[0].video = "nope.mp4"
    samples[1].video = "empty.mp4"
    ds = VideoQADataset(samples, video_root=tmp_path, frames=FrameSampling(max_frames=4))
    for i, sid in enumerate(["missing", "empty"]):
        item = ds[i]
        assert isinstance(item, Skipped)
        assert item.sample_id == sid
        assert str(tmp_path) in item.reason


def test_prompt_template_rejects_unknown_placeholder():
    with pytest.raises(ValueError, match="unknown placeholder"):
        PromptTemplate(user="{question} {nonsense}")
