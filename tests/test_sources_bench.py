"""The six out-of-domain benchmark readers, on fixtures in their release layouts.

Fixtures: tests/fixtures/datasets/<benchmark>/ (sources cited in
tests/fixtures/datasets/BENCHMARKS.txt): Video-Holmes (TencentARC/Video-Holmes
Pipeline/example_questions + evaluate.py), CG-Bench (CG-Bench/CG-Bench run/save_as_jsons.py,
VLMEvalKit cgbench), VRBench (OpenGVLab/VRBench inference/data/VRBench_debug.jsonl),
Video-MME (lmms-eval videomme/utils.py columns), SciVideoBench (dengandong/SciVideoBench
README example), Video-TT (lmms-eval video-tt/utils.py, VLMEvalKit video_tt.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vthinker.cli import parse_data_block
from vthinker.data.check import datasets_from_config
from vthinker.data.schema import Evidence, SampleError
from vthinker.data.sources.cgbench import CGBench, category_of, duration_bucket
from vthinker.data.sources.scivideobench import SciVideoBench
from vthinker.data.sources.video_holmes import VideoHolmes
from vthinker.data.sources.videomme import VideoMME
from vthinker.data.sources.videott import MULTIPLE_CHOICE, VideoTT, split_options
from vthinker.data.sources.vrbench import VRBench, step_evidence

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
ROOT = Path(__file__).resolve().parents[1]

# --- fixture copies with one record changed ---------------------------------------------------


def _read_records(path: Path) -> tuple[list[Any], Any]:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return table.to_pylist(), table.schema
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()], None
    return json.loads(path.read_text()), None


def _write_records(path: Path, records: list[Any], schema: Any) -> None:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records, indent=2))


def copy_with(
    name: str, annotation: str, tmp_path: Path, change: Callable[[list[Any]], None]
) -> Path:
    """Copy fixture ``name`` to tmp and apply ``change`` to the annotation's records."""
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    path = dst / annotation
    records, schema = _read_records(path)
    change(records)
    _write_records(path, records, schema)
    return dst


# --- Video-Holmes -----------------------------------------------------------------------------


def test_video_holmes_maps_every_field():
    src = VideoHolmes(str(FIXTURES / "video_holmes" / "Benchmark"))
    samples = src.load()
    assert [s.id for s in samples] == ["RSmjqss0XKQ-1", "RSmjqss0XKQ-3", "dGS48Kcax5k-8"]
    s = samples[0]
    assert s.to_dict() == {
        "id": "RSmjqss0XKQ-1",
        "video": "videos/RSmjqss0XKQ.mp4",  # relative to root, resolved by the DataModule
        "question": "What is the relationship between the woman in blue and the man in green?",
        "answer": "A",
        "problem_type": "multiple choice",
        "options": [
            "Cleaners",
            "Colleagues from the same department",
            "Siblings",
            "Strangers who collided accidentally",
            "Undercover police officers",
            "Office coworkers",
        ],
        "evidence": [],
        "trace": None,
        "source": "video_holmes",
        "split": "test",
        "video_start": None,
        "video_end": None,
        "meta": {
            "question_type": "SR",
            "video_id": "RSmjqss0XKQ",
            "question_id": "1",
            "explanation": "The woman in blue and man in green both wear cleaning uniforms and "
            "interact during elevator maintenance work, confirming their roles as cleaners.",
        },
        "data_type": "video",
    }
    assert [x.meta["question_type"] for x in samples] == ["SR", "TCI", "CTI"]
    assert [x.answer for x in samples] == ["A", "C", "F"]
    assert src.report.records == 3 and src.report.samples == 3 and not src.report.skipped


def test_video_holmes_video_folder_and_root(tmp_path):
    vids = tmp_path / "films"
    src = VideoHolmes(str(FIXTURES / "video_holmes" / "Benchmark"), video_root=str(vids))
    assert src.load()[0].video == str((vids / "RSmjqss0XKQ.mp4").resolve())
    cropped = VideoHolmes(str(FIXTURES / "video_holmes" / "Benchmark"), video_dir="videos_cropped")
    assert cropped.load()[2].video == "videos_cropped/dGS48Kcax5k.mp4"


