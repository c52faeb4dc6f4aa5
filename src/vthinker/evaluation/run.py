"""The run folder of an evaluation as one object: its name, settings, resume and summary.

The folder is ``<out_dir>/<name>`` where ``name`` is a template over ``{benchmark}``,
``{model}``, ``{frames}`` and ``{task}`` (default ``{benchmark}/{model}-{frames}f``), so a
frame sweep writes one folder per frame count. `EvalRun.open` prepares it once per run:
clears it (``overwrite``), checks the settings against ``run.json`` (a rerun with another
model, frame budget, prompt or decoding setting stops with an error instead of mixing
results), merges rank files a killed multi-process run left and reads the rows already
done (`vthinker.evaluation.store`). `EvalRun.write_summary` writes ``summary.json`` and
``summary.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vthinker.evaluation.store import (
    RUN_SETTINGS,
    SUMMARY_JSON,
    SUMMARY_MD,
    PredictionLog,
    check_settings,
    merge_rank_files,
)
from vthinker.evaluation.summary import headline, summary_markdown

__all__ = ["DescribedInputs", "EvalRun", "model_name_from_path", "weights_fingerprint"]

_GENERIC_PARTS = {
    "hf",
    "merged",
    "logs",
    "checkpoints",
    "lightning_logs",
    "export",
    "final",
    "outputs",
    "",
}
_STAGES = ("sft", "grpo")
_VERSION = re.compile(r"^version_\d+$")
_OUTPUTS = (RUN_SETTINGS, SUMMARY_JSON, SUMMARY_MD)


def model_name_from_path(path: str, checkpoint: str | None = None) -> str:
    """A short model name for run folders and report rows.

    The last path component that is not a generic folder (``hf``, ``merged``, ``logs``,
    ``checkpoints``, ``version_N``, ``outputs``), prefixed with the training stage when an
    earlier folder names one (``sft``, ``grpo``), so the SFT and GRPO exports of one recipe
    get different names:

    - ``Qwen/Qwen2.5-VL-7B-Instruct`` -> ``Qwen2.5-VL-7B-Instruct``
    - ``outputs/demo/sft/hf`` -> ``sft``
    - ``outputs/grpo/video_thinker_7b/merged`` -> ``grpo-video_thinker_7b``
    - with a checkpoint, its run and file stem:
      ``outputs/grpo/video_thinker_7b/logs/version_0/checkpoints/step500.ckpt`` ->
      ``grpo-video_thinker_7b-step500``
    """
    if checkpoint:
        ckpt = Path(checkpoint)
        return f"{model_name_from_path(str(ckpt.parent))}-{ckpt.stem}"
    parts = [
        p
        for p in Path(path).parts
        if p not in _GENERIC_PARTS and not _VERSION.match(p) and p not in ("/", ".", "..")
    ]
    if not parts:
        return "model"
    name = parts[-1]
    stages = [p for p in parts[:-1] if p in _STAGES]
    if stages and stages[-1] not in name:
        name = f"{stages[-1]}-{name}"
    return name


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_WHOLE_FILE = 256 << 20  # hash smaller weight files whole
_SAMPLES, _SAMPLE = 64, 64 << 10  # larger ones: 64 evenly spaced 64 KiB pieces


def weights_fingerprint(folder: Path) -> str:
    """Identity of the weights in a model folder, from their content: each weight file's
    name and size and a hash of its bytes (whole up to 256 MiB; beyond, 64 evenly spaced
    64 KiB pieces, so a 15 GB checkpoint is fingerprinted in milliseconds). A model retrained
    into the same folder gets another fingerprint, so resuming an evaluation never mixes two
    models' predictions; a copy of the same weights elsewhere (another node, scratch) keeps
    it."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if not (f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES)):
            continue
        size = f.stat().st_size
        h.update(f"{f.name}:{size}\n".encode())
        with f.open("rb") as fh:
            if size <= _WHOLE_FILE:
                h.update(fh.read())
                continue
            for i in range(_SAMPLES):
                fh.seek((size - _SAMPLE) * i // (_SAMPLES - 1))
                h.update(fh.read(_SAMPLE))
    return h.hexdigest()[:16]


@runtime_checkable
class DescribedInputs(Protocol):
    """A data module that says what its inputs depend on (`VideoQADataModule` does): the
    run folder is named after its frame budget and its description goes into the run's
    settings. Another data module's runs record no input settings."""

    def frame_budget(self) -> int | None: ...

    def describe(self, stage: str = "test") -> dict[str, Any]: ...


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+=-]+", "_", name).strip("_") or "x"


