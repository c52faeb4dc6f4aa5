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
import json
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from vthinker.llm.cache import (
    ResponseCache,
    request_key,
)
from vthinker.llm.endpoint import (
    _REDACTED,
    RETRYABLE_STATUS,
    ChatResult,
    Endpoint,
    JSONExtractError,
    LLMError,
    Usage,
)
from vthinker.llm.json_reply import extract_json
from vthinker.llm.retry import (
    RateLimiter,
    backoff_delay,
    parse_retry_after,
    retry_after_seconds,
)

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
