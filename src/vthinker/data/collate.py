"""Dataset and collate: decoded video + prompt → the model's own processor → a batch.

`VideoQADataset` decodes the frames of each sample (decord) in DataLoader workers;
a sample whose video is missing or broken comes back as `Skipped` (with the reason)
instead of crashing the run. `VideoQACollator` drops skipped items (carrying them in
``batch["skipped"]`` so the module can report them), renders the chat with the prompt
template, and calls the HF processor with the decoded frames
(``do_sample_frames=False``: frames are already sampled; ``size`` bounds the pixels
per frame). In ``train`` mode it appends the SFT target and builds ``labels`` where
only the assistant reply (and its closing ``<|im_end|>``) carries loss: system,
user, vision and padding tokens are ``-100``. In ``generate`` mode it pads on the
left and adds the generation prompt.

A sample longer than ``max_length`` tokens is skipped with a message naming it and
its length, never silently truncated.

Image questions (``sample.data_type == "image"``, Video-R1-260k's image records) are read
with Pillow and go through the same processor call as the videos of the batch: the chat has
``{"type": "image"}`` where a video question has ``{"type": "video"}``, the prompt states no
duration, and the image has its own pixel budget (``image_max_pixels``). A batch may mix
both: ``pixel_values`` / ``image_grid_thw`` hold the batch's images and
``pixel_values_videos`` / ``video_grid_thw`` its videos, each in row order.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from vthinker.data.frame_cache import FrameCache, resize_frames
from vthinker.data.image import read_image
from vthinker.data.prompts import PromptTemplate
from vthinker.data.schema import VideoSample
from vthinker.data.video import VideoClip, VideoDecodeError, read_frames

log = logging.getLogger(__name__)

__all__ = [
    "IGNORE_INDEX",
    "FrameSampling",
    "LoadedSample",
    "Skipped",
    "VideoQACollator",
    "VideoQADataset",
    "assistant_label_mask",
    "refuse_images_for_media_sampler",
]

IGNORE_INDEX = -100


@dataclass
class FrameSampling:
    """How frames are sampled from each video (see `vthinker.data.video.read_frames`).

    Attributes:
        num_frames: A fixed frame count; None samples at ``fps``.
        fps: Sampling rate when ``num_frames`` is None (qwen-vl-utils convention).
        min_frames: Lower clamp for fps sampling.
        max_frames: Upper clamp for fps sampling (the paper trains with 16).
        max_side: Downscale decoded frames so their longer side is at most this many
            pixels (aspect kept; `vthinker.data.frame_cache.resize_frames`); None keeps the
            decoded size. Bounds worker memory and frame-cache size; the processor still
            resizes to ``max_pixels`` afterwards.
    """

    num_frames: int | None = None
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 16
    max_side: int | None = None

    def __post_init__(self) -> None:
        if self.max_side is not None and self.max_side < 1:
            raise ValueError(f"max_side must be >= 1, got {self.max_side}")
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} > max_frames {self.max_frames}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


@dataclass
class LoadedSample:
    """A decoded sample: the video's sampled ``clip``, or for an image question its
    ``image`` (``uint8`` (H, W, 3)) and no clip."""

    sample: VideoSample
    clip: VideoClip | None
    image: np.ndarray | None = None

    @property
    def timestamps(self) -> list[float]:
        """Seconds of each frame shown (an image has none)."""
        return [] if self.clip is None else list(self.clip.timestamps)


@dataclass
class Skipped:
    """A sample that could not be used, and why (reported at the end of the epoch)."""

    sample_id: str
    reason: str


def shown_duration(item: LoadedSample) -> float | None:
    """Seconds of video the model is shown: the clip window, or the whole file (None for an
    image)."""
    s = item.sample
    if item.clip is None:
        return None
    start = s.video_start or 0.0
    end = item.clip.duration if s.video_end is None else min(s.video_end, item.clip.duration)
    return max(0.0, end - start)


def resolve_video(sample: VideoSample, video_root: str | Path | None) -> Path:
    """The sample's video file: a relative path is joined to ``video_root`` (training,
    evaluation and `vthinker data check` all resolve videos here)."""
    path = Path(sample.video).expanduser()
    if path.is_absolute() or video_root is None:
        return path
    return Path(video_root) / path


class VideoQADataset(Dataset):
    """Samples plus frame decoding; returns `LoadedSample` or `Skipped`.

    Args:
        samples: The questions.
        video_root: Folder that relative video paths are resolved against.
        frames: Frame sampling settings.
        frame_cache: A `FrameCache` or its folder: decoded frames are read from there
            when the video, sampling settings and clip window are unchanged, and stored
            there after decoding otherwise. None decodes every time.
    """

    def __init__(
        self,
        samples: list[VideoSample],
        video_root: str | Path | None = None,
        frames: FrameSampling | None = None,
        frame_cache: str | Path | FrameCache | None = None,
    ) -> None:
        self.samples = samples
        self.video_root = video_root
        self.frames = frames or FrameSampling()
        if frame_cache is not None and not isinstance(frame_cache, FrameCache):
            frame_cache = FrameCache(frame_cache)
        self.frame_cache = frame_cache

    def __len__(self) -> int:
        return len(self.samples)

    def _decode(self, path: Path, sample: VideoSample) -> VideoClip:
        f = self.frames
        clip = read_frames(
            path,
            num_frames=f.num_frames,
            fps=f.fps,
            min_frames=f.min_frames,
            max_frames=f.max_frames,
            start=sample.video_start,
            end=sample.video_end,
        )
        if f.max_side is not None:
            clip.frames = resize_frames(clip.frames, f.max_side)
        return clip

    def __getitem__(self, idx: int) -> LoadedSample | Skipped:
        sample = self.samples[idx]
        path = resolve_video(sample, self.video_root)
        if sample.data_type == "image":
            try:
                return LoadedSample(sample, None, read_image(path, self.frames.max_side))
            except VideoDecodeError as err:
                return Skipped(sample.id, f"image: {err}")
        try:
            if self.frame_cache is None:
                clip = self._decode(path, sample)
            else:
                clip = self.frame_cache.load(
                    path,
                    dataclasses.asdict(self.frames),
                    sample.video_start,
                    sample.video_end,
                    lambda: self._decode(path, sample),
                )
        except (VideoDecodeError, ValueError) as err:
            return Skipped(sample.id, f"video: {err}")
        return LoadedSample(sample, clip)


def _find_subsequence(row: list[int], pattern: list[int]) -> list[int]:
    """Start indices of every occurrence of ``pattern`` in ``row``."""
    n = len(pattern)
    first = pattern[0]
    return [i for i, t in enumerate(row) if t == first and row[i : i + n] == pattern]


def assistant_label_mask(
    input_ids: torch.Tensor, header_ids: list[int], end_id: int, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Labels that keep only assistant replies.

    Every token after an assistant header (``<|im_start|>assistant\\n``) up to and
    including the next ``end_id`` (``<|im_end|>``) keeps its id; everything else
    becomes `IGNORE_INDEX`.

    Shape:
        input_ids, attention_mask: (B, L) → labels: (B, L)
    """
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for b in range(input_ids.shape[0]):
        row = input_ids[b].tolist()
        for start in _find_subsequence(row, header_ids):
            i = start + len(header_ids)
            while i < len(row) and attention_mask[b, i]:
                labels[b, i] = row[i]
                if row[i] == end_id:
                    break
                i += 1
    return labels


