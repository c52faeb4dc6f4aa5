"""Every shipped YAML parses with the CLI; the demo config also instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest

from vthinker.cli import cli

ROOT = Path(__file__).resolve().parents[1]
# Curation configs are not Trainer configs: tests/test_curation_configs.py parses and
# instantiates them with `vthinker curate`'s own parser.
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if "curation" not in p.parts)


def test_configs_exist():
    names = {str(p.relative_to(ROOT / "configs")) for p in CONFIGS}
    assert {
        "demo/sft.yaml",
        "sft/video_thinker_7b.yaml",
        "sft/video_thinker_7b_qlora.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_config_parses(path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["fit", "--config", str(path), "--print_config"])
    assert exc.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: vthinker." in printed


def test_unknown_key_is_rejected(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "configs/demo/sft.yaml").read_text()
    bad.write_text(text.replace("dtype: float32", "dtype: float32\n      no_such_option: 1"))
    with pytest.raises(SystemExit) as exc:
        cli(["fit", "--config", str(bad), "--print_config"])
    assert exc.value.code != 0
    assert "no_such_option" in capsys.readouterr().err


def test_demo_config_instantiates(tiny_model_dir, toy_dir):
    from vthinker.data.datamodule import VideoQADataModule
    from vthinker.training.sft import SFTModule

    c = cli(
        [
            "--config",
            str(ROOT / "configs/demo/sft.yaml"),
            "--model.init_args.policy.name_or_path",
            str(tiny_model_dir),
            "--data.init_args.train_file",
            str(toy_dir / "train.jsonl"),
        ],
        run=False,
    )
    assert isinstance(c.model, SFTModule)
    assert isinstance(c.datamodule, VideoQADataModule)
    assert c.model.policy_config.name_or_path == str(tiny_model_dir)
    assert c.datamodule.frames.max_frames == 8
    assert c.trainer.max_epochs == 6
