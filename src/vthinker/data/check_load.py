"""What `vthinker data check` reads: a JSONL file, a dataset source, or the ``data:`` block of
a training or evaluation config, each as a `Dataset` (module doc of `vthinker.data.check`).

A config with a ``data:`` block is parsed by the parser of the ``vthinker`` command itself
(`vthinker.cli.cli`, LightningCLI): several files merge as they do for ``vthinker fit``,
a ``config: base.yaml`` key inside a file is followed, and every value is type-checked. Only
the DataModule is instantiated (never the model or the Trainer), and a file that sets only
``data:`` is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vthinker.data.schema import ReadReport, VideoSample, read_jsonl

__all__ = ["STAGES", "Dataset", "datasets_from_config", "jsonl_dataset", "source_dataset"]

STAGES = ("train", "val", "test", "predict")
_DATAMODULE_KEYS = {"train": "fit", "val": "val", "test": "test", "predict": "predict"}
"""Stage name of a ``data:`` block (``train_file``) -> key of the DataModule's dicts."""


@dataclass
class Dataset:
    """Samples to check and how their video paths resolve.

    Attributes:
        name: What is shown in the report (``"train_file data/toy/train.jsonl"``, …).
        samples: The samples read.
        video_root: Folder that relative video paths are resolved against (None: as is).
        bad_records: ``(where, reason)`` of annotation records that were skipped.
        left_out: Well-formed records a source left out on purpose, by reason.
    """

    name: str
    samples: list[VideoSample]
    video_root: Path | None
    bad_records: list[tuple[str, str]] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)


def jsonl_dataset(
    path: str | Path,
    *,
    fmt: str = "auto",
    video_root: str | Path | None = None,
    name: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """A JSONL file read as the DataModule reads it (bad records reported and skipped).

    Relative video paths resolve against ``video_root``, else the file's folder.
    """
    report = ReadReport(str(path))
    samples = read_jsonl(path, fmt=fmt, strict=False, report=report)
    if limit is not None:
        samples = samples[:limit]
    root = Path(video_root) if video_root is not None else Path(path).parent
    return Dataset(
        name=name or str(path),
        samples=samples,
        video_root=root,
        bad_records=[(f"{path}:{ln}", why) for ln, why in report.skipped],
    )


def source_dataset(source: Any, name: str | None = None) -> Dataset:
    """Load a `SampleSource` (its report gives the bad and left-out records)."""
    samples = source.load()
    report = source.report
    return Dataset(
        name=name or f"{type(source).__name__} {source.root}",
        samples=samples,
        video_root=Path(source.root),
        bad_records=list(report.skipped),
        left_out=dict(getattr(report, "left_out", {}) or {}),
    )


def _read_yaml(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config not found: {p}")
    return yaml.safe_load(p.read_text(encoding="utf-8"))


def _source_from_specs(configs: Sequence[str | Path], limit: int | None) -> Any:
    """A `SampleSource` from YAML files each holding a ``{class_path, init_args}`` spec,
    later ones updating earlier ones the way jsonargparse merges a class argument."""
    from jsonargparse import ArgumentParser

    from vthinker.data.sources.base import SampleSource

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--source", type=SampleSource)
    cfg = None
    for c in configs:
        cfg = parser.parse_object({"source": _read_yaml(c)}, cfg)
    if limit is not None:
        cfg = parser.parse_object({"source": {"init_args": {"limit": limit}}}, cfg)
    return parser.instantiate_classes(cfg).source


def _parse_data_config(
    configs: Sequence[str | Path], limit: int | None, parse_data: Callable[[list[str]], Any]
) -> Any:
    """The DataModule of the configs' ``data:`` node as ``parse_data`` parses it."""
    data = parse_data([str(c) for c in configs])
    if data is None:
        return None
    if limit is not None:
        for stage in STAGES:
            source = data.init_args.get(f"{stage}_source")
            if source is not None:
                source.init_args.limit = limit
    return _instantiate_data(data)


def _instantiate_data(data: Any) -> Any:
    """Instantiate the ``data`` node of a parsed config (a DataModule and its sources)."""
    import lightning as L
    from jsonargparse import ArgumentParser, Namespace

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--data", type=L.LightningDataModule)
    return parser.instantiate_classes(parser.parse_object(Namespace(data=data))).data


def datasets_from_config(
    configs: Sequence[str | Path],
    *,
    stages: Sequence[str] | None = None,
    limit: int | None = None,
    parse_data: Callable[[list[str]], Any] | None = None,
) -> list[Dataset]:
    """The datasets a config names (module docstring of `vthinker.data.check`).

    Args:
        configs: YAML files merged in order: either source specs (top-level
            ``class_path``) or configs of the ``vthinker`` command with a ``data:`` block.
        stages: Stages of a ``data:`` block to check (default: every one it sets).
        limit: Check only the first ``limit`` samples of each dataset.
        parse_data: Parses the configs' ``data:`` node as ``vthinker fit --config ...``
            does (`vthinker.cli.parse_data_block`; the command passes it, so this layer
            needs no import of the command line's). Needed for configs with a ``data:`` block.

    Raises:
        ValueError: if the config names no dataset, or a requested stage has none.
        argparse.ArgumentError: if the parser refuses a config.
    """
    first = _read_yaml(configs[0]) if configs else None
    if isinstance(first, dict) and "class_path" in first:
        return [source_dataset(_source_from_specs(configs, limit))]
    if parse_data is None:
        raise ValueError(
            f"{', '.join(map(str, configs))}: a config with a data: block is read by the "
            "vthinker parser: pass parse_data=vthinker.cli.parse_data_block"
        )
    dm = _parse_data_config(configs, limit, parse_data)
    if dm is None:
        raise ValueError(
            f"{', '.join(map(str, configs))}: no top-level class_path (a dataset source) "
            "and no data: block"
        )
    out: list[Dataset] = []
    for stage in stages or STAGES:
        source, file = dm.sources[_DATAMODULE_KEYS[stage]], dm.files[_DATAMODULE_KEYS[stage]]
        if source is not None:
            out.append(source_dataset(source, name=f"{stage}_source {type(source).__name__}"))
        elif file:
            out.append(
                jsonl_dataset(
                    file,
                    fmt=dm.fmt,
                    video_root=dm.video_root,
                    name=f"{stage}_file {file}",
                    limit=limit,
                )
            )
        elif stages:
            raise ValueError(f"the data: block sets neither {stage}_source nor {stage}_file")
    if not out:
        raise ValueError("the data: block names no dataset (no <stage>_source or <stage>_file)")
    return out
