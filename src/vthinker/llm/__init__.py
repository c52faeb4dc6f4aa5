"""Language models as services, for any part of vthinker that asks one.

- `client`: the OpenAI-compatible chat client, built from `endpoint` (what a service is, the
  results and errors), `retry` (backoff and rate limits), `cache` (replies on disk) and
  `json_reply` (JSON out of replies);
- `local`: a local Hugging Face model behind the same interface;
- `mock`: a local mock server with scheduled faults, for tests and dry runs.

Curation and the judge rewards both build on it. Importing this package does not import
torch.
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