# --- CG-Bench ---------------------------------------------------------------------------------


def test_cgbench_reasoning_subset_fields_and_left_out():
    src = CGBench(str(FIXTURES / "cgbench"))
    samples = src.load()
    assert [s.id for s in samples] == ["10511", "2301"]  # the two "... Cognition" questions
    assert src.report.left_out == {
        "perception question (subset is reasoning)": 1,
        "hallucination question (subset is reasoning)": 1,
    }
    s = samples[1]
    assert s.video == "cg_videos_720p/b7Hq0mK2pQs.mp4"
    assert s.question == "Why does the driver brake twice before the tunnel entrance?"
    assert s.options == [
        "The traffic light turns red",
        "A cyclist cuts in and then a dog crosses",
        "The car runs out of fuel",
        "A police car signals him to stop",
    ]
    assert s.answer == "B"
    # clue_intervals [[312.5, 318], [402, 410.5]] are seconds of the full video
    assert s.evidence == [Evidence(312.5, 318.0, ""), Evidence(402.0, 410.5, "")]
    assert s.meta == {
        "question_type": "Time Cognition",
        "category": "reasoning",
        "domain": "Driving",
        "duration_s": 3725.0,
        "duration_bucket": "60+",  # 3725 s = 62.1 min
        "video_id": "b7Hq0mK2pQs",
        "answer_text": "A cyclist cuts in and then a dog crosses",
    }
    assert samples[0].meta["duration_bucket"] == "20 ~ 30"  # 1477 s = 24.6 min
    assert samples[0].answer == "E" and len(samples[0].options) == 8


def test_cgbench_all_subset_and_categories():
    samples = CGBench(str(FIXTURES / "cgbench"), subset="all").load()
    assert [(s.id, s.meta["category"]) for s in samples] == [
        ("5607", "perception"),
        ("10511", "reasoning"),
        ("2301", "reasoning"),
        ("2302", "hallucination"),
    ]
    assert samples[0].answer == "G"  # 8 choices, right_answer G
    assert samples[3].evidence == [Evidence(0.0, 3725.0, "")]
    assert category_of("2D Spatial Perception") == "perception"
    assert category_of("Entity Cognition") == "reasoning"
    assert category_of("Hallucination") == "hallucination"
    assert category_of("Something Else") is None


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    # minutes = seconds / 60, right-closed bins as pandas.cut in VLMEvalKit
    [
        (0, "0 ~ 10"),
        (600, "0 ~ 10"),
        (601, "10 ~ 20"),
        (1800, "20 ~ 30"),
        (3000, "40 ~ 50"),
        (3001, "50 ~ 60"),
        (3600, "50 ~ 60"),
        (3601, "60+"),
    ],
)
def test_cgbench_duration_buckets(seconds, bucket):
    assert duration_bucket(seconds) == bucket


def test_cgbench_unknown_sub_category_is_a_bad_record(tmp_path):
    def change(records):
        records[1]["sub_category"] = "Vibes"

    root = copy_with("cgbench", "cgbench.json", tmp_path, change)
    src = CGBench(str(root))
    assert [s.id for s in src.load()] == ["2301"]
    [(where, why)] = src.report.skipped
    assert where == "cgbench.json:[1]" and "unknown sub_category 'Vibes'" in why
    assert [s.id for s in CGBench(str(root), subset="all").load()] == [
        "5607",
        "10511",
        "2301",
        "2302",
    ]


# --- VRBench -----------------------------------------------------------------------------------


