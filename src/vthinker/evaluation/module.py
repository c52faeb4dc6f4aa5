"""Benchmark evaluation as a LightningModule: ``vthinker test --config configs/eval/….yaml``.

`EvalModule` decodes each test sample with the paper's settings (temperature 0.1,
top_p 0.001, at most 1024 new tokens; ``generation.do_sample: false`` for greedy),
parses the output with `vthinker.trace.parse_trace`, scores it for its ``task``
(``qa``, ``grounding`` or ``caption``; see `vthinker.evaluation.scoring`) and appends
one row to ``<run>/predictions.jsonl`` as soon as its batch is decoded (flushed and
fsynced: a crash loses at most the batch in flight). At the end it writes
``summary.json`` and ``summary.md`` computed over every row in the file, and logs the
headline metrics as ``test/<name>``.

The pieces: the task (`vthinker.evaluation.tasks`: scoring, running value, summary,
headline), the run folder (`vthinker.evaluation.run.EvalRun`: naming, settings, resume,
summary files) and the decoder (`vthinker.evaluation.decoding`: plain ``generate``, or
VideoAuto-R1's early exit). The data module describes its inputs
(`VideoQADataModule.describe`, `frame_budget`) for the run's settings and folder name.

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
import logging
import pickle
import re
import time
from pathlib import Path
from typing import Any

import torch

from vthinker.data.collate import resolve_video
from vthinker.data.schema import VideoSample
from vthinker.evaluation.decoding import Decoded, Decoder, Generate
from vthinker.evaluation.run import (
    DescribedInputs,
    EvalRun,
    model_name_from_path,
    weights_fingerprint,
)
from vthinker.evaluation.scoring import group_values, trace_to_json
from vthinker.evaluation.store import PredictionLog, merge_rank_files, read_rows
from vthinker.evaluation.summary import headline, summary_markdown
from vthinker.evaluation.tasks import TASKS, make_task, summarize
from vthinker.models.policy import PolicyConfig
from vthinker.trace import parse_trace
from vthinker.training.base import GenerationSettings, VideoLLMModule

log = logging.getLogger(__name__)

# headline, summary_markdown and model_name_from_path lived here before the split.
__all__ = ["EvalModule", "headline", "model_name_from_path", "summary_markdown"]

_PAD_RUN = re.compile(r"(<\|(?:video|image)_pad\|>)\1*")
_NO_DATA = {
    "test_file": None,
    "frames": None,
    "max_pixels": None,
    "min_pixels": None,
    "prompt": None,
}


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
        decoder: How outputs are decoded (default `Generate`: one ``generate`` call with
            ``generation``; `vthinker.evaluation.decoding.EarlyExit`: VideoAuto-R1's early
            exit).
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
        decoder: Decoder | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        scorer = make_task(
            task,
            group_by=list(group_by) if group_by is not None else ["problem_type", "source"],
            thresholds=tuple(iou_thresholds or (0.3, 0.5, 0.7)),
            grounding_mode=grounding_mode,
            caption_from=caption_from,
        )
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
        model_name = model_name or model_name_from_path(policy.name_or_path, checkpoint)
        run = EvalRun(out_dir, name, benchmark, model_name, task, overwrite, retry_skipped)
        super().__init__(policy=policy, generation=generation, export_hf=False)
        self.scorer = scorer
        self.run = run
        self.task = task
        self.benchmark = benchmark
        self.model_name = model_name
        self.checkpoint = checkpoint
        self.store_prompt = store_prompt
        self.decoder = decoder or Generate()
        self._samples_by_id: dict[str, VideoSample] = {}
        self._running = {"n": 0, "score": 0.0}
        self._summary_written = False
        self._weights_fp: str | None = None

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

    @property
    def needs_videos(self) -> bool:
        """The decoder processes the decoded frames itself (the data module then puts them
        in the batches)."""
        return self.decoder.needs_videos

    # --- run folder ----------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path | None:
        """The run folder, once the run is open."""
        return self.run.dir

    def _datamodule(self) -> Any:
        return self.trainer.datamodule if self._trainer is not None else None

    def frames_label(self) -> int | None:
        """The data module's frame budget (`VideoQADataModule.frame_budget`), if it has one."""
        dm = self._datamodule()
        return dm.frame_budget() if isinstance(dm, DescribedInputs) else None

    def _weights_id(self, local: Path) -> str | None:
        """`weights_fingerprint` of a local model folder, read once per run (the settings are
        built when the run opens and again for its summary)."""
        if not local.is_dir():
            return None
        if self._weights_fp is None:
            self._weights_fp = weights_fingerprint(local)
        return self._weights_fp

    def settings(self) -> dict[str, Any]:
        """What the predictions depend on (checked on resume, recorded in the summary): the
        model, decoding, the inputs as the data module describes them, and scoring."""
        dm = self._datamodule()
        path = self.policy_config.name_or_path
        local = Path(path).expanduser()
        settings = {
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
            # A data module that cannot describe its inputs records none.
            "data": dm.describe("test") if isinstance(dm, DescribedInputs) else _NO_DATA,
            "scoring": {"caption_from": self.scorer.caption_from},
        }
        if (decoder := self.decoder.settings()) is not None:
            settings["decoder"] = decoder
        return settings

    def _barrier(self, name: str) -> None:
        if self._trainer is not None:
            self.trainer.strategy.barrier(name)

    def open_run(self) -> PredictionLog:
        """Open the run folder once (`EvalRun.open`)."""
        return self.run.open(self.frames_label(), self.settings(), self.global_rank, self._barrier)

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
        self._video_root = getattr(dataset, "video_root", None)

    def _generate(self, batch: dict[str, Any]) -> Decoded:
        """The decoder's outputs for a batch."""
        return self.decoder.decode(self, batch)

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
                    "video": sample.video,
                    # the file opened (`vthinker view` shows its frames)
                    "video_path": str(resolve_video(sample, getattr(self, "_video_root", None))),
                    "data_type": sample.data_type,
                    "groups": group_values(sample, self.scorer.group_by),
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
        decoded = self._generate(batch)
        elapsed = time.perf_counter() - start
        for i, sample in enumerate(samples):
            if sample.id not in run_log:
                row = self._scored_row(batch, i, decoded, elapsed / len(samples))
                run_log.append(row)
                if row["status"] == "ok":
                    self._running["n"] += 1
                    self._running["score"] += self.scorer.running_value(row)
        if self._running["n"]:
            self.log(
                self.scorer.progress_key,
                self._running["score"] / self._running["n"],
                prog_bar=True,
                on_step=True,
                on_epoch=False,
                logger=False,
                batch_size=len(samples),
            )

    def _scored_row(
        self, batch: dict[str, Any], i: int, decoded: Decoded, time_s: float
    ) -> dict[str, Any]:
        """The prediction row of sample ``i`` of a decoded batch."""
        sample, text = batch["samples"][i], decoded.texts[i]
        trace = parse_trace(text)
        row = self._base_row(sample, sample.id)
        try:
            scored = self.scorer.score_row(sample, text, trace)
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
                "output_tokens": decoded.lengths[i],
                "truncated": decoded.truncated[i],
                "time_s": round(time_s, 4),
                "batch_size": len(batch["samples"]),
                **(decoded.extra[i] if decoded.extra else {}),
            }
        )
        return row

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
        if stage == "test" and self.run.log is not None and not self._summary_written:
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
        result = {**summarize(rows, self.scorer), **self.decoder.summarize(rows)}
        done = {r["id"] for r in rows}
        expected = self.run.prior_ids | set(self._samples_by_id)
        return self.run.write_summary(result, done, expected, self.frames_label(), self.settings())
