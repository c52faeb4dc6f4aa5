"""lmms-eval model plugin: evaluate a vthinker export inside lmms-eval.

Registered through lmms-eval's model entry-point group (``lmms_eval.models`` in
pyproject.toml), so after ``pip install 'vthinker[lmms]'``::

    lmms-eval --model vthinker --model_args pretrained=outputs/grpo/video_thinker_7b/hf \\
        --tasks videomme_vthinker --include_path integrations/lmms_eval/tasks

The model decodes as ``vthinker test`` does: the paper's settings (temperature 0.1,
top_p 0.001, 1,024 new tokens; ``greedy=True`` for greedy), frames sampled at 2 fps, at most
``max_frames`` (16 as in the paper), with the same pixel budget, and the thinking system
prompt. A document that is a vthinker sample (our task variants' JSONL) gets exactly the
prompt ``vthinker test`` builds; any other task's text (its ``doc_to_text``) is used as the
user turn as it is. It returns the whole trace; the task variants in
``integrations/lmms_eval/tasks`` read the answer from it with `vthinker.trace` (lmms-eval's
default prompts ask for a letter within 16 tokens, which cuts a thinking trace short).

Only ``generate_until`` is implemented: the benchmarks vthinker reports are generative;
``loglikelihood`` raises a clear error.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import torch
from lmms_eval.api.model import lmms
from tqdm.auto import tqdm

from vthinker.data.collate import (
    MAX_PIXELS,
    MIN_PIXELS,
    FrameSampling,
    Skipped,
    VideoQACollator,
    VideoQADataset,
    model_inputs,
)
from vthinker.data.prompts import PromptTemplate
from vthinker.data.schema import SampleError, VideoSample
from vthinker.models.policy import PolicyConfig, load_policy, load_processor
from vthinker.training.base import GenerationSettings

__all__ = ["VThinkerLMM", "manifest"]

log = logging.getLogger(__name__)

MODEL_ID = "vthinker"


def manifest() -> Any:
    """The entry point lmms-eval loads: registers this model as ``--model vthinker``."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=f"{__name__}.VThinkerLMM")


def _as_sample(doc: Any, uid: str) -> VideoSample | None:
    """The doc as a vthinker sample when it is one: a vthinker record (the toy task) or a
    doc whose task added one as ``vthinker_sample`` (``process_docs`` of the Video-MME
    variant); None otherwise. Fields vthinker does not know, and nulls (a JSON dataset
    fills absent columns with them), are left out."""
    if not isinstance(doc, dict):
        return None
    record = doc.get("vthinker_sample") or doc
    if not isinstance(record, dict) or not {"question", "answer"} <= record.keys():
        return None
    known = set(VideoSample.__dataclass_fields__)
    fields = {k: v for k, v in record.items() if k in known and v is not None}
    fields.setdefault("video", "")
    fields["id"] = str(fields.get("id") or uid)
    try:
        return VideoSample.from_dict(fields)
    except (SampleError, TypeError, ValueError) as err:
        log.warning("%s: not read as a vthinker sample (%s); its task text is the prompt", uid, err)
        return None


