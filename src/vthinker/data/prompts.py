"""Prompt templates: turn a `VideoSample` into chat messages asking for the tagged format.

The default system prompt describes the Video-Thinker thinking format; the user
turn is the video followed by the question, the lettered options and an answer
instruction that depends on the problem type. Every string is configurable from
YAML (``data.init_args.prompt``). Placeholders in ``user``: ``{question}``,
``{options}`` (lettered, one per line; empty when there are none), ``{duration}``
(video or clip length in seconds, one decimal) and ``{answer_instruction}``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from vthinker.data.schema import VideoSample


def check_template(owner: str, name: str, template: str | None, allowed: set[str]) -> None:
    """Raise ValueError for a ``str.format`` template with a placeholder outside ``allowed``
    (or one that does not parse), naming its ``owner`` and ``name``: the one check of the
    prompt templates of training, the judges and curation."""
    if template is None:
        return
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise ValueError(f"{owner}: prompt template {name!r} is malformed: {err}") from None
    unknown = sorted(f for f in fields if f not in allowed)
    if unknown:
        raise ValueError(
            f"{owner}: prompt template {name!r} has unknown placeholder(s) "
            f"{', '.join('{' + u + '}' for u in unknown)}; allowed: "
            f"{', '.join('{' + a + '}' for a in sorted(allowed))}"
        )


__all__ = ["DEFAULT_SYSTEM", "PromptTemplate"]

DEFAULT_SYSTEM = (
    "You are a video reasoning assistant that thinks with the video. Before answering, "
    "ground the moments that matter and describe them inside your reasoning: for each one "
    "write <time>MM:SS-MM:SS</time> <caption>what is visible in that window</caption> "
    "<think>what it means for the question</think>. Use as many such blocks as you need, "
    "then give the final answer inside <answer></answer>."
)

DEFAULT_USER = "{question}\n{options}The video lasts {duration} seconds. {answer_instruction}"

DEFAULT_ANSWER_INSTRUCTIONS = {
    "multiple choice": "Answer with the option's letter only inside <answer></answer>.",
    "numerical": "Answer with a number only inside <answer></answer>.",
    "free-form": "Answer with a short phrase inside <answer></answer>.",
    "temporal grounding": ("Answer with the time span as MM:SS-MM:SS inside <answer></answer>."),
}


@dataclass
class PromptTemplate:
    """System and user templates for one task.

    Attributes:
        system: System prompt; None uses the model's chat-template default.
        user: User text template (see module docstring for placeholders).
        answer_instructions: Per problem type instruction; ``default`` is used for
            types without an entry.
        default_instruction: Instruction for problem types not in ``answer_instructions``.
        video_first: Put the video before the text in the user turn (Qwen's convention).
    """

    system: str | None = DEFAULT_SYSTEM
    user: str = DEFAULT_USER
    answer_instructions: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_ANSWER_INSTRUCTIONS)
    )
    default_instruction: str = "Put the final answer inside <answer></answer>."
    video_first: bool = True

    def __post_init__(self) -> None:
        check_template(
            "PromptTemplate",
            "user",
            self.user,
            {"question", "options", "duration", "answer_instruction"},
        )

    def user_text(self, sample: VideoSample, duration: float | None = None) -> str:
        options = "".join(f"{o}\n" for o in sample.lettered_options)
        if options:
            options = f"Options:\n{options}"
        instruction = self.answer_instructions.get(sample.problem_type, self.default_instruction)
        text = self.user.format(
            question=sample.question.strip(),
            options=options,
            duration=f"{duration:.1f}" if duration is not None else "?",
            answer_instruction=instruction,
        )
        if duration is None:
            text = text.replace("The video lasts ? seconds. ", "")
        return text.strip()

    def messages(
        self, sample: VideoSample, duration: float | None = None, target: str | None = None
    ) -> list[dict[str, Any]]:
        """Chat messages for the processor's chat template.

        Args:
            sample: The question.
            duration: Length of the video (or clip) shown, in seconds (None for an image).
            target: Assistant reply to append (SFT); None for a generation prompt.
        """
        text = {"type": "text", "text": self.user_text(sample, duration)}
        # An image question (Video-R1-260k's image records) shows its image where a video
        # question shows its video.
        media = {"type": "image" if sample.data_type == "image" else "video"}
        content = [media, text] if self.video_first else [text, media]
        msgs: list[dict[str, Any]] = []
        if self.system is not None:
            msgs.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        msgs.append({"role": "user", "content": content})
        if target is not None:
            msgs.append({"role": "assistant", "content": [{"type": "text", "text": target}]})
        return msgs
