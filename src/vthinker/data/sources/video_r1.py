"""Video-R1-style curated data (Video-Thinker-10K and its peers) as a `SampleSource`.

The peer record schema (docs/method.md, Record schema; Video-R1's ``Video-R1-COT-165k.json``
and ``Video-R1-260k.json`` on https://huggingface.co/datasets/Video-R1/Video-R1-data)::

    {"problem_id": 2, "problem": "What appears on the screen ...?", "data_type": "video",
     "problem_type": "multiple choice", "options": ["A. ...", "B. ...", ...],
     "process": "<think>...</think>", "solution": "<answer>A</answer>",
     "path": "./LLaVA-Video-178K/liwei_youtube_videos/videos/youtube_video_2024/ytb_7nRmsEw7nsE.mp4",
     "data_source": "LLaVA-Video-178K/30_60_s_youtube_v0_1"}

Video-R1 ships these as one JSON list per file; JSONL (one record per line) is read too.
``path`` is relative to the dataset folder (``root``; the videos may live elsewhere: set
``video_root``). For Video-Thinker-10K ``process`` holds the tagged trace
(``<time>…</time> <caption>…</caption> <think>…</think>``); it becomes the SFT target.
Records are converted by `VideoSample.from_video_r1`; the id is ``problem_id`` (else
``<file stem>-<record number>``); unknown keys are kept in ``meta``. Video-R1-260k mixes
image and video questions: both are read by default (``data_type: image`` samples are shown
to the model as one image, README "Image and video questions"); records whose ``data_type`` is
not in ``data_types`` are left out and counted in the report, not treated as errors. The
in-domain split (if asked for) is by the record's ``path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from vthinker.data.schema import DATA_TYPES, SampleError, VideoSample
from vthinker.data.sources.base import SampleSource
from vthinker.data.sources.files import Malformed, iter_jsonl_objects, read_json

__all__ = ["VideoR1Source"]

_KNOWN = {
    "problem_id",
    "problem",
    "problem_type",
    "options",
    "data_type",
    "path",
    "data_source",
    "process",
    "solution",
}


class VideoR1Source(SampleSource):
    """Video-R1-style records from JSON lists or JSONL files.

    Args:
        root: Dataset folder; record paths are relative to it.
        files: Annotation files (``.json`` lists or ``.jsonl``), relative to ``root``.
        name: Source name (reports, ``sample.source`` fallback, the in-domain split hash).
        data_types: ``data_type`` values to keep, ``video`` and ``image`` by default (records
            without one count as video).
        video_root: Folder the record paths are relative to, when not ``root``.
        split: In-domain part to keep (``all``, ``train``, ``test``), by record path.
        strict: Stop at the first malformed record.
        limit: Keep only the first ``limit`` samples.
    """

    split_key = "path"

    def __init__(
        self,
        root: str,
        files: list[str] | None = None,
        name: str = "video_r1",
        data_types: list[str] | None = None,
        video_root: str | None = None,
        split: Literal["all", "train", "test"] = "all",
        strict: bool = False,
        limit: int | None = None,
    ) -> None:
        self.name = name
        super().__init__(root, video_root=video_root, split=split, strict=strict, limit=limit)
        self.files = list(files) if files is not None else ["train.jsonl"]
        self.data_types = list(data_types) if data_types is not None else ["video", "image"]
        unknown = sorted(set(self.data_types) - set(DATA_TYPES))
        if unknown:
            raise ValueError(
                f"data_types {unknown} unknown: vthinker reads {', '.join(DATA_TYPES)} samples"
            )

    def records(self) -> Iterator[tuple[str, Any]]:
        layout = f"<root>/{self.files[0] if self.files else 'train.jsonl'} (Video-R1 records)"
        for name in self.files:
            path = self.root / name
            stem = Path(name).stem
            if path.suffix == ".jsonl":
                for lineno, rec in iter_jsonl_objects(path, layout):
                    yield f"{name}:{lineno}", (f"{stem}-{lineno}", rec)
            else:
                for i, rec in enumerate(read_json(path, list, layout)):
                    yield f"{name}:record {i}", (f"{stem}-{i}", rec)

    def convert(self, record: Any) -> list[VideoSample]:
        fallback_id, rec = record
        if isinstance(rec, Malformed):
            rec.fail()
        if not isinstance(rec, dict):
            raise SampleError(f"expected a JSON object, got {type(rec).__name__}")
        data_type = rec.get("data_type", "video")
        if data_type not in self.data_types:
            return self.leave_out(f"{data_type} record(s)")
        sample = VideoSample.from_video_r1(rec, id=fallback_id)
        rel = PurePosixPath(sample.video)
        if not str(rel) or str(rel) == ".":
            raise SampleError(f"empty {sample.data_type} path {rec['path']!r}")
        base = self.video_root if self.video_root is not None else self.root
        sample.video = str(rel) if rel.is_absolute() else self.video_path(base / rel)
        sample.source = sample.source or self.name
        sample.meta = {k: v for k, v in rec.items() if k not in _KNOWN}
        sample.meta["path"] = str(rel)
        return [sample]
