"""The demo path end to end through the `vthinker` command (in process)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from vthinker.cli import cli, main

ROOT = Path(__file__).resolve().parents[1]


def _args(tiny_model_dir: Path, toy_dir: Path, out: Path) -> list[str]:
    return [
        "--config",
        str(ROOT / "configs/demo/sft.yaml"),
        "--model.init_args.policy.name_or_path",
        str(tiny_model_dir),
        "--data.init_args.train_file",
        str(toy_dir / "train.jsonl"),
        "--data.init_args.val_file",
        str(toy_dir / "val.jsonl"),
        "--data.init_args.predict_file",
        str(toy_dir / "test.jsonl"),
        "--data.init_args.num_workers",
        "0",
        "--data.init_args.limit",
        "8",
        "--trainer.default_root_dir",
        str(out),
        "--trainer.logger.init_args.save_dir",
        str(out),
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.log_every_n_steps",
        "1",
    ]


def test_fit_writes_checkpoint_metrics_and_export(tiny_model_dir, toy_dir, tmp_path):
    out = tmp_path / "run"
    c = cli(["fit", *_args(tiny_model_dir, toy_dir, out), "--trainer.max_epochs", "1"])
    # 8 samples / batch 4 = 2 steps; validation ran at the end of the epoch.
    assert c.trainer.global_step == 2
    assert "val/loss" in c.trainer.callback_metrics
    ckpts = list(out.rglob("*.ckpt"))
    assert any(p.name == "last.ckpt" for p in ckpts)
    metrics = next(out.rglob("metrics.csv"))
    rows = list(csv.DictReader(metrics.open()))
    assert any(r.get("train/loss") for r in rows)
    assert any(r.get("val/loss") for r in rows)
    export = next(out.rglob("hf"))
    assert (export / "model.safetensors").is_file() and (export / "chat_template.jinja").is_file()
    assert (out / "logs").is_dir()
    # The MetricsPlot callback of the demo config drew the curves.
    png = next(out.rglob("metrics.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads(next(out.rglob("metrics_history.json")).read_text())
    assert [s for s, _ in history["train/loss"]] == [1, 2]
    assert len(history["val/loss"]) == 1


def test_predict_generates_parsed_answers(tiny_model_dir, toy_dir, tmp_path):
    out = tmp_path / "pred"
    c = cli(
        [
            "predict",
            *_args(tiny_model_dir, toy_dir, out),
            "--model.init_args.generation.max_new_tokens",
            "8",
            "--data.init_args.limit",
            "2",
            "--trainer.callbacks",
            "[]",
        ]
    )
    preds = [p for batch in c.trainer.predict_loop.predictions for p in batch]
    assert [p["id"] for p in preds] == [s.id for s in c.datamodule.datasets["predict"].samples[:2]]
    assert all(set(p) >= {"output", "answer", "gold", "well_formed", "spans"} for p in preds)


def test_tool_commands(tmp_path, capsys):
    main(["make-tiny", str(tmp_path / "tiny")])
    assert (tmp_path / "tiny" / "config.json").is_file()
    main(["make-tiny", str(tmp_path / "tiny")])
    assert "already" in capsys.readouterr().out
    main(["make-toy-data", "--out", str(tmp_path / "toy"), "--num-videos", "3"])
    assert (tmp_path / "toy" / "train.jsonl").is_file()
