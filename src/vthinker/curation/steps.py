"""The steps of Video-Thinker's hindsight curation pipeline (docs/method.md, Curation pipeline).

A step takes a `VideoSample` and returns a new one, or raises `Reject` with a reason code
(``"<step>:<code>"``) and a detail. The runner passes each sample through its steps in
order; a step whose `Step.applies` is false for a sample leaves it as it is, so one step
list serves both kinds of source:

- **caption-rich** samples (ActivityNet Captions, TutorialVQA, YouCook2) come with an
  empty ``question`` and timed captions in ``evidence``: `QuestionSynthesis` writes a
  multi-segment multiple-choice question and keeps the segments it needs as evidence;
- **QA-rich** samples (STAR, ScaleLong, LVBench) come with a question and an answer, and
  evidence windows without captions (or none): `AnswerConditionedCaptions` shows a video
  model frames of the key windows with their timestamps, and the answer, and asks for
  captions (or for the windows themselves when there are none);
- then `ReverseTrace` writes the tagged trace from answer + spans + captions, and
  `HindsightVerify` checks that a verifier that sees only the ``<time>``/``<caption>``
  contents reaches the gold answer, regenerating the trace up to ``max_attempts`` traces
  before dropping the sample.

`VideoFilter` (no LLM) drops corrupt videos and videos with fewer than ``min_frames``
frames. Times: evidence is in seconds of the file; prompts and traces use clip time
(seconds from ``video_start``), as the policy sees the clip.

Every LLM step has its own endpoint, prompt templates (``str.format`` placeholders listed
per class; unknown placeholders are rejected at construction), sampling parameters, and a
``max_attempts`` for replies that fail validation: the bad reply and the validator's
message go back to the model as a repair turn, so each retry is a different request (and a
different cache entry).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from vthinker.curation.validate import (
    OutputError,
    validate_captions,
    validate_question,
    validate_trace,
    validate_windows,
)
from vthinker.data.prompts import check_template
from vthinker.data.schema import LETTERS, Evidence, VideoSample
from vthinker.data.video import VideoDecodeError, read_frames, video_info
from vthinker.extract import extract_answer, is_correct
from vthinker.llm.client import (
    ChatClient,
    ChatResult,
    Endpoint,
    JSONExtractError,
    extract_json,
)
from vthinker.llm.local import LocalChatModel, LocalModel
from vthinker.trace import parse_trace, render_span

__all__ = [
    "AnswerConditionedCaptions",
    "CurationContext",
    "HindsightVerify",
    "LLMStep",
    "QuestionSynthesis",
    "Reject",
    "ReverseTrace",
    "SampleLog",
    "Step",
    "VideoFilter",
    "frame_data_url",
    "frame_time",
]

T = TypeVar("T")


class Reject(Exception):
    """A sample dropped by a step, with a reason code and a human-readable detail.

    Attributes:
        reason: ``"<step>:<code>"``, e.g. ``"hindsight_verify:unsupported"``.
        detail: What happened.
    """

    def __init__(self, step: str, code: str, detail: str) -> None:
        self.reason = f"{step}:{code}"
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}")


@dataclass
class SampleLog:
    """Bookkeeping for one sample on its way through the steps.

    Attributes:
        video_path: The video file (resolved against the video root).
        steps: Names of the steps that ran, in order.
        calls: LLM calls per step (repair turns included).
        trace_attempts: Traces written for the sample (first one included).
        verifier_answers: What the hindsight verifier answered, per trace.
        duration: Clip duration in seconds, once known.
    """

    video_path: Path | None = None
    steps: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    trace_attempts: int = 0
    verifier_answers: list[str | None] = field(default_factory=list)
    duration: float | None = None


class CurationContext:
    """Shared resources of one run: one client per distinct endpoint (so steps that use the
    same endpoint share its concurrency and rate limits) and one instance per local model.

    Args:
        cache_dir: Response cache folder for every client (None: no cache).
        client_factory: Builds a client for an endpoint (tests inject transports or RNGs).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        client_factory: Callable[[Endpoint], ChatClient] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self._factory = client_factory or (lambda ep: ChatClient(ep, cache_dir=cache_dir))
        self._clients: dict[tuple[Any, ...], ChatClient] = {}
        self._locals: dict[tuple[Any, ...], LocalChatModel] = {}

    def client(self, endpoint: Endpoint) -> ChatClient:
        key = endpoint.key()
        if key not in self._clients:
            self._clients[key] = self._factory(endpoint)
        return self._clients[key]

    def local(self, spec: LocalModel) -> LocalChatModel:
        key = (spec.path, spec.dtype, spec.device, spec.max_new_tokens, spec.trust_remote_code)
        if key not in self._locals:
            self._locals[key] = LocalChatModel(spec)
        return self._locals[key]

    @property
    def clients(self) -> list[ChatClient | LocalChatModel]:
        return [*self._clients.values(), *self._locals.values()]

    async def close(self) -> None:
        for c in self.clients:
            await c.close()


