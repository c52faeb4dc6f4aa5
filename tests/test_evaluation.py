"""Evaluation: `vthinker test` with EvalModule end to end, resuming, bad input, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vthinker.cli import cli, main
from vthinker.data.schema import Evidence, VideoSample, read_jsonl, write_jsonl
from vthinker.evaluation.decoding import Decoded
from vthinker.evaluation.module import EvalModule, model_name_from_path
from vthinker.evaluation.report import build_report, load_runs
from vthinker.evaluation.store import (
    PredictionLog,
    SettingsMismatch,
    check_settings,
    merge_rank_files,
    read_rows,
)
from vthinker.evaluation.tasks import score_output, summarize
from vthinker.trace import parse_trace

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _args(tiny_model_dir: Path, test_file: Path, out: Path, limit: int = 4) -> list[str]:
    return [
        "--config",
        str(ROOT / "configs/demo/eval.yaml"),
        "--model.init_args.policy.name_or_path",
        str(tiny_model_dir),
        "--model.init_args.out_dir",
        str(out),
        "--model.init_args.generation.max_new_tokens",
        "6",
        "--data.init_args.test_file",
        str(test_file),
        "--data.init_args.num_workers",
        "0",
        "--data.init_args.limit",
        str(limit),
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.default_root_dir",
        str(out),
    ]


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


def _fake_outputs(monkeypatch, texts: dict[str, str], calls: list[str] | None = None) -> None:
    """Replace decoding by fixed outputs per sample id (default: a wrong, tagless reply)."""

    def fake(self, batch):
        ids = [s.id for s in batch["samples"]]
        if calls is not None:
            calls.extend(ids)
        out = [texts.get(i, "no idea") for i in ids]
        return Decoded(out, [len(t.split()) for t in out], [False] * len(out))

    monkeypatch.setattr(EvalModule, "_generate", fake)


# --- end to end ---------------------------------------------------------------------------------


def test_eval_demo_config_end_to_end(tiny_model_dir, toy_dir, tmp_path):
    out = tmp_path / "eval"
    c = cli(["test", *_args(tiny_model_dir, toy_dir / "train.jsonl", out)])
    run_dir = out / "toy" / "tiny-qwen2.5-vl-8f"
    assert c.model.run_dir == run_dir
    expected = [s.id for s in read_jsonl(toy_dir / "train.jsonl")][:4]
    rows = _rows(run_dir)
    assert [r["id"] for r in rows] == expected
    for r in rows:
        assert r["status"] == "ok"
        assert set(r) >= {"prompt", "output", "trace", "extracted", "gold", "correct", "time_s"}
        assert set(r["trace"]) == {"segments", "spans", "answer", "well_formed"}
        assert r["output_tokens"] <= 6 and r["frames"] == 8 and r["prompt_tokens"] > 64
        assert "<|video_pad|>×" in r["prompt"] and r["groups"]["template"]
        assert r["video"].startswith("videos/")  # the cluster of its confidence interval
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "tiny-qwen2.5-vl" and summary["frames"] == 8
    assert summary["counts"]["samples"] == 4 and summary["complete"]
    assert summary["settings"]["decoding"] == {
        "max_new_tokens": 6,
        "do_sample": False,
        "temperature": 0.1,
        "top_p": 0.001,
    }
    assert summary["settings"]["data"]["frames"]["max_frames"] == 8
    acc = sum(r["correct"] for r in rows) / 4
    assert summary["metrics"]["accuracy"] == pytest.approx(acc)
    assert float(c.trainer.callback_metrics["test/accuracy"]) == pytest.approx(acc)
    assert set(summary["groups"]) == {"problem_type", "template"}
    assert "## Accuracy by template" in (run_dir / "summary.md").read_text()


def test_frames_switch_names_the_run_folder(tiny_model_dir, toy_dir, tmp_path, monkeypatch):
    _fake_outputs(monkeypatch, {})
    out = tmp_path / "eval"
    args = _args(tiny_model_dir, toy_dir / "val.jsonl", out, limit=1)
    cli(["test", *args, "--data.init_args.frames.num_frames", "4"])
    summary = json.loads((out / "toy" / "tiny-qwen2.5-vl-4f" / "summary.json").read_text())
    assert summary["frames"] == 4 and summary["frames_used"]["max"] == 4


def test_scores_known_outputs_and_skips_missing_video(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    samples = read_jsonl(toy_dir / "train.jsonl")[:4]
    for s in samples:
        s.video = str(toy_dir / s.video)
    samples[2].id, samples[2].video = "broken", str(tmp_path / "missing.mp4")
    bad_gold = VideoSample(
        id="bad-gold", video=samples[0].video, question="How many?", answer="lots",
        problem_type="numerical",
    )  # fmt: skip
    data = tmp_path / "bench.jsonl"
    write_jsonl([*samples, bad_gold], data)
    ok, wrong, empty = samples[0], samples[1], samples[3]
    span = f"{int(ok.evidence[0].start)}-{int(ok.evidence[0].end)}"
    _fake_outputs(
        monkeypatch,
        {
            ok.id: f"<time>{span}</time> <caption>x</caption> <think>y</think>"
            f"<answer>{ok.answer}</answer>",
            wrong.id: "<time>00:09-00:03</time> I cannot tell.",  # inverted time, no answer
            empty.id: "",
        },
    )
    out = tmp_path / "eval"
    args = _args(tiny_model_dir, data, out, limit=5)
    c = cli(["test", *args, "--data.init_args.batch_size", "4"])
    run_dir = c.model.run_dir
    rows = {r["id"]: r for r in _rows(run_dir)}
    assert set(rows) == {s.id for s in samples} | {"bad-gold"}
    assert rows["bad-gold"]["status"] == "skipped"
    assert "'lots' is not a number" in rows["bad-gold"]["reason"]
    assert rows["broken"]["status"] == "skipped" and "missing.mp4" in rows["broken"]["reason"]
    assert rows[ok.id]["correct"] and rows[ok.id]["trace"]["well_formed"]
    assert rows[wrong.id]["extracted"] is None and not rows[wrong.id]["correct"]
    assert rows[wrong.id]["unparseable_times"] == ["00:09-00:03"]
    assert rows[empty.id]["output"] == "" and not rows[empty.id]["correct"]
    summary = json.loads((run_dir / "summary.json").read_text())
    counts = {"samples": 5, "scored": 3, "skipped": 2, "correct": 1, "no_answer": 2}
    assert summary["counts"].items() >= counts.items()
    assert summary["metrics"]["accuracy"] == pytest.approx(1 / 3)  # skipped is not wrong
    assert [s["id"] for s in summary["skipped"]] == ["broken", "bad-gold"]
    assert summary["skipped"][0]["reason"] == rows["broken"]["reason"]
    assert summary["grounding_of_reasoning"]["r@0.3"] > 0
    md = (run_dir / "summary.md").read_text()
    assert "## Skipped (not scored)" in md and "`broken`" in md


# --- resuming -------------------------------------------------------------------------------


def test_resume_after_kill_has_no_duplicates_or_gaps(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    data = toy_dir / "train.jsonl"
    ids = [s.id for s in read_jsonl(data)][:7]
    out = tmp_path / "eval"
    args = [*_args(tiny_model_dir, data, out, limit=7), "--data.init_args.batch_size", "1"]
    calls: list[str] = []
    _fake_outputs(monkeypatch, {}, calls)
    # 1. A first run over a subset.
    c = cli(["test", *args, "--data.init_args.limit", "3"])
    run_dir = c.model.run_dir
    assert [r["id"] for r in _rows(run_dir)] == ids[:3]
    # 2. Killed while writing: the last row is half on disk.
    lines = (run_dir / "predictions.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "predictions.jsonl").write_text("".join(lines[:2]) + lines[2][:25])
    # 3. A crash in the middle of the next run.
    original = EvalModule._generate

    def crash_on_fourth(self, batch):
        if batch["samples"][0].id == ids[4]:
            raise RuntimeError("simulated crash")
        return original(self, batch)

    monkeypatch.setattr(EvalModule, "_generate", crash_on_fourth)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cli(["test", *args])
    # The torn row was dropped and decoded again; the crash lost only the sample in flight.
    assert [r["id"] for r in _rows(run_dir)] == ids[:4]
    # 4. The rerun decodes only what is missing and completes the set.
    calls.clear()
    _fake_outputs(monkeypatch, {}, calls)
    c = cli(["test", *args])
    assert sorted(calls) == sorted(ids[4:])
    done = [r["id"] for r in _rows(run_dir)]
    assert sorted(done) == sorted(ids) and len(done) == len(set(done))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["samples"] == 7 and summary["complete"]
    # 5. Nothing left: no decoding at all, the summary is still written.
    calls.clear()
    (run_dir / "summary.json").unlink()
    cli(["test", *args])
    assert calls == [] and (run_dir / "summary.json").is_file()
    # 6. Other decoding settings in the same folder are refused, before any decoding.
    with pytest.raises(SettingsMismatch, match="max_new_tokens: was 6, now 7"):
        cli(["test", *args, "--model.init_args.generation.max_new_tokens", "7"])


def test_retrained_weights_in_the_same_folder_are_not_resumed(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    """A model retrained into the same folder is another model: its evaluation must not
    reuse the first one's predictions (`make miniature` once did, silently)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    _fake_outputs(monkeypatch, {})
    args = _args(model, toy_dir / "val.jsonl", tmp_path / "eval", limit=2)
    cli(["test", *args])
    cli(["test", *args])  # same weights: resumes
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes())  # the same weights rewritten (new mtime)
    cli(["test", *args])  # content unchanged: resumes
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # retrained: other values
    weights.write_bytes(bytes(data))
    with pytest.raises(SettingsMismatch, match=r"model\.weights: was '[0-9a-f]+', now"):
        cli(["test", *args])
    cli(["test", *args, "--model.init_args.overwrite", "true"])
    # A run folder from before the fingerprint existed resumes.
    run_json = next((tmp_path / "eval").rglob("run.json"))
    settings = json.loads(run_json.read_text())
    del settings["model"]["weights"]
    run_json.write_text(json.dumps(settings))
    cli(["test", *args])


