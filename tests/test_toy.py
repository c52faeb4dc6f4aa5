"""Tests for the synthetic toy dataset (`vthinker.data.toy`): determinism, splits,
well-formed gold traces, and evidence that matches the pixels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vthinker.data.schema import LETTERS, VideoSample, read_jsonl
from vthinker.data.toy import (
    COLOURS,
    SPLITS,
    main,
    make_toy_dataset,
    write_video,
)
from vthinker.data.video import read_frames
from vthinker.trace import parse_trace

NUM_VIDEOS, QUESTIONS = 12, 4


def _load(paths: dict[str, Path]) -> list[VideoSample]:
    return [s for split in SPLITS for s in read_jsonl(paths[split])]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("toy")
    return out, make_toy_dataset(out, num_videos=NUM_VIDEOS, questions_per_video=QUESTIONS)


@pytest.fixture(scope="module")
def samples(toy: tuple[Path, dict[str, Path]]) -> list[VideoSample]:
    return _load(toy[1])


def test_layout_and_counts(toy, samples):
    out, paths = toy
    assert set(paths) == set(SPLITS)
    assert all(p == out / f"{s}.jsonl" and p.is_file() for s, p in paths.items())
    assert len(samples) == NUM_VIDEOS * QUESTIONS
    assert len({s.id for s in samples}) == len(samples)
    for s in samples:
        assert s.video.startswith("videos/") and not Path(s.video).is_absolute()
        assert (out / s.video).is_file()
        assert s.source == "toy"
    assert len(list((out / "videos").glob("*.mp4"))) == NUM_VIDEOS


def test_same_seed_same_bytes_other_seed_differs(toy, tmp_path):
    """Byte-identical JSONL and mp4 files from a fresh process whose heap is filled with a
    different byte pattern (MALLOC_PERTURB_), so reads of uninitialised memory would show."""
    out, paths = toy
    code = (
        "import sys; from vthinker.data.toy import make_toy_dataset; "
        f"make_toy_dataset(sys.argv[1], num_videos={NUM_VIDEOS}, questions_per_video={QUESTIONS})"
    )
    env = {**os.environ, "MALLOC_PERTURB_": "165"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], check=True, env=env)
    for split in SPLITS:
        assert (tmp_path / "a" / f"{split}.jsonl").read_bytes() == paths[split].read_bytes()
    for video in sorted((out / "videos").glob("*.mp4")):
        assert (tmp_path / "a" / "videos" / video.name).read_bytes() == video.read_bytes()
    other = make_toy_dataset(
        tmp_path / "b", num_videos=NUM_VIDEOS, questions_per_video=QUESTIONS, seed=1
    )
    assert other["train"].read_bytes() != paths["train"].read_bytes()


def test_splits_are_disjoint_by_video(toy):
    _, paths = toy
    videos = {}
    for split in SPLITS:
        split_samples = read_jsonl(paths[split])
        assert split_samples, f"split {split} is empty"
        assert all(s.split == split for s in split_samples)
        videos[split] = {s.video for s in split_samples}
    assert not videos["train"] & videos["val"]
    assert not videos["train"] & videos["test"]
    assert not videos["val"] & videos["test"]
    assert len(videos["train"] | videos["val"] | videos["test"]) == NUM_VIDEOS


def test_answers_and_options(samples):
    kinds = {s.problem_type for s in samples}
    assert "multiple choice" in kinds
    for s in samples:
        scene = s.meta["scene"]
        if s.problem_type == "multiple choice":
            assert len(s.options) == 4
            assert len(set(s.options)) == 4
            assert s.answer in LETTERS[:4]
        else:
            assert s.problem_type == "numerical"
            assert s.options == []
            assert s.answer == str(len(scene))


def test_multiple_choice_answers_are_true_of_the_scene(samples):
    """Recompute the answer of the templates that have a closed form from the scene."""
    for s in samples:
        scene = sorted(s.meta["scene"], key=lambda o: o["start"])
        names = [f"{o['colour']} {o['shape']}" for o in scene]
        chosen = s.options[LETTERS.index(s.answer)] if s.options else s.answer
        template = s.meta["template"]
        if template == "first_appears":
            assert chosen == names[0]
        elif template == "last_appears":
            assert chosen == names[-1]
        elif template == "when_on_screen":
            x = next(o for o, n in zip(scene, names, strict=True) if n in s.question)
            assert chosen == f"00:{x['start']:02d}-00:{x['end']:02d}"


def test_gold_traces_parse_and_match_evidence(samples):
    templates = set()
    for s in samples:
        templates.add(s.meta["template"])
        assert s.trace and "<answer>" not in s.trace
        trace = parse_trace(s.trace)
        assert len(trace.segments) == len(s.evidence) >= 1
        for seg, ev in zip(trace.segments, s.evidence, strict=True):
            assert seg.span is not None
            assert abs(seg.start - ev.start) < 1.0 and abs(seg.end - ev.end) < 1.0
            assert seg.start <= ev.start and seg.end >= ev.end  # render floors start, ceils end
            assert seg.caption == ev.caption and seg.caption
            assert seg.think
        target = parse_trace(s.target_text())
        assert target.well_formed, s.target_text()
        assert target.answer == s.answer
        starts = [e.start for e in s.evidence]
        assert starts == sorted(starts)
    assert len(templates) >= 5, templates


def _colour_pixels(frame: np.ndarray, colour: str) -> np.ndarray:
    rgb = np.array(COLOURS[colour], dtype=np.int16)
    return np.all(np.abs(frame.astype(np.int16) - rgb) <= 40, axis=-1)


def test_evidence_matches_the_pixels(toy, samples):
    """Each evidence span shows the shape its caption names; it is absent when off screen,
    and moving shapes move the way the caption says."""
    out, _ = toy
    by_video: dict[str, VideoSample] = {}
    for s in samples:
        by_video.setdefault(s.video, s)
    for video, s in by_video.items():
        clip = read_frames(out / video, num_frames=10_000)
        fps = clip.fps
        assert clip.duration == s.meta["duration"]
        assert clip.num_frames == round(clip.duration * fps)
        for obj in s.meta["scene"]:
            caption_frame = clip.frames[int((obj["start"] + obj["end"]) / 2 * fps)]
            assert _colour_pixels(caption_frame, obj["colour"]).sum() >= 10, (video, obj)
            off = [t for t in range(int(clip.duration)) if not obj["start"] <= t + 0.5 < obj["end"]]
            for t in off:
                frame = clip.frames[int((t + 0.5) * fps)]
                assert _colour_pixels(frame, obj["colour"]).sum() == 0, (video, obj, t)
            if obj["motion"] in ("left_to_right", "right_to_left"):
                xs = []
                for t in (obj["start"] + 0.2, obj["end"] - 0.2):
                    mask = _colour_pixels(clip.frames[int(t * fps)], obj["colour"])
                    xs.append(np.nonzero(mask)[1].mean())
                assert (xs[1] > xs[0]) == (obj["motion"] == "left_to_right"), (video, obj)
    # and every sample's evidence caption names a shape that is on screen then
    for s in samples:
        for ev in s.evidence:
            match = [
                o
                for o in s.meta["scene"]
                if f"{o['colour']} {o['shape']}" in ev.caption
                and (o["start"], o["end"]) == (ev.start, ev.end)
            ]
            assert len(match) == 1, (s.id, ev)


def test_existing_output_is_protected(toy):
    out, _ = toy
    with pytest.raises(FileExistsError, match=str(out)):
        make_toy_dataset(out, num_videos=2)


def test_main_skips_then_overwrites(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["--out", str(out), "--num-videos", "4", "--questions-per-video", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "train 4 samples / 2 videos" in printed and "val 2 samples / 1 videos" in printed
    first = (out / "train.jsonl").read_bytes()

    assert main([*args, "--seed", "5"]) == 0
    assert "skipping" in capsys.readouterr().out
    assert (out / "train.jsonl").read_bytes() == first

    assert main([*args, "--seed", "5", "--overwrite"]) == 0
    assert "wrote toy dataset" in capsys.readouterr().out
    assert (out / "train.jsonl").read_bytes() != first
    assert len(list((out / "videos").glob("*.mp4"))) == 4

    # overwriting with fewer videos leaves no stale files behind
    assert main(["--out", str(out), "--num-videos", "3", "--overwrite"]) == 0
    capsys.readouterr()
    assert len(list((out / "videos").glob("*.mp4"))) == 3


def test_write_video_validates_input(tmp_path):
    ok = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 15, 16, 3), np.uint8), 8)
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "f.mp4", ok.astype(np.float32), 8)
    with pytest.raises(ValueError, match="shape"):
        write_video(tmp_path / "g.mp4", ok[..., 0], 8)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "e.mp4", ok[:0], 8)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "r.mp4", ok, 0)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[VideoSample]]:
    out = tmp_path_factory.mktemp("toy_grid")
    paths = make_toy_dataset(
        out, num_videos=10, questions_per_video=4, size=56, fps=2, layout="grid"
    )
    return out, _load(paths)


def test_grid_describe_file_is_a_timeline_of_each_training_video(grid):
    out, samples = grid
    train_videos = {s.video for s in samples if s.split == "train"}
    describe = read_jsonl(out / "describe.jsonl")
    assert sorted(s.video for s in describe) == sorted(train_videos)
    for s in describe:
        scene = sorted(s.meta["scene"], key=lambda o: o["start"])
        assert s.answer == str(len(scene)) and s.problem_type == "numerical"
        trace = parse_trace(s.target_text())
        assert trace.well_formed and trace.answer == s.answer
        assert [(g.start, g.end) for g in trace.segments] == [
            (float(o["start"]), float(o["end"])) for o in scene
        ]
        assert [g.caption.split()[1:3] for g in trace.segments] == [
            [o["colour"], o["shape"]] for o in scene
        ]
    # the SFT file is the training split plus the describe samples, shuffled
    sft = [s.id for s in read_jsonl(out / "sft.jsonl")]
    train = [s.id for s in samples if s.split == "train"]
    assert sorted(sft) == sorted(train + [s.id for s in describe])
    assert sft != train + [s.id for s in describe]


def test_grid_layout_draws_each_shape_in_its_own_cell(grid):
    """In a 56-pixel frame each 28-pixel cell is one merged Qwen2.5-VL token: a shape's
    pixels stay inside the cell of its lane (row-major) and it never moves."""
    out, samples = grid
    by_video = {s.video: s for s in samples}
    for video, s in by_video.items():
        clip = read_frames(out / video, num_frames=10_000)
        for obj in s.meta["scene"]:
            assert obj["motion"] == "still"
            row, col = divmod(obj["lane"], 2)
            t = (obj["start"] + obj["end"]) / 2
            mask = _colour_pixels(clip.frames[int(t * clip.fps)], obj["colour"])
            inside = mask[row * 28 : row * 28 + 28, col * 28 : col * 28 + 28].sum()
            assert inside >= 30, (video, obj)
            assert inside == mask.sum(), (video, obj)  # nothing of it outside its cell


def test_grid_options_are_one_per_colour_in_a_fixed_order(grid):
    """Letter k always names colour k, so the answer letter follows from the colour read
    in the video; the motion and time-window templates are not asked."""
    _, samples = grid
    templates = {s.meta["template"] for s in samples}
    assert not templates & {"motion_of_nth", "when_on_screen", "count"}
    assert len(templates) >= 4, templates
    seen_letters = set()
    for s in samples:
        if s.problem_type != "multiple choice":
            continue
        assert [o.split()[0] for o in s.options] == list(COLOURS), s.options
        scene = sorted(s.meta["scene"], key=lambda o: o["start"])
        chosen = s.options[LETTERS.index(s.answer)]
        if s.meta["template"] == "first_appears":
            assert chosen == f"{scene[0]['colour']} {scene[0]['shape']}"
        if s.meta["template"] == "last_appears":
            assert chosen == f"{scene[-1]['colour']} {scene[-1]['shape']}"
        in_scene = {o["colour"]: f"{o['colour']} {o['shape']}" for o in scene}
        for option in s.options:  # a shape option of a colour on screen names that shape
            colour = option.split()[0]
            if " " in option and colour in in_scene:
                assert option == in_scene[colour], (s.id, option)
        seen_letters.add(s.answer)
    assert len(seen_letters) >= 3


def test_bad_layout_and_motions_are_refused():
    from vthinker.data.toy import make_scene, render_scene

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="motions must be keys"):
        make_scene(rng, motions=("spins",))
    scene = make_scene(rng)
    with pytest.raises(ValueError, match="unknown layout 'rows'"):
        render_scene(scene, size=56, fps=2, layout="rows")


def test_trace_style_writes_the_sibling_format(tmp_path):
    """`--trace-style think` writes Video-R1's format (answer included) from the same evidence."""
    from vthinker.trace import render_trace_as

    a = _load(make_toy_dataset(tmp_path / "a", num_videos=3, questions_per_video=2))
    b = _load(
        make_toy_dataset(tmp_path / "b", num_videos=3, questions_per_video=2, trace_style="think")
    )
    assert [s.id for s in a] == [s.id for s in b]
    for x, y in zip(a, b, strict=True):
        segments = parse_trace(x.trace).segments
        assert y.trace == render_trace_as(segments, x.answer, "think")
        assert y.target_text() == y.trace  # it already holds its answer
    with pytest.raises(ValueError, match="unknown trace style"):
        make_toy_dataset(tmp_path / "c", num_videos=3, trace_style="r1")


def test_command_line_help_config_file_and_bad_value(tmp_path, capsys):
    """The options are `make_toy_dataset`'s (help from its docstring), a YAML file of them
    works, and a bad value is refused naming the option."""
    with pytest.raises(SystemExit) as err:
        main(["--help"])
    assert err.value.code == 0
    out = capsys.readouterr().out
    assert "--num-videos" in out and "--trace-style" in out and "default: 100" in out
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(f"out: {tmp_path / 'from_yaml'}\nnum_videos: 3\nquestions_per_video: 1\n")
    assert main(["--config", str(cfg)]) == 0
    assert len(list((tmp_path / "from_yaml" / "videos").glob("*.mp4"))) == 3
    with pytest.raises(SystemExit) as err:
        main(["--out", str(tmp_path / "bad"), "--layout", "rows"])
    assert err.value.code == 2 and 'Parser key "layout"' in capsys.readouterr().err