# --- helpers ---------------------------------------------------------------------------------


def _check_gold(sample: VideoSample, step: str) -> None:
    """Reject a sample whose gold answer cannot be checked for its problem type."""
    try:
        is_correct(sample.answer, sample.answer, sample.problem_type)
    except ValueError as err:
        raise Reject(step, "bad_answer", str(err)) from None


def _offset(sample: VideoSample) -> float:
    return sample.video_start or 0.0


def _options_text(sample: VideoSample) -> str:
    """Lettered options, one per line, ending with a newline ("" without options)."""
    if not sample.options:
        return ""
    return "Options:\n" + "".join(f"{o}\n" for o in sample.lettered_options)


def _answer_text(sample: VideoSample) -> str:
    """``"C. the red square"`` for multiple choice, else the answer itself."""
    if sample.problem_type == "multiple choice" and sample.options:
        i = LETTERS.index(sample.answer)
        return f"{sample.answer}. {sample.options[i]}"
    return sample.answer


def _span_text(start: float, end: float) -> str:
    return render_span(max(start, 0.0), max(end, 0.0))


def _evidence_lines(sample: VideoSample, evidence: list[Evidence]) -> str:
    off = _offset(sample)
    return "\n".join(
        f"{i}. {_span_text(e.start - off, e.end - off)}: {e.caption.strip()}"
        for i, e in enumerate(evidence, start=1)
    )


async def clip_duration(sample: VideoSample, log: SampleLog, step: str) -> float:
    """Length of the clip the policy sees, in seconds.

    From ``video_start``/``video_end`` when both are set, else ``meta["duration"]``, else
    by probing the video file. Remembered in ``log.duration``.

    Raises:
        Reject: ``<step>:video_unreadable`` when the file must be probed and cannot be read.
    """
    if log.duration is not None:
        return log.duration
    meta_d = sample.meta.get("duration")
    if sample.video_start is not None and sample.video_end is not None:
        duration = sample.video_end - sample.video_start
    elif isinstance(meta_d, int | float) and not isinstance(meta_d, bool) and meta_d > 0:
        duration = float(meta_d)
    else:
        if log.video_path is None:
            raise Reject(step, "video_unreadable", "no video path to read the duration from")
        try:
            info = await asyncio.to_thread(video_info, log.video_path)
        except VideoDecodeError as err:
            raise Reject(step, "video_unreadable", err.reason) from None
        end = sample.video_end if sample.video_end is not None else info.duration
        duration = end - _offset(sample)
    log.duration = float(duration)
    return log.duration


def frame_time(seconds: float) -> str:
    """``MM:SS.s`` to the nearest tenth of a second (``12.46`` → ``"00:12.5"``)."""
    tenths = round(max(seconds, 0.0) * 10)
    minutes, rest = divmod(tenths, 600)
    return f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"