def test_prediction_log_repairs_and_merges(tmp_path):
    run = tmp_path / "run"
    log0 = PredictionLog(run)
    log0.append({"id": "a", "status": "ok"})
    log0.append({"id": "b", "status": "skipped", "reason": "video: missing"})
    with (run / "predictions.jsonl").open("a") as f:
        f.write('{"id": "a", "status": "ok"}\n{"id": "c", "sta')  # a duplicate, a torn line
    rank1 = PredictionLog(run, rank=1)
    rank1.append({"id": "d", "status": "ok"})
    rank1.append({"id": "a", "status": "ok"})
    assert PredictionLog(run).ids == {"a", "b", "d"}
    assert [json.loads(x)["id"] for x in (run / "predictions.jsonl").read_text().splitlines()] == [
        "a",
        "b",
    ]
    assert merge_rank_files(run) == 1
    assert not list(run.glob("*.rank*.jsonl"))
    assert [r["id"] for r in read_rows(run)] == ["a", "b", "d"]
    assert PredictionLog(run, drop_skipped=True).ids == {"a", "d"}


def test_check_settings(tmp_path):
    check_settings(tmp_path, {"frames": {"max_frames": 16}, "model": "m"})
    (tmp_path / "predictions.jsonl").write_text("")
    check_settings(tmp_path, {"frames": {"max_frames": 16}, "model": "m"})
    with pytest.raises(SettingsMismatch, match=r"frames\.max_frames: was 16, now 32"):
        check_settings(tmp_path, {"frames": {"max_frames": 32}, "model": "m"})


