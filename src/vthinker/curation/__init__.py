"""Hindsight curation: build verified Video-Thinker training traces with LLMs.

`client` talks to OpenAI-compatible endpoints (limits, retries, cache, key hygiene);
`steps` holds the pipeline stages; `runner` streams JSONL samples through them
(``vthinker curate --config configs/curation/….yaml``). Importing this package does not
import torch or Lightning.
"""

from vthinker.curation.client import (
    ChatClient,
    ChatResult,
    Endpoint,
    JSONExtractError,
    LLMError,
    Usage,
    extract_json,
)
from vthinker.curation.local import LocalChatModel, LocalModel
from vthinker.curation.steps import (
    AnswerConditionedCaptions,
    HindsightVerify,
    QuestionSynthesis,
    Reject,
    ReverseTrace,
    Step,
    VideoFilter,
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