# The paper's pixel budget per frame: at most 128 and at least 16 merged visual tokens
# (28 x 28 pixels each). The one place this default is written.
MAX_PIXELS = 128 * 28 * 28
MIN_PIXELS = 16 * 28 * 28
# Pixels of an image question: Video-R1's GRPO scripts (`--max_pixels 401408`, 512 merged
# tokens); its images are charts, documents and diagrams that one video frame's budget blurs.
IMAGE_MAX_PIXELS = 512 * 28 * 28


def video_metadata(item: LoadedSample) -> dict[str, Any]:
    """The timing the processor gets with a clip's frames (already sampled). sampled_fps =
    len(indices) / total * fps = clip.sample_fps: Qwen2.5-VL's absolute-time rope then
    spaces the frames by their real distance."""
    if item.clip is None:
        raise ValueError(f"sample {item.sample.id!r} is an image question: it has no video")
    return {
        "total_num_frames": len(item.clip.timestamps),
        "fps": item.clip.sample_fps,
        "width": int(item.clip.frames.shape[2]),
        "height": int(item.clip.frames.shape[1]),
        "duration": shown_duration(item),
        "frames_indices": list(range(len(item.clip.timestamps))),
    }


class VideoQACollator:
    """Build model inputs from decoded samples with the model's own processor.

    Args:
        processor: The HF processor (``AutoProcessor``) of the policy.
        prompt: The prompt template.
        mode: ``train`` (prompt + target, labels) or ``generate`` (prompt only, left padding).
        max_pixels: Upper bound of pixels per frame (default `MAX_PIXELS`, the paper's).
        min_pixels: Lower bound of pixels per frame.
        max_length: Longest sequence (text + vision tokens) kept; longer samples are skipped.
        keep_videos: Also hand on each prompt's text and its decoded frames with their timing
            (``prompt_texts``, ``videos``: ``(frames uint8 (T, H, W, 3), metadata)``, and the
            pixel budget as ``video_size``), for a sampler that processes the video itself
            (`vthinker.training.vllm_rollout`).
        image_max_pixels: Upper bound of pixels of an image question's image (default
            `IMAGE_MAX_PIXELS`, Video-R1's); its lower bound is ``min_pixels``.
    """

    def __init__(
        self,
        processor: Any,
        prompt: PromptTemplate | None = None,
        mode: Literal["train", "generate"] = "train",
        max_pixels: int = MAX_PIXELS,
        min_pixels: int = MIN_PIXELS,
        max_length: int = 4096,
        keep_videos: bool = False,
        image_max_pixels: int = IMAGE_MAX_PIXELS,
    ) -> None:
        if min_pixels > max_pixels:
            raise ValueError(f"min_pixels {min_pixels} > max_pixels {max_pixels}")
        if min_pixels > image_max_pixels:
            raise ValueError(f"min_pixels {min_pixels} > image_max_pixels {image_max_pixels}")
        self.image_max_pixels = image_max_pixels
        self.processor = processor
        self.prompt = prompt or PromptTemplate()
        self.mode = mode
        self.max_pixels = max_pixels
        self.min_pixels = min_pixels
        self.max_length = max_length
        self.keep_videos = keep_videos
        tok = processor.tokenizer
        self.header_ids = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        self.end_id = tok.convert_tokens_to_ids("<|im_end|>")
        if self.end_id is None or self.end_id == tok.unk_token_id:
            raise ValueError("the tokenizer has no <|im_end|> token: not a Qwen-style chat model")

    def _texts(self, items: list[LoadedSample]) -> list[str]:
        texts = []
        for it in items:
            target = it.sample.target_text() if self.mode == "train" else None
            msgs = self.prompt.messages(it.sample, duration=shown_duration(it), target=target)
            texts.append(
                self.processor.apply_chat_template(
                    msgs, tokenize=False, add_generation_prompt=target is None
                )
            )
        return texts

    def _process(self, items: list[LoadedSample]) -> dict[str, Any]:
        from transformers.video_utils import VideoMetadata

        tok = self.processor.tokenizer
        tok.padding_side = "right" if self.mode == "train" else "left"
        videos = [it for it in items if it.clip is not None]
        images = [it.image for it in items if it.clip is None]
        media: dict[str, Any] = {}
        if videos:
            media["videos"] = [it.clip.frames for it in videos]  # type: ignore[union-attr]
            media["video_metadata"] = [VideoMetadata(**video_metadata(it)) for it in videos]
            media["videos_kwargs"] = {
                "do_sample_frames": False,
                "size": {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels},
            }
        if images:
            media["images"] = images
            media["images_kwargs"] = {
                "size": {"shortest_edge": self.min_pixels, "longest_edge": self.image_max_pixels}
            }
        return dict(
            self.processor(
                text=self._texts(items),
                **media,
                cap_pixels_per_frame=False,
                padding=True,
                return_tensors="pt",
            )
        )

    def __call__(self, batch: list[LoadedSample | Skipped]) -> dict[str, Any]:
        skipped = [b for b in batch if isinstance(b, Skipped)]
        items = [b for b in batch if isinstance(b, LoadedSample)]
        out: dict[str, Any] = {}
        if items:
            out = self._process(items)
            lengths = out["attention_mask"].sum(dim=1).tolist()
            too_long = [i for i, n in enumerate(lengths) if n > self.max_length]
            if too_long:
                for i in too_long:
                    skipped.append(
                        Skipped(
                            items[i].sample.id,
                            f"{lengths[i]} tokens > max_length {self.max_length} "
                            + _budget(items[i], self.max_pixels, self.image_max_pixels),
                        )
                    )
                items = [it for i, it in enumerate(items) if i not in too_long]
                out = self._process(items) if items else {}
        if items and self.mode == "train":
            out["labels"] = assistant_label_mask(
                out["input_ids"], self.header_ids, self.end_id, out["attention_mask"]
            )
        for s in skipped:
            log.warning("skipping sample %s: %s", s.sample_id, s.reason)
        out["samples"] = [it.sample for it in items]
        out["timestamps"] = [it.timestamps for it in items]
        out["skipped"] = skipped
        if self.keep_videos:
            refuse_images_for_media_sampler(
                [it.sample.id for it in items if it.clip is None], "in the batch"
            )
            out["prompt_texts"] = self._texts(items)
            out["videos"] = [(it.clip.frames, video_metadata(it)) for it in items]
            out["video_size"] = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
        return out


