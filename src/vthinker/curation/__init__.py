"""Hindsight curation: build verified Video-Thinker training traces with LLMs.

`vthinker.llm` talks to the models (OpenAI-compatible endpoints with limits, retries, cache
and key hygiene, or a local model; its names are re-exported here); `steps` holds the
pipeline stages; `runner` streams JSONL samples through them
(``vthinker curate --config configs/curation/….yaml``). Importing this package does not
import torch or Lightning.
"""

from vthinker.curation.steps import (
    AnswerConditionedCaptions,
    HindsightVerify,
    QuestionSynthesis,
    Reject,
    ReverseTrace,
    Step,
    VideoFilter,
)
from vthinker.llm import (
    ChatClient,
    ChatResult,
    Endpoint,
    JSONExtractError,
    LLMError,
    LocalChatModel,
    LocalModel,
    Usage,
    extract_json,
)

__all__ = [
    "AnswerConditionedCaptions",
    "ChatClient",
    "ChatResult",
    "Endpoint",
    "HindsightVerify",
    "JSONExtractError",
    "LLMError",
    "LocalChatModel",
    "LocalModel",
    "QuestionSynthesis",
    "Reject",
    "ReverseTrace",
    "Step",
    "Usage",
    "VideoFilter",
    "extract_json",
]
