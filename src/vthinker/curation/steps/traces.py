"""`ReverseTrace`: the answer, its spans and captions turned into a tagged trace."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from vthinker.curation.steps.base import (
    LLMStep,
    Reject,
    SampleLog,
    _answer_text,
    _check_gold,
    _evidence_lines,
    _options_text,
    clip_duration,
)
from vthinker.curation.validate import (
    validate_trace,
)
from vthinker.data.prompts import check_template
from vthinker.data.schema import VideoSample
from vthinker.llm.client import (
    Endpoint,
)

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
