"""The sibling methods' configs: every 7B config's rewards instantiate (judges included,
no network), and every demo config trains 2 GRPO steps on CPU and logs its reward parts."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser
from tiny_fit import demo_fit_args

from vthinker.cli import cli
from vthinker.data.prompts import DEFAULT_SYSTEM
from vthinker.rewards import EndpointJudge, Reward, RuleJudge
from vthinker.rewards.autor1 import AUTO_R1_SYSTEM
from vthinker.rewards.perception import VIDEOP2R_SYSTEM
from vthinker.rewards.tags import THINK_ANSWER_SYSTEM
from vthinker.rewards.video_r2 import VIDEO_R2_SYSTEM
from vthinker.training.grpo import GRPOModule
from vthinker.training.tgrpo import TemporalGRPOModule

ROOT = Path(__file__).resolve().parents[1]

# method -> (reward names, the logged parts that must appear, system prompt, module class)
METHODS = {
    "rewatch_r1": (
        ["accuracy", "format", "observation", "reasoning"],
        ["reward/observation", "reward/reasoning", "reward/reasoning/judge_requests"],
        None,
        GRPOModule,
    ),
    "videop2r": (
        ["accuracy", "format", "perception"],
        ["reward/perception", "reward/perception/judge_failures"],
        VIDEOP2R_SYSTEM,
        GRPOModule,
    ),
    "videoauto_r1": (
        ["answer1", "answer2", "format", "fallback"],
        ["reward/answer1", "reward/answer2", "reward/fallback"],
        AUTO_R1_SYSTEM,
        GRPOModule,
    ),
    "video_r2": (
        ["accuracy", "format", "gated_temporal_alignment"],
        [
            "reward/gated_temporal_alignment",
            "reward/gated_temporal_alignment/temporal_alignment_mean",
            "reward/gated_temporal_alignment/judge_failures",
        ],
        VIDEO_R2_SYSTEM,
        GRPOModule,
    ),
    "video_r1_tgrpo": (
        ["accuracy", "format"],
        ["reward/temporal", "train/shuffled_accuracy", "train/temporal_applied"],
        THINK_ANSWER_SYSTEM,
        TemporalGRPOModule,
    ),
}


def _rewards_of(path: Path) -> list[Reward]:
    """Instantiate the ``rewards`` list of a config (its layers applied) the way LightningCLI
    would."""
    out = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        cli(["fit", "--config", str(path), "--print_config"])
    config = yaml.safe_load(out.getvalue())
    parser = ArgumentParser()
    parser.add_argument("--rewards", type=list[Reward])
    cfg = parser.parse_object({"rewards": config["model"]["init_args"]["rewards"]})
    return parser.instantiate_classes(cfg).rewards


@pytest.mark.parametrize("method", sorted(METHODS))
def test_7b_config_rewards_instantiate(method):
    names, _, _, _ = METHODS[method]
    rewards = _rewards_of(ROOT / "configs/grpo" / f"{method}.yaml")
    assert [r.name for r in rewards] == names
    judges = [getattr(r, "judge", None) for r in rewards]
    judges = [j for j in judges if j is not None]
    assert all(isinstance(j, EndpointJudge) for j in judges)  # an LLM judge, built lazily
    assert all(j._client is None for j in judges)  # nothing contacted at build time
    demo = _rewards_of(ROOT / "configs/demo" / f"{method}.yaml")
    assert [r.name for r in demo] == names
    assert all(isinstance(getattr(r, "judge", RuleJudge()), RuleJudge) for r in demo)


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
def test_demo_config_trains_and_logs_reward_parts(method, tiny_model_dir, toy_dir, tmp_path):
    names, logged, system, module_cls = METHODS[method]
    out = tmp_path / "run"
    args = demo_fit_args(
        [ROOT / "configs/demo" / f"{method}.yaml"],
        tiny_model_dir,
        out,
        train_file=toy_dir / "train.jsonl",
    )
    c = cli(
        [*args, "--data.init_args.batch_size", "1", "--trainer.logger.init_args.save_dir", str(out)]
    )
    assert type(c.model) is module_cls
    assert c.trainer.global_step == 2
    assert [r.name for r in c.model.rewards] == names
    # The YAML carries the method's prompt (ReWatch-R1 keeps Video-Thinker's default).
    assert c.datamodule.prompt.system == (system or DEFAULT_SYSTEM)
    m = c.trainer.callback_metrics
    for key in ["reward/total_mean", *logged, *(f"reward/{n}" for n in names)]:
        assert key in m, key
    metrics = next(out.rglob("metrics.csv")).read_text().splitlines()[0].split(",")
    assert all(f"reward/{n}" in metrics for n in names)
