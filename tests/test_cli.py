"""The demo path end to end through the `vthinker` command (in process)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

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
        "--model.init_args.export_dir",
        str(out / "hf"),
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


def test_predict_from_checkpoint_writes_jsonl(tiny_model_dir, toy_dir, tmp_path):
    out = tmp_path / "pred"
    fit = cli(["fit", *_args(tiny_model_dir, toy_dir, out), "--trainer.max_steps", "1"])
    ckpt = next(out.rglob("last.ckpt"))
    writer = {
        "class_path": "vthinker.training.callbacks.JsonlPredictionWriter",
        "init_args": {"path": str(out / "predictions.jsonl")},
    }
    c = cli(
        [
            "predict",
            *_args(tiny_model_dir, toy_dir, out),
            "--model.init_args.generation.max_new_tokens",
            "8",
            "--data.init_args.limit",
            "3",
            "--trainer.callbacks",
            json.dumps([writer]),
            "--ckpt_path",
            str(ckpt),
        ]
    )
    # The checkpoint's weights were loaded, not the tiny model's initial ones.
    trained = dict(fit.model.policy.named_parameters())
    for name, p in c.model.policy.named_parameters():
        assert torch.equal(p, trained[name]), name
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [s.id for s in c.datamodule.datasets["predict"].samples]
    assert 1 <= len(rows) <= 3
    # --model.init_args.generation wins over the settings the checkpoint was trained with.
    n_tokens = [len(c.model.processor.tokenizer(r["output"])["input_ids"]) for r in rows]
    assert max(n_tokens) <= 8 + 2, n_tokens  # (re-tokenising may merge/split a little)
    assert all(set(r) >= {"output", "answer", "gold", "well_formed", "spans"} for r in rows)


def test_tool_commands(tmp_path, capsys):
    main(["make-tiny", str(tmp_path / "tiny")])
    assert (tmp_path / "tiny" / "config.json").is_file()
    main(["make-tiny", str(tmp_path / "tiny")])
    assert "already" in capsys.readouterr().out
    main(["make-toy-data", "--out", str(tmp_path / "toy"), "--num-videos", "3"])
    assert (tmp_path / "toy" / "train.jsonl").is_file()


def test_tool_command_lines_refuse_bad_input_naming_the_option(tmp_path, capsys):
    """make-tiny, export and data check parse with jsonargparse: --help from the
    docstrings, a positional stays positional, a bad value names its option."""
    for args, option in [
        (["make-tiny", str(tmp_path / "t"), "--hidden-size", "wide"], '"hidden_size"'),
        (["export", str(tmp_path / "x.ckpt"), "--out", "o", "--dtype", "int8"], '"dtype"'),
        (["export", str(tmp_path / "x.ckpt")], "--out"),
        (["data", "check", "--jsonl", "a.jsonl", "--min-frames", "many"], '"min_frames"'),
    ]:
        with pytest.raises(SystemExit) as err:
            main(args)
        assert err.value.code == 2, args
        assert option in capsys.readouterr().err, args
    with pytest.raises(SystemExit) as err:
        main(["make-tiny", "--help"])
    assert err.value.code == 0
    out = capsys.readouterr().out
    assert "[out_dir]" in out and "--vision-depth" in out and "default: 64" in out
    assert not (tmp_path / "t").exists()
