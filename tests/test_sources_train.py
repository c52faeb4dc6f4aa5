"""Training sources read from their release layouts, the Video-R1 loader, mixtures, wiring.

Fixtures: tests/fixtures/datasets/{activitynet,youcook2,tutorialvqa,star,lvbench,
video_thinker_10k}, copied from (or shaped like) the public releases; every file is cited in
tests/fixtures/datasets/TRAINING.txt (ActivityNet Captions captions.zip; YouCook2
youcookii_annotations_trainval.json and its downloader's raw_videos layout;
github.com/acolas1/TutorialVQAData; github.com/csbobby/STAR_Benchmark STAR_*.json with
Charades videos; HF THUDM/LVBench video_info.meta.jsonl; HF Video-R1/Video-R1-data).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.data.schema import Evidence, SampleError, VideoSample
from vthinker.data.sources import (
    STAR,
    ActivityNetCaptions,
    LVBench,
    MixtureSource,
    SampleSource,
    TutorialVQA,
    VideoR1Source,
    YouCook2,
)
from vthinker.data.sources.lvbench import parse_lvbench_question, parse_time_reference
from vthinker.data.sources.mixture import largest_remainder, proportional_total
from vthinker.data.toy import write_video

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "datasets"


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    """A writable copy of the training fixtures (tests add video files to it)."""
    for name in ("activitynet", "youcook2", "tutorialvqa", "star", "lvbench", "video_thinker_10k"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


# --- ActivityNet Captions ------------------------------------------------------------------


def test_activitynet_maps_each_caption_to_a_grounding_sample(data):
    # The release's file name is v_<id>.mp4; a copy without the prefix, in a sub-folder and
    # as .mkv must be found too.
    _touch(data / "activitynet/videos/part1/QOlSCBRmfWY.mkv")
    src = ActivityNetCaptions(str(data / "activitynet"), files=["train.json"])
    samples = {s.id: s for s in src.load()}
    assert sorted(samples) == [
        "train/v_QOlSCBRmfWY#0",
        "train/v_QOlSCBRmfWY#1",
        "train/v_QOlSCBRmfWY#2",
        "train/v_ehGHCYKzyZ8#0",
        "train/v_ehGHCYKzyZ8#1",
    ]
    s = samples["train/v_QOlSCBRmfWY#1"]
    # Leading space of the release's sentence is dropped; 17.37 s rounds down to 00:17 and
    # 60.81 s up to 01:01 (61 s), so the written window contains the exact one.
    assert s.question == "The girl dances around the room while the camera captures her movements."
    assert s.answer == "00:17-01:01"
    assert s.problem_type == "temporal grounding"
    assert s.evidence == [Evidence(17.37, 60.81, s.question)]
    assert s.video == "videos/part1/QOlSCBRmfWY.mkv"
    assert s.video_start is None and s.video_end is None
    assert s.source == "activitynet"
    assert s.meta["video_id"] == "v_QOlSCBRmfWY"
    assert s.meta["duration"] == 82.73
    assert s.meta["caption_index"] == 1
    assert [(t["start"], t["end"]) for t in s.meta["timeline"]] == [
        (0.83, 19.86),
        (17.37, 60.81),
        (56.26, 79.42),
    ]
    # Integer timestamps read as seconds; a missing video gets the crawler's file name.
    e = samples["train/v_ehGHCYKzyZ8#0"]
    assert e.evidence == [Evidence(0.0, 10.5, "A man is seen standing behind a table.")]
    assert e.answer == "00:00-00:11"
    assert e.video == "videos/v_ehGHCYKzyZ8.mp4"
    report = src.report
    assert (report.records, report.samples) == (4, 5)
    assert report.skipped == [
        ("train.json:v_badcountXXX", "2 time spans but 1 sentences"),
        ("train.json:v_reversedXX", "caption 0: span [12.5, 4.0] ends before it starts"),
    ]


def test_activitynet_two_validation_annotations_are_distinct_samples_of_one_video(data):
    src = ActivityNetCaptions(str(data / "activitynet"), files=["val_1.json", "val_2.json"])
    ids = [s.id for s in src.load()]
    assert ids == [
        "val_1/v_uqiMw7tQ1Cc#0",
        "val_1/v_uqiMw7tQ1Cc#1",
        "val_2/v_uqiMw7tQ1Cc#0",
        "val_2/v_uqiMw7tQ1Cc#1",
    ]
    # Both annotations are on the same in-domain side (the split is by video id).
    sides = {
        split: {
            s.id
            for s in ActivityNetCaptions(
                str(data / "activitynet"), files=["val_1.json", "val_2.json"], split=split
            ).load()
        }
        for split in ("train", "test")
    }
    assert sorted(sides["train"] | sides["test"]) == ids
    assert not sides["train"] & sides["test"]
    assert {len(sides["train"]), len(sides["test"])} == {0, 4}


# --- YouCook2 ------------------------------------------------------------------------------


def test_youcook2_maps_steps_and_finds_videos_in_the_downloader_layout(data):
    root = data / "youcook2/YouCookII"
    _touch(root / "raw_videos/training/113/GLd3aX16zBg.webm")
    _touch(root / "raw_videos/9GX8f5EwwE4.mkv")  # moved out of validation/212/: still found
    src = YouCook2(str(root))
    samples = {s.id: s for s in src.load()}
    assert sorted(samples) == [
        "9GX8f5EwwE4#0",
        "9GX8f5EwwE4#1",
        "GLd3aX16zBg#0",
        "GLd3aX16zBg#1",
        "GLd3aX16zBg#2",
    ]
    s = samples["GLd3aX16zBg#2"]
    assert s.question == "place the bread slices on top of each other and place in a hot pan"
    assert s.evidence == [Evidence(132.0, 138.0, s.question)]
    assert s.answer == "02:12-02:18"  # 132 s = 2 min 12 s, 138 s = 2 min 18 s
    assert s.video == "raw_videos/training/113/GLd3aX16zBg.webm"
    assert s.meta["recipe_type"] == "113" and s.meta["subset"] == "training"
    assert s.meta["duration"] == 241.62 and len(s.meta["timeline"]) == 3
    assert samples["9GX8f5EwwE4#0"].video == "raw_videos/9GX8f5EwwE4.mkv"
    assert src.report.skipped == [
        ("annotations/youcookii_annotations_trainval.json:nosentence1", "missing key 'sentence'")
    ]


def test_youcook2_other_subsets_are_left_out_and_counted(data):
    src = YouCook2(str(data / "youcook2/YouCookII"), subsets=["training"])
    ids = [s.id for s in src.load()]
    assert ids == ["GLd3aX16zBg#0", "GLd3aX16zBg#1", "GLd3aX16zBg#2"]
    # Nothing found: the expected downloader path is reported.
    assert src.load()[0].video == "raw_videos/training/113/GLd3aX16zBg.mp4"
    assert src.report.left_out == {"video(s) of subset 'validation'": 1}
    assert "left out: 1 video(s) of subset 'validation'" in src.report.summary()


# --- TutorialVQA ---------------------------------------------------------------------------


def test_tutorialvqa_grounds_each_question_to_its_answer_segment(data):
    root = data / "tutorialvqa"
    _touch(root / "videos/14644.mp4")  # saved under its video id: found by id
    src = TutorialVQA(str(root))
    samples = {s.id: s for s in src.load()}
    assert sorted(samples) == ["dev:0", "train:0"]
    dev = samples["dev:0"]
    assert dev.question == "how to create titles?"
    # Segment times are strings in the release: "14.11" and "33.109999" seconds.
    assert dev.evidence == [Evidence(14.11, 33.109999, "add text to an image")]
    assert dev.answer == "00:14-00:34"
    assert dev.video == "videos/14644.mp4"
    assert dev.meta["answer_sentences"] == [3, 6]
    assert dev.meta["answer_transcript"].startswith("Make sure the sun layer is selected")
    assert dev.meta["answer_transcript"].endswith("to commit the text.")
    assert dev.meta["release_split"] == "dev"
    train = samples["train:0"]
    assert train.question == "how do i save a copy of my design as a jpg?"  # "\r\r" stripped
    # Two segments share sentences 21-28: one window, both titles.
    assert train.evidence == [
        Evidence(125.9, 181.309999, "save a file as a JPG; save a file as a PNG")
    ]
    # Not downloaded: the file name of video_url is expected.
    assert train.video == (
        "videos/3f1d31a6-9eda-408e-9251-0bedef7ab4ea_20151215092907.1280x720at2400_vp8.webm"
    )
    assert [t["caption"] for t in train.meta["timeline"]] == [
        "save a design in Photoshop format or PSD",
        "save a file as a JPG",
        "save a file as a PNG",
    ]
    assert src.report.skipped == [
        (
            "train.json:1 (video 14644)",
            "answer sentences 2-5 match no segment of video 14644 (segments: [[3, 6], [10, 14]])",
        ),
        ("test.json:0 (video 99999)", "video_id '99999' is not in videos.json"),
    ]


# --- STAR ----------------------------------------------------------------------------------


def test_star_orders_choices_letters_the_answer_and_keeps_the_clip(data):
    src = STAR(str(data / "star"))
    samples = {s.id: s for s in src.load()}
    assert sorted(samples) == ["Interaction_T1_13", "Sequence_T2_89"]
    s = samples["Sequence_T2_89"]
    # Choices are listed with choice_id 2, 0, 3, 1 in the file: lettered by choice_id.
    assert s.options == ["The clothes.", "The cup/glass/bottle.", "The broom.", "The book."]
    assert s.answer == "A"
    assert s.question == "Which object did the person throw before they sat on the table?"
    assert (s.video_start, s.video_end) == (8.2, 17.4)
    assert s.evidence == [Evidence(8.2, 17.4, "")]
    assert s.video == "Charades_v1_480/N5PLR.mp4"
    assert s.meta == {
        "video_id": "N5PLR",
        "question_type": "Sequence",
        "template": "T2",
        "annotation_file": "STAR_train.json",
    }
    assert samples["Interaction_T1_13"].answer == "C"
    assert src.report.skipped == [
        (
            "STAR_train.json:Interaction_T1_4",
            "answer 'The pillow.' matches 0 of the choices ['The sandwich.', 'The medicine.', "
            "'The sofa/couch.', 'The dish.'] (need exactly 1)",
        )
    ]


# --- LVBench -------------------------------------------------------------------------------


def test_lvbench_parses_options_answer_and_time_references(data):
    root = data / "lvbench"
    # video2dataset's layout: the file is named by its row, the sidecar JSON has the URL.
    _touch(root / "videos/00000/00000000.mp4")
    (root / "videos/00000/00000000.json").write_text(
        json.dumps({"url": "https://www.youtube.com/watch?v=Cm73ma6Ibcs", "key": "00000000"})
    )
    src = LVBench(str(root))
    samples = {s.id: s for s in src.load()}
    assert sorted(samples) == ["310", "311", "55", "56"]
    s = samples["55"]
    assert s.question == "What year appears in the opening caption of the video?"
    assert s.options == ["1636", "1366", "1363", "1633"]
    assert s.answer == "D"
    assert s.evidence == [Evidence(15.0, 19.0, "")]  # "00:15-00:19"
    assert s.video == "videos/00000/00000000.mp4"
    assert s.meta["video_type"] == "cartoon"
    assert samples["56"].evidence == [Evidence(0.0, 76.0, "")]  # "00:00-01:16" = 0-76 s
    # "1:02:03-1:02:10" is H:MM:SS: 3600 + 2*60 + 3 = 3723 s, 3600 + 120 + 10 = 3730 s.
    assert samples["310"].evidence == [Evidence(3723.0, 3730.0, "")]
    assert samples["310"].meta["question_type"] == "event understanding + reasoning"
    assert samples["310"].meta["question_types"] == ["event understanding", "reasoning"]
    assert samples["310"].video == "videos/xvFZjo5PgG0.mp4"  # not downloaded
    assert samples["311"].evidence == []  # empty time_reference
    assert src.report.skipped == [
        ("video_info.meta.jsonl:1 qa 2 (uid 57)", "unknown answer letter 'E' (options A-D)"),
        ("video_info.meta.jsonl:2", "invalid JSON (Expecting value at column 1)"),
    ]


def test_lvbench_question_and_time_reference_parsers():
    assert parse_lvbench_question("Who?\n(A) x\n(B) y z\n") == ("Who?", ["x", "y z"])
    with pytest.raises(SampleError, match=r"not '\(B\) …'"):
        parse_lvbench_question("Who?\n(A) x\n(C) y")
    with pytest.raises(SampleError, match="lettered options"):
        parse_lvbench_question("Who? no options")
    # Two windows: 00:15-00:19 → 15-19 s; 01:00-01:05 → 60-65 s.
    assert parse_time_reference("00:15-00:19; 01:00-01:05") == [(15.0, 19.0), (60.0, 65.0)]
    assert parse_time_reference("") == [] and parse_time_reference(None) == []
    with pytest.raises(SampleError, match="N/A"):
        parse_time_reference("N/A")


# --- Video-R1-style records ----------------------------------------------------------------


def test_video_r1_source_reads_json_lists_and_jsonl(data, tmp_path):
    root = data / "video_thinker_10k"
    src = VideoR1Source(
        str(root), files=["Video-R1-COT-165k.json", "train.jsonl"], name="video_thinker_10k"
    )
    samples = {s.id: s for s in src.load()}
    # Video-R1 mixes image questions in: read as images by default (data_type kept).
    assert sorted(samples) == ["2", "3", "vt-activitynet-0001", "vt-star-0002"]
    assert samples["3"].data_type == "image" and samples["2"].data_type == "video"
    s = samples["2"]
    assert s.question == "What appears on the screen in Russian during the missile's ascent?"
    assert s.options == [
        "A YouTube subscription notification",
        "A military command",
        "A warning message",
        "A weather update",
    ]
    assert s.answer == "A" and s.problem_type == "multiple choice"
    # "./LLaVA-Video-178K/..." is relative to the dataset root.
    assert s.video == (
        "LLaVA-Video-178K/liwei_youtube_videos/videos/youtube_video_2024/ytb_7nRmsEw7nsE.mp4"
    )
    assert s.source == "LLaVA-Video-178K/30_60_s_youtube_v0_1"
    vt = samples["vt-star-0002"]
    assert vt.target_text() == (
        "<time>00:11-00:20</time> <caption>A person folds clothes and puts them on the shelf."
        "</caption> <think>The clothes are tidied up.</think>\n<answer>C</answer>"
    )
    assert src.report.left_out == {}
    videos_only = VideoR1Source(str(root), files=["Video-R1-COT-165k.json"], data_types=["video"])
    assert [s.id for s in videos_only.load()] == ["2"]
    assert videos_only.report.left_out == {"image record(s)": 1}
    assert src.report.skipped == [
        ("train.jsonl:2", "invalid JSON (Expecting ',' delimiter at column 1)")
    ]
    # Videos kept elsewhere: paths become absolute under video_root.
    elsewhere = VideoR1Source(str(root), files=["train.jsonl"], video_root=str(tmp_path / "v"))
    first = elsewhere.load()[0]
    assert first.video == str((tmp_path / "v/activitynet/videos/v_QOlSCBRmfWY.mp4").resolve())
    assert first.meta["path"] == "activitynet/videos/v_QOlSCBRmfWY.mp4"


# --- bad records: named, skipped, counted; fatal with strict -------------------------------


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda d: ActivityNetCaptions(str(d / "activitynet"), strict=True), "v_badcountXXX"),
        (lambda d: YouCook2(str(d / "youcook2/YouCookII"), strict=True), "nosentence1"),
        (lambda d: TutorialVQA(str(d / "tutorialvqa"), strict=True), "train.json:1"),
        (lambda d: STAR(str(d / "star"), strict=True), "Interaction_T1_4"),
        (lambda d: LVBench(str(d / "lvbench"), strict=True), "uid 57"),
        (
            lambda d: VideoR1Source(str(d / "video_thinker_10k"), strict=True),
            "train.jsonl:2",
        ),
    ],
    ids=["activitynet", "youcook2", "tutorialvqa", "star", "lvbench", "video_r1"],
)
def test_strict_stops_at_the_first_bad_record_naming_it(data, make, where):
    src = make(data)
    with pytest.raises(SampleError) as exc:
        src.load()
    assert f"{src.name}: " in str(exc.value) and where in str(exc.value)


def test_missing_annotation_file_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"STAR_train\.json.*Charades_v1_480"):
        STAR(str(tmp_path)).load()
    with pytest.raises(FileNotFoundError, match=r"video_info\.meta\.jsonl"):
        LVBench(str(tmp_path)).load()


# --- the in-domain split ---------------------------------------------------------------------


def _expected_side(source: str, key: str) -> str:
    # Independent of the library: sha256("<source>:<video key>") as an integer, 0 mod 10 → test.
    return (
        "test"
        if int(hashlib.sha256(f"{source}:{key}".encode()).hexdigest(), 16) % 10 == 0
        else "train"
    )


def _write_synthetic_activitynet(path: Path, vids: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                v: {"duration": 30.0, "timestamps": [[0, 10], [10, 20]], "sentences": ["a", "b"]}
                for v in vids
            }
        )
    )


def test_split_is_one_in_ten_by_video_and_stable_under_reordering(tmp_path):
    vids = [f"v_{i:011d}" for i in range(1000)]
    _write_synthetic_activitynet(tmp_path / "a/train.json", vids)
    _write_synthetic_activitynet(tmp_path / "b/train.json", vids[::-1])
    sides = {}
    for folder in ("a", "b"):
        for split in ("train", "test"):
            src = ActivityNetCaptions(str(tmp_path / folder), files=["train.json"], split=split)
            samples = src.load()
            assert all(s.split == split for s in samples)
            sides[folder, split] = {s.id for s in samples}
            assert src.report.split_out == 2000 - len(samples)
    # Reordering the file changes nothing.
    assert sides["a", "train"] == sides["b", "train"] and sides["a", "test"] == sides["b", "test"]
    train_videos = {i.split("/")[1].split("#")[0] for i in sides["a", "train"]}
    test_videos = {i.split("/")[1].split("#")[0] for i in sides["a", "test"]}
    assert not train_videos & test_videos and train_videos | test_videos == set(vids)
    # Every video's side is the one computed independently, both captions included.
    expected_test = {v for v in vids if _expected_side("activitynet", v) == "test"}
    assert test_videos == expected_test
    assert len(sides["a", "test"]) == 2 * len(expected_test)
    # About 1 in 10: the test share of 1000 fair draws has sd sqrt(0.1*0.9/1000) = 0.0095.
    assert 0.07 <= len(expected_test) / 1000 <= 0.13


# --- mixtures --------------------------------------------------------------------------------


class ListSource(SampleSource):
    """A source over in-memory samples (``n`` videos ``<name>-<i>.mp4``)."""

    def __init__(self, root: str, name: str, n: int, **kw):
        self.name = name
        super().__init__(root, **kw)
        self.n = n

    def records(self):
        for i in range(self.n):
            yield f"{self.name}:{i}", i

    def convert(self, record):
        return [
            VideoSample(
                id=f"{self.name}-{record}",
                video=f"videos/{self.name}-{record}.mp4",
                question="q?",
                answer="x",
                problem_type="free-form",
            )
        ]


def test_largest_remainder_and_proportional_total_exact():
    # 10 * (2, 1, 1) / 4 = (5, 2.5, 2.5): floors (5, 2, 2), one unit left, tie → source 1.
    assert largest_remainder([2, 1, 1], 10) == [5, 3, 2]
    # 10 / 3 each = 3.33: floors (3, 3, 3), the leftover unit to the first source.
    assert largest_remainder([1, 1, 1], 10) == [4, 3, 3]
    # 7 * (0.5, 0.3, 0.2) = (3.5, 2.1, 1.4): floors (3, 2, 1), the unit to the .5 → (4, 2, 1).
    assert largest_remainder([0.5, 0.3, 0.2], 7) == [4, 2, 1]
    assert largest_remainder([1, 0], 5) == [5, 0]
    # Available (10, 3), weights (1, 1): min(10*2/1, 3*2/1) = 6.
    assert proportional_total([1, 1], [10, 3]) == 6
    # Available (100, 30, 7), weights (5, 3, 2): min(100*10/5, 30*10/3, 7*10/2) = min(200, 100, 35).
    assert proportional_total([5, 3, 2], [100, 30, 7]) == 35
    with pytest.raises(ValueError, match="positive sum"):
        largest_remainder([0, 0], 3)


def _mix(tmp_path, **kw) -> MixtureSource:
    return MixtureSource(
        [
            ListSource(str(tmp_path / "a"), "a", 40),
            ListSource(str(tmp_path / "b"), "b", 30),
            ListSource(str(tmp_path / "c"), "c", 20),
        ],
        **kw,
    )


def _per_source(samples):
    out: dict[str, list[int]] = {}
    for s in samples:
        name, i = s.id.split("-")
        out.setdefault(name, []).append(int(i))
    return out


def test_mixture_weights_total_are_exact_and_seeded(tmp_path):
    mix = _mix(tmp_path, weights=[2, 1, 1], total=10, seed=3)
    samples = mix.load()
    got = _per_source(samples)
    assert {k: len(v) for k, v in got.items()} == {"a": 5, "b": 3, "c": 2}
    for picks in got.values():
        assert picks == sorted(set(picks))  # no repeats, file order kept
    # The same seed draws the same samples; the draw matches random.Random("<seed>:<i>:<name>").
    import random

    assert got["a"] == sorted(random.Random("3:0:a").sample(range(40), 5))
    assert [s.id for s in _mix(tmp_path, weights=[2, 1, 1], total=10, seed=3).load()] == [
        s.id for s in samples
    ]
    assert _per_source(_mix(tmp_path, weights=[2, 1, 1], total=10, seed=4).load()) != got
    # shuffle interleaves the same draw, the same way on every run.
    shuffled = [
        s.id for s in _mix(tmp_path, weights=[2, 1, 1], total=10, seed=3, shuffle=True).load()
    ]
    assert sorted(shuffled) == sorted(s.id for s in samples) and shuffled != [s.id for s in samples]
    again = _mix(tmp_path, weights=[2, 1, 1], total=10, seed=3, shuffle=True).load()
    assert [s.id for s in again] == shuffled
    # Paths are re-rooted on each source's folder.
    assert samples[0].video == (tmp_path / "a" / f"videos/{samples[0].id}.mp4").as_posix()
    assert mix.report.samples == 10 and mix.report.records == 90
    assert mix.report.left_out == {
        "sample(s) of a not drawn": 35,
        "sample(s) of b not drawn": 27,
        "sample(s) of c not drawn": 18,
    }


def test_mixture_counts_proportional_default_and_shortfall(tmp_path, caplog):
    counts = _per_source(_mix(tmp_path, counts=[4, None, 100]).load())
    assert {k: len(v) for k, v in counts.items()} == {"a": 4, "b": 30, "c": 20}
    # Weights without total: the largest total all can fill, min(40*6/3, 30*6/2, 20*6/1) = 80.
    prop = _per_source(_mix(tmp_path, weights=[3, 2, 1]).load())
    assert {k: len(v) for k, v in prop.items()} == {"a": 40, "b": 27, "c": 13}
    # total 90 with weights (1, 1, 4): quotas (15, 15, 60) but c has 20.
    with caplog.at_level(logging.WARNING):
        short = _mix(tmp_path, weights=[1, 1, 4], total=90)
        got = _per_source(short.load())
    assert {k: len(v) for k, v in got.items()} == {"a": 15, "b": 15, "c": 20}
    assert short.shortfall == {"c": 40}
    assert "c has 20 sample(s) for a quota of 60" in caplog.text
    with pytest.raises(ValueError, match="quota of 60"):
        _mix(tmp_path, weights=[1, 1, 4], total=90, strict=True).load()
    with pytest.raises(ValueError, match="either counts"):
        _mix(tmp_path, counts=[1, 1, 1], weights=[1, 1, 1])


def test_mixture_folds_in_the_sources_reports(data):
    mix = MixtureSource(
        [STAR(str(data / "star")), LVBench(str(data / "lvbench"))], counts=[None, 2], seed=0
    )
    samples = mix.load()
    assert len(samples) == 4
    assert [s.source for s in samples] == ["star", "star", "lvbench", "lvbench"]
    assert samples[0].video == (data / "star/Charades_v1_480/N5PLR.mp4").as_posix()
    assert mix.report.records == 3 + 6
    assert [w for w, _ in mix.report.skipped] == [
        "star: STAR_train.json:Interaction_T1_4",
        "lvbench: video_info.meta.jsonl:1 qa 2 (uid 57)",
        "lvbench: video_info.meta.jsonl:2",
    ]
    assert mix.report.left_out == {"sample(s) of lvbench not drawn": 2}


# --- the DataModule ------------------------------------------------------------------------


def _clip_video(path: Path, seconds: int = 20, fps: int = 4) -> None:
    # A plain grey-level ramp: frame k is filled with value 10 * k (mod 256).
    frames = np.stack(
        [np.full((64, 64, 3), (10 * k) % 256, dtype=np.uint8) for k in range(seconds * fps)]
    )
    write_video(path, frames, fps=fps)


def test_datamodule_feeds_a_source_batch_through_the_collator(data, processor):
    _clip_video(data / "star/Charades_v1_480/N5PLR.mp4")
    _clip_video(data / "star/Charades_v1_480/6H78U.mp4")
    dm = VideoQADataModule(
        train_source=STAR(str(data / "star")),
        frames=FrameSampling(fps=1.0, min_frames=2, max_frames=4),
        max_pixels=64 * 64,
        min_pixels=32 * 32,
        batch_size=2,
    )
    dm.connect(processor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup("fit")
    assert any("1 bad record(s) skipped" in str(w.message) for w in caught)
    assert dm.reports["fit"].skipped[0][0] == "STAR_train.json:Interaction_T1_4"
    batch = next(iter(dm.train_dataloader()))
    assert sorted(s.id for s in batch["samples"]) == ["Interaction_T1_13", "Sequence_T2_89"]
    assert batch["skipped"] == []
    assert batch["input_ids"].shape == batch["labels"].shape
    assert (batch["labels"] != -100).any()
    # The frames come from the STAR clip, in seconds of the Charades file that is read: each
    # frame k of the 4 fps file is on screen during [k/4, (k+1)/4), which meets the clip.
    for sample, ts in zip(batch["samples"], batch["timestamps"], strict=True):
        assert len(ts) >= 2
        assert sample.video_start < min(ts) + 0.25 and max(ts) < sample.video_end
        assert min(ts) >= sample.video_start - 0.25


def test_datamodule_takes_a_file_or_a_source_per_stage(data, processor):
    with pytest.raises(ValueError, match=r"train_file and data\.train_source are both set"):
        VideoQADataModule(train_file="x.jsonl", train_source=STAR(str(data / "star")))
    dm = VideoQADataModule(test_source=LVBench(str(data / "lvbench"), strict=False), strict=True)
    dm.connect(processor)
    with pytest.raises(SampleError, match="uid 57"):  # data.strict makes the source strict
        dm.setup("test")


# --- configs -------------------------------------------------------------------------------

CONFIG_ROOTS = {
    "data/activitynet": "activitynet",
    "data/youcook2/YouCookII": "youcook2/YouCookII",
    "data/tutorialvqa": "tutorialvqa",
    "data/star": "star",
    "data/lvbench": "lvbench",
    "data/video_thinker_10k": "video_thinker_10k",
}
TRAINING_CONFIGS = [
    "activitynet",
    "youcook2",
    "tutorialvqa",
    "star",
    "lvbench",
    "video_thinker_10k",
    "mixture",
]


def _point_at_fixtures(node):
    """Rewrite every source ``root`` to its fixture and read all splits (tiny fixtures)."""
    if isinstance(node, dict):
        args = node.get("init_args", {})
        if isinstance(args, dict) and args.get("root") in CONFIG_ROOTS:
            args["root"] = str(FIXTURES / CONFIG_ROOTS[args["root"]])
            args["split"] = "all"
        for value in node.values():
            _point_at_fixtures(value)
    elif isinstance(node, list):
        for value in node:
            _point_at_fixtures(value)


@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_training_data_config_instantiates_on_the_fixture(name, tmp_path):
    import lightning as L
    from jsonargparse import ArgumentParser

    cfg = yaml.safe_load((ROOT / "configs/data" / f"{name}.yaml").read_text())
    assert cfg["data"]["init_args"]["train_file"] is None
    _point_at_fixtures(cfg)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parser = ArgumentParser()
    parser.add_subclass_arguments(L.LightningDataModule, "data")
    dm = parser.instantiate(parser.parse_path(path)).data
    assert isinstance(dm, VideoQADataModule)
    source = dm.sources["fit"]
    assert isinstance(source, SampleSource)
    samples = source.load()
    assert samples and all(isinstance(s, VideoSample) for s in samples)


def test_data_config_layers_over_a_training_config(tiny_model_dir):
    from vthinker.cli import cli

    c = cli(
        [
            "--config",
            str(ROOT / "configs/demo/sft.yaml"),
            "--config",
            str(ROOT / "configs/data/star.yaml"),
            "--data.init_args.train_source.init_args.root",
            str(FIXTURES / "star"),
            "--model.init_args.policy.name_or_path",
            str(tiny_model_dir),
        ],
        run=False,
    )
    dm = c.datamodule
    assert dm.files["fit"] is None and dm.video_root is None
    assert isinstance(dm.sources["fit"], STAR) and dm.sources["fit"].split == "train"
    assert dm.frames.max_frames == 8  # the demo config's own data settings are kept
