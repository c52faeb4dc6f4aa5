"""The ``vthinker`` command.

``vthinker fit|validate|test|predict --config configs/….yaml`` is a LightningCLI:
the model and data are chosen by ``class_path`` in YAML and every argument is
checked before anything runs. Two helper commands prepare offline assets:

- ``vthinker make-tiny [OUT]``: build the tiny random Qwen2.5-VL used by tests and
  the demo (default ``outputs/tiny-qwen2.5-vl``);
- ``vthinker make-toy-data [--out data/toy]``: write the synthetic toy dataset;
- ``vthinker export SOURCE --out DIR``: merge a checkpoint or LoRA adapter into a plain
  Hugging Face model folder.

- ``vthinker curate --config configs/curation/….yaml``: hindsight curation, building
  verified training traces with LLM endpoints (`vthinker.curation.runner`);

and one that reads evaluation results:

- ``vthinker report RUN_DIR... [--out DIR]``: compare evaluation runs in one Markdown
  table (models × benchmarks, with the published numbers as reference rows) and plots;
- ``vthinker view RUN_DIR``: a static HTML page of a run's reasoning (cited frames beside
  their captions, gold and cited windows on a timeline; `vthinker.evaluation.viewer`);
- ``vthinker early-exit --model M --data FILE --out DIR``: an evaluation run with
  VideoAuto-R1's decoding that stops after a confident first answer, with the exit rate
  and accuracies (`early_exit`, `vthinker.evaluation.decoding.EarlyExit`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

__all__ = ["SaveConfig", "VThinkerCLI", "main"]


class SaveConfig(SaveConfigCallback):
    """Lightning's config saving, also for loggers without a folder of their own (MLflow on a
    database): the resolved config then goes to ``trainer.default_root_dir`` and, for
    MLflow, into the run's artifacts."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.already_saved or not self.save_to_log_dir or trainer.log_dir is not None:
            super().setup(trainer, pl_module, stage)
            return
        folder = Path(trainer.default_root_dir)
        if trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / self.config_filename
            self.parser.save(self.config, str(path), skip_none=False, overwrite=True)
            from lightning.pytorch.loggers import MLFlowLogger

            for logger in trainer.loggers:
                if isinstance(logger, MLFlowLogger):
                    logger.experiment.log_artifact(logger.run_id, str(path))
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)


class VThinkerCLI(LightningCLI):
    """LightningCLI in subclass mode for both model and data."""


def _make_tiny(argv: list[str]) -> None:
    from vthinker.models.tiny import main as tiny_main

    tiny_main(argv)


def _make_toy(argv: list[str]) -> None:
    from vthinker.data.toy import main as toy_main

    toy_main(argv)


def _report(argv: list[str]) -> None:
    from vthinker.evaluation.report import main as report_main

    report_main(argv)


def _view(argv: list[str]) -> None:
    from vthinker.command_args import add_function_flags, command_parser, docstring_help
    from vthinker.evaluation.viewer import view

    parser = command_parser("vthinker view", docstring_help(view)[0])
    names = add_function_flags(parser, view, positional=["run"])
    args = parser.parse_args(argv)
    view(**{k: args[k] for k in names})


def _curate(argv: list[str]) -> None:
    from vthinker.curation.runner import main as curate_main

    code = curate_main(argv)
    if code:
        raise SystemExit(code)


def _export(argv: list[str]) -> None:
    from vthinker.models.export import main as export_main

    export_main(argv)


def _data(argv: list[str]) -> None:
    from vthinker.data.check import main as data_main

    data_main(argv, parse_data_block)


def early_exit(
    *,
    model: str,
    data: str,
    out: str,
    threshold: float | None = None,
    criterion: Literal["entropy", "confidence"] | None = None,
    max_first_tokens: int | None = None,
    max_new_tokens: int = 1024,
    video_root: str | None = None,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    min_pixels: int | None = None,
    batch_size: int = 1,
    limit: int | None = None,
    dtype: str = "bfloat16",
    strict: bool = False,
) -> dict:
    """Answer first, think only when unsure (VideoAuto-R1): an evaluation run of ``data``
    with the early-exit decoder, greedy, with VideoAuto-R1's prompt; prints the exit rate
    and the accuracy of early and continued answers. Unset options take the defaults of
    `vthinker.evaluation.decoding.EarlyExit` and `VideoQADataModule`.

    Args:
        model: Policy folder or hub id.
        data: Samples (JSONL).
        out: The run folder (predictions.jsonl, summary.json, summary.md); rerun to resume.
        threshold: Entropy below which (confidence at or above which) the first answer is final.
        criterion: ``entropy`` or ``confidence``.
        max_first_tokens: Token budget up to the first ``</answer>``.
        max_new_tokens: Token budget of both stages.
        video_root: Folder of relative video paths (default: the data file's folder).
        max_frames: Frames per video at most.
        max_pixels: Pixels per frame at most.
        min_pixels: Pixels per frame at least.
        batch_size: Prompts per decoding batch.
        limit: Only the first ``limit`` samples.
        dtype: Weight dtype.
        strict: Stop at a bad record instead of skipping it.
    """
    import json
    from pathlib import Path

    decoder = {"threshold": threshold, "criterion": criterion, "max_first_tokens": max_first_tokens}
    data_args = {
        "test_file": data,
        "video_root": video_root or Path(data).parent,
        "batch_size": batch_size,
        "strict": str(strict).lower(),
        "limit": limit,
        "max_pixels": max_pixels,
        "min_pixels": min_pixels,
        "frames.max_frames": max_frames,
    }
    cli(_early_exit_test_args(model, dtype, out, max_new_tokens, decoder, data_args))
    summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    result = {**summary["early_exit"], "skipped": summary["counts"]["skipped"]}
    print(json.dumps(result))
    return result


