"""A generic JSONL video-QA DataModule.

Reads `VideoSample` JSONL (ours or Video-R1-style records) for each stage, decodes
frames in DataLoader workers and collates with the policy's own processor. The
processor is late-bound: the LightningModule owns it (it is part of the model
checkpoint), and `setup` takes it from ``trainer.lightning_module.processor``
unless `connect` was called.

Bad annotation records are reported (file, line, reason) and skipped, or stop the
run with ``strict: true``. Bad videos are skipped at load time and reported by the
module at the end of each epoch (see `vthinker.training.base`).

Resumable runs: ids in ``exclude_ids``, and for the test/predict splits the ids that
the LightningModule reports as done (a ``completed_ids(stage)`` method, as
`vthinker.evaluation.module.EvalModule` has), are dropped after ``limit`` is applied,
so their videos are never decoded again. A split left empty that way is not an error.
Training resumes mid-epoch: the training loader is a `vthinker.data.resume.ResumableLoader`
(seeded shuffle; its position is saved in each checkpoint and skipped to on resume).

Instead of a JSONL file a stage can read a dataset in its own release format through a
`vthinker.data.sources.SampleSource` (``train_source``, ``val_source``, ``test_source``,
``predict_source``, chosen by ``class_path``; one of file or source per stage). Its report
is kept in `reports` and its bad records are warned about like a file's. Source video
paths are absolute or relative to the source's ``root``, and are resolved against it
(``video_root`` applies to files only; a source has its own ``video_root``).
``strict: true`` also makes the sources strict.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader

from vthinker.data.collate import (
    IMAGE_MAX_PIXELS,
    MAX_PIXELS,
    MIN_PIXELS,
    FrameSampling,
    VideoQACollator,
    VideoQADataset,
    refuse_images_for_media_sampler,
)
from vthinker.data.prompts import PromptTemplate
from vthinker.data.resume import ResumableLoader
from vthinker.data.schema import ReadReport, VideoSample, read_jsonl
from vthinker.data.sources.base import SampleSource, SourceReport

log = logging.getLogger(__name__)

__all__ = ["VideoQADataModule"]


class VideoQADataModule(L.LightningDataModule):
    """Video question answering from JSONL files.

    Args:
        train_file: Training JSONL (fit).
        val_file: Validation JSONL (fit/validate).
        test_file: Test JSONL (test).
        predict_file: JSONL to generate answers for (predict).
        video_root: Folder relative video paths are resolved against; default: the
            folder of each JSONL file.
        fmt: ``auto``, ``vthinker`` or ``video_r1`` record format.
        frames: Frame sampling (the paper: at most 16 frames at 2 fps).
        prompt: Prompt template.
        max_pixels: Pixels per frame upper bound (paper: 128*28*28).
        min_pixels: Pixels per frame (and per image) lower bound.
        max_length: Samples longer than this many tokens are skipped and reported.
        batch_size: Samples per step and device.
        num_workers: DataLoader worker processes (decoding runs there).
        strict: Stop at the first bad annotation record instead of skipping it.
        limit: Use only the first ``limit`` samples of each file (quick runs).
        exclude_ids: Sample ids to leave out of every split (applied after ``limit``).
        frame_cache_dir: Folder of an on-disk cache of decoded frames
            (`vthinker.data.frame_cache.FrameCache`): each video clip is decoded once and
            read back in later epochs and runs; None decodes every time.
        train_source: Training data in a dataset's own format (instead of ``train_file``).
        val_source: Validation data source (instead of ``val_file``).
        test_source: Test data source (instead of ``test_file``).
        predict_source: Source to generate answers for (instead of ``predict_file``).
        image_max_pixels: Pixels upper bound of an image question's image (Video-R1's GRPO
            scripts: 512*28*28); samples with ``data_type: image`` (README, "Image and video
            questions").
    """

    def __init__(
        self,
        train_file: str | None = None,
        val_file: str | None = None,
        test_file: str | None = None,
        predict_file: str | None = None,
        video_root: str | None = None,
        fmt: str = "auto",
        frames: FrameSampling | None = None,
        prompt: PromptTemplate | None = None,
        max_pixels: int = MAX_PIXELS,
        min_pixels: int = MIN_PIXELS,
        max_length: int = 4096,
        batch_size: int = 1,
        num_workers: int = 0,
        strict: bool = False,
        limit: int | None = None,
        exclude_ids: list[str] | None = None,
        frame_cache_dir: str | None = None,
        train_source: SampleSource | None = None,
        val_source: SampleSource | None = None,
        test_source: SampleSource | None = None,
        predict_source: SampleSource | None = None,
        image_max_pixels: int = IMAGE_MAX_PIXELS,
    ) -> None:
        super().__init__()
        self.image_max_pixels = image_max_pixels
        if fmt not in ("auto", "vthinker", "video_r1"):
            raise ValueError(f"fmt must be auto, vthinker or video_r1, got {fmt!r}")
        self.files = {
            "fit": train_file,
            "val": val_file,
            "test": test_file,
            "predict": predict_file,
        }
        self.sources = {
            "fit": train_source,
            "val": val_source,
            "test": test_source,
            "predict": predict_source,
        }
        for key, arg in zip(self.files, ("train", "val", "test", "predict"), strict=True):
            if self.files[key] is not None and self.sources[key] is not None:
                raise ValueError(f"data.{arg}_file and data.{arg}_source are both set: give one")
        self.video_root = video_root
        self.fmt = fmt
        self.frames = frames or FrameSampling()
        self.prompt = prompt or PromptTemplate()
        self.max_pixels = max_pixels
        self.min_pixels = min_pixels
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.strict = strict
        self.limit = limit
        self.exclude_ids = set(exclude_ids or ())
        self.frame_cache_dir = frame_cache_dir
        self.excluded: dict[str, int] = {}
        # Generate-mode batches also carry prompt texts and decoded frames (also when the
        # module's sampler processes videos itself: `_module_needs_videos`).
        self.keep_videos = False
        self.processor: Any = None
        self.datasets: dict[str, VideoQADataset] = {}
        self.reports: dict[str, ReadReport | SourceReport] = {}

    def connect(self, processor: Any) -> None:
        """Give the DataModule the policy's processor (done by `setup` when under a Trainer)."""
        self.processor = processor

    def frame_budget(self) -> int | None:
        """The frames per video: ``frames.num_frames`` if fixed, else ``frames.max_frames``
        (an evaluation run folder is named after it)."""
        f = self.frames
        return f.num_frames if f.num_frames is not None else f.max_frames

    def describe(self, stage: str = "test") -> dict[str, Any]:
        """What the inputs of ``stage`` (``fit``, ``val``, ``test``, ``predict``) depend on:
        the samples file, frame sampling, pixel budget and prompt. An evaluation records it
        and refuses to resume a run whose inputs changed."""
        path = self.files[stage]
        return {
            f"{'train' if stage == 'fit' else stage}_file": str(Path(path).resolve())
            if path
            else None,
            "frames": dataclasses.asdict(self.frames),
            "max_pixels": self.max_pixels,
            "min_pixels": self.min_pixels,
            "image_max_pixels": self.image_max_pixels,
            "prompt": dataclasses.asdict(self.prompt),
        }

    def _load(self, key: str) -> VideoQADataset | None:
        path, source = self.files[key], self.sources[key]
        if path is None and source is None:
            return None
        report: ReadReport | SourceReport
        samples: list[VideoSample]
        if source is not None:
            source.strict = source.strict or self.strict
            samples, report = source.load(), source.report
            label, root = f"{source.name} source at {source.root}", source.root
            if self.video_root is not None:
                rank_zero_warn(
                    f"data.video_root is not used for the {source.name} source: its videos are "
                    "found under its own root (set the source's video_root instead)"
                )
        else:
            report = ReadReport(str(path))
            samples = read_jsonl(path, fmt=self.fmt, strict=self.strict, report=report)
            label = str(path)
            root = self.video_root if self.video_root is not None else Path(path).parent
        if self.limit is not None:
            samples = samples[: self.limit]
        if report.skipped:
            rank_zero_warn(report.summary())
        if not samples:
            raise ValueError(f"{label}: no usable samples ({report.summary()})")
        self.reports[key] = report
        exclude = self._ids_to_exclude(key)
        if exclude:
            kept = [s for s in samples if s.id not in exclude]
            self.excluded[key] = len(samples) - len(kept)
            if self.excluded[key]:
                log.info(
                    "%s: %d sample(s) already done, %d left", label, self.excluded[key], len(kept)
                )
            samples = kept
        return VideoQADataset(
            samples, video_root=root, frames=self.frames, frame_cache=self.frame_cache_dir
        )

    def _ids_to_exclude(self, key: str) -> set[str]:
        """``exclude_ids`` plus, for test/predict, the module's ``completed_ids(stage)``."""
        ids = set(self.exclude_ids)
        module = self.trainer.lightning_module if self.trainer is not None else None
        completed = getattr(module, "completed_ids", None)
        if key in ("test", "predict") and callable(completed):
            ids |= set(completed(key))
        return ids

    def setup(self, stage: str | None = None) -> None:
        if self.processor is None and self.trainer is not None:
            self.processor = getattr(self.trainer.lightning_module, "processor", None)
        if self.processor is None:
            raise RuntimeError(
                "VideoQADataModule has no processor: call connect(processor) or use it with a "
                "LightningModule that has a `processor` attribute"
            )
        wanted = {
            "fit": ["fit", "val"],
            "validate": ["val"],
            "test": ["test"],
            "predict": ["predict"],
            None: ["fit", "val", "test", "predict"],
        }[stage]
        for key in wanted:
            if key not in self.datasets and (ds := self._load(key)) is not None:
                self.datasets[key] = ds
        if stage == "fit" and "fit" not in self.datasets:
            raise ValueError("fit needs data.train_file or data.train_source")

    def collator(self, mode: str) -> VideoQACollator:
        return VideoQACollator(
            self.processor,
            prompt=self.prompt,
            mode=mode,  # type: ignore[arg-type]
            max_pixels=self.max_pixels,
            min_pixels=self.min_pixels,
            max_length=self.max_length,
            keep_videos=mode == "generate" and (self.keep_videos or self._module_needs_videos()),
            image_max_pixels=self.image_max_pixels,
        )

    def _loader(self, key: str, mode: str, shuffle: bool) -> DataLoader:
        if key not in self.datasets:
            raise ValueError(
                f"no dataset for {key!r}: set data.{key}_file or data.{key}_source"
                if key != "fit"
                else "no training data: set data.train_file or data.train_source"
            )
        collate = self.collator(mode)
        if collate.keep_videos:  # checked before the first batch, with the whole split's count
            samples = self.datasets[key].samples
            images = [s.id for s in samples if s.data_type == "image"]
            refuse_images_for_media_sampler(images, f"in the {key} data")
        kwargs: dict[str, Any] = {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "collate_fn": collate,
            "persistent_workers": self.num_workers > 0,
            "pin_memory": torch.cuda.is_available(),
        }
        if key == "fit":
            # Seeded shuffle whose position is saved in checkpoints (data/resume.py).
            return ResumableLoader(
                self.datasets[key], batches_done=self._batches_done, shuffle=shuffle, **kwargs
            )
        return DataLoader(self.datasets[key], shuffle=shuffle, **kwargs)

    def _batches_done(self) -> int:
        """Batches the trainer has trained on since the run began (0 outside a fit)."""
        if self.trainer is None:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.total.processed

    def _module_needs_videos(self) -> bool:
        """Whether the LightningModule samples with an engine that processes the decoded
        frames itself (``needs_videos``, e.g. GRPO with vLLM rollouts)."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        return bool(getattr(module, "needs_videos", False))

    def _mode(self, stage: str) -> str:
        """The collate mode the LightningModule asks for (``collate_modes``), default train."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        return getattr(module, "collate_modes", {}).get(stage, "train")

    def train_dataloader(self) -> DataLoader:
        return self._loader("fit", self._mode("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if "val" not in self.datasets:
            return []
        return self._loader("val", self._mode("val"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", "generate", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", "generate", shuffle=False)
