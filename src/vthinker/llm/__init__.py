"""Language models as services, for any part of vthinker that asks one: the OpenAI-compatible
chat client (`client`, built from `endpoint`: what a service is and its errors, `retry`:
backoff and rate limits, `cache`: replies on disk, `json_reply`: JSON out of replies), a local Hugging Face model behind the same interface (`local`), and
a local mock server with scheduled faults for tests and dry runs (`mock`). Curation and the
judge rewards both build on it. Importing this package does not import torch.
"""

from vthinker.llm.client import (
    ChatClient,
    ChatResult,
    Endpoint,
    JSONExtractError,
    LLMError,
    Usage,
    extract_json,
)
from vthinker.llm.local import LocalChatModel, LocalModel

__all__ = [
    "ChatClient",
    "ChatResult",
    "Endpoint",
    "JSONExtractError",
    "LLMError",
    "LocalChatModel",
    "LocalModel",
    "Usage",
    "extract_json",
]
