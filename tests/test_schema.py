"""Exact-value tests for the sample schema (`vthinker.data.schema`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from vthinker.data.schema import (
    LETTERS,
    PROBLEM_TYPES,
    Evidence,
    ReadReport,
    SampleError,
    VideoSample,
    iter_jsonl,
    read_jsonl,
    write_jsonl,
)
from vthinker.trace import parse_trace

TRACE = (
    "<time>00:00-00:10</time> <caption>a red square enters</caption> "
    "<think>red comes first</think>\n"
    "<time>00:12-00:31</time> <caption>a blue circle appears</caption> "
    "<think>blue is second</think>"
)


def full_sample(**overrides: object) -> VideoSample:
    kwargs: dict = {
        "id": "act-0001",
        "video": "videos/v_abc \u00e9\u4e2d.mp4",
        "question": "Which shape appears second? \u2014 \u00bfQu\u00e9? \U0001f3a5",
        "answer": "B",
        "problem_type": "multiple choice",
        "options": ["red square", "blue circle", "green \u4e09\u89d2", "none"],
        "evidence": [
            Evidence(start=0.0, end=10.25, caption="a red square enters"),
            Evidence(start=12.125, end=31.0, caption="a blue circle \u51fa\u73b0"),
        ],
        "trace": TRACE,
        "source": "activitynet",
        "split": "test",
        "video_start": 1.5,
        "video_end": 95.75,
        "meta": {"duration": 94.25, "tags": ["order", "color"], "nested": {"k": None, "n": 3}},
    }
    kwargs.update(overrides)
    return VideoSample(**kwargs)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# dataclass basics
# --------------------------------------------------------------------------------------------


def test_defaults() -> None:
    s = VideoSample(id="x", video="v.mp4", question="q?", answer="A")
    assert s.problem_type == "multiple choice"
    assert s.options == []
    assert s.evidence == []
    assert s.trace is None
    assert s.source == ""
    assert s.split == "train"
    assert s.video_start is None
    assert s.video_end is None
    assert s.meta == {}
    # mutable defaults are not shared
    s.options.append("z")
    assert VideoSample(id="y", video="v", question="q", answer="A").options == []


def test_constants() -> None:
    assert PROBLEM_TYPES[:3] == ("multiple choice", "numerical", "free-form")
    assert LETTERS[:6] == "ABCDEF"
    assert len(LETTERS) == 26


def test_evidence_dicts_become_evidence() -> None:
    s = VideoSample(id="x", video="v", question="q", answer="A", evidence=[{"start": 1, "end": 2}])
    assert s.evidence == [Evidence(start=1, end=2, caption="")]


def test_lettered_options_and_answer_tag() -> None:
    s = full_sample()
    assert s.lettered_options == [
        "A. red square",
        "B. blue circle",
        "C. green \u4e09\u89d2",
        "D. none",
    ]
    assert s.answer_tag == "<answer>B</answer>"


def test_to_dict_exact() -> None:
    s = VideoSample(
        id="x",
        video="v.mp4",
        question="q?",
        answer="A",
        options=["o1", "o2"],
        evidence=[Evidence(1.0, 2.0, "c")],
    )
    assert s.to_dict() == {
        "id": "x",
        "video": "v.mp4",
        "question": "q?",
        "answer": "A",
        "problem_type": "multiple choice",
        "options": ["o1", "o2"],
        "evidence": [{"start": 1.0, "end": 2.0, "caption": "c"}],
        "trace": None,
        "source": "",
        "split": "train",
        "video_start": None,
        "video_end": None,
        "meta": {},
        "data_type": "video",
    }


# --------------------------------------------------------------------------------------------
# target_text
# --------------------------------------------------------------------------------------------


def test_target_text_without_trace() -> None:
    assert full_sample(trace=None).target_text() == "<answer>B</answer>"
    assert full_sample(trace="").target_text() == "<answer>B</answer>"
    assert full_sample(trace="  \n ").target_text() == "<answer>B</answer>"


def test_target_text_appends_answer() -> None:
    s = full_sample(trace="\n" + TRACE + "\n\n")
    assert s.target_text() == TRACE + "\n<answer>B</answer>"
    parsed = parse_trace(s.target_text())
    assert parsed.well_formed is True
    assert parsed.answer == "B"
    assert parsed.spans == [(0.0, 10.0), (12.0, 31.0)]


def test_target_text_keeps_trace_with_its_own_answer() -> None:
    own = TRACE + "\n<answer>B</answer>\n"
    assert full_sample(trace=own).target_text() == TRACE + "\n<answer>B</answer>"
    # case-insensitive detection of the tag
    upper = TRACE + "<ANSWER>B</ANSWER>"
    assert full_sample(trace=upper).target_text() == upper


def test_target_text_numerical() -> None:
    s = VideoSample(id="n", video="v", question="how many?", answer="3.5", problem_type="numerical")
    assert s.target_text() == "<answer>3.5</answer>"


# --------------------------------------------------------------------------------------------
# JSONL round trip
# --------------------------------------------------------------------------------------------


def test_jsonl_round_trip_every_field(tmp_path: Path) -> None:
    samples = [
        full_sample(),
        VideoSample(id="defaults", video="d.mp4", question="q", answer="A"),
        full_sample(
            id="num",
            answer="0.1",
            problem_type="numerical",
            options=[],
            evidence=[],
            trace=None,
            video_start=0.0,
            video_end=1e-9,
            meta={"x": 1 / 3, "big": 1e300, "neg": -0.0},
        ),
        full_sample(id="free", problem_type="free-form", answer="a long answer\nwith lines"),
    ]
    path = tmp_path / "sub" / "dir" / "samples.jsonl"
    assert write_jsonl(samples, path) == 4
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert "\u4e2d" in lines[0]  # written as UTF-8, not \u-escaped
    assert json.loads(lines[1]) == samples[1].to_dict()
    back = read_jsonl(path)
    assert back == samples
    assert back[0].evidence[1] == Evidence(
        start=12.125, end=31.0, caption="a blue circle \u51fa\u73b0"
    )
    assert back[2].meta["x"] == 1 / 3
    assert back[2].video_end == 1e-9
    assert isinstance(back[0].evidence[0], Evidence)


def test_write_jsonl_accepts_generator_and_str_path(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    n = write_jsonl((full_sample(id=f"s{i}") for i in range(3)), str(path))
    assert n == 3
    assert [s.id for s in read_jsonl(str(path))] == ["s0", "s1", "s2"]


def test_write_jsonl_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    assert write_jsonl([], path) == 0
    assert path.read_text() == ""
    assert read_jsonl(path) == []


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    rec = json.dumps(full_sample().to_dict())
    path = write_lines(
        tmp_path / "b.jsonl", ["", rec, "   ", "\t", rec.replace("act-0001", "y"), ""]
    )
    report = ReadReport(path=str(path))
    got = read_jsonl(path, report=report)
    assert [s.id for s in got] == ["act-0001", "y"]
    assert report.read == 2
    assert report.skipped == []


# --------------------------------------------------------------------------------------------
# Video-R1 interchange
# --------------------------------------------------------------------------------------------

R1_RECORD = {
    "problem_id": 17,
    "problem": "What color is the second shape?",
    "problem_type": "multiple choice",
    "options": ["A. red", "B. blue", "C. green", "D. yellow"],
    "data_type": "video",
    "path": "./Video-R1-data/LLaVA-Video-178K/clip.mp4",
    "data_source": "LLaVA-Video-178K",
    "process": TRACE,
    "solution": "<answer>B</answer>",
}


def test_to_video_r1_exact() -> None:
    s = full_sample()
    assert s.to_video_r1() == {
        "problem_id": "act-0001",
        "problem": "Which shape appears second? \u2014 \u00bfQu\u00e9? \U0001f3a5",
        "problem_type": "multiple choice",
        "options": ["A. red square", "B. blue circle", "C. green \u4e09\u89d2", "D. none"],
        "data_type": "video",
        "path": "videos/v_abc \u00e9\u4e2d.mp4",
        "data_source": "activitynet",
        "process": TRACE,
        "solution": "<answer>B</answer>",
    }


def test_to_video_r1_without_trace() -> None:
    s = VideoSample(id="n", video="v", question="q", answer="7", problem_type="numerical")
    assert s.to_video_r1() == {
        "problem_id": "n",
        "problem": "q",
        "problem_type": "numerical",
        "options": [],
        "data_type": "video",
        "path": "v",
        "data_source": "",
        "process": "",
        "solution": "<answer>7</answer>",
    }


def test_from_video_r1_realistic_record() -> None:
    s = VideoSample.from_video_r1(R1_RECORD)
    assert s == VideoSample(
        id="17",
        video="./Video-R1-data/LLaVA-Video-178K/clip.mp4",
        question="What color is the second shape?",
        answer="B",
        problem_type="multiple choice",
        options=["red", "blue", "green", "yellow"],
        evidence=[],
        trace=TRACE,
        source="LLaVA-Video-178K",
        split="train",
    )


def test_from_video_r1_without_problem_id_uses_given_id() -> None:
    rec = {k: v for k, v in R1_RECORD.items() if k != "problem_id"}
    assert VideoSample.from_video_r1(rec, id="file-3").id == "file-3"
    with pytest.raises(SampleError, match="no 'problem_id' and no id was given"):
        VideoSample.from_video_r1(rec)
    # an explicit null problem_id falls back to the given id too
    assert VideoSample.from_video_r1({**rec, "problem_id": None}, id="k").id == "k"
    # problem_id wins over the given id
    assert VideoSample.from_video_r1(R1_RECORD, id="ignored").id == "17"


def test_from_video_r1_minimal_record_defaults() -> None:
    s = VideoSample.from_video_r1(
        {"problem": "q", "path": "p.mp4", "solution": "<answer>A</answer>"}, id="m"
    )
    assert s == VideoSample(id="m", video="p.mp4", question="q", answer="A")
    assert s.trace is None  # missing process
    empty_process = VideoSample.from_video_r1({**R1_RECORD, "process": ""})
    assert empty_process.trace is None


def test_video_r1_round_trip() -> None:
    s = full_sample(evidence=[], split="train", video_start=None, video_end=None, meta={})
    assert VideoSample.from_video_r1(s.to_video_r1()) == s
    r1 = VideoSample.from_video_r1(R1_RECORD).to_video_r1()
    assert r1 == {**R1_RECORD, "problem_id": "17"}


def test_video_r1_round_trip_drops_fields_it_has_no_place_for() -> None:
    back = VideoSample.from_video_r1(full_sample().to_video_r1())
    assert back.evidence == []
    assert back.split == "train"
    assert back.video_start is None and back.video_end is None
    assert back.meta == {}
    assert (back.id, back.answer, back.options, back.trace) == (
        "act-0001",
        "B",
        full_sample().options,
        TRACE,
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["red", "blue", "green"], ["red", "blue", "green"]),  # verbatim
        (["A. red", "B. blue"], ["red", "blue"]),
        (["A.red", "B.blue"], ["red", "blue"]),
        (["(A) red", "(B) blue"], ["red", "blue"]),
        (["A) red", "B) blue"], ["red", "blue"]),
        (["A: red", "B: blue"], ["red", "blue"]),
        (["  A.  red", "B . blue"], ["red", "blue"]),
        (["Apple pie", "Banana split"], ["Apple pie", "Banana split"]),
        # a prefix letter that does not match the position is kept verbatim
        (["B. blue", "A. red"], ["B. blue", "A. red"]),
        (["A. red", "C. blue"], ["red", "C. blue"]),
        # lowercase letters are not prefixes
        (["a. red", "b. blue"], ["a. red", "b. blue"]),
    ],
)
def test_from_video_r1_option_prefixes(options: list[str], expected: list[str]) -> None:
    rec = {**R1_RECORD, "options": options, "solution": "<answer>A</answer>"}
    assert VideoSample.from_video_r1(rec).options == expected


def test_from_video_r1_numerical() -> None:
    rec = {
        "problem_id": "n1",
        "problem": "How many seconds does the cut last?",
        "problem_type": "numerical",
        "options": [],
        "data_type": "video",
        "path": "v.mp4",
        "data_source": "toy",
        "process": "",
        "solution": "<answer>3.5</answer>",
    }
    s = VideoSample.from_video_r1(rec)
    assert (s.answer, s.problem_type, s.options, s.trace) == ("3.5", "numerical", [], None)
    assert s.to_video_r1() == rec


@pytest.mark.parametrize(
    ("solution", "answer"),
    [
        ("<answer>B</answer>", "B"),
        ("<answer> B \n</answer>", "B"),
        ("<ANSWER>B</ANSWER>", "B"),
        ("B", "B"),  # no tag: the whole solution
        ("  B  ", "B"),
        ("<think>x</think><answer>C</answer>", "C"),
    ],
)
def test_from_video_r1_solution_forms(solution: str, answer: str) -> None:
    assert VideoSample.from_video_r1({**R1_RECORD, "solution": solution}).answer == answer


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"path": "p", "solution": "<answer>A</answer>"}, "missing field(s) problem"),
        ({"problem": "q"}, "missing field(s) path, solution"),
        ({**R1_RECORD, "solution": "<answer>E</answer>"}, "answer 'E' is not one of"),
        ({**R1_RECORD, "options": "A. red"}, "'options' must be a list of strings"),
        ({**R1_RECORD, "options": [1, 2]}, "'options' must be a list of strings"),
        ({**R1_RECORD, "problem": None}, "'problem' must be a string"),
        ({**R1_RECORD, "path": ["a.mp4"]}, "'path' must be a string"),
        ({**R1_RECORD, "options": [f"o{i}" for i in range(27)]}, "27 options"),
    ],
)
def test_from_video_r1_errors(record: dict, message: str) -> None:
    with pytest.raises(SampleError) as info:
        VideoSample.from_video_r1(record, id="x")
    assert message in str(info.value)


@pytest.mark.parametrize("record", [["problem"], "problem", 5, None])
def test_from_video_r1_non_object(record: object) -> None:
    with pytest.raises(SampleError, match="expected a JSON object"):
        VideoSample.from_video_r1(record, id="x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# validation errors
# --------------------------------------------------------------------------------------------


def test_answer_letter_not_among_options() -> None:
    with pytest.raises(SampleError) as info:
        full_sample(id="bad-7", answer="E")
    msg = str(info.value)
    assert "'bad-7'" in msg
    assert "answer 'E' is not one of the option letters A, B, C, D" in msg


@pytest.mark.parametrize("answer", ["b", "B.", "blue circle", "", "AB", "BCD", "ABCD"])
def test_answer_must_be_exact_letter(answer: str) -> None:
    with pytest.raises(SampleError, match="is not one of the option letters"):
        full_sample(answer=answer)


def test_answer_letter_not_checked_without_options_or_for_other_types() -> None:
    assert full_sample(options=[], answer="E").answer == "E"
    assert full_sample(problem_type="free-form", answer="anything").answer == "anything"


def test_evidence_end_before_start() -> None:
    with pytest.raises(SampleError) as info:
        full_sample(id="ev-1", evidence=[Evidence(5.0, 4.0, "c")])
    assert "'ev-1'" in str(info.value)
    assert "evidence span ends before it starts" in str(info.value)
    # equal ends are fine
    assert full_sample(evidence=[Evidence(5.0, 5.0)]).evidence == [Evidence(5.0, 5.0, "")]


def test_from_dict_missing_fields() -> None:
    with pytest.raises(SampleError, match=r"^missing field\(s\) question, answer$"):
        VideoSample.from_dict({"id": "x", "video": "v"})


def test_from_dict_unknown_field() -> None:
    rec = {**full_sample().to_dict(), "zeta": 1, "alpha": 2}
    with pytest.raises(SampleError, match=r"^unknown field\(s\) alpha, zeta$"):
        VideoSample.from_dict(rec)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("id", 3, "field 'id' must be a string"),
        ("answer", 3.5, "field 'answer' must be a string"),
        ("question", None, "field 'question' must be a string"),
        ("options", "abc", "field 'options' has the wrong type"),
        ("options", [1, 2], "'options' must be a list of strings"),
        ("evidence", {"start": 1, "end": 2}, "field 'evidence' has the wrong type"),
        ("evidence", [[1, 2]], "'evidence' must be a list of objects"),
        ("evidence", [{"start": "0", "end": "1"}], "evidence 'start' must be a number"),
        ("evidence", [{"start": 0}], "evidence 'end' must be a number"),
        ("trace", 5, "field 'trace' has the wrong type"),
        ("video_start", "1.0", "field 'video_start' has the wrong type"),
        ("video_end", True, "field 'video_end' has the wrong type"),
        ("meta", [], "field 'meta' has the wrong type"),
        ("split", None, "field 'split' has the wrong type"),
    ],
)
def test_from_dict_mistyped_fields(key: str, value: object, message: str) -> None:
    rec = full_sample().to_dict()
    rec[key] = value
    with pytest.raises(SampleError) as info:
        VideoSample.from_dict(rec)
    assert message in str(info.value)


def test_from_dict_evidence_extra_key_is_sample_error() -> None:
    rec = full_sample().to_dict()
    rec["evidence"] = [{"start": 0, "end": 1, "label": "x"}]
    with pytest.raises(SampleError, match="label"):
        VideoSample.from_dict(rec)


def test_from_dict_accepts_int_times() -> None:
    rec = full_sample().to_dict()
    rec.update(video_start=0, video_end=10, evidence=[{"start": 0, "end": 3}])
    s = VideoSample.from_dict(rec)
    assert (s.video_start, s.video_end, s.evidence) == (0, 10, [Evidence(0, 3, "")])


# --------------------------------------------------------------------------------------------
# iter_jsonl errors and reports
# --------------------------------------------------------------------------------------------


def _good_line(id: str = "g") -> str:
    return json.dumps(VideoSample(id=id, video="v.mp4", question="q", answer="A").to_dict())


def test_strict_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    bad = json.dumps({"id": "b", "video": "v.mp4", "question": "q"})
    path = write_lines(tmp_path / "ann.jsonl", [_good_line(), "", bad, _good_line("h")])
    it = iter_jsonl(path)
    assert next(it).id == "g"
    with pytest.raises(SampleError) as info:
        next(it)
    assert str(info.value) == f"{path}:3: missing field(s) answer"


def test_strict_read_jsonl_raises(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [_good_line(), "{not json"])
    with pytest.raises(SampleError, match=r"a\.jsonl:2: invalid JSON"):
        read_jsonl(path)


def test_non_strict_skips_and_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = [
        _good_line("g1"),
        json.dumps({"id": "b", "video": "v.mp4", "question": "q"}),  # 2: missing answer
        "{not json",  # 3
        "[1, 2, 3]",  # 4: not an object
        "",  # 5: blank
        json.dumps({**json.loads(_good_line("e")), "options": ["x"], "answer": "E"}),  # 6
        _good_line("g2"),
    ]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    report = ReadReport(path=str(path))
    with caplog.at_level(logging.WARNING, logger="vthinker.data.schema"):
        got = read_jsonl(path, strict=False, report=report)
    assert [s.id for s in got] == ["g1", "g2"]
    assert report.read == 2
    assert [ln for ln, _ in report.skipped] == [2, 3, 4, 6]
    reasons = dict(report.skipped)
    assert reasons[2] == "missing field(s) answer"
    assert reasons[3].startswith("invalid JSON (Expecting property name enclosed in double quotes")
    assert reasons[4] == "expected a JSON object, got list"
    assert "'e'" in reasons[6] and "answer 'E' is not one of the option letters A" in reasons[6]
    summary = report.summary()
    assert summary.splitlines()[0] == f"{path}: read 2 samples, skipped 4 bad record(s)"
    assert "  line 2: missing field(s) answer" in summary.splitlines()
    assert len(summary.splitlines()) == 5
    assert len([r for r in caplog.records if "skipping bad record" in r.getMessage()]) == 4


def test_non_strict_without_report(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ["{", _good_line()])
    assert [s.id for s in read_jsonl(path, strict=False)] == ["g"]


def test_summary_truncates_after_twenty() -> None:
    report = ReadReport(path="f.jsonl", read=1, skipped=[(i, "bad") for i in range(1, 26)])
    lines = report.summary().splitlines()
    assert lines[0] == "f.jsonl: read 1 samples, skipped 25 bad record(s)"
    assert lines[1] == "  line 1: bad"
    assert lines[20] == "  line 20: bad"
    assert lines[21] == "  \u2026 and 5 more"
    assert len(lines) == 22
    assert ReadReport(path="p").summary() == "p: read 0 samples, skipped 0 bad record(s)"


@pytest.mark.parametrize("line", ["5", '"text"', "null", "true", "[]"])
@pytest.mark.parametrize("fmt", ["auto", "vthinker", "video_r1"])
def test_non_object_line(tmp_path: Path, line: str, fmt: str) -> None:
    path = write_lines(tmp_path / "n.jsonl", [line])
    with pytest.raises(SampleError, match=r"n\.jsonl:1: expected a JSON object"):
        read_jsonl(path, fmt=fmt)


def test_invalid_json_message(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "j.jsonl", [_good_line(), _good_line(), '{"id": '])
    with pytest.raises(SampleError) as info:
        read_jsonl(path)
    assert str(info.value).startswith(f"{path}:3: invalid JSON (Expecting value at column 8)")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "missing.jsonl"
    with pytest.raises(FileNotFoundError) as info:
        read_jsonl(path)
    assert str(path) in str(info.value)
    # a directory is not a file either
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        read_jsonl(tmp_path)


def test_missing_file_raises_before_iteration_is_lazy(tmp_path: Path) -> None:
    it = iter_jsonl(tmp_path / "late.jsonl")  # generator: nothing happens yet
    with pytest.raises(FileNotFoundError):
        next(it)


def test_auto_mixes_both_record_kinds(tmp_path: Path) -> None:
    ours = full_sample()
    r1_no_id = {k: v for k, v in R1_RECORD.items() if k != "problem_id"}
    path = write_lines(
        tmp_path / "mix.jsonl",
        [
            json.dumps(ours.to_dict(), ensure_ascii=False),
            json.dumps(R1_RECORD),
            "",
            json.dumps(r1_no_id),
        ],
    )
    got = read_jsonl(path)
    assert got[0] == ours
    assert got[1] == VideoSample.from_video_r1(R1_RECORD)
    assert got[2] == VideoSample.from_video_r1(r1_no_id, id="mix-4")  # <file stem>-<line>
    assert [s.id for s in got] == ["act-0001", "17", "mix-4"]


def test_explicit_formats(tmp_path: Path) -> None:
    r1_path = write_lines(tmp_path / "r1.jsonl", [json.dumps(R1_RECORD)])
    ours_path = write_lines(tmp_path / "ours.jsonl", [_good_line()])
    assert read_jsonl(r1_path, fmt="video_r1")[0].id == "17"
    # our records read as Video-R1 lack "problem"/"path"/"solution"
    with pytest.raises(
        SampleError, match=r"ours\.jsonl:1: missing field\(s\) problem, path, solution"
    ):
        read_jsonl(ours_path, fmt="video_r1")
    # Video-R1 records read as ours lack our required fields
    with pytest.raises(
        SampleError, match=r"r1\.jsonl:1: missing field\(s\) id, video, question, answer"
    ):
        read_jsonl(r1_path, fmt="vthinker")


def test_strict_error_chains_original(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.jsonl", ["{bad"])
    with pytest.raises(SampleError) as info:
        read_jsonl(path)
    assert isinstance(info.value.__cause__, SampleError)
    assert isinstance(info.value.__cause__.__cause__, json.JSONDecodeError)


def test_non_strict_skips_malformed_video_r1_records(tmp_path: Path) -> None:
    lines = [
        json.dumps({**R1_RECORD, "options": [1, 2]}),  # 1
        json.dumps({**R1_RECORD, "problem": None}),  # 2
        "7",  # 3
        json.dumps(R1_RECORD),  # 4
    ]
    path = write_lines(tmp_path / "r1bad.jsonl", lines)
    report = ReadReport(path=str(path))
    got = read_jsonl(path, fmt="video_r1", strict=False, report=report)
    assert [s.id for s in got] == ["17"]
    assert [ln for ln, _ in report.skipped] == [1, 2, 3]
    assert report.skipped[2] == (3, "expected a JSON object, got int")


def test_undecodable_line_is_a_bad_record_not_a_crash(tmp_path):
    from vthinker.data.schema import ReadReport, SampleError, VideoSample, iter_jsonl

    good = VideoSample(id="ok", video="v.mp4", question="q?", answer="3", problem_type="numerical")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(json.dumps(good.to_dict()).encode() + b"\n" + b'{"id": "\xff\xfe"}\n')
    report = ReadReport(str(path))
    assert [s.id for s in iter_jsonl(path, strict=False, report=report)] == ["ok"]
    assert report.skipped == [(2, "not UTF-8 text (byte 9)")]  # 1-based: `{"id": "` is 8 bytes
    with pytest.raises(SampleError, match=r"mixed\.jsonl:2: not UTF-8"):
        list(iter_jsonl(path))


def test_unknown_format_is_rejected(tmp_path):
    from vthinker.data.schema import iter_jsonl

    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(ValueError, match="fmt must be"):
        list(iter_jsonl(tmp_path / "a.jsonl", fmt="videor1"))
