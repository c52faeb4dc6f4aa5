"""The values the chat client works with: `Endpoint` (how to call a service), `Usage`,
`ChatResult` and the errors."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying (any other 5xx is retried too)."""
_REDACTED = "[REDACTED]"


@dataclass
class Endpoint:
    """An OpenAI-compatible chat endpoint and how to call it.

    Attributes:
        base_url: API root, e.g. ``http://127.0.0.1:8000/v1``; requests go to
            ``{base_url}/chat/completions``.
        model: Model name the server expects.
        api_key_env: NAME of the environment variable that holds the API key (None: send no
            key, as for a local vLLM). The key itself never appears in configs or outputs.
        max_concurrency: Requests in flight at once (per event loop).
        requests_per_minute: Request rate cap (None: no cap). Retries count too.
        timeout_s: Limit for one HTTP attempt, in seconds.
        max_attempts: HTTP attempts per call, the first one included.
        backoff_base_s: Backoff before the first retry (before jitter).
        backoff_max_s: Backoff cap; also caps a server's ``Retry-After``.
        price_per_1k_prompt: Price of 1000 prompt tokens (for cost estimates).
        price_per_1k_completion: Price of 1000 completion tokens.
        supports_json_mode: Whether to send ``response_format={"type": "json_object"}`` when
            JSON is asked for (some reasoning models reject it; replies are parsed anyway).
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    price_per_1k_prompt: float = 0.0
    price_per_1k_completion: float = 0.0
    supports_json_mode: bool = True

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.base_url):
            raise ValueError(
                f"endpoint base_url must start with http:// or https://, got {self.base_url!r}"
            )
        if not self.model:
            raise ValueError(f"endpoint {self.base_url}: model must not be empty")
        if self.api_key_env is not None and not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env
        ):
            raise ValueError(
                f"endpoint {self.base_url}: api_key_env must be the NAME of an environment "
                f"variable (letters, digits, _), not a key"
            )
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise ValueError(
                f"requests_per_minute must be positive or null, got {self.requests_per_minute}"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError(
                f"need 0 <= backoff_base_s <= backoff_max_s, got {self.backoff_base_s}, "
                f"{self.backoff_max_s}"
            )
        if self.price_per_1k_prompt < 0 or self.price_per_1k_completion < 0:
            raise ValueError("prices must not be negative")

    @property
    def url(self) -> str:
        """The chat completions URL."""
        return f"{self.base_url.rstrip('/')}/chat/completions"

    @property
    def label(self) -> str:
        """``model @ base_url``, for logs and reports."""
        return f"{self.model} @ {self.base_url.rstrip('/')}"

    def api_key(self) -> str | None:
        """The key from the environment (None when ``api_key_env`` is None).

        Raises:
            LLMError: if the named variable is not set or empty.
        """
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise LLMError(
                f"{self.label}: environment variable {self.api_key_env} (api_key_env) is not "
                "set; export the API key under that name",
                retryable=False,
                fatal=True,
            )
        return key

    def key(self) -> tuple[Any, ...]:
        """Identity for sharing one client (and its limits) between steps."""
        return tuple(getattr(self, f) for f in self.__dataclass_fields__)


@dataclass
class Usage:
    """Token counts of one or more calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def cost(self, endpoint: Endpoint) -> float:
        """Estimated price: ``prompt/1000 * price_prompt + completion/1000 * price_completion``."""
        return (
            self.prompt_tokens / 1000 * endpoint.price_per_1k_prompt
            + self.completion_tokens / 1000 * endpoint.price_per_1k_completion
        )


@dataclass
class ChatResult:
    """One chat reply.

    Attributes:
        text: The assistant message content ("" when the server sent none).
        usage: Tokens of this reply (as the server reported them; kept for cache hits too).
        attempts: HTTP attempts made (0 when served from the cache).
        cached: Whether it came from the on-disk cache.
    """

    text: str
    usage: Usage
    attempts: int
    cached: bool


class LLMError(RuntimeError):
    """A call that failed for good: retries exhausted, or a non-retryable answer.

    The message names the endpoint URL/model and the reason, never the key.

    Attributes:
        status: The last HTTP status, or None (timeouts, connection errors, config errors).
        retryable: Whether the last failure was of a retryable kind (then attempts ran out).
        attempts: HTTP attempts made.
        fatal: Whether no other call to this endpoint can succeed either (missing key
            variable; HTTP 401, 403 or 404: bad key, URL or model).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        attempts: int = 0,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.attempts = attempts
        self.fatal = fatal


class JSONExtractError(ValueError):
    """No JSON value of the wanted kind could be found in a reply."""


# --- pure helpers ---------------------------------------------------------------------------
