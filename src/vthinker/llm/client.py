"""An async client for OpenAI-compatible chat completion endpoints.

`ChatClient` posts ``{base_url}/chat/completions`` with httpx and is built for long, paid
batch runs (DeepSeek, Gemini's OpenAI-compatible API, vLLM, any OpenAI-style server):

- **Limits per endpoint:** at most ``max_concurrency`` requests in flight (per event loop)
  and at most ``requests_per_minute``, spaced evenly (`RateLimiter`).
- **Retries:** 408/409/429/5xx, timeouts, connection errors and malformed response bodies
  are retried up to ``max_attempts`` HTTP attempts in all. The wait before retry ``k``
  (``k = 1`` after the first failure) is "equal jitter" exponential backoff
  (`backoff_delay`)::

      cap   = min(backoff_max_s, backoff_base_s * 2 ** (k - 1))
      delay = cap * (0.5 + 0.5 * u)          # u ~ Uniform[0, 1) from the client's RNG

  A ``Retry-After`` (or ``retry-after-ms``) header replaces that delay, capped at
  ``backoff_max_s`` (`retry_after_seconds`). Other 4xx answers are not retried.
- **Timeouts:** ``timeout_s`` bounds each HTTP attempt as a whole (connect, send, read).
- **Cache:** with ``cache_dir``, each successful reply is stored on disk under the SHA-256 of
  the request (`request_key`: endpoint URL + the JSON body, i.e. model, messages and
  parameters; never the key), so a re-run pays for nothing it already got.
- **JSON:** ``json_mode=True`` asks for ``response_format={"type": "json_object"}`` where
  the endpoint supports it; `extract_json` reads JSON out of fenced or chatty replies.
- **Accounting:** ``usage`` sums the tokens billed (cache hits excluded), ``retries`` the
  retried attempts, ``requests`` the HTTP attempts, ``cache_hits`` the cached replies.
- **Keys:** the API key is read from the environment variable named by ``api_key_env`` at
  request time. It is never stored, logged or cached, and it is masked in every error
  message (servers sometimes echo it back in error bodies).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

__all__ = [
    "RETRYABLE_STATUS",
    "ChatClient",
    "ChatResult",
    "Endpoint",
    "JSONExtractError",
    "LLMError",
    "RateLimiter",
    "ResponseCache",
    "Usage",
    "backoff_delay",
    "extract_json",
    "parse_retry_after",
    "request_key",
    "retry_after_seconds",
]

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


def backoff_delay(attempt: int, base_s: float, max_s: float, u: float) -> float:
    """Seconds to wait before retry ``attempt`` ("equal jitter" exponential backoff).

    Args:
        attempt: 1 for the first retry, 2 for the second, …
        base_s: Backoff before jitter for the first retry.
        max_s: Cap before jitter.
        u: A uniform number in ``[0, 1)`` (the jitter; injected so tests can fix it).

    Returns:
        ``min(max_s, base_s * 2 ** (attempt - 1)) * (0.5 + 0.5 * u)``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if not 0.0 <= u <= 1.0:
        raise ValueError(f"jitter u must lie in [0, 1], got {u}")
    # 2 ** (attempt - 1) overflows a float past ~1024 doublings; the cap applies long before.
    exponent = min(attempt - 1, 1023)
    cap = min(max_s, base_s * 2.0**exponent)
    return cap * (0.5 + 0.5 * u)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header value to seconds.

    Accepts delta-seconds (``"120"``; fractions such as ``"0.5"`` are accepted too) and
    HTTP-dates (``"Wed, 21 Oct 2015 07:28:00 GMT"``, seconds from ``now``, at least 0).

    Returns:
        Seconds to wait, or None for a missing, negative or unreadable value.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a server asks to wait: ``retry-after-ms`` (OpenAI) first, then ``Retry-After``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = parse_retry_after(lowered.get("retry-after-ms"), now)
    if ms is not None:
        return ms / 1000.0
    return parse_retry_after(lowered.get("retry-after"), now)