def test_vrbench_one_sample_per_question_with_timed_steps():
    src = VRBench(str(FIXTURES / "vrbench"))
    samples = src.load()
    assert [s.id for s in samples] == [
        "TZk_p-q8Fzo-qa1",
        "TZk_p-q8Fzo-qa5",
        "TZk_p-q8Fzo-qa7",
        "eb5vwy4GSSs-qa1",
    ]
    s = samples[0]
    assert s.video == "VRBench/videos/v001/TZk_p-q8Fzo.mp4"
    assert s.answer == "D" and len(s.options) == 4
    assert s.options[3].startswith("Because they are interested in history")
    # [00:07:44->00:08:28] = 7*60+44 = 464 s to 8*60+28 = 508 s; 00:09:09 = 549; 00:12:44 = 764
    assert s.evidence == [
        Evidence(464.0, 508.0, "A group of people explore the temple ruins, showing interest."),
        Evidence(508.0, 549.0, "Their eyes are filled with curiosity and a desire to explore."),
        Evidence(
            549.0,
            764.0,
            "The temple ruins themselves have a rich historical and cultural background.",
        ),
    ]
    assert s.meta == {
        "question_type": "Implicit Inference",
        "video_id": "TZk_p-q8Fzo",
        "question_key": "qa1",
    }
    assert samples[1].meta["question_type"] == "Counting Porblems"  # the release's spelling
    # 00:21:04 = 1264 s, 00:22:14 = 1334 s
    assert samples[1].evidence[2] == Evidence(
        1264.0, 1334.0, "A small black car appears in the third video"
    )
    assert samples[2].evidence == []  # qa7 has an empty reasoning_process
    # "... kissing her lover [00:02:00->00:02:44]." : the span goes, the full stop stays
    assert samples[3].evidence[0] == Evidence(
        120.0, 164.0, "The video shows the heroine entering a room and kissing her lover."
    )
    assert src.report.records == 4  # questions, not lines


def test_vrbench_video_root_is_joined_like_the_official_script(tmp_path):
    samples = VRBench(str(FIXTURES / "vrbench"), video_root=str(tmp_path)).load()
    assert samples[0].video == str((tmp_path / "VRBench/videos/v001/TZk_p-q8Fzo.mp4").resolve())


def test_vrbench_step_evidence():
    assert step_evidence("no time here") is None
    # 1:02:03 = 3723 s
    assert step_evidence("a [01:02:03 -> 01:02:05]") == Evidence(3723.0, 3725.0, "a")
    with pytest.raises(SampleError, match="ends before it starts"):
        step_evidence("x [00:00:09->00:00:08]")
    with pytest.raises(SampleError, match="out of range"):
        step_evidence("x [00:61:00->00:62:00]")


def test_vrbench_bad_question_and_bad_line_are_skipped_and_counted(tmp_path):
    def change(records):
        records[0]["mcq"]["qa5"]["reasoning_process"]["2"] = "bad [00:61:00->00:62:00]"
        records.append("not an object")

    root = copy_with("vrbench", "VRBench_eval.jsonl", tmp_path, change)
    with (root / "VRBench_eval.jsonl").open("a") as f:
        f.write("{broken json\n")
    src = VRBench(str(root))
    assert [s.id for s in src.load()] == ["TZk_p-q8Fzo-qa1", "TZk_p-q8Fzo-qa7", "eb5vwy4GSSs-qa1"]
    wheres = [w for w, _ in src.report.skipped]
    assert wheres == [
        "VRBench_eval.jsonl:line 1 qa5",
        "VRBench_eval.jsonl:line 3",
        "VRBench_eval.jsonl:line 4",
    ]
    reasons = [r for _, r in src.report.skipped]
    assert "out of range" in reasons[0]
    assert "expected a JSON object" in reasons[1]
    assert "invalid JSON" in reasons[2]


# --- Video-MME ---------------------------------------------------------------------------------


def test_videomme_maps_every_field():
    samples = VideoMME(str(FIXTURES / "videomme")).load()
    assert [s.id for s in samples] == ["001-1", "001-2", "601-3"]
    s = samples[0]
    assert s.to_dict() == {
        "id": "001-1",
        "video": "data/fFjv93ACGo8.mp4",
        "question": "When demonstrating the Germany modern Christmas tree is initially decorated "
        "with apples, candles and berries, which kind of the decoration has the largest number?",
        "answer": "C",
        "problem_type": "multiple choice",
        "options": ["Apples.", "Candles.", "Berries.", "The three kinds are of the same number."],
        "evidence": [],
        "trace": None,
        "source": "videomme",
        "split": "test",
        "video_start": None,
        "video_end": None,
        "meta": {
            "question_type": "Counting Problem",
            "domain": "Knowledge",
            "sub_category": "Humanity & History",
            "duration_bucket": "short",
            "video_id": "001",
            "youtube_id": "fFjv93ACGo8",
        },
        "data_type": "video",
    }
    assert [x.meta["duration_bucket"] for x in samples] == ["short", "short", "long"]


