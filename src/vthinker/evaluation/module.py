"""Benchmark evaluation as a LightningModule: ``vthinker test --config configs/eval/….yaml``.

`EvalModule` decodes each test sample with the paper's settings (temperature 0.1,
top_p 0.001, at most 1024 new tokens; ``generation.do_sample: false`` for greedy),
parses the output with `vthinker.trace.parse_trace`, scores it for its ``task``
(``qa``, ``grounding`` or ``caption``; see `vthinker.evaluation.scoring`) and appends
one row to ``<run>/predictions.jsonl`` as soon as its batch is decoded (flushed and
fsynced: a crash loses at most the batch in flight). At the end it writes
``summary.json`` and ``summary.md`` computed over every row in the file, and logs the
headline metrics as ``test/<name>``.

The run folder is ``<out_dir>/<name>`` where ``name`` is a template over
``{benchmark}``, ``{model}``, ``{frames}`` and ``{task}`` (default
``{benchmark}/{model}-{frames}f``), so a frame sweep
(``--data.init_args.frames.max_frames 32``) writes one folder per frame count.

Resuming: running the same command again skips the ids already in
``predictions.jsonl`` (`vthinker.data.datamodule.VideoQADataModule` asks
`completed_ids` before it builds the test split, so their videos are not decoded
again) and appends the rest; the settings are checked against ``run.json`` first, so a
rerun with another model, frame budget, prompt or decoding setting stops with an error
instead of mixing results (``overwrite: true`` starts the folder afresh). A sample
whose video is missing or broken, or whose prompt is longer than ``max_length``, is
written as a ``skipped`` row: counted and listed in the summary, never scored as wrong
(``retry_skipped: true`` tries those ids again).

Where this departs from the paper: nothing in the scoring. The ``grounding_of_reasoning``
block of a QA summary (IoU of the ``<time>`` spans the model cites while answering against
the gold evidence windows) is an extra diagnostic the paper does not report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from vthinker.data.schema import VideoSample
from vthinker.evaluation.report import CAPTION_KEYS, GROUNDING_KEYS, markdown_table
from vthinker.evaluation.scoring import (
    CAPTION_FROM,
    TASKS,
    group_values,
    score_output,
    summarize,
    trace_to_json,
)
from vthinker.evaluation.store import (
    PREDICTIONS,
    RUN_SETTINGS,
    SUMMARY_JSON,
    SUMMARY_MD,
    PredictionLog,
    check_settings,
    merge_rank_files,
    read_rows,
)
from vthinker.models.policy import PolicyConfig
from vthinker.trace import parse_trace
from vthinker.training.base import GenerationSettings, VideoLLMModule

log = logging.getLogger(__name__)

__all__ = ["EvalModule", "headline", "model_name_from_path", "summary_markdown"]

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
_PAD_RUN = re.compile(r"(<\|(?:video|image)_pad\|>)\1*")
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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+=-]+", "_", name).strip("_") or "x"


class EvalModule(VideoLLMModule):
    """Decode, parse, score and record a benchmark's test split (``vthinker test``).

    Args:
        policy: The model to evaluate (HF folder or hub id; a LoRA export folder works).
        generation: Decoding settings (default: the paper's, see `GenerationSettings`).
        task: ``qa`` (accuracy), ``grounding`` (mIoU, R@t of the predicted spans) or
            ``caption`` (BLEU-1..4, METEOR, ROUGE-L, CIDEr).
        benchmark: Benchmark key, the report's column (``video_holmes``, ``star``, …).
        out_dir: Parent folder of run folders.
        name: Run folder template under ``out_dir``: ``{benchmark}``, ``{model}``,
            ``{frames}`` (the frame budget), ``{task}``.
        model_name: Model name for the folder and the report (default: from the path).
        checkpoint: A Lightning checkpoint (``.ckpt`` of an SFT/GRPO run) whose weights
            are loaded over ``policy``; with adapter-only (LoRA) checkpoints give the
            same ``policy.lora`` as in training.
        group_by: Sample fields or ``meta`` keys to break accuracy down by.
        caption_from: Caption task: ``answer`` (describe prompts), ``segments`` (each
            evidence caption vs. the caption of the best-overlapping ``<time>``
            segment) or ``auto`` (``segments`` for questions with options).
        iou_thresholds: IoU thresholds of the grounding recalls.
        grounding_mode: ``max`` (paper: best IoU over the predicted spans per gold span)
            or ``top1`` (the first predicted span).
        overwrite: Delete the run folder's earlier results instead of resuming.
        retry_skipped: On resume, try samples that were skipped before again.
        store_prompt: Write the prompt text (video tokens collapsed) into each row.
    """

    def __init__(
        self,
        policy: PolicyConfig,
        generation: GenerationSettings | None = None,
        task: str = "qa",
        benchmark: str = "custom",
        out_dir: str = "outputs/eval",
        name: str = "{benchmark}/{model}-{frames}f",
        model_name: str | None = None,
        checkpoint: str | None = None,
        group_by: list[str] | None = None,
        caption_from: str = "auto",
        iou_thresholds: list[float] | None = None,
        grounding_mode: str = "max",
        overwrite: bool = False,
        retry_skipped: bool = False,
        store_prompt: bool = True,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        if caption_from not in CAPTION_FROM:
            raise ValueError(f"caption_from must be one of {CAPTION_FROM}, got {caption_from!r}")
        if grounding_mode not in ("max", "top1"):
            raise ValueError(f"grounding_mode must be 'max' or 'top1', got {grounding_mode!r}")
        try:
            name.format(benchmark="b", model="m", frames=16, task="t")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"name template {name!r} is invalid ({err}); allowed placeholders: "
                "{benchmark}, {model}, {frames}, {task}"
            ) from err
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
        super().__init__(policy=policy, generation=generation, export_hf=False)
        self.task = task
        self.benchmark = benchmark
        self.out_dir = out_dir
        self.name_template = name
        self.model_name = model_name or model_name_from_path(policy.name_or_path, checkpoint)
        self.checkpoint = checkpoint
        self.group_by = list(group_by) if group_by is not None else ["problem_type", "source"]
        self.caption_from = caption_from
        self.iou_thresholds = tuple(iou_thresholds or (0.3, 0.5, 0.7))
        self.grounding_mode = grounding_mode
        self.overwrite = overwrite
        self.retry_skipped = retry_skipped
        self.store_prompt = store_prompt
        self.run_dir: Path | None = None
        self._log: PredictionLog | None = None
        self._prior_ids: set[str] = set()
        self._samples_by_id: dict[str, VideoSample] = {}
        self._running = {"n": 0, "score": 0.0}
        self._summary_written = False

    # --- model -------------------------------------------------------------------------------

    def configure_model(self) -> None:
        if self.model is not None:
            return
        super().configure_model()
        if self.checkpoint is not None:
            self._load_checkpoint(self.checkpoint)

    def _load_checkpoint(self, path: str) -> None:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # hyperparameters pickled as objects outside LightningCLI
            log.info("%s: not loadable with weights_only=True, loading it in full", path)
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
        if not state:
            raise ValueError(f"{path}: not a Lightning checkpoint (no state_dict)")
        result = self.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ValueError(
                f"{path}: {len(result.unexpected_keys)} weight(s) do not fit the policy "
                f"(e.g. {result.unexpected_keys[:3]}); is `policy` (lora, base model) the one "
                "the checkpoint was trained with?"
            )
        if self.policy_config.lora is None and result.missing_keys:
            raise ValueError(
                f"{path}: {len(result.missing_keys)} weight(s) of the policy are not in the "
                f"checkpoint (e.g. {result.missing_keys[:3]}); an adapter-only checkpoint "
                "needs the `policy.lora` settings it was trained with"
            )
        log.info("loaded %d tensors from %s", len(state), path)

    # --- run folder ----------------------------------------------------------------------------

    def _datamodule(self) -> Any:
        return self.trainer.datamodule if self._trainer is not None else None

    def frames_label(self) -> int | None:
        """The frame budget: ``frames.num_frames`` if fixed, else ``frames.max_frames``."""
        frames = getattr(self._datamodule(), "frames", None)
        if frames is None:
            return None
        return frames.num_frames if frames.num_frames is not None else frames.max_frames

    def resolve_run_dir(self) -> Path:
        """``<out_dir>/<name>`` with the template filled in."""
        frames = self.frames_label()
        name = self.name_template.format(
            benchmark=_safe(self.benchmark),
            model=_safe(self.model_name),
            frames=frames if frames is not None else "auto",
            task=self.task,
        )
        return Path(self.out_dir) / name

    def _weights_id(self, local: Path) -> str | None:
        """`weights_fingerprint` of a local model folder, read once per run (the settings are
        built when the run opens and again for its summary)."""
        if not local.is_dir():
            return None
        if getattr(self, "_weights_fp", None) is None:
            self._weights_fp = weights_fingerprint(local)
        return self._weights_fp

    def settings(self) -> dict[str, Any]:
        """What the predictions depend on (checked on resume, recorded in the summary)."""
        dm = self._datamodule()
        path = self.policy_config.name_or_path
        local = Path(path).expanduser()
        frames = getattr(dm, "frames", None)
        prompt = getattr(dm, "prompt", None)
        test_file = getattr(dm, "files", {}).get("test") if dm is not None else None
        return {
            "task": self.task,
            "benchmark": self.benchmark,
            "model": {
                "name": self.model_name,
                "path": str(local.resolve()) if local.exists() else path,
                "weights": self._weights_id(local),
                "checkpoint": str(Path(self.checkpoint).resolve()) if self.checkpoint else None,
                "dtype": self.policy_config.dtype,
                "quantization": self.policy_config.quantization,
            },
            "decoding": dataclasses.asdict(self.generation),
            "data": {
                "test_file": str(Path(test_file).resolve()) if test_file else None,
                "frames": dataclasses.asdict(frames) if frames is not None else None,
                "max_pixels": getattr(dm, "max_pixels", None),
                "min_pixels": getattr(dm, "min_pixels", None),
                "prompt": dataclasses.asdict(prompt) if dataclasses.is_dataclass(prompt) else None,
            },
            "scoring": {"caption_from": self.caption_from},
        }

    def _barrier(self, name: str) -> None:
        if self._trainer is not None:
            self.trainer.strategy.barrier(name)

    def open_run(self) -> PredictionLog:
        """Prepare the run folder once: clear it (``overwrite``), check the settings, merge
        rank files a killed multi-process run left and read the rows already done.

        Every process checks the settings before any file changes, so a mismatch stops
        all of them alike; rank 0 then changes the folder while the others wait.
        """
        if self._log is not None:
            return self._log
        run_dir = self.resolve_run_dir()
        settings = self.settings()
        if not self.overwrite:
            check_settings(run_dir, settings, write=False)
        self._barrier("vthinker-eval-check")
        if self.global_rank == 0:
            if self.overwrite and run_dir.is_dir():
                for f in [*run_dir.glob("predictions*.jsonl"), *(run_dir / n for n in _OUTPUTS)]:
                    f.unlink(missing_ok=True)
            check_settings(run_dir, settings)
            merge_rank_files(run_dir)
            PredictionLog(run_dir, rank=0, drop_skipped=self.retry_skipped)
        self._barrier("vthinker-eval-open")
        self.run_dir = run_dir
        self._log = PredictionLog(run_dir, rank=self.global_rank)
        self._prior_ids = self._log.ids
        if self._prior_ids and self.global_rank == 0:
            print(f"eval: resuming {run_dir}: {len(self._prior_ids)} sample(s) already done")
        return self._log

    def completed_ids(self, stage: str) -> set[str]:
        """Ids already in the run's predictions (the DataModule leaves them out)."""
        if stage != "test":
            return set()
        return self.open_run().ids

    def setup(self, stage: str) -> None:
        if stage == "test":
            self.open_run()

    # --- decoding and scoring ------------------------------------------------------------------

    def on_test_start(self) -> None:
        self._running = {"n": 0, "score": 0.0}
        self._summary_written = False
        dataset = getattr(self.trainer.test_dataloaders, "dataset", None)
        samples = getattr(dataset, "samples", [])
        self._samples_by_id = {s.id: s for s in samples}

    @torch.no_grad()
    def _generate(self, batch: dict[str, Any]) -> tuple[list[str], list[int], list[bool]]:
        """Completions, their token counts and whether each hit ``max_new_tokens``."""
        tok = self.processor.tokenizer
        completions = self.generate_completions(batch)  # (B, T_new)
        eos = self.policy.generation_config.eos_token_id
        stops = set(eos if isinstance(eos, list) else [eos]) | {tok.pad_token_id}
        stops.discard(None)
        lengths, truncated = [], []
        for row in completions.tolist():
            end = next((i for i, t in enumerate(row) if t in stops), None)
            lengths.append(len(row) if end is None else end)
            truncated.append(end is None and len(row) >= self.generation.max_new_tokens)
        texts = tok.batch_decode(completions, skip_special_tokens=True)
        return texts, lengths, truncated

    def _prompt_text(self, batch: dict[str, Any], i: int) -> str:
        ids = batch["input_ids"][i][batch["attention_mask"][i].bool()]
        text = self.processor.tokenizer.decode(ids, skip_special_tokens=False)
        # Thousands of vision placeholders say nothing: write "<|video_pad|>×N" instead.
        return _PAD_RUN.sub(lambda m: f"{m.group(1)}×{len(m.group(0)) // len(m.group(1))}", text)

    def _base_row(self, sample: VideoSample | None, sample_id: str) -> dict[str, Any]:
        row: dict[str, Any] = {"id": sample_id, "task": self.task}
        if sample is not None:
            row.update(
                {
                    "problem_type": sample.problem_type,
                    "source": sample.source,
                    "groups": group_values(sample, self.group_by),
                    "question": sample.question,
                    "options": sample.lettered_options,
                    "gold": sample.answer,
                }
            )
        return row

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        run_log = self.open_run()
        self.note_skipped(batch, "test")
        for s in batch.get("skipped", []):
            if s.sample_id not in run_log:
                row = self._base_row(self._samples_by_id.get(s.sample_id), s.sample_id)
                run_log.append({**row, "status": "skipped", "reason": s.reason})
        samples: list[VideoSample] = batch["samples"]
        if not samples or all(s.id in run_log for s in samples):
            return
        start = time.perf_counter()
        texts, lengths, truncated = self._generate(batch)
        elapsed = time.perf_counter() - start
        for i, (sample, text) in enumerate(zip(samples, texts, strict=True)):
            if sample.id in run_log:
                continue
            trace = parse_trace(text)
            row = self._base_row(sample, sample.id)
            try:
                scored = score_output(self.task, sample, text, trace, self.caption_from)
                status: dict[str, Any] = {"status": "ok"}
            except ValueError as err:  # an unreadable gold answer: a data error, not scored
                log.warning("sample %s: not scored: %s", sample.id, err)
                scored, status = {}, {"status": "skipped", "reason": f"gold: {err}"}
            row.update(
                {
                    **status,
                    "prompt": self._prompt_text(batch, i) if self.store_prompt else None,
                    "output": text,
                    "trace": trace_to_json(trace),
                    **scored,
                    "frames": len(batch["timestamps"][i]),
                    "prompt_tokens": int(batch["attention_mask"][i].sum()),
                    "output_tokens": lengths[i],
                    "truncated": truncated[i],
                    "time_s": round(elapsed / len(samples), 4),
                    "batch_size": len(samples),
                }
            )
            run_log.append(row)
            if row["status"] == "ok":
                self._update_running(row)
        if self._running["n"]:
            key = {"qa": "acc", "grounding": "miou", "caption": "format"}[self.task]
            self.log(
                key,
                self._running["score"] / self._running["n"],
                prog_bar=True,
                on_step=True,
                on_epoch=False,
                logger=False,
                batch_size=len(samples),
            )

    def _update_running(self, row: dict[str, Any]) -> None:
        self._running["n"] += 1
        if self.task == "qa":
            self._running["score"] += float(bool(row.get("correct")))
        elif self.task == "grounding":
            ious = row.get("iou") or [0.0]
            self._running["score"] += sum(ious) / len(ious)
        else:
            self._running["score"] += float(row["trace"]["well_formed"])

    # --- summary -------------------------------------------------------------------------------

    def on_test_epoch_end(self) -> None:
        self._report_skipped("test")
        summary = self.write_summary()
        if summary is None:
            return
        for key, value in summary["metrics"].items():
            self.log(f"test/{key}", value, rank_zero_only=True)
        for key in ("scored", "skipped"):
            self.log(f"test/{key}", float(summary["counts"][key]), rank_zero_only=True)

    def teardown(self, stage: str) -> None:
        # Nothing was left to decode (the test loop did not run): still write the summary.
        if stage == "test" and self._log is not None and not self._summary_written:
            self.write_summary()

    def write_summary(self) -> dict[str, Any] | None:
        """Merge rank files, score every row of the run and write summary.json/.md.

        Returns:
            The summary on rank 0, None on other ranks.
        """
        self._barrier("vthinker-eval-summary")
        self._summary_written = True
        if self.global_rank != 0 or self.run_dir is None:
            return None
        merge_rank_files(self.run_dir)
        rows = read_rows(self.run_dir)
        result = summarize(
            rows,
            self.task,
            group_by=self.group_by,
            thresholds=self.iou_thresholds,
            grounding_mode=self.grounding_mode,
        )
        done = {r["id"] for r in rows}
        expected = self._prior_ids | set(self._samples_by_id)
        missing = sorted(expected - done)
        summary = {
            "benchmark": self.benchmark,
            "task": self.task,
            "model": self.model_name,
            "frames": self.frames_label(),
            **result,
            "complete": not missing,
            "missing": missing,
            "settings": self.settings(),
            "run_dir": str(self.run_dir),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (self.run_dir / SUMMARY_JSON).write_text(
            json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (self.run_dir / SUMMARY_MD).write_text(summary_markdown(summary), encoding="utf-8")
        print(f"eval: {headline(summary)}; {self.run_dir / SUMMARY_MD}")
        return summary


def headline(summary: dict[str, Any]) -> str:
    """One line: the main metric and the counts."""
    m, c = summary["metrics"], summary["counts"]
    if summary["task"] == "qa":
        main = f"accuracy {100 * m['accuracy']:.2f}%" if "accuracy" in m else "accuracy –"
    elif summary["task"] == "grounding":
        main = f"mIoU {100 * m['miou']:.2f}" if "miou" in m else "mIoU –"
    else:
        main = ", ".join(f"{CAPTION_KEYS[k]} {100 * m[k]:.2f}" for k in CAPTION_KEYS if k in m)
    return f"{summary['benchmark']} / {summary['model']}: {main} ({c['scored']} scored, {c['skipped']} skipped)"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: metrics, counts, groups, skipped samples and settings."""
    m, c = summary["metrics"], summary["counts"]
    frames = summary.get("frames")
    parts = [
        f"# {summary['benchmark']} · {summary['model']} · {frames} frames · {summary['task']}",
        "",
    ]
    if not summary.get("complete", True):
        parts += [f"**Incomplete**: {len(summary['missing'])} sample(s) not done yet.", ""]
    names = {"accuracy": "accuracy", "format_rate": "well-formed traces"}
    names |= {k: v for k, v in GROUNDING_KEYS.items()} | {k: v for k, v in CAPTION_KEYS.items()}
    parts += [
        "## Metrics (%)",
        "",
        markdown_table(["metric", "value"], [[names.get(k, k), _pct(v)] for k, v in m.items()]),
        "",
    ]
    if summary.get("grounding_of_reasoning"):
        g = summary["grounding_of_reasoning"]
        parts += [
            "Grounding of the `<time>` spans cited in the reasoning vs. the gold evidence (%):",
            "",
            markdown_table(
                list(GROUNDING_KEYS.values()), [[_pct(g.get(k)) for k in GROUNDING_KEYS]]
            ),
            "",
        ]
    parts += [
        "## Counts",
        "",
        markdown_table(["count", "samples"], [[k, str(v)] for k, v in c.items()]),
        "",
    ]
    for field, values in summary.get("groups", {}).items():
        rows = [[v, str(g["n"]), _pct(g["accuracy"])] for v, g in values.items()]
        parts += [
            f"## Accuracy by {field}",
            "",
            markdown_table([field, "n", "accuracy (%)"], rows),
            "",
        ]
    if summary.get("skipped"):
        parts += ["## Skipped (not scored)", ""]
        parts += [f"- `{s['id']}`: {s['reason']}" for s in summary["skipped"]]
        parts.append("")
    t, f = summary.get("timing", {}), summary.get("frames_used", {})
    s = summary.get("settings", {})
    parts += [
        "## Settings",
        "",
        f"- model: `{s.get('model', {}).get('path')}`"
        + (f" + `{s['model']['checkpoint']}`" if s.get("model", {}).get("checkpoint") else ""),
        f"- decoding: `{json.dumps(s.get('decoding'))}`",
        f"- frames: `{json.dumps((s.get('data') or {}).get('frames'))}`; used per sample: "
        f"mean {f.get('mean') or 0:.1f}, min {f.get('min')}, max {f.get('max')}",
        f"- data: `{(s.get('data') or {}).get('test_file')}`",
        f"- decode time: {t.get('decode_s_total', 0):.1f} s in all, "
        f"{t.get('decode_s_per_sample') or 0:.2f} s per sample; "
        f"{t.get('output_tokens_mean') or 0:.0f} output tokens per sample",
        f"- predictions: `{PREDICTIONS}` (one JSON line per sample); updated {summary.get('updated')}",
        "",
    ]
    return "\n".join(parts)
