"""lmms-eval interop: `lmms-eval --model vthinker` on the toy task, through lmms-eval's own
command line, gives the same traces as `vthinker test` with the same settings, and the task
variant scores them with `vthinker.trace`.

lmms-eval lives in its own venv (`make lmms-env`, an overlay on the main one); run these
with `make test-lmms`. In the main venv they are skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lmms_eval", reason="lmms-eval is in .venv-lmms: run `make test-lmms`")

from test_evaluation import _args

from vthinker.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_plugin_is_registered_through_the_entry_point():
    from lmms_eval.models import MODEL_REGISTRY_V2

    resolved = MODEL_REGISTRY_V2.resolve("vthinker")
    assert resolved.class_path == "vthinker.evaluation.lmms_plugin.VThinkerLMM"
    assert resolved.model_type == "simple"


def test_lmms_eval_run_matches_vthinker_test(tiny_model_dir, toy_dir, tmp_path):
    test_file = toy_dir / "test.jsonl"
    n = len(test_file.read_text().splitlines())  # every test question (2 in the fixture)
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "toy").symlink_to(toy_dir)  # where the task's data_files point
    model_args = ",".join(
        [
            f"pretrained={tiny_model_dir}",
            "greedy=True",
            "max_new_tokens=6",
            "max_frames=8",
            "max_pixels=12544",
            "min_pixels=3136",
        ]
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lmms_eval",
            "--model",
            "vthinker",
            "--model_args",
            model_args,
            "--tasks",
            "vthinker_toy",
            "--include_path",
            str(ROOT / "integrations/lmms_eval/tasks"),
            "--log_samples",
            "--output_path",
            str(work / "out"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    (samples_file,) = (work / "out").rglob("*_samples_vthinker_toy.jsonl")
    logged = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(logged) == n
    ids = [json.loads(line)["id"] for line in test_file.read_text().splitlines()]
    lmms = {ids[int(s["doc_id"])]: s for s in logged}  # doc_id: the line in the data file

    out = tmp_path / "eval"
    cli(
        [
            "test",
            *_args(tiny_model_dir, test_file, out, limit=n),
            "--data.init_args.batch_size",
            "1",
        ]
    )
    (run,) = (out / "toy").iterdir()
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rows} == set(lmms)
    for row in rows:
        sample = lmms[row["id"]]
        response = sample["filtered_resps"]
        response = response[0] if isinstance(response, list) else response
        assert response == row["output"], row["id"]  # same prompt, frames and decoding
        assert sample["accuracy"] == float(row["correct"]), row["id"]  # same answer reading
    results = json.loads(next((work / "out").rglob("*_results.json")).read_text())
    accuracy = results["results"]["vthinker_toy"]["accuracy,none"]
    assert accuracy == pytest.approx(sum(r["correct"] for r in rows) / n)


def test_task_variants_load_in_lmms_eval():
    """Every shipped variant is a task lmms-eval's task manager finds on --include_path (the
    Video-MME data itself is downloaded by lmms-eval on first use, not here)."""
    from lmms_eval.tasks import TaskManager

    tasks = TaskManager(include_path=str(ROOT / "integrations/lmms_eval/tasks")).all_tasks
    assert {"vthinker_toy", "videomme_vthinker"} <= set(tasks)
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "videomme_vthinker_utils",
        ROOT / "integrations/lmms_eval/tasks/videomme_vthinker/utils.py",
    )
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    doc = {
        "question": "What is shown first?",
        "options": ["A. a cat", "B. a dog", "C. a car", "D. a tree"],
        "answer": "C",
        "domain": "d",
        "sub_category": "s",
        "task_type": "t",
        "question_id": "q1",
        "duration": "short",
        "videoID": "v1",
    }
    assert "Options:\nA. a cat\n" in utils.doc_to_text(doc)
    # the vthinker model reads the sample process_docs adds: vthinker's own prompt
    import datasets

    from vthinker.data.prompts import PromptTemplate
    from vthinker.evaluation.lmms_plugin import _as_sample

    (processed,) = utils.process_docs(datasets.Dataset.from_list([doc]))
    sample = _as_sample(processed, "videomme-0")
    assert sample.options == ["a cat", "a dog", "a car", "a tree"] and sample.answer == "C"
    text = PromptTemplate().user_text(sample, duration=12.0)
    assert "Options:\nA. a cat\n" in text and "The video lasts 12.0 seconds." in text
    trace = "<think>the car is on screen at 00:01, not the letter B.</think><answer>C</answer>"
    scored = utils.process_results(doc, [trace])["videomme_perception_score"]
    assert scored["pred_answer"] == "C" and scored["score"] == 1.0