def test_videomme_durations_filter_and_video_extension(tmp_path):
    root = tmp_path / "mme"
    shutil.copytree(FIXTURES / "videomme", root)
    (root / "data").mkdir()
    (root / "data" / "Rv7nT8qZk2E.mkv").write_bytes(b"")  # lmms-eval also tries .MP4 and .mkv
    src = VideoMME(str(root), durations=["long"])
    [s] = src.load()
    assert s.id == "601-3" and s.video == "data/Rv7nT8qZk2E.mkv"
    assert sum(src.report.left_out.values()) == 2
    with pytest.raises(ValueError, match="durations"):
        VideoMME(str(root), durations=["tiny"])  # type: ignore[list-item]


def test_videomme_option_prefixes_are_checked(tmp_path):
    def change(records):
        records[0]["options"] = ["A. x", "C. y", "B. z"]

    src = VideoMME(
        str(copy_with("videomme", "videomme/test-00000-of-00001.parquet", tmp_path, change))
    )
    assert [s.id for s in src.load()] == ["001-2", "601-3"]
    [(where, why)] = src.report.skipped
    assert where == "test-00000-of-00001.parquet:row 1"
    assert "should start with 'B.'" in why


# --- SciVideoBench ---------------------------------------------------------------------------


def test_scivideobench_maps_every_field():
    samples = SciVideoBench(str(FIXTURES / "scivideobench")).load()
    assert [s.id for s in samples] == ["58827-1", "61904-3"]
    s = samples[0]
    assert s.video == "videos/jove_58827.mp4"
    assert s.question.startswith("What is the purpose of transferring the sample between chambers")
    assert s.options == [
        "Align the sample with the deposition target",
        "Cool the sample before deposition",
        "Measure sample thickness prior to coating",
        "Preserve main chamber vacuum integrity",
    ]
    assert s.answer == "D" and s.evidence == []
    assert s.meta == {
        "question_type": "Conceptual Reasoning",
        "domain": "Chemistry",
        "sub_category": "Nanomaterials",
        "video_id": "58827",
        "question_id": "1",
        "timestamp_breakdown": ["..."],
    }
    t = samples[1]
    assert len(t.options) == 10 and t.options[9] == "30" and t.answer == "E"
    assert t.meta["duration_s"] == 612.4 and t.meta["domain"] == "Biology"


def test_scivideobench_json_twin_and_plain_video_name(tmp_path):
    root = tmp_path / "svb"
    root.mkdir()
    records = _read_records(FIXTURES / "scivideobench" / "scivideobench_1k.jsonl")[0]
    (root / "scivideobench_1k.json").write_text(json.dumps(records))  # the repo YAML's name
    (root / "videos").mkdir()
    (root / "videos" / "61904.mp4").write_bytes(b"")
    samples = SciVideoBench(str(root)).load()
    assert [s.video for s in samples] == ["videos/jove_58827.mp4", "videos/61904.mp4"]


# --- Video-TT ----------------------------------------------------------------------------------


def test_videott_multiple_choice_only_by_default():
    src = VideoTT(str(FIXTURES / "videott"))
    [s] = src.load()
    assert s.to_dict() == {
        "id": "0008-7",
        "video": "Benchmark-AllVideos-LQ/sj81PWrerDk.mp4",
        "question": "How did the last person open the bottle?",
        "answer": "B",
        "problem_type": "multiple choice",
        "options": [
            "With a knife",
            "With a lighter",
            "With his teeth",
            "By hitting it on the table",
            "He did not open it",
        ],
        "evidence": [],
        "trace": None,
        "source": "videott",
        "split": "test",
        "video_start": None,
        "video_end": None,
        "meta": {
            "question_type": "Plot Attribute (Montage)",
            "prompt_type": MULTIPLE_CHOICE,
            "duration_s": 8.85,  # the release writes durations as strings: "8.85"
            "video_id": "sj81PWrerDk",
        },
        "data_type": "video",
    }
    assert sum(src.report.left_out.values()) == 2  # the two open-ended questions, counted