def refuse_images_for_media_sampler(image_ids: list[str], where: str) -> None:
    """Raise ValueError when there are image questions (``image_ids``, ``where`` they are)
    for a sampler that processes the decoded media itself (vLLM): it takes videos only."""
    if image_ids:
        raise ValueError(
            f"{len(image_ids)} image question(s) {where} (first: {image_ids[0]}): the sampler "
            "that processes the media itself (vLLM) takes videos only here. Use the HF rollout "
            "for image questions (model.init_args.engine: vthinker.training.rollout.HFEngine), "
            "or keep only videos (a Video-R1 source's data_types: [video])"
        )


def _budget(item: LoadedSample, max_pixels: int, image_max_pixels: int) -> str:
    """The pixel budget of a too-long sample, for its skip message."""
    if item.clip is None:
        return f"(an image, image_max_pixels {image_max_pixels})"
    return f"({len(item.clip.timestamps)} frames, max_pixels {max_pixels})"


MODEL_INPUT_KEYS = (
    "input_ids",
    "attention_mask",
    "pixel_values_videos",
    "video_grid_thw",
    "second_per_grid_ts",
    "mm_token_type_ids",
    "pixel_values",
    "image_grid_thw",
)


def model_inputs(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of a collated batch that the model's ``forward`` takes."""
    return {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}
