"""Confidence intervals in the eval summary and the report (clustered by video), and the
paired comparison of two runs on the same questions. Values by hand: test_intervals.py."""

from __future__ import annotations

import json
import math

import pytest
from test_evaluation import _fake_run

from vthinker.evaluation.report import build_report, load_runs
from vthinker.evaluation.summary import summary_markdown
from vthinker.evaluation.tasks import summarize
from vthinker.metrics.intervals import Z95


def _rows(correct: list[int], videos: list[str] | None) -> list[dict]:
    return [
        {
            "id": f"q{i}",
            "status": "ok",
            "correct": bool(c),
            "extracted": "A",
            "trace": {"well_formed": True},
            **({"video": videos[i]} if videos else {}),
        }
        for i, c in enumerate(correct)
    ]


def test_summary_accuracy_interval_is_clustered_by_video():
    correct, videos = [1, 1, 0, 0, 1, 0], ["a", "a", "b", "b", "c", "c"]
    ci = summarize(_rows(correct, videos), "qa")["intervals"]["accuracy"]
    assert ci["mean"] == 0.5 and ci["clusters"] == 3 and ci["cluster_by"] == "video"
    assert ci["se"] == pytest.approx(math.sqrt(1 / 12))  # test_intervals.py, by hand
    assert ci["high"] == pytest.approx(0.5 + Z95 * math.sqrt(1 / 12))
    plain = summarize(_rows(correct, None), "qa")["intervals"]["accuracy"]
    assert plain["cluster_by"] == "question" and plain["se"] == pytest.approx(math.sqrt(0.3 / 6))
    summary = {
        "benchmark": "toy",
        "model": "m",
        "frames": 8,
        "task": "qa",
        **summarize(_rows(correct, videos), "qa"),
    }
    md = summary_markdown(summary)
    half = 100 * Z95 * math.sqrt(1 / 12)
    assert f"(± {half:.1f} points, clustered by 3 videos)" in md
    # one video only: no spread between videos to measure, so no interval is claimed
    assert summarize(_rows([1, 0], ["a", "a"]), "qa")["intervals"] == {}
    assert summarize(_rows([1, 1], ["a", "a"]), "qa")["intervals"] == {}


def _run_with_rows(root, model, correct, videos, **extra):
    rows = _rows(correct, videos)
    summary = summarize(rows, "qa")
    run = _fake_run(root, model, "toy", 8, summary["metrics"], **extra)
    data = json.loads((run / "summary.json").read_text())
    data["intervals"] = summary["intervals"]
    (run / "summary.json").write_text(json.dumps(data))
    (run / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_report_shows_intervals_and_paired_differences(tmp_path):
    videos = ["a", "a", "b", "c"]
    base = _run_with_rows(tmp_path, "base", [0, 1, 0, 0], videos)
    ours = _run_with_rows(tmp_path, "ours", [1, 1, 0, 1], videos)
    rep = build_report(load_runs([base, ours]), reference="none")
    (paired,) = rep.paired
    # differences 1, 0, 0, 1 clustered a (+0.5 - 0.5), b (-0.5), c (+0.5): SE^2 = 3/64
    assert paired["model"] == "ours" and paired["baseline"] == "base"
    assert paired["questions"] == 4 and paired["clusters"] == 3
    assert paired["difference"] == pytest.approx(50.0)
    assert paired["low"] == pytest.approx(100 * (0.5 - Z95 * math.sqrt(3 / 64)))
    assert "## Paired differences (points)" in rep.markdown
    margin = rep.accuracy_margin["ours"]["toy"]
    ci = json.loads((ours / "summary.json").read_text())["intervals"]["accuracy"]
    assert margin == pytest.approx(100 * (ci["high"] - ci["mean"]))
    assert f"| ours | 75.00 ± {margin:.1f} |" in rep.markdown.splitlines()
    # the baseline can be chosen; comparing a model with itself gives nothing
    rev = build_report(load_runs([base, ours]), reference="none", baseline="ours")
    assert rev.paired[0]["model"] == "base"
    assert rev.paired[0]["difference"] == pytest.approx(-50.0)


def test_paired_difference_on_one_video_claims_no_interval(tmp_path):
    base = _run_with_rows(tmp_path, "base", [0, 0], ["v", "v"])
    ours = _run_with_rows(tmp_path, "ours", [1, 0], ["v", "v"])
    rep = build_report(load_runs([base, ours]), reference="none")
    (paired,) = rep.paired
    assert paired["difference"] == pytest.approx(50.0)
    assert paired["low"] is None and paired["high"] is None
    json.dumps(rep.to_json(), allow_nan=False)  # strict JSON: no Infinity
    assert "| ours | base | toy | 8 | 2 (1 videos) | +50.0 | – |" in rep.markdown.splitlines()