def frame_data_url(frame: np.ndarray, max_side: int = 448, quality: int = 85) -> str:
    """A ``(H, W, 3)`` uint8 RGB frame as a JPEG ``data:`` URL, longest side <= ``max_side``."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame))
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --- step base classes -----------------------------------------------------------------------


class Step(abc.ABC):
    """One stage of the pipeline. Subclasses set ``name`` and implement `run`."""

    name: ClassVar[str] = "step"

    def setup(self, ctx: CurationContext, steps: list[Step]) -> None:  # noqa: B027
        """Called once by the runner before any sample (clients, links to other steps)."""

    def applies(self, sample: VideoSample) -> bool:
        """Whether the step has work to do on this sample (else the sample passes through)."""
        return True

    @abc.abstractmethod
    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        """Process one sample; raise `Reject` to drop it."""

    def describe(self) -> dict[str, Any]:
        """Provenance written into accepted records (no secrets)."""
        return {}


DEFAULT_REPAIR = (
    "Your reply could not be used: {error}\nReply again, following the instructions exactly."
)


class LLMStep(Step):
    """A step that asks an LLM and validates the reply.

    Args:
        endpoint: The chat endpoint (model, URL, key variable, limits).
        system: System prompt template (None: no system message).
        user: User prompt template.
        repair: Follow-up sent after a reply fails validation (placeholder ``{error}``).
        temperature: Sampling temperature (None: the server's default).
        max_tokens: Completion token limit (None: the server's default).
        max_attempts: Replies tried per request before the sample is rejected.
        extra_body: More request body fields (``top_p``, ``seed``, …).
    """

    placeholders: ClassVar[set[str]] = set()
    json_reply: ClassVar[bool] = True

    def __init__(
        self,
        endpoint: Endpoint,
        system: str | None,
        user: str,
        repair: str = DEFAULT_REPAIR,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_attempts: int = 3,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        owner = type(self).__name__
        check_template(owner, "system", system, self.placeholders)
        check_template(owner, "user", user, self.placeholders)
        check_template(owner, "repair", repair, {"error"})
        if max_attempts < 1:
            raise ValueError(f"{owner}: max_attempts must be >= 1, got {max_attempts}")
        self.endpoint = endpoint
        self.system = system
        self.user = user
        self.repair = repair
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_attempts = max_attempts
        self.extra_body = dict(extra_body or {})
        self._client: ChatClient | None = None

    def setup(self, ctx: CurationContext, steps: list[Step]) -> None:
        self._client = ctx.client(self.endpoint)

    @property
    def client(self) -> ChatClient:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is not set up (call setup(ctx, steps))")
        return self._client

    def describe(self) -> dict[str, Any]:
        return {"model": self.endpoint.model}

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, **self.extra_body}

    def messages(self, user_content: str | list[dict], fields: dict[str, Any]) -> list[dict]:
        msgs: list[dict] = []
        if self.system is not None:
            msgs.append({"role": "system", "content": self.system.format(**fields)})
        msgs.append({"role": "user", "content": user_content})
        return msgs

    async def ask(self, messages: list[dict], parse: Callable[[str], T], log: SampleLog) -> T:
        """Send ``messages``; on a reply that ``parse`` rejects (`OutputError` or
        `JSONExtractError`), send the bad reply back with the repair prompt, up to
        ``max_attempts`` replies in all.

        Raises:
            Reject: ``<step>:invalid_output`` when no reply passes.
            LLMError: when the endpoint fails for good (the runner retries the sample on
                the next run).
        """
        conversation = messages
        error: Exception | None = None
        for _ in range(self.max_attempts):
            result: ChatResult = await self.client.chat(
                conversation, json_mode=self.json_reply, **self.params()
            )
            log.calls[self.name] += 1
            try:
                return parse(result.text)
            except (OutputError, JSONExtractError) as err:
                error = err
                conversation = [
                    *messages,
                    {"role": "assistant", "content": result.text},
                    {"role": "user", "content": self.repair.format(error=err)},
                ]
        raise Reject(
            self.name,
            "invalid_output",
            f"{self.max_attempts} repl{'y' if self.max_attempts == 1 else 'ies'} failed "
            f"validation; last: {error}",
        )


# --- concrete steps --------------------------------------------------------------------------


class VideoFilter(Step):
    """Drop corrupt videos and videos with too few frames (no LLM).

    Args:
        min_frames: Fewest frames the clip must have (the paper: 64).
    """

    name = "video_filter"

    def __init__(self, min_frames: int = 64) -> None:
        if min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {min_frames}")
        self.min_frames = min_frames

    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        if log.video_path is None:
            raise Reject(self.name, "video_unreadable", "the sample has no video path")
        try:
            info = await asyncio.to_thread(video_info, log.video_path)
        except VideoDecodeError as err:
            raise Reject(self.name, "video_unreadable", err.reason) from None
        start = _offset(sample)
        end = sample.video_end if sample.video_end is not None else info.duration
        frames = round((end - start) * info.fps)
        if frames < self.min_frames:
            raise Reject(
                self.name,
                "too_few_frames",
                f"{frames} frames in the clip, fewer than {self.min_frames}",
            )
        log.duration = end - start
        return sample

    def describe(self) -> dict[str, Any]:
        return {"min_frames": self.min_frames}


QUESTION_SYSTEM = (
    "You write hard multiple-choice questions about videos. You get the timed captions of "
    "the segments of one video. Write ONE question that can only be answered by combining "
    "what happens in at least {min_segments} different segments (order of events, cause and "
    "effect, change over time, counting or comparing across segments), never from a single "
    "caption alone, and do not copy the answer from any one caption word for word. Give "
    "{min_options} to {max_options} options with plausible, hard distractors and exactly "
    "one correct option. Reply with a JSON object only:\n"
    '{{"question": "...", "options": ["...", "..."], "answer": "<letter of the correct '
    'option>", "segments": [<numbers of the segments the question needs>]}}'
)
QUESTION_USER = "The video lasts {duration} seconds. Its segments:\n{segments}"


class QuestionSynthesis(LLMStep):
    """Caption-rich sample → a multi-segment multiple-choice question (DeepSeek-R1 in the paper).

    Applies to samples with an empty question. Placeholders: ``{segments}`` (numbered
    ``"1. MM:SS-MM:SS: caption"`` lines), ``{num_segments}``, ``{duration}``,
    ``{min_options}``, ``{max_options}``, ``{min_segments}``. The reply is checked by
    `vthinker.curation.validate.validate_question`; the question's segments become the
    sample's evidence.

    Args:
        endpoint: The chat endpoint.
        min_options: Fewest options.
        max_options: Most options.
        min_segments: Fewest segments the question must need.
        system: System prompt template.
        user: User prompt template.
        **kwargs: `LLMStep`'s other arguments (``repair``, ``temperature``, ``max_tokens``,
            ``max_attempts``, ``extra_body``).
    """

    name = "question_synthesis"
    placeholders: ClassVar[set[str]] = {
        "segments",
        "num_segments",
        "duration",
        "min_options",
        "max_options",
        "min_segments",
    }

    def __init__(
        self,
        endpoint: Endpoint,
        min_options: int = 4,
        max_options: int = 6,
        min_segments: int = 2,
        system: str | None = QUESTION_SYSTEM,
        user: str = QUESTION_USER,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, system, user, **kwargs)
        if not 2 <= min_options <= max_options <= len(LETTERS):
            raise ValueError(
                f"need 2 <= min_options <= max_options, got {min_options}, {max_options}"
            )
        if min_segments < 1:
            raise ValueError(f"min_segments must be >= 1, got {min_segments}")
        self.min_options, self.max_options, self.min_segments = (
            min_options,
            max_options,
            min_segments,
        )

    def applies(self, sample: VideoSample) -> bool:
        return not sample.question.strip()

    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        segments = sorted(
            (e for e in sample.evidence if e.caption.strip()), key=lambda e: (e.start, e.end)
        )
        if len(segments) < self.min_segments:
            raise Reject(
                self.name,
                "too_few_segments",
                f"{len(segments)} captioned segment(s); a question needs {self.min_segments}",
            )
        duration = await clip_duration(sample, log, self.name)
        fields = {
            "segments": _evidence_lines(sample, segments),
            "num_segments": len(segments),
            "duration": f"{duration:.1f}",
            "min_options": self.min_options,
            "max_options": self.max_options,
            "min_segments": self.min_segments,
        }
        captions = [e.caption for e in segments]
        q = await self.ask(
            self.messages(self.user.format(**fields), fields),
            lambda text: validate_question(
                extract_json(text, dict),
                captions,
                min_options=self.min_options,
                max_options=self.max_options,
                min_segments=self.min_segments,
            ),
            log,
        )
        return replace(
            sample,
            question=q.question,
            options=q.options,
            answer=q.answer,
            problem_type="multiple choice",
            evidence=[replace(segments[i]) for i in q.segments],
            meta=dict(sample.meta),
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


TRACE_SYSTEM = (
    "You write step-by-step video reasoning in a fixed tagged format, as if you were "
    "watching the video. For each moment that matters write "
    "<time>MM:SS-MM:SS</time> <caption>what is visible in that window</caption> "
    "<think>what it means for the question</think>, in an order that builds the argument, "
    "then end with <answer>X</answer> holding only the final answer. Use the given time "
    "windows and what the given descriptions say is visible; the captions must state the "
    "visual facts that lead to the answer. Never mention that the answer or descriptions "
    "were given to you. Reply with the tagged reasoning only."
)
TRACE_USER = (
    "Question: {question}\n{options}The video lasts {duration} seconds.\n"
    "Moments of the video and what is visible in them:\n{evidence}\n"
    "Correct answer: {answer}\n"
    "Write the reasoning that finds these moments, describes them and reaches the answer."
)
TRACE_REGENERATE = (
    "\nThis is attempt {attempt}: a previous version of this reasoning failed a check: "
    "{feedback} Make the <caption> contents state the visual facts that support the correct "
    "answer."
)


class ReverseTrace(LLMStep):
    """Answer + spans + captions → the tagged trace (DeepSeek-V3 in the paper).

    Applies to samples without a trace (all samples with ``overwrite``). Placeholders:
    ``{question}``, ``{options}``, ``{answer}`` (``"C. text"``), ``{evidence}`` (numbered
    ``"1. MM:SS-MM:SS: caption"`` lines, clip time), ``{duration}``; ``regenerate``
    (appended to the user prompt when `HindsightVerify` asks for a new trace) takes
    ``{feedback}`` and ``{attempt}`` (2, 3, …; it also keeps each regeneration a distinct
    request, so the response cache does not hand back the refused trace). The reply is checked by `vthinker.curation.validate.validate_trace`:
    well formed, spans inside the clip, the gold answer.

    Args:
        endpoint: The chat endpoint.
        overwrite: Also rewrite samples that already have a trace.
        system: System prompt template.
        user: User prompt template.
        regenerate: Added to the user prompt for a regenerated trace.
        **kwargs: `LLMStep`'s other arguments (``repair``, ``temperature``, ``max_tokens``,
            ``max_attempts``, ``extra_body``).
    """

    name = "reverse_trace"
    json_reply = False
    placeholders: ClassVar[set[str]] = {"question", "options", "answer", "evidence", "duration"}

    def __init__(
        self,
        endpoint: Endpoint,
        overwrite: bool = False,
        system: str | None = TRACE_SYSTEM,
        user: str = TRACE_USER,
        regenerate: str = TRACE_REGENERATE,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, system, user, **kwargs)
        check_template(type(self).__name__, "regenerate", regenerate, {"feedback", "attempt"})
        self.overwrite = overwrite
        self.regenerate = regenerate

    def applies(self, sample: VideoSample) -> bool:
        return self.overwrite or sample.trace is None

    async def generate(
        self, sample: VideoSample, log: SampleLog, feedback: str | None = None, attempt: int = 1
    ) -> str:
        """Write and validate one trace.

        Args:
            sample: The sample (question, answer, captioned evidence).
            log: Its bookkeeping.
            feedback: Why the previous trace was refused (None for the first trace).
            attempt: Which trace this is (1 for the first).
        """
        evidence = [e for e in sample.evidence if e.caption.strip()]
        if not sample.question.strip() or not evidence:
            raise Reject(
                self.name,
                "no_evidence",
                "a trace needs a question and at least one captioned evidence window",
            )
        _check_gold(sample, self.name)
        duration = await clip_duration(sample, log, self.name)
        fields = {
            "question": sample.question.strip(),
            "options": _options_text(sample),
            "answer": _answer_text(sample),
            "evidence": _evidence_lines(sample, evidence),
            "duration": f"{duration:.1f}",
        }
        user = self.user.format(**fields)
        if feedback is not None:
            user += self.regenerate.format(feedback=feedback, attempt=attempt)
        trace = await self.ask(
            self.messages(user, fields),
            lambda text: validate_trace(
                text,
                answer=sample.answer,
                options=sample.options,
                problem_type=sample.problem_type,
                duration=duration,
            ),
            log,
        )
        log.trace_attempts += 1
        return trace

    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        return replace(sample, trace=await self.generate(sample, log), meta=dict(sample.meta))


VERIFY_SYSTEM = (
    "You answer questions about a video that you cannot see. You only get descriptions of "
    "some moments of the video with their times. Decide from them alone, think briefly, "
    "then give the final answer inside <answer></answer>."
)
VERIFY_USER = (
    "Moments of the video:\n{evidence}\n\nQuestion: {question}\n{options}"
    "Give the answer (the option's letter for a multiple-choice question) inside "
    "<answer></answer>."
)


class HindsightVerify(Step):
    """The hindsight check: can a verifier that sees only the trace's ``<time>`` and
    ``<caption>`` contents (never the video, the ``<think>`` or the answer) reach the gold
    answer? If not, ask the preceding `ReverseTrace` step for a new trace (with the
    verifier's answer as feedback); after ``max_attempts`` traces fail, reject with
    ``hindsight_verify:unsupported``. Qwen2.5-VL-7B-Instruct in the paper, as an endpoint
    or a local model. Placeholders: ``{evidence}`` (``"- MM:SS-MM:SS: caption"`` lines),
    ``{question}``, ``{options}``.

    Args:
        endpoint: Verifier endpoint (exactly one of ``endpoint`` and ``local_model``).
        local_model: Verifier loaded in-process with transformers.
        max_attempts: Traces verified at most (the first one included).
        system: System prompt template.
        user: User prompt template.
        temperature: Sampling temperature (default greedy).
        max_tokens: Completion token limit.
        extra_body: More request body fields (endpoint only).
    """

    name = "hindsight_verify"
    placeholders: ClassVar[set[str]] = {"evidence", "question", "options"}

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        local_model: LocalModel | None = None,
        max_attempts: int = 3,
        system: str | None = VERIFY_SYSTEM,
        user: str = VERIFY_USER,
        temperature: float | None = 0.0,
        max_tokens: int | None = 512,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if (endpoint is None) == (local_model is None):
            raise ValueError("HindsightVerify needs exactly one of endpoint and local_model")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        check_template("HindsightVerify", "system", system, self.placeholders)
        check_template("HindsightVerify", "user", user, self.placeholders)
        self.endpoint = endpoint
        self.local_model = local_model
        self.max_attempts = max_attempts
        self.system = system
        self.user = user
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self._verifier: ChatClient | LocalChatModel | None = None
        self._generator: ReverseTrace | None = None

    def setup(self, ctx: CurationContext, steps: list[Step]) -> None:
        self._verifier = (
            ctx.client(self.endpoint) if self.endpoint is not None else ctx.local(self.local_model)  # type: ignore[arg-type]
        )
        before = steps[: steps.index(self)] if self in steps else steps
        generators = [s for s in before if isinstance(s, ReverseTrace)]
        self._generator = generators[-1] if generators else None

    def describe(self) -> dict[str, Any]:
        if self.endpoint is not None:
            return {"model": self.endpoint.model}
        return {"model": self.local_model.label}  # type: ignore[union-attr]

    def verifier_messages(self, sample: VideoSample, trace: str) -> list[dict]:
        """What the verifier sees: only the (time, caption) pairs of the trace."""
        segs = [s for s in parse_trace(trace).segments if s.caption is not None]
        evidence = "\n".join(f"- {s.time_text or '?'}: {s.caption}" for s in segs)
        fields = {
            "evidence": evidence,
            "question": sample.question.strip(),
            "options": _options_text(sample),
        }
        msgs: list[dict] = []
        if self.system is not None:
            msgs.append({"role": "system", "content": self.system.format(**fields)})
        msgs.append({"role": "user", "content": self.user.format(**fields)})
        return msgs

    async def verify(self, sample: VideoSample, trace: str, log: SampleLog) -> str | None:
        """The verifier's extracted answer for ``trace``."""
        if self._verifier is None:
            raise RuntimeError("HindsightVerify is not set up (call setup(ctx, steps))")
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.endpoint is not None:
            params.update(self.extra_body)
        result = await self._verifier.chat(self.verifier_messages(sample, trace), **params)
        log.calls[self.name] += 1
        return extract_answer(result.text, sample.options, sample.problem_type)

    async def run(self, sample: VideoSample, log: SampleLog) -> VideoSample:
        if not sample.trace:
            raise Reject(self.name, "no_trace", "the sample has no trace to verify")
        _check_gold(sample, self.name)
        trace = sample.trace
        log.trace_attempts = max(log.trace_attempts, 1)
        for attempt in range(1, self.max_attempts + 1):
            pred = await self.verify(sample, trace, log)
            log.verifier_answers.append(pred)
            if is_correct(pred, sample.answer, sample.problem_type):
                return replace(sample, trace=trace, meta=dict(sample.meta))
            if attempt == self.max_attempts or self._generator is None:
                break
            feedback = (
                f"a reader who saw only the <time> and <caption> contents answered "
                f"{pred if pred is not None else 'nothing usable'} instead of {sample.answer}."
            )
            trace = await self._generator.generate(
                sample, log, feedback=feedback, attempt=attempt + 1
            )
        answers = ", ".join(a if a is not None else "none" for a in log.verifier_answers)
        raise Reject(
            self.name,
            "unsupported",
            f"the verifier did not reach {sample.answer} from the captions of "
            f"{len(log.verifier_answers)} trace(s) (it answered {answers})",
        )
