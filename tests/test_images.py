"""Image + video questions (Video-R1-260k's mix): records, image reading, mixed batches through
one processor call, mixed rollouts scored exactly, T-GRPO shuffling videos only, and the vLLM
sampler's refusal."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from test_tgrpo import FakeRollout, tgrpo_module

from vthinker.data.collate import (
    FrameSampling,
    LoadedSample,
    Skipped,
    VideoQACollator,
    VideoQADataset,
    model_inputs,
)
from vthinker.data.datamodule import VideoQADataModule
from vthinker.data.image import read_image
from vthinker.data.schema import SampleError, VideoSample, read_jsonl
from vthinker.data.sources.video_r1 import VideoR1Source
from vthinker.data.toy import make_toy_dataset
from vthinker.data.video import VideoDecodeError
from vthinker.models.policy import PolicyConfig, load_policy
from vthinker.training.losses import token_logprobs
from vthinker.training.rollout import (
    HFRollout,
    RolloutSettings,
    completion_logprobs,
    encode_prompt_videos,
    encode_videos,
)
from vthinker.training.tgrpo import TemporalGRPOModule, video_prompts

ROOT = Path(__file__).resolve().parents[1]
PIXELS = {"max_pixels": 112 * 112, "min_pixels": 3136, "image_max_pixels": 112 * 112}


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mixed")
    make_toy_dataset(
        out, num_videos=4, questions_per_video=1, image_questions=6, trace_style="think"
    )
    return out


@pytest.fixture(scope="module")
def mixed_samples(mixed_dir) -> list[VideoSample]:
    """Two video questions and one image question between them (row order video, image,
    video), read from the Video-R1-style release as released."""
    samples = VideoR1Source(str(mixed_dir), files=["mixed_train.json"]).load()
    videos = [s for s in samples if s.data_type == "video"]
    images = [s for s in samples if s.data_type == "image"]
    for s in samples:  # as the data module resolves them: under the source's root
        s.video = str(mixed_dir / s.video)
    return [videos[0], images[0], videos[1]]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    m = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32"))
    m.eval()
    return m


def _collate(processor, samples, mode="generate", root=None):
    ds = VideoQADataset(samples, video_root=root, frames=FrameSampling(max_frames=4))
    return VideoQACollator(processor, mode=mode, **PIXELS)([ds[i] for i in range(len(ds))])


# --- records and files ------------------------------------------------------------------------


def test_video_r1_image_record_round_trips_and_bad_types_are_named(tmp_path):
    record = {
        "problem_id": 7,
        "problem": "How many bars?",
        "problem_type": "numerical",
        "data_type": "image",
        "path": "./chart.png",
        "solution": "<answer>5</answer>",
    }
    s = VideoSample.from_video_r1(record)
    assert (s.data_type, s.video, s.answer) == ("image", "./chart.png", "5")
    assert s.to_video_r1()["data_type"] == "image"
    assert VideoSample.from_dict(s.to_dict()) == s
    f = tmp_path / "bad.jsonl"
    f.write_text(
        '{"id": "a", "video": "v.mp4", "question": "q", "answer": "x"}\n'
        '{"id": "b", "video": "v.mp4", "question": "q", "answer": "x", "data_type": "audio"}\n'
    )
    with pytest.raises(SampleError, match=r"bad.jsonl:2: .*data_type 'audio' is not one of"):
        read_jsonl(f)
    with pytest.raises(SampleError, match="an image question has no clip window"):
        VideoSample(id="i", video="a.png", question="q", answer="x", data_type="image", video_end=3)
    with pytest.raises(ValueError, match="data_types"):
        VideoR1Source(str(tmp_path), data_types=["video", "audio"])


def test_read_image_decodes_exactly_and_names_bad_files(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), pixels)  # PNG is lossless
    assert read_image(tmp_path / "a.png", max_side=25).shape == (15, 25, 3)
    Image.fromarray(pixels[..., 0]).save(tmp_path / "grey.png")  # one channel -> RGB
    grey = read_image(tmp_path / "grey.png")
    assert grey.shape == (30, 50, 3) and np.array_equal(grey[..., 1], pixels[..., 0])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    for name, why in [
        ("missing.png", "does not exist"),
        ("empty.png", "empty"),
        ("junk.png", "not a readable image"),
    ]:
        with pytest.raises(VideoDecodeError, match=why) as err:
            read_image(tmp_path / name)
        assert err.value.path.endswith(name)
        assert str(err.value).startswith("cannot read image")
    # In a dataset a broken image is a skipped sample with its reason, not a crash.
    bad = VideoSample(id="bad", video="junk.png", question="q", answer="x", data_type="image")
    item = VideoQADataset([bad], video_root=tmp_path)[0]
    assert isinstance(item, Skipped) and item.sample_id == "bad"
    assert item.reason.startswith("image: ") and "junk.png" in item.reason


# --- mixed batches ----------------------------------------------------------------------------


def test_mixed_batch_goes_through_one_processor_call(processor, mixed_samples):
    batch = _collate(processor, mixed_samples, mode="train")
    assert batch["video_grid_thw"].shape == (2, 3) and batch["image_grid_thw"].shape == (1, 3)
    merge = 4  # 2 x 2 patches per merged token
    types = batch["mm_token_type_ids"]
    image_tokens = (types == 1).sum(1).tolist()
    video_tokens = (types == 2).sum(1).tolist()
    assert image_tokens == [0, int(batch["image_grid_thw"].prod()) // merge, 0]
    per_video = (batch["video_grid_thw"].prod(-1) // merge).tolist()
    assert video_tokens == [per_video[0], 0, per_video[1]]
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod())
    # The image row's prompt shows an image and states no duration; labels cover the reply.
    text = processor.tokenizer.decode(batch["input_ids"][1])
    assert "<|image_pad|>" in text and "<|video_pad|>" not in text
    assert "The video lasts" not in text
    assert "The video lasts" in processor.tokenizer.decode(batch["input_ids"][0])
    labels = batch["labels"][1][batch["labels"][1] != -100]
    reply = processor.tokenizer.decode(labels)
    assert reply == mixed_samples[1].target_text() + "<|im_end|>"
    assert batch["timestamps"][1] == [] and len(batch["timestamps"][0]) == 4


@pytest.mark.parametrize("mode", ["generate", "train"])
def test_mixed_batch_logits_equal_each_question_alone(processor, model, mixed_samples, mode):
    """Each row of a mixed batch (left padded to generate, right padded with the SFT target
    to train) gets the logits it gets alone: images and videos are routed to their rows and
    the rotary positions after each are right."""
    batch = _collate(processor, mixed_samples, mode=mode)
    with torch.no_grad():
        together = model(**model_inputs(batch)).logits
        for i, s in enumerate(mixed_samples):
            alone = _collate(processor, [s], mode=mode)
            logits = model(**model_inputs(alone)).logits[0]
            n = logits.shape[0]
            row = together[i, -n:] if mode == "generate" else together[i, :n]
            torch.testing.assert_close(row, logits, atol=1e-4, rtol=0)
            if mode == "train":
                assert torch.equal(batch["labels"][i, :n], alone["labels"][0])


def _plain_logprobs(model, traj, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Completion log-probs (masked) and the argmax token at each completion position, from
    one plain forward with each row's own pixels (no cached tower output, no per-prompt
    sharing): the reference for `completion_logprobs`."""
    g = traj.group_size
    video_blocks = list(
        torch.split(batch["pixel_values_videos"], batch["video_grid_thw"].prod(-1).tolist())
    )
    image_blocks = list(
        torch.split(batch["pixel_values"], batch["image_grid_thw"].prod(-1).tolist())
    )
    vids, imgs, vgrid, igrid, secs = [], [], [], [], []
    v_next = i_next = 0
    for s in batch["samples"]:
        if s.data_type == "video":
            vids += [video_blocks[v_next]] * g
            vgrid += [batch["video_grid_thw"][v_next]] * g
            secs += [batch["second_per_grid_ts"][v_next]] * g
            v_next += 1
        else:
            imgs += [image_blocks[i_next]] * g
            igrid += [batch["image_grid_thw"][i_next]] * g
            i_next += 1
    logits = model(
        input_ids=torch.cat([traj.prompt_ids, traj.completion_ids], 1),
        attention_mask=torch.cat([traj.prompt_mask, traj.completion_mask], 1),
        pixel_values_videos=torch.cat(vids),
        video_grid_thw=torch.stack(vgrid),
        second_per_grid_ts=torch.stack(secs),
        pixel_values=torch.cat(imgs),
        image_grid_thw=torch.stack(igrid),
        mm_token_type_ids=torch.cat(
            [
                batch["mm_token_type_ids"].repeat_interleave(g, 0),
                torch.zeros_like(traj.completion_ids),
            ],
            1,
        ),
    ).logits
    c = traj.completion_ids.shape[1]
    logits = logits[:, -c - 1 : -1]
    logp = token_logprobs(logits, traj.completion_ids, 1.0) * traj.completion_mask
    return logp, logits.argmax(-1)


