"""`AnswerConditionedCaptions`: captions for the key windows of a QA sample."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, ClassVar

from vthinker.curation.steps.base import (
    LLMStep,
    Reject,
    SampleLog,
    _answer_text,
    _offset,
    _options_text,
    _span_text,
    clip_duration,
    frame_data_url,
    frame_time,
)
from vthinker.curation.validate import (
    validate_captions,
    validate_windows,
)
from vthinker.data.prompts import check_template
from vthinker.data.schema import Evidence, VideoSample
from vthinker.data.video import VideoDecodeError, read_frames
from vthinker.llm.client import (
    Endpoint,
    extract_json,
)

CAPTION_SYSTEM = (
    "You describe what is visible in videos. You get frames of a video with their "
    "timestamps, a question about the video and its correct answer. Describe what is "
    "visible in the given time windows, concretely (people, objects, actions, text, how "
    "things change), focusing on the visual evidence that supports the correct answer. Do "
    "not mention the question, the options or the answer; describe only what can be seen. "
    "Reply with a JSON object only."
)
CAPTION_USER = (
    "Question: {question}\n{options}Correct answer: {answer}\n"
    "The video lasts {duration} seconds. Describe each of these {num_windows} windows:\n"
    "{windows}\n"
    'Reply as {{"captions": ["<caption of window 1>", ...]}}, one caption per window, '
    "in order. The frames of each window follow."
)
CAPTION_USER_FIND = (
    "Question: {question}\n{options}Correct answer: {answer}\n"
    "The video lasts {duration} seconds. Find the 1 to {max_windows} time windows that hold "
    "the visual evidence for the correct answer, and describe each.\n"
    'Reply as {{"windows": [{{"time": "MM:SS-MM:SS", "caption": "..."}}, ...]}}. '
    "Frames of the video follow."
)


class AnswerConditionedCaptions(LLMStep):
    """QA-rich sample → captions for the key windows (Gemini 2.5 Flash Lite in the paper).

    Applies to samples with a question whose evidence lacks a caption (or that have no
    evidence at all). With evidence windows, ``frames_per_window`` frames of each window
    are sent; without, ``max_frames`` frames of the whole clip are sent and the model picks
    up to ``max_windows`` windows. Frames are JPEG ``data:`` URLs in ``image_url`` content
    parts, each after a text part with its clip timestamp (``"Frame at 00:12.5"``), read
    with `vthinker.data.video.read_frames`. Placeholders: ``{question}``, ``{options}``,
    ``{answer}`` (``"C. text"``), ``{duration}``, ``{windows}``, ``{num_windows}``,
    ``{max_windows}``.

    Args:
        endpoint: A vision chat endpoint.
        frames_per_window: Frames sent per given window.
        max_frames: Frames sent over the whole clip when the model picks the windows.
        max_windows: Most windows the model may pick.
        image_max_side: Frames are scaled down to this longest side.
        jpeg_quality: JPEG quality of the frames.
        system: System prompt template.
        user: User prompt template (given windows).
        user_find: User prompt template (the model picks the windows).
        **kwargs: `LLMStep`'s other arguments (``repair``, ``temperature``, ``max_tokens``,
            ``max_attempts``, ``extra_body``).
    """

    name = "answer_conditioned_captions"
    placeholders: ClassVar[set[str]] = {
        "question",
        "options",
        "answer",
        "duration",
        "windows",
        "num_windows",
        "max_windows",
    }

    def __init__(
        self,
        endpoint: Endpoint,
        frames_per_window: int = 4,
        max_frames: int = 16,
        max_windows: int = 4,
        image_max_side: int = 448,
        jpeg_quality: int = 85,
        system: str | None = CAPTION_SYSTEM,
        user: str = CAPTION_USER,
        user_find: str = CAPTION_USER_FIND,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, system, user, **kwargs)
        check_template(type(self).__name__, "user_find", user_find, self.placeholders)
        for label, value in (
            ("frames_per_window", frames_per_window),
            ("max_frames", max_frames),
            ("max_windows", max_windows),
            ("image_max_side", image_max_side),
        ):
            if value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
        self.user_find = user_find
        self.frames_per_window = frames_per_window
        self.max_frames = max_frames
        self.max_windows = max_windows
        self.image_max_side = image_max_side
        self.jpeg_quality = jpeg_quality

    def applies(self, sample: VideoSample) -> bool:
        return bool(sample.question.strip()) and (
            not sample.evidence or any(not e.caption.strip() for e in sample.evidence)
        )

    async def _frames(
        self, sample: VideoSample, log: SampleLog, start: float, end: float, n: int
    ) -> list[dict]:
        """Content parts: a timestamp text then an image per frame of ``[start, end)``."""
        assert log.video_path is not None
        try:
            clip = await asyncio.to_thread(
                read_frames, log.video_path, num_frames=n, start=start, end=end
            )
        except VideoDecodeError as err:
            raise Reject(self.name, "video_unreadable", err.reason) from None
        except ValueError as err:
            raise Reject(self.name, "bad_window", str(err)) from None
        parts: list[dict] = []
        off = _offset(sample)
        for frame, t in zip(clip.frames, clip.timestamps, strict=True):
            rel = max(float(t) - off, 0.0)
            parts.append({"type": "text", "text": f"Frame at {frame_time(rel)}"})
            url = frame_data_url(frame, self.image_max_side, self.jpeg_quality)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        return parts

    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        if log.video_path is None:
            raise Reject(self.name, "video_unreadable", "the sample has no video path")
        duration = await clip_duration(sample, log, self.name)
        off = _offset(sample)
        windows = list(sample.evidence)
        fields = {
            "question": sample.question.strip(),
            "options": _options_text(sample),
            "answer": _answer_text(sample),
            "duration": f"{duration:.1f}",
            "windows": "\n".join(
                f"Window {i}: {_span_text(e.start - off, e.end - off)}"
                for i, e in enumerate(windows, start=1)
            ),
            "num_windows": len(windows),
            "max_windows": self.max_windows,
        }
        if windows:
            parts: list[dict] = [{"type": "text", "text": self.user.format(**fields)}]
            for i, e in enumerate(windows, start=1):
                parts.append(
                    {
                        "type": "text",
                        "text": f"Window {i} ({_span_text(e.start - off, e.end - off)}):",
                    }
                )
                parts += await self._frames(sample, log, e.start, e.end, self.frames_per_window)
            captions = await self.ask(
                self.messages(parts, fields),
                lambda text: validate_captions(extract_json(text, dict), len(windows)),
                log,
            )
            evidence = [replace(e, caption=c) for e, c in zip(windows, captions, strict=True)]
        else:
            parts = [{"type": "text", "text": self.user_find.format(**fields)}]
            parts += await self._frames(sample, log, off, off + duration, self.max_frames)
            found = await self.ask(
                self.messages(parts, fields),
                lambda text: validate_windows(
                    extract_json(text, dict), duration, max_windows=self.max_windows
                ),
                log,
            )
            evidence = [Evidence(start=s + off, end=e + off, caption=c) for s, e, c in found]
        return replace(sample, evidence=evidence, meta=dict(sample.meta))
