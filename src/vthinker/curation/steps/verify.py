"""`HindsightVerify`: keep a trace only if a verifier reaches the gold answer from its
times and captions alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from vthinker.curation.steps.base import (
    CurationContext,
    Reject,
    SampleLog,
    Step,
    _check_gold,
    _options_text,
)
from vthinker.curation.steps.traces import ReverseTrace
from vthinker.data.prompts import check_template
from vthinker.data.schema import VideoSample
from vthinker.extract import extract_answer, is_correct
from vthinker.llm.client import (
    ChatClient,
    Endpoint,
)
from vthinker.llm.local import LocalChatModel, LocalModel
from vthinker.trace import parse_trace

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
