"""The shipped logger configs (configs/trainer/wandb.yaml, mlflow.yaml) layered over a GRPO
recipe: a real 2-step fit on the tiny model logs its metrics and the sample completions as a
table, with no network (W&B offline, MLflow file store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_fit import demo_fit_args

from vthinker.cli import cli
from vthinker.training.grpo_stats import TABLE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def _fit(logger_config: str, tiny_model_dir, toy_dir, out: Path, *where: str):
    configs = [ROOT / "configs/demo/grpo.yaml", ROOT / f"configs/trainer/{logger_config}.yaml"]
    args = demo_fit_args(
        configs, tiny_model_dir, out, train_file=toy_dir / "train.jsonl", completions_every=1
    )
    return cli([*args, "--data.init_args.batch_size", "1", *where])


def test_wandb_offline_run_has_metrics_and_a_completions_table(
    tiny_model_dir, toy_dir, tmp_path, monkeypatch
):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    c = _fit(
        "wandb",
        tiny_model_dir,
        toy_dir,
        tmp_path,
        "--trainer.logger.init_args.save_dir",
        str(tmp_path),
    )
    assert type(c.trainer.logger).__name__ == "WandbLogger"
    c.trainer.logger.experiment.finish()
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    tables = sorted(run.glob("files/media/table/completions_*.table.json"))
    assert len(tables) == 2  # one per step (log_completions_every 1)
    table = json.loads(tables[-1].read_text())
    assert table["columns"] == TABLE_COLUMNS
    assert len(table["data"]) == 2  # G = 2 completions of the step's prompt
    assert any(run.glob("run-*.wandb"))  # the metrics' run file, for `wandb sync`


def test_mlflow_file_store_has_metrics_and_a_completions_table(tiny_model_dir, toy_dir, tmp_path):
    pytest.importorskip("mlflow")
    where = (
        "--trainer.logger.init_args.tracking_uri",
        f"sqlite:///{tmp_path}/mlruns/mlflow.db",
        "--trainer.logger.init_args.artifact_location",
        str(tmp_path / "artifacts"),
    )
    c = _fit("mlflow", tiny_model_dir, toy_dir, tmp_path, *where)
    logger = c.trainer.logger
    assert type(logger).__name__ == "MLFlowLogger"
    run = logger.experiment.get_run(logger.run_id)
    assert "reward/total_mean" in run.data.metrics and "train/kl" in run.data.metrics
    history = logger.experiment.get_metric_history(logger.run_id, "reward/total_mean")
    assert [m.step for m in history] == [0, 1]
    files = {f.path for f in logger.experiment.list_artifacts(logger.run_id, "completions")}
    assert files == {"completions/step_000000.json", "completions/step_000001.json"}
    local = logger.experiment.download_artifacts(logger.run_id, "completions/step_000001.json")
    table = json.loads(Path(local).read_text())
    assert table["columns"] == TABLE_COLUMNS and len(table["data"]) == 2
    assert (tmp_path / "artifacts").is_dir()  # the configured artifact location
    # the resolved config: in default_root_dir (the logger has no folder) and the artifacts
    assert (tmp_path / "config.yaml").is_file()
    assert "config.yaml" in {f.path for f in logger.experiment.list_artifacts(logger.run_id)}
