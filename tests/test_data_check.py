"""`vthinker data check`: exact counts on a dataset with every kind of problem, the clean
JSONL, the command line, and the toy dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vthinker.data.check as check_mod
from vthinker.cli import main as vthinker_main
from vthinker.cli import parse_data_block
from vthinker.data.check import (
    Dataset,
    check_samples,
    datasets_from_config,
    jsonl_dataset,
    main,
    span_problems,
)
from vthinker.data.schema import Evidence, VideoSample, read_jsonl
from vthinker.data.toy import write_video

FPS = 16


def _frames(n: int) -> np.ndarray:
    return np.full((n, 32, 32, 3), 128, dtype=np.uint8)


def _record(id: str, video: str, **kw) -> str:
    s = VideoSample(id=id, video=video, question="q?", answer="A", options=["x", "y"], **kw)
    return json.dumps(s.to_dict())


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    """A JSONL dataset with two good samples and one of each problem.

    Videos: good.mp4 160 frames at 16 fps (10 s), short.mp4 40 frames (2.5 s),
    corrupt.mp4 garbage bytes, missing.mp4 absent.
    """
    vids = tmp_path / "ds" / "videos"
    vids.mkdir(parents=True)
    write_video(vids / "good.mp4", _frames(160), FPS)
    write_video(vids / "short.mp4", _frames(40), FPS)
    (vids / "corrupt.mp4").write_bytes(b"\x00\x01garbage, not a video" * 64)
    lines = [
        _record("good1", "videos/good.mp4", evidence=[Evidence(1.0, 3.0)]),
        # clip [1, 9) s: frames 16..143 = 128 frames >= 64
        _record("good2", "videos/good.mp4", video_start=1.0, video_end=9.0),
        _record("span_end", "videos/good.mp4", evidence=[Evidence(8.0, 12.0)]),  # 12 > 10 s
        _record("span_clip", "videos/good.mp4", video_start=2.0, video_end=15.0),  # past 10 s
        _record("span_neg", "videos/good.mp4", evidence=[Evidence(-1.0, 2.0)]),
        _record("short1", "videos/short.mp4"),
        _record("corrupt1", "videos/corrupt.mp4"),
        _record("corrupt2", "videos/corrupt.mp4"),
        _record("missing1", "videos/missing.mp4"),
        "{not json",
    ]
    path = tmp_path / "ds" / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_exact_counts_and_each_video_probed_once(dirty, monkeypatch):
    opened: list[str] = []
    real = check_mod.video_info

    def counting(path):
        opened.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(check_mod, "video_info", counting)
    result = check_samples(jsonl_dataset(dirty), progress=False)
    # good.mp4 (5 samples), short.mp4, corrupt.mp4 (2 samples): each opened once;
    # missing.mp4 is never opened
    assert sorted(opened) == ["corrupt.mp4", "good.mp4", "short.mp4"]
    assert result.summary() == {
        "name": str(dirty),
        "samples": 9,
        "bad_records": 1,
        "left_out": 0,
        "videos": 4,
        "images": 0,
        "min_frames": 64,
        "missing": {"videos": 1, "samples": 1},
        "undecodable": {"videos": 1, "samples": 2},
        "short": {"videos": 1, "samples": 1},  # 40 < 64 frames
        "span": {"videos": 1, "samples": 3},
        "clean": 2,
    }
    assert [s.id for s in result.clean] == ["good1", "good2"]
    assert result.bad_records[0][0] == f"{dirty}:10"
    details = {i.sample_id: i.detail for i in result.issues["span"]}
    assert details["span_end"] == "evidence 1 [8, 12] s ends after the end of the video (10.000 s)"
    assert details["span_clip"] == "clip end 15 s is past the end of the video (10.000 s)"
    assert details["span_neg"] == "evidence 1 [-1, 2] s starts before 0"
    assert result.issues["short"][0].detail == "video has 40 frames (< 64)"
    assert result.issues["missing"][0].detail == "file does not exist"
    assert result.has_issues


def test_min_frames_threshold_and_clip_frames(dirty):
    # the good2 clip holds 128 frames and good.mp4 160: at 129 the clip is short, at 161 all are
    r = check_samples(jsonl_dataset(dirty), min_frames=129, progress=False)
    assert [i.sample_id for i in r.issues["short"]] == ["good2", "short1"]
    assert r.issues["short"][0].detail == "clip has 128 frames (< 129)"
    # at 40 the 40-frame video is long enough (fewer than min_frames is short)
    r = check_samples(jsonl_dataset(dirty), min_frames=40, progress=False)
    assert r.issues["short"] == [] and [s.id for s in r.clean] == ["good1", "good2", "short1"]


def test_deep_probe_finds_the_same_problems(dirty):
    r = check_samples(jsonl_dataset(dirty), deep=True, progress=False)
    assert r.summary()["undecodable"] == {"videos": 1, "samples": 2}
    assert r.summary()["clean"] == 2


def test_write_clean_contains_exactly_the_good_samples(dirty, tmp_path):
    out = tmp_path / "elsewhere" / "clean.jsonl"
    main(["check", "--jsonl", str(dirty), "--write-clean", str(out), "--no-progress"])
    clean = read_jsonl(out)
    assert [s.id for s in clean] == ["good1", "good2"]
    # relative paths are rewritten so they resolve from the new file's folder
    assert clean[0].video == "../ds/videos/good.mp4"
    assert (out.parent / clean[0].video).resolve() == (dirty.parent / "videos/good.mp4").resolve()
    assert clean[1].video_start == 1.0 and clean[1].video_end == 9.0
    again = check_samples(jsonl_dataset(out), progress=False)
    assert again.summary()["clean"] == 2 and not again.has_issues


def test_command_reports_and_exits_zero_unless_asked(dirty, tmp_path, capsys):
    report = tmp_path / "report.json"
    main(["check", "--jsonl", str(dirty), "--report-json", str(report), "--no-progress"])
    out = capsys.readouterr().out
    assert "undecodable videos" in out and "short videos (< 64 frames)" in out
    assert "corrupt1" in out and "missing1" in out and "not a readable video" in out
    [summary] = json.loads(report.read_text())
    assert summary["clean"] == 2 and summary["undecodable"] == {"videos": 1, "samples": 2}
    with pytest.raises(SystemExit) as err:
        main(["check", "--jsonl", str(dirty), "--fail-on-issues", "--no-progress"])
    assert err.value.code == 1
    with pytest.raises(SystemExit, match="either --config or --jsonl"):
        main(["check", "--no-progress"])
    with pytest.raises(SystemExit, match="unknown subcommand"):
        main(["scan"])
    with pytest.raises(SystemExit, match=r"annotation file not found: .*nope\.jsonl"):
        main(["check", "--jsonl", str(tmp_path / "nope.jsonl")])


@pytest.mark.slow  # importing the CLI imports Lightning (seconds when nothing else has)
def test_cli_tool_entry(dirty, capsys):

    vthinker_main(["data", "check", "--jsonl", str(dirty), "--no-progress", "--show", "1"])
    out = capsys.readouterr().out
    assert "clean samples" in out and "… and 1 more" in out  # 2 undecodable, 1 shown


def test_span_problems_by_hand():
    def s(evidence=(), start=None, end=None):
        return VideoSample(
            id="x",
            video="v.mp4",
            question="q",
            answer="a",
            problem_type="free-form",
            evidence=[Evidence(a, b) for a, b in evidence],
            video_start=start,
            video_end=end,
        )

    # duration 10 s at 10 fps: one frame (0.1 s) of slack past an end
    assert span_problems(s([(9, 10.1)]), duration=10, fps=10) == []
    assert span_problems(s([(9, 10.11)]), duration=10, fps=10) == [
        "evidence 1 [9, 10.11] s ends after the end of the video (10.000 s)"
    ]
    assert span_problems(s([(9, 10.5)]), duration=10, fps=10, tolerance=0.4) == []
    # clip [2, 5]: evidence must lie inside it
    assert span_problems(s([(2, 5.1)], 2, 5), duration=10, fps=10) == []
    assert span_problems(s([(1.5, 3), (2, 5.2)], 2, 5), duration=10, fps=10) == [
        "evidence 1 [1.5, 3] s starts before the clip start 2 s",
        "evidence 2 [2, 5.2] s ends after the end of the clip (5.000 s)",
    ]
    assert span_problems(s(start=10.0), duration=10, fps=10) == [
        "clip start 10 s is past the end of the video (10.000 s)"
    ]
    assert span_problems(s(start=3.0, end=3.0)) == ["clip end 3 s is not after its start 3 s"]
    # without a known duration only the duration-free checks run
    assert span_problems(s([(-0.5, 50)])) == ["evidence 1 [-0.5, 50] s starts before 0"]


def test_config_with_data_block_checks_each_stage(dirty, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "data:\n  class_path: vthinker.data.datamodule.VideoQADataModule\n  init_args:\n"
        f"    train_file: {dirty}\n    val_file: {dirty}\n"
    )
    names = [d.name for d in datasets_from_config([cfg], parse_data=parse_data_block)]
    assert names == [f"train_file {dirty}", f"val_file {dirty}"]
    [val] = datasets_from_config([cfg], stages=["val"], limit=3, parse_data=parse_data_block)
    assert [s.id for s in val.samples] == ["good1", "good2", "span_end"]
    with pytest.raises(SystemExit, match="--write-clean needs one dataset"):
        vthinker_main(
            ["data", "check", "--config", str(cfg), "--write-clean", str(tmp_path / "o.jsonl")]
        )
    with pytest.raises(ValueError, match="neither test_source nor test_file"):
        datasets_from_config([cfg], stages=["test"], parse_data=parse_data_block)


def test_source_config_reports_left_out_records_and_missing_videos(tmp_path, capsys):
    fixtures = Path(__file__).parent / "fixtures" / "datasets" / "cgbench"
    cfg = tmp_path / "cg.yaml"
    cfg.write_text(
        f"class_path: vthinker.data.sources.cgbench.CGBench\ninit_args:\n  root: {fixtures}\n"
    )
    [ds] = datasets_from_config([cfg], parse_data=parse_data_block)
    result = check_samples(ds, progress=False)
    assert result.summary()["left_out"] == 2  # a perception and a hallucination question
    # the two reasoning questions are about two videos, and fixtures ship no videos
    assert result.summary()["missing"] == {"videos": 2, "samples": 2}
    vthinker_main(["data", "check", "--config", str(cfg), "--no-progress"])
    assert "left out: 1 perception question (subset is reasoning)" in capsys.readouterr().out


def test_toy_dataset_reports_honestly(toy_dir, capsys):
    samples = read_jsonl(toy_dir / "train.jsonl")
    result = check_samples(jsonl_dataset(toy_dir / "train.jsonl"), progress=False)
    assert result.samples == len(samples) and not result.has_issues
    assert len(result.probes) == len({s.video for s in samples})
    # the toy videos are 12 s at 8 fps = 96 frames: short only under a higher threshold,
    # which is reported without failing the command
    main(["check", "--jsonl", str(toy_dir / "train.jsonl"), "--min-frames", "97", "--no-progress"])
    out = capsys.readouterr().out
    [row] = [ln for ln in out.splitlines() if ln.startswith("│ short videos (< 97 frames)")]
    assert [c.strip() for c in row.split("│")[2:4]] == [str(len(result.probes)), str(len(samples))]


def test_toy_demo_config_checks_all_its_files(toy_dir, tmp_path):
    root = Path(__file__).resolve().parents[1]
    override = tmp_path / "toy.yaml"
    override.write_text(
        "data:\n  init_args:\n"
        f"    train_file: {toy_dir / 'train.jsonl'}\n"
        f"    val_file: {toy_dir / 'val.jsonl'}\n"
        f"    predict_file: {toy_dir / 'test.jsonl'}\n"
    )
    datasets = datasets_from_config(
        [root / "configs/demo/sft.yaml", override], parse_data=parse_data_block
    )
    assert [d.name.split()[0] for d in datasets] == ["train_file", "val_file", "predict_file"]
    results = [check_samples(d, progress=False) for d in datasets]
    assert all(not r.has_issues for r in results)


def test_dataset_of_samples_without_root(tmp_path):
    path = tmp_path / "a.mp4"
    write_video(path, _frames(70), FPS)
    ds = Dataset("abs", [VideoSample(id="a", video=str(path), question="q", answer="x")], None)
    assert check_samples(ds, progress=False).summary()["clean"] == 1


def test_config_is_parsed_by_the_vthinker_parser(dirty, tmp_path):
    """A ``config:`` key and dotted keys are followed as ``vthinker fit`` follows them, the
    model is never built (its weights folder does not exist), and a bad value is refused
    naming its key."""
    root = Path(__file__).resolve().parents[1]
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"config: {root / 'configs/demo/sft.yaml'}\n"
        "model.init_args.policy.name_or_path: /no/such/model\n"
        f"data.init_args.train_file: {dirty}\n"
        "data.init_args.val_file: null\n"
        "data.init_args.predict_file: null\n"
    )
    [ds] = datasets_from_config([cfg], limit=2, parse_data=parse_data_block)
    assert ds.name == f"train_file {dirty}" and [s.id for s in ds.samples] == ["good1", "good2"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  init_args:\n    batch_size: many\n")
    with pytest.raises(SystemExit, match="batch_size"):
        vthinker_main(
            ["data", "check", "--config", str(cfg), "--config", str(bad), "--no-progress"]
        )


def test_report_lists_every_issue_kind():
    """The report's labels cover the issue kinds `check_samples` produces, in their order."""
    from vthinker.data.check import ISSUE_KINDS
    from vthinker.data.check_report import _LABELS

    assert tuple(_LABELS) == ISSUE_KINDS