def test_model_name_from_path():
    assert model_name_from_path("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen2.5-VL-7B-Instruct"
    assert model_name_from_path("outputs/demo/sft/hf") == "sft"
    assert model_name_from_path("outputs/demo/sft/logs/version_0/hf") == "sft"
    assert model_name_from_path("outputs/sft/video_thinker_7b/merged") == "sft-video_thinker_7b"
    ckpt = "outputs/grpo/video_thinker_7b/logs/version_3/checkpoints/step500.ckpt"
    name = model_name_from_path("Qwen/Qwen2.5-VL-7B-Instruct", ckpt)
    assert name == "grpo-video_thinker_7b-step500"


# --- scoring bad outputs ---------------------------------------------------------------------


def _sample(**kw) -> VideoSample:
    base = {
        "id": "s",
        "video": "v.mp4",
        "question": "q",
        "answer": "B",
        "options": ["x", "y", "z"],
        "evidence": [Evidence(10.0, 20.0, "a man opens a door")],
    }
    return VideoSample(**(base | kw))


def _score(task: str, sample: VideoSample, text: str, **kw) -> dict:
    row = score_output(task, sample, text, parse_trace(text), **kw)
    return {"id": sample.id, "status": "ok", "trace": {"well_formed": False}, **row}


def test_grounding_scores_spans_and_garbage():
    s = _sample()
    good = _score("grounding", s, "<time>00:10-00:20</time><time>00:00-00:05</time>")
    half = _score("grounding", _sample(id="h"), "<time>15-25</time>")
    bad = _score("grounding", _sample(id="b"), "<time>00:20-00:10</time><time>soon</time>")
    assert good["iou"] == [1.0] and half["iou"] == [pytest.approx(5 / 15)]
    assert bad["grounding_pred"] == [] and bad["iou"] == [0.0]
    assert bad["unparseable_times"] == ["00:20-00:10", "soon"]
    g = _sample(id="g", problem_type="temporal grounding", answer="00:10-00:20", options=[])
    from_answer = _score("grounding", g, "<time>00:00-00:01</time><answer>00:12-00:20</answer>")
    assert from_answer["grounding_from"] == "answer" and from_answer["iou"] == [0.8]
    final = _score("grounding", g, "It happens there. Final answer: 10 to 20 seconds")
    assert final["grounding_pred"] == [[10.0, 20.0]] and final["iou"] == [1.0]
    none = _score("grounding", _sample(id="n", evidence=[]), "<time>00:10-00:20</time>")
    out = summarize([good, half, bad, from_answer, none], "grounding")
    assert out["counts"]["no_reference"] == 1 and out["counts"]["no_prediction"] == 1
    assert out["metrics"]["miou"] == pytest.approx((1 + 5 / 15 + 0 + 0.8) / 4)
    assert out["metrics"]["r@0.3"] == pytest.approx(3 / 4)
    assert out["metrics"]["r@0.7"] == pytest.approx(2 / 4)


def test_caption_scoring_answers_segments_and_empty_captions():
    describe = _sample(id="d", options=[], answer="a man opens a door")
    pred = _score("caption", describe, "<answer>a man opens a door</answer>")
    assert pred["caption_pairs"] == [{"pred": "a man opens a door", "refs": ["a man opens a door"]}]
    no_answer = _score("caption", _sample(id="e", options=[]), "<caption></caption>")
    assert no_answer["caption_pairs"][0]["pred"] == ""
    qa = _sample(
        id="q",
        evidence=[Evidence(0, 5, "a dog runs"), Evidence(10, 20, ""), Evidence(30, 40, "rain")],
    )
    segs = _score(
        "caption",
        qa,
        "<time>00:01-00:04</time><caption>a dog running</caption><think>t</think>"
        "<time>00:50-00:55</time><caption>sun</caption><think>t</think>",
    )
    # The empty evidence caption is no reference; rain has no overlapping window: "".
    assert segs["caption_pairs"] == [
        {"pred": "a dog running", "refs": ["a dog runs"]},
        {"pred": "", "refs": ["rain"]},
    ]
    unscored = _score("caption", _sample(id="u", options=[], answer="", evidence=[]), "hi")
    out = summarize([pred, no_answer, segs, unscored], "caption")
    counts = {"no_reference": 1, "caption_pairs": 4, "empty_predictions": 2}
    assert out["counts"].items() >= counts.items()
    assert set(out["metrics"]) >= {"bleu_1", "bleu_4", "meteor", "rouge_l", "cider"}
    assert 0 < out["metrics"]["rouge_l"] < 1


def test_qa_without_answer_is_wrong_and_groups():
    s = _sample(meta={"question_type": "why"})
    rows = [
        _score("qa", s, "<answer>B</answer>"),
        _score("qa", _sample(id="2"), "???"),
        _score("qa", _sample(id="3"), ""),
    ]
    for r, g in zip(rows, ["why", "(none)", "(none)"], strict=True):
        r["groups"] = {"question_type": g}
    assert rows[0]["correct"] and rows[2]["extracted"] is None and not rows[2]["correct"]
    rows.append({"id": "4", "status": "skipped", "reason": "video: not found"})
    out = summarize(rows, "qa", group_by=["question_type"])
    assert out["counts"]["skipped"] == 1 and out["counts"]["scored"] == 3
    assert out["metrics"]["accuracy"] == pytest.approx(1 / 3)
    assert out["groups"]["question_type"]["why"] == {"n": 1, "correct": 1, "accuracy": 1.0}
    assert out["groups"]["question_type"]["(none)"]["n"] == 2


# --- report ----------------------------------------------------------------------------------


def _fake_run(root: Path, model: str, bench: str, frames: int, metrics: dict, task="qa") -> Path:
    run = root / bench / f"{model}-{frames}f"
    run.mkdir(parents=True)
    summary = {
        "benchmark": bench,
        "task": task,
        "model": model,
        "frames": frames,
        "metrics": metrics,
        "counts": {"samples": 10, "scored": 9, "skipped": 1},
        "skipped": [{"id": "x1", "reason": "video: not found"}],
        "missing": [],
        "updated": "2025-01-01T00:00:00+00:00",
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_report_tables_and_plots(tmp_path, capsys):
    root = tmp_path / "runs"
    _fake_run(root, "base", "video_holmes", 16, {"accuracy": 0.25})
    _fake_run(root, "base", "star", 16, {"accuracy": 0.5})
    _fake_run(root, "ours", "video_holmes", 16, {"accuracy": 0.4})
    _fake_run(root, "ours", "video_holmes", 32, {"accuracy": 0.4513})
    g = {"miou": 0.4822, "r@0.3": 0.7929, "r@0.5": 0.5149, "r@0.7": 0.2}
    _fake_run(root, "ours", "grounding", 16, g, task="grounding")
    out = tmp_path / "report"
    main(["report", str(root), "--out", str(out)])
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed
    md = (out / "report.md").read_text()
    lines = md.splitlines()
    header = "| model | Holmes | CG-Bench-R | VRBench | ActivityNet | STAR | ScaleLong | YouCook2 | LVBench |"
    assert header in lines
    paper = "| Video-Thinker-7B (paper) | 43.22 | 33.25 | 80.69 | 78.72 | 70.66 | 49.53 | 73.66 | 37.04 |"
    assert paper in lines
    # The main table is at 16 frames; the 32-frame run is in the by-frames table only.
    assert "| base | 25.00 | – | – | – | 50.00 | – | – | – |" in lines
    assert "| ours | 40.00 | – | – | – | – | – | – | – |" in lines
    assert "| ours | Holmes | 40.00 | 45.13 |" in lines
    assert not any(line.startswith("| base | STAR | 50.00") for line in lines)  # one count only
    assert "| ours | grounding | 16 | 48.22 | 79.29 | 51.49 | 20.00 |" in lines
    assert "| Video-Thinker-7B (paper) | paper | 16 | 48.22 | 79.29 | 51.49 | – |" in lines
    assert "x1 (video: not found)" in md
    for name in ("accuracy_per_benchmark", "accuracy_vs_frames", "grounding_recall"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG, name
        assert f"]({name}.png)" in md
    data = json.loads((out / "report.json").read_text())
    assert data["accuracy"]["base"] == {"video_holmes": 25.0, "star": 50.0}
    main(["report", str(root), "--out", str(out), "--frames", "32", "--reference", "none"])
    lines = (out / "report.md").read_text().splitlines()
    assert "## Accuracy (%), 32 frames" in lines and "| ours | 45.13 |" in lines


def test_report_without_reference_and_errors(tmp_path, capsys):
    a = _fake_run(tmp_path, "a", "toy", 8, {"accuracy": 0.5})
    b = _fake_run(tmp_path, "b", "toy", 8, {"accuracy": 0.75})
    rep = build_report(load_runs([a, b]))
    assert not rep.reference_accuracy  # no paper benchmark among the runs
    assert "| model | toy |" in rep.markdown and "| b | 75.00 |" in rep.markdown
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path / "nothing")])
    assert "no such run folder" in capsys.readouterr().err


