"""`vthinker view`: the reasoning page of a real evaluation run on the toy data, checked in a
headless Chromium (Debian's `chromium` package; `.ci/run` installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from test_evaluation import _args, _fake_outputs

from vthinker.cli import cli, main
from vthinker.data.schema import read_jsonl, write_jsonl
from vthinker.evaluation.viewer import build_view

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def run_dir(tiny_model_dir, toy_dir, tmp_path, monkeypatch):
    """An eval run of 4 toy questions: two answered right with two cited windows each, one
    wrong with one window, one without any tag."""
    samples = read_jsonl(toy_dir / "train.jsonl")[:4]
    # Text that would end or comment out the page's data block if embedded raw.
    samples[3].question += " <!--<script> </script> & __DATA__"
    data = tmp_path / "data.jsonl"
    write_jsonl(samples, data)

    def trace(answer, windows):
        cited = "".join(
            f"<time>00:0{a}-00:0{b}</time><caption>shape {k}</caption><think>step {k}</think>"
            for k, (a, b) in enumerate(windows)
        )
        return f"{cited}<answer>{answer}</answer>"

    wrong = "A" if samples[2].answer != "A" else "B"
    texts = {
        samples[0].id: trace(samples[0].answer, [(0, 2), (2, 4)]),
        samples[1].id: trace(samples[1].answer, [(1, 3), (3, 5)]),
        samples[2].id: trace(wrong, [(0, 1)]),
    }
    _fake_outputs(monkeypatch, texts)
    out = tmp_path / "eval"
    cli(["test", *_args(tiny_model_dir, data, out), "--data.init_args.video_root", str(toy_dir)])
    return out / "toy" / "tiny-qwen2.5-vl-8f"


def _data(page) -> list[dict]:
    text = page.read_text()
    block = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(block[1].replace("<\\/", "</"))


def test_view_writes_frames_of_the_cited_windows(run_dir, tmp_path, capsys):
    main(["view", str(run_dir), "--out", str(tmp_path / "view")])
    page = tmp_path / "view" / "index.html"
    assert capsys.readouterr().out.strip().endswith(str(page))
    questions = _data(page)
    assert [len(q["segments"]) for q in questions] == [2, 2, 1, 0]
    assert [q["correct"] for q in questions] == [True, True, False, False]
    frames = sorted((tmp_path / "view" / "frames").glob("*.jpg"))
    assert len(frames) == 5
    assert all(s["frame"] for q in questions for s in q["segments"])
    first = questions[0]
    assert questions[3]["question"].endswith("<!--<script> </script> & __DATA__")
    assert first["duration"] > 0 and first["gold_spans"] and first["video_error"] is None
    assert "template:" in " ".join(first["types"])
    assert len(first["types"]) == len(set(first["types"]))  # problem_type is also a group


def test_view_survives_a_missing_video(run_dir, tmp_path):
    page = build_view(run_dir, tmp_path / "view", video_root=str(tmp_path / "nowhere"))
    questions = _data(page)
    assert all(q["video_error"] for q in questions)  # named on each question
    assert not any(s["frame"] for q in questions for s in q["segments"])


def _dom(page, fragment: str = "") -> tuple[str, str]:
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `apt-get install chromium`")
def test_page_renders_in_a_headless_browser(run_dir, tmp_path):
    page = build_view(run_dir, tmp_path / "view")
    dom, log = _dom(page)
    assert "CONSOLE" not in log or "Uncaught" not in log, log[-2000:]
    assert re.search(r'<div id="errors">\s*</div>', dom)  # no script error on the page
    assert len(re.findall(r'<article class="q (?:right|wrong|skipped)"', dom)) == 4
    assert len(re.findall(r"<img ", dom)) == 5  # one frame per cited window
    assert "4 of 4 questions" in dom
    assert "&lt;!--&lt;script&gt;" in dom  # hostile text shown as text, page intact
    assert len(re.findall(r'class="timeline"', dom)) == 4
    wrong, _ = _dom(page, "#correct=wrong")
    assert "2 of 4 questions" in wrong
    right, _ = _dom(page, "#correct=right&type=problem_type:multiple%20choice")
    assert "2 of 4 questions" in right


def test_an_image_question_shows_its_image_instead_of_a_timeline(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    """A real eval of one video and one image question (batch of 2, Video-R1's mix): the row
    names its data_type and the page shows the image itself, no cited frames or timeline."""
    from vthinker.data.toy.images import make_toy_images

    image = make_toy_images(tmp_path, 1, ["test"], seed=0, size=112, layout="lanes")[0]
    image.video = str(tmp_path / image.video)
    video = read_jsonl(toy_dir / "train.jsonl")[0]
    data = tmp_path / "mixed.jsonl"
    write_jsonl([video, image], data)
    _fake_outputs(monkeypatch, {image.id: f"<think>a shape</think><answer>{image.answer}</answer>"})
    out = tmp_path / "eval"
    cli(
        [
            "test",
            *_args(tiny_model_dir, data, out),
            "--data.init_args.video_root",
            str(toy_dir),
            "--data.init_args.batch_size",
            "2",
        ]
    )
    run = out / "toy" / "tiny-qwen2.5-vl-8f"
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert [(r["data_type"], r["status"]) for r in rows] == [("video", "ok"), ("image", "ok")]
    assert rows[1]["correct"] is True
    page = build_view(run, tmp_path / "view")
    questions = _data(page)
    assert (
        questions[1]["image"] == "frames/00001_toy_img_0000.jpg" and not questions[1]["video_error"]
    )
    assert questions[0]["image"] is None and questions[0]["duration"] > 0
    assert (tmp_path / "view" / questions[1]["image"]).is_file()
    if CHROMIUM is not None:
        dom, _ = _dom(page)
        assert re.search(r'<div id="errors">\s*</div>', dom)  # no script error on the page
        assert dom.count('class="still"') == 1 and dom.count('class="timeline"') == 1