class EvalRun:
    """One evaluation's folder (module docstring).

    Args:
        out_dir: Parent folder of run folders.
        name: Folder template under ``out_dir`` (``{benchmark}``, ``{model}``, ``{frames}``,
            ``{task}``).
        benchmark: Benchmark key.
        model: Model name (`model_name_from_path`).
        task: Task name.
        overwrite: Delete the folder's earlier results instead of resuming.
        retry_skipped: On resume, try samples that were skipped before again.
    """

    def __init__(
        self,
        out_dir: str,
        name: str,
        benchmark: str,
        model: str,
        task: str,
        overwrite: bool = False,
        retry_skipped: bool = False,
    ) -> None:
        try:
            name.format(benchmark="b", model="m", frames=16, task="t")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"name template {name!r} is invalid ({err}); allowed placeholders: "
                "{benchmark}, {model}, {frames}, {task}"
            ) from err
        self.out_dir = out_dir
        self.name = name
        self.benchmark = benchmark
        self.model = model
        self.task = task
        self.overwrite = overwrite
        self.retry_skipped = retry_skipped
        self.dir: Path | None = None
        self.log: PredictionLog | None = None
        self.prior_ids: set[str] = set()

    def folder(self, frames: int | None) -> Path:
        """``<out_dir>/<name>`` with the template filled in for this frame budget."""
        name = self.name.format(
            benchmark=_safe(self.benchmark),
            model=_safe(self.model),
            frames=frames if frames is not None else "auto",
            task=self.task,
        )
        return Path(self.out_dir) / name

    def open(
        self,
        frames: int | None,
        settings: dict[str, Any],
        rank: int = 0,
        barrier: Callable[[str], None] = lambda name: None,
    ) -> PredictionLog:
        """Prepare the folder once and return this process's prediction log.

        Every process checks the settings before any file changes, so a mismatch stops
        all of them alike; rank 0 then changes the folder while the others wait.
        """
        if self.log is not None:
            return self.log
        run_dir = self.folder(frames)
        if not self.overwrite:
            check_settings(run_dir, settings, write=False)
        barrier("vthinker-eval-check")
        if rank == 0:
            if self.overwrite and run_dir.is_dir():
                for f in [*run_dir.glob("predictions*.jsonl"), *(run_dir / n for n in _OUTPUTS)]:
                    f.unlink(missing_ok=True)
            check_settings(run_dir, settings)
            merge_rank_files(run_dir)
            PredictionLog(run_dir, rank=0, drop_skipped=self.retry_skipped)
        barrier("vthinker-eval-open")
        self.dir = run_dir
        self.log = PredictionLog(run_dir, rank=rank)
        self.prior_ids = self.log.ids
        if self.prior_ids and rank == 0:
            print(f"eval: resuming {run_dir}: {len(self.prior_ids)} sample(s) already done")
        return self.log

    def write_summary(
        self,
        result: dict[str, Any],
        done: set[str],
        expected: set[str],
        frames: int | None,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        """Write ``summary.json`` and ``summary.md`` and return the summary.

        Args:
            result: The scored rows (`vthinker.evaluation.tasks.summarize`).
            done: Ids with a row.
            expected: Ids this run should have (done before and in this run's split).
            frames: The frame budget.
            settings: The run's settings.
        """
        assert self.dir is not None, "open the run first"
        missing = sorted(expected - done)
        summary = {
            "benchmark": self.benchmark,
            "task": self.task,
            "model": self.model,
            "frames": frames,
            **result,
            "complete": not missing,
            "missing": missing,
            "settings": settings,
            "run_dir": str(self.dir),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (self.dir / SUMMARY_JSON).write_text(
            json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (self.dir / SUMMARY_MD).write_text(summary_markdown(summary), encoding="utf-8")
        print(f"eval: {headline(summary)}; {self.dir / SUMMARY_MD}")
        return summary