def test_report_command_help_and_bad_values(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--out", "--reference", "--frames", "runs"):
        assert flag in help_text
    assert "outputs/eval/report" in help_text  # the default, from `report`'s signature
    run = _fake_run(tmp_path, "a", "toy", 8, {"accuracy": 0.5})
    for bad, option in (("--frames=abc", "frames"), ("--reference=paper", "reference")):
        with pytest.raises(SystemExit) as exit_:
            main(["report", str(run), "--out", str(tmp_path / "out"), bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f'"{option}"' in err and bad.split("=")[1] in err, err
    assert not (tmp_path / "out").exists()
    # Flags as before: several RUN_DIRs, options before or after them, --opt=value.
    main(["report", "--reference=none", str(run), str(run), "--out", str(tmp_path / "out")])
    assert (tmp_path / "out" / "report.md").is_file()


def test_checkpoint_weights_are_loaded_over_the_policy(tiny_model_dir, tmp_path):
    import torch

    from vthinker.models.policy import PolicyConfig

    policy = PolicyConfig(name_or_path=str(tiny_model_dir), dtype="float32")
    reference = EvalModule(policy)
    reference.configure_model()
    state = {f"model.{k}": v + 1.0 for k, v in reference.policy.state_dict().items()}
    ckpt = tmp_path / "run" / "checkpoints" / "step500.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": state, "hyper_parameters": {"lr": 1.0}}, ckpt)
    module = EvalModule(policy, checkpoint=str(ckpt))
    assert module.model_name == "run-step500"
    module.configure_model()
    for name, p in module.policy.state_dict().items():
        assert torch.equal(p, state[f"model.{name}"]), name
    torch.save({"state_dict": {"model.not_a_weight": torch.zeros(1)}}, ckpt)
    with pytest.raises(ValueError, match="do not fit the policy"):
        EvalModule(policy, checkpoint=str(ckpt)).configure_model()
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        EvalModule(policy, checkpoint=str(tmp_path / "nope.ckpt"))


def test_weights_fingerprint_samples_large_files(tmp_path, monkeypatch):
    import vthinker.evaluation.run as mod

    monkeypatch.setattr(mod, "_WHOLE_FILE", 1000)
    monkeypatch.setattr(mod, "_SAMPLES", 4)
    monkeypatch.setattr(mod, "_SAMPLE", 10)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    data = bytearray(range(256)) * 8  # 2048 bytes: sampled at 0, 679, 1358, 2038
    (a / "model.safetensors").write_bytes(bytes(data))
    (a / "config.json").write_text("{}")  # not a weight file
    (b / "model.safetensors").write_bytes(bytes(data))
    assert mod.weights_fingerprint(a) == mod.weights_fingerprint(b)  # same content elsewhere
    data[680] ^= 1  # inside the second piece
    (b / "model.safetensors").write_bytes(bytes(data))
    assert mod.weights_fingerprint(a) != mod.weights_fingerprint(b)
    data[680] ^= 1
    data[500] ^= 1  # between pieces: not seen (the price of not reading 15 GB)
    (b / "model.safetensors").write_bytes(bytes(data))
    assert mod.weights_fingerprint(a) == mod.weights_fingerprint(b)
