"""What every curation step shares: the sample log, the run context, `Reject`, the `Step`
and `LLMStep` bases, and helpers for options, spans, evidence and frames. The package
docstring says how the steps fit together."""

from __future__ import annotations

import abc
import asyncio
import base64
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from vthinker.curation.validate import (
    OutputError,
)
from vthinker.data.prompts import check_template
from vthinker.data.schema import LETTERS, Evidence, VideoSample
from vthinker.data.video import VideoDecodeError, video_info
from vthinker.extract import is_correct
from vthinker.llm.client import (
    ChatClient,
    ChatResult,
    Endpoint,
    JSONExtractError,
)
from vthinker.llm.local import LocalChatModel, LocalModel
from vthinker.trace import render_span

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
