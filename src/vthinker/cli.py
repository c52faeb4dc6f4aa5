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
- ``vthinker early-exit --model M --data FILE --out DIR``: VideoAuto-R1 decoding that stops
  after a confident first answer, with the exit rate and accuracies
  (`vthinker.evaluation.early_exit`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import lightning as L
from lightning.pytorch.cli import LightningCLI

__all__ = ["VThinkerCLI", "main"]


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

    data_main(argv)


def _early_exit(argv: list[str]) -> None:
    from vthinker.evaluation.early_exit import main as early_exit_main

    early_exit_main(argv)


TOOLS: dict[str, Callable[[list[str]], None]] = {
    "curate": _curate,
    "data": _data,
    "early-exit": _early_exit,
    "export": _export,
    "make-tiny": _make_tiny,
    "make-toy-data": _make_toy,
    "report": _report,
}


def cli(args: list[str] | None = None, run: bool = True) -> VThinkerCLI:
    """Build the LightningCLI (``run=False`` only parses and instantiates)."""
    return VThinkerCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


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
