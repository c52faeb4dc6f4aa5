"""`EndpointJudge`: an OpenAI-compatible chat endpoint as the judge."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from vthinker.llm.client import ChatClient, Endpoint
from vthinker.rewards.judge.base import (
    Judge,
    JudgePrompt,
    JudgeQuery,
)


class EndpointJudge(Judge):
    """An OpenAI-compatible chat endpoint as the judge (vLLM, a hosted API, …).

    Requests go through `vthinker.llm.client.ChatClient` (retries with backoff, rate
    limit, concurrency limit, optional disk cache; the API key is read from the environment
    variable named in the endpoint). The queries of a batch run in parallel threads; a
    batch gets ``timeout_s`` seconds of wall-clock time in all, and a request still running
    then counts as a timeout (it finishes in the background, bounded by the endpoint's own
    ``timeout_s`` and ``max_attempts``).

    Args:
        endpoint: The endpoint (``base_url``, ``model``, ``api_key_env``, limits).
        cache_dir: Disk cache of replies (None: memory cache only).
        max_tokens: Longest reply.
        temperature: Sampling temperature (0: greedy where the server allows it).
        timeout_s: Wall-clock limit per batch.
        prompt: Chat templates.
        batch_size: Queries per batch.
        cache_size: In-memory LRU cache entries.
    """

    _transient = ("_client", "_pool")

    def __init__(
        self,
        endpoint: Endpoint,
        cache_dir: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
        prompt: JudgePrompt | None = None,
        batch_size: int = 16,
        cache_size: int = 100_000,
    ) -> None:
        super().__init__(prompt=prompt, batch_size=batch_size, cache_size=cache_size)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.endpoint = endpoint
        self.cache_dir = cache_dir
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self._client: ChatClient | None = None
        self._pool: ThreadPoolExecutor | None = None

    def _identity(self) -> Any:
        return {
            "url": self.endpoint.url,
            "model": self.endpoint.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _complete(self, queries: list[JudgeQuery]) -> list[str | BaseException | None]:
        if self._client is None:
            self._client = ChatClient(self.endpoint, cache_dir=self.cache_dir)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.batch_size, thread_name_prefix="EndpointJudge"
            )
        client = self._client
        futures = [
            self._pool.submit(
                client.chat_sync,
                self.prompt.messages(q),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
            for q in queries
        ]
        deadline = time.monotonic() + self.timeout_s
        out: list[str | BaseException | None] = []
        for future in futures:
            try:
                out.append(future.result(timeout=max(0.0, deadline - time.monotonic())).text)
            except FutureTimeout:
                future.cancel()
                out.append(TimeoutError(f"{self.endpoint.label}: no reply in {self.timeout_s:g} s"))
            except Exception as err:  # LLMError after retries, a missing key, …
                out.append(err)
        return out


# --- rewards that ask a judge -----------------------------------------------------------------