def test_videott_open_ended_with_reference_answers():
    src = VideoTT(str(FIXTURES / "videott"), open_ended=True)
    samples = src.load()
    assert [(s.id, s.problem_type, s.answer) for s in samples] == [
        ("0008-7", "multiple choice", "B"),
        ("0013-0", "free-form", "Five balls."),
    ]
    assert samples[1].options == [] and samples[1].meta["duration_s"] == 14.2
    assert src.report.left_out == {"open-ended question without a reference answer": 1}


def test_videott_split_options():
    q, opts = split_options("Which one?\nA. red\nB) blue", "Answer with the letter.")
    assert (q, opts) == ("Which one?", ["red", "blue"])
    q, opts = split_options("Which one?", "A. red\nB. blue\nC. green")
    assert (q, opts) == ("Which one?", ["red", "blue", "green"])
    with pytest.raises(SampleError, match="out of order"):
        split_options("Which one?", "A. red\nC. blue")
    with pytest.raises(SampleError, match="no lettered option lines"):
        split_options("Which one?", "Please state your answer.")


# --- shared behaviour, every benchmark --------------------------------------------------------

# (fixture folder, annotation file, loader, index of the record to break, how to break its
#  answer, how to break a required field, "where" of that record)
CASES = {
    "video_holmes": (
        "video_holmes/Benchmark",
        "test_Video-Holmes.json",
        VideoHolmes,
        1,
        lambda r: r.__setitem__("Answer", "G"),  # options A-F
        lambda r: r.pop("Options"),
        "test_Video-Holmes.json:[1]",
    ),
    "cgbench": (
        "cgbench",
        "cgbench.json",
        CGBench,
        2,
        lambda r: r.__setitem__("right_answer", "E"),  # 4 choices
        lambda r: r.pop("video_uid"),
        "cgbench.json:[2]",
    ),
    "vrbench": (
        "vrbench",
        "VRBench_eval.jsonl",
        VRBench,
        1,
        lambda r: r["mcq"]["qa1"].__setitem__("answer", "E"),  # options A-D
        lambda r: r["mcq"]["qa1"].pop("question"),
        "VRBench_eval.jsonl:line 2 qa1",
    ),
    "videomme": (
        "videomme",
        "videomme/test-00000-of-00001.parquet",
        VideoMME,
        1,
        lambda r: r.__setitem__("answer", "E"),  # options A-D
        lambda r: r.__setitem__("question", None),
        "test-00000-of-00001.parquet:row 2",
    ),
    "scivideobench": (
        "scivideobench",
        "scivideobench_1k.jsonl",
        SciVideoBench,
        0,
        lambda r: r.__setitem__("answer", "K"),  # options A-D
        lambda r: r.pop("options"),
        "scivideobench_1k.jsonl:line 1",
    ),
    "videott": (
        "videott",
        "data/test-00000-of-00001.parquet",
        VideoTT,
        1,
        lambda r: r.__setitem__("answer", "F"),  # options A-E
        lambda r: r.__setitem__("question_prompt", "Answer with the letter."),
        "test-00000-of-00001.parquet:row 2",
    ),
}