def _early_exit_test_args(
    model: str, dtype: str, out: str, max_new_tokens: int, decoder: dict, data: dict
) -> list[str]:
    """`vthinker test` arguments of an early-exit run (unset (None) settings left out)."""
    from vthinker.rewards.autor1 import AUTO_R1_SYSTEM

    return [
        "test",
        "--model=vthinker.evaluation.module.EvalModule",
        f"--model.init_args.policy.name_or_path={model}",
        f"--model.init_args.policy.dtype={dtype}",
        f"--model.init_args.out_dir={out}",
        "--model.init_args.name=",
        "--model.init_args.benchmark=early_exit",
        "--model.init_args.generation.do_sample=false",
        f"--model.init_args.generation.max_new_tokens={max_new_tokens}",
        "--model.init_args.decoder=vthinker.evaluation.decoding.EarlyExit",
        *(
            f"--model.init_args.decoder.init_args.{k}={v}"
            for k, v in decoder.items()
            if v is not None
        ),
        "--data=vthinker.data.datamodule.VideoQADataModule",
        f"--data.init_args.prompt.system={AUTO_R1_SYSTEM}",
        *(f"--data.init_args.{k}={v}" for k, v in data.items() if v is not None),
        "--trainer.logger=false",
        "--trainer.devices=1",
        f"--trainer.default_root_dir={out}",
    ]


def _early_exit(argv: list[str]) -> None:
    from vthinker.command_args import add_function_flags, command_parser, docstring_help

    parser = command_parser("vthinker early-exit", docstring_help(early_exit)[0])
    names = add_function_flags(parser, early_exit)
    args = parser.parse_args(argv)
    early_exit(**{k: args[k] for k in names})


TOOLS: dict[str, Callable[[list[str]], None]] = {
    "curate": _curate,
    "data": _data,
    "early-exit": _early_exit,
    "export": _export,
    "make-tiny": _make_tiny,
    "make-toy-data": _make_toy,
    "report": _report,
    "view": _view,
}


def cli(
    args: list[str] | None = None, run: bool = True, cli_class: type[VThinkerCLI] = VThinkerCLI
) -> VThinkerCLI:
    """Build the LightningCLI (``run=False`` only parses and instantiates).

    ``cli_class`` is a subclass that changes a step, e.g. `vthinker data check`'s, which
    parses a config with this same parser but instantiates only the DataModule.
    """
    return cli_class(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveConfig,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


class _DataOnlyCLI(VThinkerCLI):
    """`cli`'s parser; parses without requiring a model and instantiates nothing."""

    def init_parser(self, **kwargs: Any) -> Any:
        return super().init_parser(**{**kwargs, "exit_on_error": False})

    def parse_arguments(self, parser: Any, args: Any) -> None:
        self.config = parser.parse_args(args, _skip_validation=True)
        parser.validate(self.config, skip_required=True)

    def _set_seed(self) -> None:  # nothing is trained: leave the global seed alone
        pass

    def instantiate_classes(self) -> None:
        pass


def parse_data_block(configs: list[str]) -> Any:
    """The ``data:`` node of configs (merged in order) as ``vthinker fit --config ...``
    parses them, without a model or anything else instantiated; None when they have none.
    `vthinker data check` reads configs with it."""
    args = [a for c in configs for a in ("--config", str(c))]
    return cli(args, run=False, cli_class=_DataOnlyCLI).config.get("data")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in TOOLS:
        TOOLS[args[0]](args[1:])
        return
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
    cli(argv)  # None: LightningCLI reads sys.argv itself


if __name__ == "__main__":
    main()