class VThinkerLMM(lmms):
    """A vthinker export as an lmms-eval model (module docstring).

    Args:
        pretrained: The export folder (or Hugging Face id) of the model.
        device: ``cuda``, ``cpu`` or ``auto`` (CUDA when there is a GPU).
        dtype: ``bfloat16``, ``float16`` or ``float32`` (``auto``: bf16 on GPU, fp32 on CPU).
        max_frames: Most frames per video (the paper: 16).
        fps: Frames per second sampled before the cap.
        max_pixels: Most pixels per frame (default: vthinker's, the paper's 128 x 28 x 28).
        min_pixels: Fewest pixels per frame (default: vthinker's).
        max_new_tokens: Longest trace; the task's ``max_new_tokens`` is not used (lmms-eval's
            16-token defaults would cut thinking short).
        greedy: Greedy decoding instead of the paper's sampling settings.
        batch_size: Requests decoded together.
    """

    def __init__(
        self,
        pretrained: str,
        device: str = "auto",
        dtype: str = "auto",
        max_frames: int = 16,
        fps: float = 2.0,
        max_pixels: int = MAX_PIXELS,
        min_pixels: int = MIN_PIXELS,
        max_new_tokens: int = 1024,
        greedy: bool = False,
        batch_size: int = 1,
        **unused: Any,
    ) -> None:
        super().__init__()
        if unused:
            raise ValueError(f"vthinker: unknown model_args {sorted(unused)}")
        gpu = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
        if gpu and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"  # one GPU per process
        elif gpu and not device.startswith("cuda:"):
            device = "cuda"
        self._device = torch.device(device if gpu else "cpu")
        if self._device.type == "cuda" and self._device.index is not None:
            torch.cuda.set_device(self._device)
        if dtype == "auto":
            dtype = "bfloat16" if gpu else "float32"
        self.model = load_policy(PolicyConfig(str(pretrained), dtype=dtype)).to(self._device)
        self.model.eval()
        self.processor = load_processor(str(pretrained))
        self.frames = FrameSampling(fps=float(fps), max_frames=int(max_frames))
        self.max_pixels, self.min_pixels = int(max_pixels), int(min_pixels)
        self.generation = GenerationSettings(
            max_new_tokens=int(max_new_tokens), do_sample=not _truthy(greedy)
        )
        self.batch_size_per_gpu = int(batch_size)

    # lmms-eval reads these
    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    @property
    def device(self) -> torch.device:
        return self._device

    def _collator(self, native: bool) -> VideoQACollator:
        # A vthinker sample gets vthinker's prompt; another task's text stays as it is.
        prompt = PromptTemplate() if native else PromptTemplate(user="{question}")
        return VideoQACollator(
            self.processor,
            prompt=prompt,
            mode="generate",
            max_pixels=self.max_pixels,
            min_pixels=self.min_pixels,
            max_length=1 << 20,
        )

    def _sample(self, request: Any) -> tuple[VideoSample, bool]:
        context, _, doc_to_visual, doc_id, task, split = request.args
        doc = self.task_dict[task][split][doc_id]
        visuals = [v for v in (doc_to_visual(doc) or []) if isinstance(v, str)]
        if not visuals:
            raise ValueError(
                f"{task}/{doc_id}: vthinker evaluates videos; this doc has no video path"
            )
        native = _as_sample(doc, f"{task}-{doc_id}")
        if native is not None:
            return dataclasses.replace(native, video=visuals[0]), True
        sample = VideoSample(
            id=f"{task}-{doc_id}",
            video=visuals[0],
            question=context,
            answer="?",
            problem_type="free-form",
        )
        return sample, False

    def generate_until(self, requests: list[Any]) -> list[str]:
        out: list[str] = []
        for start in tqdm(
            range(0, len(requests), self.batch_size), desc="vthinker", disable=self.rank != 0
        ):
            chunk = requests[start : start + self.batch_size]
            built = [self._sample(r) for r in chunk]
            budget = self.generation.max_new_tokens  # the task's (often 16) would cut traces
            texts: dict[int, str] = {}
            for native in (True, False):  # one prompt style per batch
                idx = [i for i, (_, n) in enumerate(built) if n == native]
                if idx:
                    texts.update(self._decode([built[i][0] for i in idx], idx, native, budget))
            out.extend(texts[i] for i in range(len(chunk)))
        return out

    def _decode(
        self, samples: list[VideoSample], idx: list[int], native: bool, budget: int
    ) -> dict[int, str]:
        dataset = VideoQADataset(samples, video_root=None, frames=self.frames)
        items = [dataset[i] for i in range(len(samples))]
        texts = {
            i: "" for i, item in zip(idx, items, strict=True) if isinstance(item, Skipped)
        }  # an unreadable video: an empty answer, scored wrong by the task
        ok = [(i, it) for i, it in zip(idx, items, strict=True) if not isinstance(it, Skipped)]
        if not ok:
            return texts
        batch = self._collator(native)([it for _, it in ok])
        inputs = {k: v.to(self._device) for k, v in model_inputs(batch).items()}
        with torch.no_grad():
            new = self.model.generate(
                **inputs,
                **{**self.generation.kwargs(), "max_new_tokens": budget},
                pad_token_id=self.processor.tokenizer.pad_token_id,
                use_cache=True,
            )[:, inputs["input_ids"].shape[1] :]
        decoded = self.processor.tokenizer.batch_decode(new, skip_special_tokens=True)
        texts.update({i: text for (i, _), text in zip(ok, decoded, strict=True)})
        return texts

    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            "vthinker's lmms-eval model generates traces; use generate_until tasks"
        )

    def generate_until_multi_round(self, requests: list[Any]) -> list[str]:
        raise NotImplementedError("vthinker's lmms-eval model answers one round")


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