def _broken(name: str, tmp_path: Path, which: int) -> tuple[Path, Any, str, int]:
    """A copy of the fixture with record ``index`` broken (0: its answer, 1: a field)."""
    folder, annotation, cls, index, bad_answer, bad_field, where = CASES[name]
    breaker = (bad_answer, bad_field)[which]
    top, _, sub = folder.partition("/")  # Video-Holmes' root is the Benchmark/ sub-folder
    rel = f"{sub}/{annotation}" if sub else annotation
    root = copy_with(top, rel, tmp_path, lambda records: breaker(records[index]))
    root = root / sub if sub else root
    return root, cls, where, len(cls(str(FIXTURES / folder)).load())


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_answer_letter_is_rejected(name, tmp_path):
    root, cls, where, n_good = _broken(name, tmp_path, 0)
    src = cls(str(root))
    assert len(src.load()) == n_good - 1
    [(got_where, why)] = src.report.skipped
    assert got_where == where
    assert "not one of the option letters" in why
    with pytest.raises(SampleError, match="not one of the option letters") as err:
        cls(str(root), strict=True).load()
    assert where in str(err.value) and src.name in str(err.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_record_is_skipped_and_counted_or_fatal_when_strict(name, tmp_path):
    root, cls, where, n_good = _broken(name, tmp_path, 1)
    src = cls(str(root))
    assert len(src.load()) == n_good - 1
    assert [w for w, _ in src.report.skipped] == [where]
    with pytest.raises(SampleError) as err:
        cls(str(root), strict=True).load()
    assert where in str(err.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_missing_annotation_names_the_layout(name, tmp_path):
    cls = CASES[name][2]
    with pytest.raises(FileNotFoundError, match="expected layout"):
        cls(str(tmp_path)).load()


def test_limit_and_in_domain_split_apply():
    assert len(CGBench(str(FIXTURES / "cgbench"), subset="all", limit=2).load()) == 2
    test = VideoMME(str(FIXTURES / "videomme"), split="test").load()
    train = VideoMME(str(FIXTURES / "videomme"), split="train").load()
    assert sorted(s.id for s in test + train) == ["001-1", "001-2", "601-3"]
    assert {s.video for s in test}.isdisjoint({s.video for s in train})


# --- shipped configs ----------------------------------------------------------------------------

CONFIGS = {
    "video_holmes": ("video_holmes/Benchmark", 3),
    "cg_bench_reasoning": ("cgbench", 2),
    "vrbench": ("vrbench", 4),
    "videomme": ("videomme", 3),
    "scivideobench": ("scivideobench", 2),
    "videott": ("videott", 1),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_data_config_instantiates_its_source(name, tmp_path):
    folder, n = CONFIGS[name]
    override = tmp_path / "root.yaml"
    override.write_text(
        "data:\n  init_args:\n    test_source:\n      init_args:\n"
        f"        root: {FIXTURES / folder}\n"
    )
    [ds] = datasets_from_config(
        [ROOT / "configs" / "data" / f"{name}.yaml", override], parse_data=parse_data_block
    )
    assert ds.name.startswith("test_source ")
    assert len(ds.samples) == n
    assert ds.video_root == FIXTURES / folder


@pytest.mark.slow
def test_eval_config_with_benchmark_data_config_sets_up_the_datamodule(tiny_model_dir, processor):
    from vthinker.cli import cli
    from vthinker.data.datamodule import VideoQADataModule
    from vthinker.data.sources.video_holmes import VideoHolmes as VH

    c = cli(
        [
            "--config",
            str(ROOT / "configs/eval/video_holmes.yaml"),
            "--config",
            str(ROOT / "configs/data/video_holmes.yaml"),
            "--model.init_args.policy.name_or_path",
            str(tiny_model_dir),
            "--data.init_args.test_source.init_args.root",
            str(FIXTURES / "video_holmes" / "Benchmark"),
            "--data.init_args.num_workers",
            "0",
        ],
        run=False,
    )
    dm = c.datamodule
    assert isinstance(dm, VideoQADataModule) and isinstance(dm.sources["test"], VH)
    assert dm.files["test"] is None and dm.batch_size == 8  # the eval config's settings stay
    dm.connect(processor)
    dm.setup("test")
    ds = dm.datasets["test"]
    assert [s.id for s in ds.samples] == ["RSmjqss0XKQ-1", "RSmjqss0XKQ-3", "dGS48Kcax5k-8"]
    assert Path(ds.video_root) == FIXTURES / "video_holmes" / "Benchmark"