def request_key(base_url: str, body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a request: the endpoint URL and the JSON body (model, messages,
    parameters), canonically serialised. The API key is not part of it."""
    canonical = json.dumps(
        {"url": base_url.rstrip("/"), "body": body},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_REASONING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def extract_json(text: str, expect: type | tuple[type, ...] = (dict, list)) -> Any:
    """Read a JSON value out of an LLM reply.

    Tried in order: the whole reply; each fenced code block (```` ```json … ``` ````); then
    the first ``{`` or ``[`` from which a complete JSON value parses (text around it is
    ignored). A leading ``<think>…</think>`` block (reasoning models) is removed first.

    Args:
        text: The reply.
        expect: Type(s) the value must have (default: an object or an array).

    Raises:
        JSONExtractError: if no candidate parses to a value of the expected type.
    """
    if not isinstance(text, str):
        raise JSONExtractError(f"reply is not text: {type(text).__name__}")
    body = _REASONING.sub("", text).strip()
    candidates = [body] + [m.group(2).strip() for m in _FENCE.finditer(body)]
    for cand in candidates:
        try:
            value = json.loads(cand)
        except ValueError:
            continue
        if isinstance(value, expect):
            return value
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", body):
        try:
            value, _ = decoder.raw_decode(body, m.start())
        except ValueError:
            continue
        if isinstance(value, expect):
            return value
    snippet = body if len(body) <= 200 else body[:200] + "…"
    raise JSONExtractError(f"no JSON value found in the reply: {snippet!r}")


# --- rate limiting and cache ----------------------------------------------------------------


class RateLimiter:
    """Spaces requests evenly: at most ``requests_per_minute``, one every ``60/rpm`` seconds.

    `reserve` books the next free slot and returns how long the caller must wait for it.
    Thread-safe and independent of any event loop.
    """

    def __init__(
        self, requests_per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not requests_per_minute > 0:
            raise ValueError(f"requests_per_minute must be positive, got {requests_per_minute}")
        self.interval = 60.0 / requests_per_minute
        self._clock = clock
        self._next = -math.inf
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book a slot; returns seconds to wait (0 when one is free now)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now


@dataclass
class _Cached:
    text: str
    usage: Usage


class ResponseCache:
    """Replies on disk, one JSON file per request key (``root/ab/abcd….json``).

    Files are written atomically (temporary file + rename), so a crash never leaves a
    half-written entry; an unreadable entry counts as a miss.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> _Cached | None:
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            usage = entry.get("usage") or {}
            return _Cached(
                text=str(entry["text"]),
                usage=Usage(
                    int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
                ),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable cache entry %s: %s", path, err)
            return None

    def put(self, key: str, text: str, usage: Usage, model: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        entry = {
            "key": key,
            "model": model,
            "text": text,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        }
        tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def keys(self) -> set[str]:
        """All keys with an entry."""
        return {p.stem for p in self.root.glob("*/*.json")}


# --- the client -----------------------------------------------------------------------------


@dataclass
class _LoopState:
    http: httpx.AsyncClient
    semaphore: asyncio.Semaphore


@dataclass
class _Failure:
    reason: str
    status: int | None = None
    retryable: bool = True
    retry_after: float | None = None


@dataclass
class _Counters:
    usage: Usage = field(default_factory=Usage)
    retries: int = 0
    requests: int = 0
    cache_hits: int = 0


class ChatClient:
    """Chat completions against one `Endpoint` (see the module docstring).

    Args:
        endpoint: Where and how to call.
        cache_dir: Folder of the response cache (None: no cache).
        rng: Source of the backoff jitter (seed it for reproducible waits).
        sleep: Awaitable sleep (injected by tests to record the waits).
        clock: Monotonic clock for the rate limiter.
        transport: httpx transport (tests, proxies); None for the default.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._limiter = (
            RateLimiter(endpoint.requests_per_minute, clock)
            if endpoint.requests_per_minute is not None
            else None
        )
        self._transport = transport
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._bg_loop: asyncio.AbstractEventLoop | None = None
        self._bg_thread: threading.Thread | None = None

    # --- running totals ---

    @property
    def usage(self) -> Usage:
        """Tokens billed so far (cache hits excluded)."""
        return self._counters.usage

    @property
    def retries(self) -> int:
        """HTTP attempts that were retries of a failed attempt."""
        return self._counters.retries

    @property
    def requests(self) -> int:
        """HTTP attempts made."""
        return self._counters.requests

    @property
    def cache_hits(self) -> int:
        """Replies served from the cache."""
        return self._counters.cache_hits

    @property
    def cost(self) -> float:
        """Estimated price of the tokens billed so far."""
        return self.usage.cost(self.endpoint)

    # --- public API ---

    def body(self, messages: list[dict], *, json_mode: bool = False, **params: Any) -> dict:
        """The JSON body that `chat` posts (and hashes for the cache)."""
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages must be a non-empty list of chat messages")
        body: dict[str, Any] = {"model": self.endpoint.model, "messages": messages}
        body.update({k: v for k, v in params.items() if v is not None})
        if json_mode and self.endpoint.supports_json_mode:
            body.setdefault("response_format", {"type": "json_object"})
        return body

    async def chat(
        self, messages: list[dict], *, json_mode: bool = False, **params: Any
    ) -> ChatResult:
        """One chat completion, retried and cached as the module docstring says.

        Args:
            messages: OpenAI chat messages (``content`` a string or a list of parts).
            json_mode: Ask for a JSON object reply (when the endpoint supports it).
            **params: Extra body fields (``temperature``, ``max_tokens``, …; None values
                are left out).

        Raises:
            LLMError: after ``max_attempts`` failed attempts, or on a non-retryable answer.
        """
        body = self.body(messages, json_mode=json_mode, **params)
        key = request_key(self.endpoint.base_url, body)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                with self._lock:
                    self._counters.cache_hits += 1
                return ChatResult(text=hit.text, usage=hit.usage, attempts=0, cached=True)
        try:
            text, usage, attempts = await self._post_with_retries(body)
        except LLMError:
            raise
        except Exception as err:  # anything unforeseen: never let its text carry the key
            raise LLMError(
                self._redact(
                    f"{self.endpoint.url} (model {self.endpoint.model}): unexpected client "
                    f"error {type(err).__name__}: {err}"
                ),
                retryable=False,
            ) from None
        with self._lock:
            self._counters.usage = self._counters.usage + usage
        if self.cache is not None:
            self.cache.put(key, text, usage, self.endpoint.model)
        return ChatResult(text=text, usage=usage, attempts=attempts, cached=False)

    def chat_sync(self, messages: list[dict], **kwargs: Any) -> ChatResult:
        """`chat` for synchronous callers.

        Runs on a private event loop in a background thread, so it also works from a thread
        whose own event loop is running (it blocks that thread until the reply comes).
        """
        loop = self._background_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("chat_sync called from the client's own loop; await chat() there")
        future = asyncio.run_coroutine_threadsafe(self.chat(messages, **kwargs), loop)
        return future.result()

    async def close(self) -> None:
        """Close the HTTP connections (of every loop used) and the background loop."""
        current = asyncio.get_running_loop()
        for loop, state in list(self._states.items()):
            if loop is current:
                await state.http.aclose()
            elif loop.is_running() and not loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(state.http.aclose(), loop)
                await asyncio.wrap_future(fut)
        self._states.clear()
        self._stop_background()

    def close_sync(self) -> None:
        """`close` for synchronous callers."""
        if self._bg_loop is not None and self._bg_loop.is_running():
            state = self._states.pop(self._bg_loop, None)
            if state is not None:
                asyncio.run_coroutine_threadsafe(state.http.aclose(), self._bg_loop).result()
        self._stop_background()

    # --- internals ---

    def _redact(self, text: str) -> str:
        env = self.endpoint.api_key_env
        key = os.environ.get(env, "").strip() if env else None
        if key:
            text = text.replace(key, _REDACTED)
        return text

    def _error(self, failure: _Failure, attempts: int) -> LLMError:
        message = self._redact(
            f"{self.endpoint.url} (model {self.endpoint.model}): {failure.reason} "
            f"(after {attempts} attempt{'s' if attempts != 1 else ''})"
        )
        return LLMError(
            message,
            status=failure.status,
            retryable=failure.retryable,
            attempts=attempts,
            fatal=not failure.retryable and failure.status in (401, 403, 404),
        )

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            n = self.endpoint.max_concurrency
            http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.endpoint.timeout_s),
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                transport=self._transport,
                follow_redirects=False,
            )
            state = _LoopState(http=http, semaphore=asyncio.Semaphore(n))
            self._states[loop] = state
        return state

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.endpoint.api_key()
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def _post_with_retries(self, body: dict) -> tuple[str, Usage, int]:
        headers = self._headers()  # fails fast (not retried) when the key is missing
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        state = self._state()
        ep = self.endpoint
        failure = _Failure("no attempt made")
        for attempt in range(1, ep.max_attempts + 1):
            if attempt > 1:
                with self._lock:
                    self._counters.retries += 1
            async with state.semaphore:
                if self._limiter is not None:
                    wait = self._limiter.reserve()
                    if wait > 0:
                        await self._sleep(wait)
                with self._lock:
                    self._counters.requests += 1
                outcome = await self._attempt(state.http, payload, headers)
            if not isinstance(outcome, _Failure):
                return (*outcome, attempt)
            failure = outcome
            if not failure.retryable or attempt == ep.max_attempts:
                break
            if failure.retry_after is not None:
                delay = min(failure.retry_after, ep.backoff_max_s)
            else:
                delay = backoff_delay(
                    attempt, ep.backoff_base_s, ep.backoff_max_s, self._rng.random()
                )
            log.info(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                ep.label,
                attempt,
                ep.max_attempts,
                self._redact(failure.reason),
                delay,
            )
            await self._sleep(delay)
        raise self._error(failure, attempt)

    async def _attempt(
        self, http: httpx.AsyncClient, payload: bytes, headers: dict[str, str]
    ) -> tuple[str, Usage] | _Failure:
        ep = self.endpoint
        try:
            response = await asyncio.wait_for(
                http.post(ep.url, content=payload, headers=headers), timeout=ep.timeout_s
            )
        except (asyncio.TimeoutError, httpx.TimeoutException):
            return _Failure(f"timed out after {ep.timeout_s:g} s")
        except httpx.TransportError as err:
            return _Failure(f"connection error ({type(err).__name__}: {err})")
        except httpx.HTTPError as err:  # e.g. a body that fails to decompress
            return _Failure(f"bad response ({type(err).__name__}: {err})")
        status = response.status_code
        if status != 200:
            snippet = response.text[:300].strip()
            retryable = status in RETRYABLE_STATUS or status >= 500
            return _Failure(
                f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}",
                status=status,
                retryable=retryable,
                retry_after=retry_after_seconds(response.headers) if retryable else None,
            )
        try:
            data = response.json()
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            snippet = response.text[:200]
            return _Failure(
                f"malformed response body (not a chat completion): {snippet!r}", status=status
            )
        return _content_text(message.get("content") if isinstance(message, dict) else None), _usage(
            data.get("usage")
        )

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._bg_loop is None or self._bg_loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever,
                    name=f"ChatClient[{self.endpoint.model}]",
                    daemon=True,
                )
                thread.start()
                self._bg_loop, self._bg_thread = loop, thread
            return self._bg_loop

    def _stop_background(self) -> None:
        loop, thread = self._bg_loop, self._bg_thread
        self._bg_loop = self._bg_thread = None
        if loop is None:
            return
        if thread is not None and thread is not threading.current_thread():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not loop.is_running():
                loop.close()


def _content_text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()

    def _int(name: str) -> int:
        v = raw.get(name)
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0

    return Usage(_int("prompt_tokens"), _int("completion_tokens"))