def test_mixed_rollout_scores_exactly_per_row(processor, model, mixed_samples):
    """A rollout of a mixed batch (frozen tower: videos encoded once, the image encoded beside
    them) is greedy-consistent, and every scoring path equals a plain forward: from pixels,
    with cached video tokens, on a slice across the image/video boundary, and after
    `select_groups`."""
    batch = _collate(processor, mixed_samples)
    features = encode_prompt_videos(model, batch)
    settings = RolloutSettings(max_new_tokens=6, top_k=1, stop_strings=[])
    traj = HFRollout(settings, processor.tokenizer)(model, batch, 2, video_features=features)
    assert traj.vision["prompt_video_index"].tolist() == [0, -1, 1]
    assert traj.vision["prompt_image_index"].tolist() == [-1, 0, -1]
    with torch.no_grad():
        want, argmax = _plain_logprobs(model, traj, batch)
        from_pixels, _ = completion_logprobs(model, traj, slice(0, 6))
        embeds = encode_videos(model, traj)
        assert [e is None for e in embeds] == [False, False, True, True, False, False]
        cached, _ = completion_logprobs(model, traj, slice(0, 6), video_embeds=embeds)
        across, _ = completion_logprobs(model, traj, slice(1, 4), video_embeds=embeds)
        sub = traj.select_groups([1, 2])  # the image group and the second video group
        selected, _ = completion_logprobs(model, sub, slice(0, 4))
    m = traj.completion_mask
    torch.testing.assert_close(from_pixels * m, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(cached * m, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(across * m[1:4], want[1:4], atol=1e-5, rtol=0)
    torch.testing.assert_close(selected * m[2:6], want[2:6], atol=1e-5, rtol=0)
    assert sub.vision["prompt_image_index"].tolist() == [0, -1]
    assert sub.vision["prompt_video_index"].tolist() == [-1, 0]
    # top_k=1 is greedy: every sampled token is the argmax of the teacher-forced logits
    # (generation with the image's and videos' positions agrees with scoring).
    assert torch.equal(argmax[m.bool()], traj.completion_ids[m.bool()])


def test_trained_tower_gets_gradient_from_image_rows(processor, model, mixed_samples):
    """With a trained tower (no cached output), an image row's loss reaches the tower through
    the image path."""
    batch = _collate(processor, mixed_samples[1:2])
    traj = HFRollout(RolloutSettings(max_new_tokens=4, stop_strings=[]), processor.tokenizer)(
        model, batch, 2
    )
    tower = list(model.model.visual.parameters())
    frozen = [p.requires_grad for p in tower]
    for p in tower:
        p.requires_grad_(True)
    try:
        logp, _ = completion_logprobs(model, traj, slice(0, 2))
        (logp * traj.completion_mask).sum().backward()
        grads = [p.grad for p in tower if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    finally:
        for p, flag in zip(tower, frozen, strict=True):
            p.requires_grad_(flag)
            p.grad = None


# --- T-GRPO and vLLM ----------------------------------------------------------------------------


def test_tgrpo_shuffles_the_video_questions_only(tiny_model_dir, processor, mixed_samples):
    module = tgrpo_module(tiny_model_dir, 2)
    batch = _collate(processor, mixed_samples)
    gold = [s.answer for s in mixed_samples]
    wrong = {"A": "B", "B": "C", "C": "D", "D": "A"}
    # Ordered: row 0 of each group right. Shuffled (video groups only): all wrong, so each
    # video group's p = 0.5 >= 0.8 * 0 and its right row earns 0.3.
    ordered = [t for a in gold for t in (f"<answer>{a}</answer>", f"<answer>{wrong[a]}</answer>")]
    fake = FakeRollout([f"<answer>{wrong[gold[0]]}</answer>", f"<answer>{wrong[gold[2]]}</answer>"])
    module.rollout = fake
    samples = [s for s in mixed_samples for _ in range(2)]
    out = module.score_rollout(batch, SimpleNamespace(texts=ordered), samples)
    ((shuffled, _),) = fake.calls
    assert [s.data_type for s in shuffled["samples"]] == ["video", "video"]
    assert "pixel_values" not in shuffled and "image_grid_thw" not in shuffled
    assert shuffled["input_ids"].shape[0] == 2
    assert torch.equal(shuffled["input_ids"], batch["input_ids"][[0, 2]])
    assert out.parts["temporal"] == [0.3, 0.0, None, None, 0.3, 0.0]
    assert out.total.tolist() == pytest.approx([1.3, 0.0, 1.0, 0.0, 1.3, 0.0])
    assert video_prompts(_collate(processor, [mixed_samples[0]]))["input_ids"].shape[0] == 1


def test_a_sampler_that_takes_videos_only_refuses_image_questions(processor, mixed_dir):
    dm = VideoQADataModule(
        train_source=VideoR1Source(str(mixed_dir), files=["mixed_train.json"]), **PIXELS
    )
    dm.connect(processor)
    dm.setup("fit")
    dm.keep_videos = True  # what a vLLM engine asks for
    with pytest.raises(ValueError, match=r"image question\(s\) in the fit data .*vLLM"):
        dm._loader("fit", "generate", shuffle=False)
    videos_only = VideoQADataModule(
        train_source=VideoR1Source(
            str(mixed_dir), files=["mixed_train.json"], data_types=["video"]
        ),
        **PIXELS,
    )
    videos_only.connect(processor)
    videos_only.setup("fit")
    videos_only.keep_videos = True
    assert videos_only._loader("fit", "generate", shuffle=False) is not None
    with pytest.raises(ValueError, match="takes videos only"):
        VideoQACollator(processor, mode="generate", keep_videos=True)(
            [
                LoadedSample(
                    VideoSample(id="i", video="a.png", question="q", answer="x", data_type="image"),
                    None,
                    np.zeros((28, 28, 3), np.uint8),
                )
            ]
        )


def test_data_check_probes_images_as_images(mixed_dir, tmp_path):
    """`vthinker data check` on a Video-R1-style mix: images decode as images (no frame count
    or span checks), a broken one is reported undecodable, a missing one missing."""
    import json
    import shutil

    from vthinker.data.check import check_samples
    from vthinker.data.check_load import source_dataset

    root = tmp_path / "mix"
    shutil.copytree(mixed_dir, root)
    records = json.loads((root / "mixed_train.json").read_text())
    images = [r for r in records if r["data_type"] == "image"]
    (root / images[0]["path"]).write_bytes(b"broken")
    (root / images[1]["path"]).unlink()
    result = check_samples(
        source_dataset(VideoR1Source(str(root), files=["mixed_train.json"])), progress=False
    )
    assert result.samples == len(records)
    undecodable = [(i.sample_id, i.detail) for i in result.issues["undecodable"]]
    assert undecodable == [(str(images[0]["problem_id"]), undecodable[0][1])]
    assert "not a readable image" in undecodable[0][1]
    assert [i.sample_id for i in result.issues["missing"]] == [str(images[1]["problem_id"])]
    assert result.issues["short"] == [] and result.issues["span"] == []
    assert result.images == len(images)
    assert len(result.clean) == len(records) - 2
    assert sum(s.data_type == "image" for s in result.clean) == len(images) - 2


@pytest.mark.slow
def test_mixed_demo_trains_on_image_and_video_questions(
    tiny_model_dir, mixed_dir, tmp_path, monkeypatch
):
    """`vthinker fit --config configs/demo/video_r1_tgrpo_mixed.yaml` (the tiny model, 2
    steps): batches of 2 from the mixed release hold image questions, and T-GRPO trains."""
    from tiny_fit import demo_fit_args

    from vthinker.cli import cli

    seen: list[list[str]] = []
    skipped: list = []
    score = TemporalGRPOModule.score_rollout

    def spy(self, batch, traj, samples):
        seen.append([s.data_type for s in batch["samples"]])
        skipped.extend(batch["skipped"])
        return score(self, batch, traj, samples)

    monkeypatch.setattr(TemporalGRPOModule, "score_rollout", spy)
    out = tmp_path / "run"
    args = demo_fit_args(
        [ROOT / "configs/demo/video_r1_tgrpo_mixed.yaml"], tiny_model_dir, out, steps=4
    )
    c = cli(
        [
            *args,
            "--data.init_args.train_source.init_args.root",
            str(mixed_dir),
            "--trainer.logger.init_args.save_dir",
            str(out),
        ]
    )
    assert c.trainer.global_step == 4
    assert c.datamodule.batch_size == 2 and all(len(kinds) == 2 for kinds in seen)
    kinds = [k for batch in seen for k in batch]
    assert "image" in kinds and "video" in kinds
    assert skipped == []


def _reward_means_worker(rank: int, init_file: str, out: str) -> None:
    """One rank of 2 (gloo): rank 0's image questions have no temporal value."""
    import json

    import torch.distributed as dist

    from vthinker.rewards.base import RewardBreakdown
    from vthinker.training.grpo_stats import reward_means

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        parts = [
            {"accuracy": [1.0, 0.0], "temporal": [None, None], "judge": [None, None]},
            {"accuracy": [1.0, 1.0], "temporal": [0.3, 0.0], "judge": [None, None]},
        ][rank]
        means = reward_means(RewardBreakdown(torch.zeros(2), parts))
        Path(out).with_suffix(f".{rank}.json").write_text(json.dumps(means))
    finally:
        dist.destroy_process_group()


def test_reward_means_are_taken_over_every_rank(tmp_path):
    """A rank whose batch holds only image questions has no temporal values: each reward's
    mean is reduced over all ranks' samples once, so every rank logs the same keys and
    values (per-rank NaN means were left out before, and the ranks' metric reductions then
    no longer paired). No rank with a value: NaN on both (not logged)."""
    import json
    import math

    from vthinker.rewards.base import RewardBreakdown
    from vthinker.training.grpo_stats import reward_means

    torch.multiprocessing.spawn(
        _reward_means_worker, args=(str(tmp_path / "init"), str(tmp_path / "out")), nprocs=2
    )
    ranks = [json.loads((tmp_path / f"out.{r}.json").read_text()) for r in range(2)]
    for means in ranks:
        assert means["accuracy"] == pytest.approx(3 / 4)  # (1 + 0 + 1 + 1) / 4
        assert means["temporal"] == pytest.approx(0.3 / 2)  # rank 1's two values only
        assert math.isnan(means["judge"])
    alone = reward_means(RewardBreakdown(torch.zeros(3), {"a": [1.0, None, 0.5]}))  # one process
    assert alone == {"a": 0.75}


def test_image_questions_are_refused_with_a_sharded_policy(monkeypatch, mixed_samples):
    import vthinker.training.base as base

    data = SimpleNamespace(datasets={"fit": SimpleNamespace(samples=mixed_samples)})
    base.refuse_sharded_images(torch.nn.Linear(2, 2), data)  # not sharded: accepted
    monkeypatch.setattr(base, "is_sharded", lambda model: True)
    with pytest.raises(ValueError, match=r"1 image question\(s\) in the fit data .*FSDP"):
        base.refuse_sharded_images(torch.nn.Linear(2, 2), data)
    videos = SimpleNamespace(datasets={"fit": SimpleNamespace(samples=mixed_samples[::2])})
    base.refuse_sharded_images(torch.nn.Linear(2, 2), videos)


@pytest.mark.slow
def test_sft_trains_on_the_mixed_release(tiny_model_dir, mixed_dir, tmp_path):
    """The format SFT on Video-R1's mix through `vthinker fit` (batches of 3 hold image and
    video questions): two steps with a finite logged loss, no sample skipped."""
    from vthinker.cli import cli

    out = tmp_path / "sft"
    source = (
        '{"class_path": "vthinker.data.sources.video_r1.VideoR1Source", "init_args": '
        f'{{"root": "{mixed_dir}", "files": ["mixed_train.json"]}}}}'
    )
    c = cli(
        [
            "fit",
            "--config",
            str(ROOT / "configs/demo/format_sft.yaml"),
            "--model.init_args.policy.name_or_path",
            str(tiny_model_dir),
            "--model.init_args.export_dir",
            "null",
            "--data.init_args.train_file",
            "null",
            "--data.init_args.train_source",
            source,
            "--data.init_args.image_max_pixels",
            "12544",
            "--data.init_args.batch_size",
            "3",
            "--data.init_args.num_workers",
            "0",
            "--trainer.max_steps",
            "2",
            "--trainer.log_every_n_steps",
            "1",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.default_root_dir",
            str(out),
            "--trainer.logger.init_args.save_dir",
            str(out),
        ]
    )
    assert c.trainer.global_step == 2
    loader = c.datamodule.train_dataloader()
    kinds = [s.data_type for batch in loader for s in batch["samples"]]
    assert kinds.count("image") == 4 and kinds.count("video") == 2
    import csv

    with (out / "logs" / "version_0" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses)
    skipped = [float(r["train/skipped"]) for r in rows if r.get("train/skipped")]
    assert skipped and all(x == 0 for x in skipped)


# --- the rest of the project meets an image question ---------------------------------------------


def test_transparent_and_oversized_images(tmp_path, monkeypatch):
    """Transparency is composited onto white (a black-on-transparent chart stays readable);
    an image over Pillow's pixel limit is a skipped sample, not a dead worker."""
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)  # one opaque black pixel, the rest fully transparent
    rgba[1, 1] = (255, 0, 0, 128)  # half-transparent red over white: (255, 127, 127)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    out = read_image(tmp_path / "t.png")
    assert out[0, 0].tolist() == [0, 0, 0] and out[2, 2].tolist() == [255, 255, 255]
    assert out[1, 1].tolist() == pytest.approx([255, 127, 127], abs=1)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5)  # 24 pixels > 2 x 5: a "bomb"
    with pytest.raises(VideoDecodeError, match="too many pixels"):
        read_image(tmp_path / "t.png")


def test_curation_and_resumed_evals_meet_image_questions(tmp_path):
    import asyncio

    from vthinker.curation.runner import CurationRunner
    from vthinker.evaluation.store import PREDICTIONS, RUN_SETTINGS, check_settings

    # Curation builds video traces: an image question is rejected with its own reason.
    runner = CurationRunner.__new__(CurationRunner)
    runner.steps = []
    image = VideoSample(id="i", video="a.png", question="q", answer="x", data_type="image")
    out = asyncio.run(runner._process(image, "in.jsonl", tmp_path / "a.png"))
    assert out.reject is not None and out.reject.reason == "pipeline:image_question"
    # An eval folder from before image_max_pixels existed still resumes; a changed value not.
    run = tmp_path / "run"
    run.mkdir()
    (run / PREDICTIONS).write_text("{}\n")
    (run / RUN_SETTINGS).write_text(json.dumps({"data": {"max_pixels": 1}}))
    check_settings(run, {"data": {"max_pixels": 1, "image_max_pixels": 401408}}, write=False)
    (run / RUN_SETTINGS).write_text(json.dumps({"data": {"max_pixels": 1, "image_max_pixels": 5}}))
    with pytest.raises(Exception, match="image_max_pixels"):
        check_settings(run, {"data": {"max_pixels": 1, "image_max_pixels": 401408}}, write=False)
