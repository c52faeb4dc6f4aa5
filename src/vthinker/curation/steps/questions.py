"""`QuestionSynthesis`: write a question and its answer from a video's annotations."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from vthinker.curation.steps.base import (
    LLMStep,
    Reject,
    SampleLog,
    _evidence_lines,
    clip_duration,
)
from vthinker.curation.validate import (
    validate_question,
)
from vthinker.data.schema import LETTERS, VideoSample
from vthinker.llm.client import (
    Endpoint,
    extract_json,
)

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
