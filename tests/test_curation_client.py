"""The curation LLM client: backoff math, Retry-After, JSON extraction, retries, cache, limits.

Pure helpers are checked against hand-computed values. Retry behaviour is checked twice:
exactly (recorded waits, attempt counts) through an in-memory httpx transport, and for
real against the mock server on 127.0.0.1 with every kind of fault.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from datetime import datetime, timezone

import httpx
import pytest

from vthinker.llm.client import (
    ChatClient,
    Endpoint,
    JSONExtractError,
    LLMError,
    RateLimiter,
    ResponseCache,
    Usage,
    backoff_delay,
    extract_json,
    parse_retry_after,
    request_key,
    retry_after_seconds,
)
from vthinker.llm.mock import MockChatServer

MSG = [{"role": "user", "content": "hello"}]


class FixedRandom(random.Random):
    """`random()` returns the given values in turn (injected jitter)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def completion(text: str, prompt_tokens: int = 10, completion_tokens: int = 5) -> dict:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }


def scripted(responses: list) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering with ``responses`` in order (an exception is raised instead)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = responses.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    return httpx.MockTransport(handler), seen


def make_client(transport, rng=None, **ep_kwargs) -> tuple[ChatClient, list[float]]:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    defaults = dict(
        base_url="http://llm.test/v1",
        model="m",
        backoff_base_s=0.1,
        backoff_max_s=0.25,
        max_attempts=4,
    )
    defaults.update(ep_kwargs)
    client = ChatClient(
        Endpoint(**defaults), rng=rng or FixedRandom([0.0] * 10), sleep=sleep, transport=transport
    )
    return client, waits


# --- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "u", "expected"),
    [
        (1, 1.0, 60.0, 0.0, 0.5),  # min(60, 1*2^0)=1 → 1*(0.5+0)=0.5
        (1, 1.0, 60.0, 1.0, 1.0),  # 1*(0.5+0.5)=1
        (3, 1.0, 60.0, 0.5, 3.0),  # min(60, 1*2^2)=4 → 4*0.75=3
        (4, 0.5, 60.0, 0.2, 2.4),  # min(60, 0.5*2^3)=4 → 4*0.6=2.4
        (7, 1.0, 60.0, 0.0, 30.0),  # min(60, 64)=60 → 60*0.5=30
        (2000, 1.0, 10.0, 1.0, 10.0),  # huge attempt: capped, no overflow
    ],
)
def test_backoff_delay_exact(attempt, base, cap, u, expected):
    assert backoff_delay(attempt, base, cap, u) == pytest.approx(expected, abs=1e-12)


def test_backoff_delay_rejects_bad_args():
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0, 1.0, 2.0, 0.5)
    with pytest.raises(ValueError, match="jitter"):
        backoff_delay(1, 1.0, 2.0, 1.5)


NOW = datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),  # 07:28:00 - 07:27:30 = 30 s
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past: do not wait
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_headers():
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25  # 250 ms
    assert retry_after_seconds({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, NOW) == 30.0
    assert retry_after_seconds({}) is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1, "b": [1, 2]}\n```', {"a": 1, "b": [1, 2]}),
        ('Sure! Here is the JSON:\n```\n{"q": "x"}\n```\nHope this helps.', {"q": "x"}),
        ('The answer {is} below: {"q": "y", "n": {"m": 2}} -- done', {"q": "y", "n": {"m": 2}}),
        ('<think>maybe {"draft": 1}</think>\n{"final": 2}', {"final": 2}),
        ("[1, 2, 3]", [1, 2, 3]),
        ('Text then {"s": "brace } inside"} end', {"s": "brace } inside"}),
    ],
)
def test_extract_json(reply, expected):
    assert extract_json(reply) == expected


def test_extract_json_type_and_failures():
    assert extract_json('[1] and {"k": 1}', dict) == {"k": 1}  # the list is skipped
    with pytest.raises(JSONExtractError, match="no JSON"):
        extract_json("I cannot help with that.")
    with pytest.raises(JSONExtractError):
        extract_json('{"a": 1,')  # cut off
    with pytest.raises(JSONExtractError):
        extract_json("42", dict)


def test_request_key_is_canonical_and_keyless(monkeypatch):
    body = {"model": "m", "messages": MSG, "temperature": 0.0}
    k = request_key("http://h/v1", body)
    assert len(k) == 64 and int(k, 16) >= 0
    assert request_key("http://h/v1/", dict(reversed(list(body.items())))) == k
    assert request_key("http://h/v1", {**body, "temperature": 0.5}) != k
    assert request_key("http://other/v1", body) != k
    # The key in the environment plays no part.
    monkeypatch.setenv("K1", "sk-one")
    a = ChatClient(Endpoint("http://h/v1", "m", api_key_env="K1")).body(MSG, temperature=0.0)
    monkeypatch.setenv("K1", "sk-two")
    b = ChatClient(Endpoint("http://h/v1", "m", api_key_env="K1")).body(MSG, temperature=0.0)
    assert request_key("http://h/v1", a) == request_key("http://h/v1", b) == k


def test_rate_limiter_spacing():
    now = [100.0]
    lim = RateLimiter(120, clock=lambda: now[0])  # 120/min → one slot every 0.5 s
    assert lim.interval == 0.5
    assert lim.reserve() == 0.0  # slot 100.0
    assert lim.reserve() == 0.5  # slot 100.5
    assert lim.reserve() == 1.0  # slot 101.0
    now[0] = 101.2  # next free slot 101.5
    assert lim.reserve() == pytest.approx(0.3)
    now[0] = 110.0  # idle: free at once
    assert lim.reserve() == 0.0


def test_usage_sum_and_cost():
    ep = Endpoint("http://h/v1", "m", price_per_1k_prompt=0.002, price_per_1k_completion=0.006)
    u = Usage(1000, 200) + Usage(500, 300)
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1500, 500, 2000)
    # 1500/1000*0.002 + 500/1000*0.006 = 0.003 + 0.003
    assert u.cost(ep) == pytest.approx(0.006)


def test_endpoint_validation():
    with pytest.raises(ValueError, match="http"):
        Endpoint("llm.test/v1", "m")
    with pytest.raises(ValueError, match="NAME of an environment"):
        Endpoint("http://h/v1", "m", api_key_env="sk-abc-123")
    with pytest.raises(ValueError, match="max_attempts"):
        Endpoint("http://h/v1", "m", max_attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        Endpoint("http://h/v1", "m", backoff_base_s=5, backoff_max_s=1)


# --- retries, exactly ------------------------------------------------------------------------


def test_retry_schedule_with_injected_jitter():
    transport, seen = scripted(
        [
            httpx.Response(500, text="boom"),
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json=completion("ok")),
        ]
    )
    client, waits = make_client(transport, rng=FixedRandom([0.0, 0.5, 0.8]))
    result = asyncio.run(client.chat(MSG))
    assert result.text == "ok" and result.attempts == 4 and not result.cached
    # caps: 0.1*2^0=0.1, 0.1*2^1=0.2, min(0.25, 0.4)=0.25; times (0.5 + 0.5u), u = 0, .5, .8
    assert waits == pytest.approx([0.05, 0.15, 0.225])
    assert (client.retries, client.requests, len(seen)) == (3, 4, 4)
    assert client.usage == Usage(10, 5)


def test_retry_after_is_honoured_and_capped():
    transport, _ = scripted(
        [
            httpx.Response(429, headers={"Retry-After": "0.2"}),
            httpx.Response(429, headers={"Retry-After": "100"}),  # capped at backoff_max_s
            httpx.Response(503, headers={"retry-after-ms": "30"}),
            httpx.Response(200, json=completion("ok")),
        ]
    )
    client, waits = make_client(transport)
    assert asyncio.run(client.chat(MSG)).text == "ok"
    assert waits == pytest.approx([0.2, 0.25, 0.03])


def test_timeouts_connection_errors_and_bad_bodies_are_retried():
    transport, _ = scripted(
        [
            httpx.ReadTimeout("slow"),
            httpx.ConnectError("refused"),
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            httpx.Response(200, text='{"choices": [{"mess'),
            httpx.Response(200, json={"no": "choices"}),
            httpx.Response(200, json=completion("fine")),
        ]
    )
    client, waits = make_client(transport, max_attempts=6)
    result = asyncio.run(client.chat(MSG))
    assert result.text == "fine" and result.attempts == 6 and len(waits) == 5


def test_attempt_cap_raises_llm_error():
    transport, seen = scripted([httpx.Response(500, text="down")] * 3)
    client, waits = make_client(transport, max_attempts=3)
    with pytest.raises(LLMError) as info:
        asyncio.run(client.chat(MSG))
    err = info.value
    assert "http://llm.test/v1/chat/completions" in str(err) and "model m" in str(err)
    assert "HTTP 500" in str(err) and "after 3 attempts" in str(err)
    assert (err.status, err.attempts, err.retryable, err.fatal) == (500, 3, True, False)
    assert len(seen) == 3 and len(waits) == 2


@pytest.mark.parametrize(("status", "fatal"), [(400, False), (401, True), (404, True)])
def test_client_errors_are_not_retried(status, fatal):
    transport, seen = scripted([httpx.Response(status, json={"error": {"message": "no"}})])
    client, waits = make_client(transport)
    with pytest.raises(LLMError) as info:
        asyncio.run(client.chat(MSG))
    assert info.value.status == status and info.value.fatal is fatal
    assert len(seen) == 1 and waits == []


def test_missing_key_variable_fails_fast(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    transport, seen = scripted([])
    client, _ = make_client(transport, api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(LLMError, match="NO_SUCH_KEY_VAR") as info:
        asyncio.run(client.chat(MSG))
    assert info.value.fatal and seen == []


def test_unexpected_client_errors_are_wrapped_and_masked(monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-leaky-42")

    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"bug while sending {request.headers['Authorization']}")

    client, _ = make_client(httpx.MockTransport(handler), api_key_env="TEST_LLM_KEY")
    with pytest.raises(LLMError) as info:
        asyncio.run(client.chat(MSG))
    err = info.value
    assert "unexpected client error RuntimeError" in str(err) and "[REDACTED]" in str(err)
    assert err.__cause__ is None and err.__suppress_context__
    assert not err.fatal and not err.retryable


def test_request_body_headers_and_json_mode(monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", " sk-abc\n")  # stray whitespace from a key file
    transport, seen = scripted([httpx.Response(200, json=completion("{}"))] * 2)
    client, _ = make_client(transport, api_key_env="TEST_LLM_KEY")
    asyncio.run(client.chat(MSG, json_mode=True, temperature=0.3, max_tokens=None))
    body = json.loads(seen[0].content)
    assert body == {
        "model": "m",
        "messages": MSG,
        "temperature": 0.3,
        "response_format": {"type": "json_object"},
    }
    assert seen[0].headers["Authorization"] == "Bearer sk-abc"
    assert str(seen[0].url) == "http://llm.test/v1/chat/completions"
    plain, seen2 = scripted([httpx.Response(200, json=completion("{}"))])
    client2, _ = make_client(plain, supports_json_mode=False)
    asyncio.run(client2.chat(MSG, json_mode=True))
    assert "response_format" not in json.loads(seen2[0].content)
    assert "Authorization" not in seen2[0].headers


def test_cache_serves_repeats_without_billing(tmp_path):
    transport, seen = scripted([httpx.Response(200, json=completion("once", 7, 3))])
    client, _ = make_client(transport)
    client.cache = ResponseCache(tmp_path)
    first = asyncio.run(client.chat(MSG, temperature=0))
    second = asyncio.run(client.chat(MSG, temperature=0))
    assert (first.text, first.cached, first.attempts) == ("once", False, 1)
    assert (second.text, second.cached, second.attempts) == ("once", True, 0)
    assert second.usage == Usage(7, 3) and client.usage == Usage(7, 3)
    assert client.cache_hits == 1 and len(seen) == 1
    key = request_key("http://llm.test/v1", client.body(MSG, temperature=0))
    assert client.cache.keys() == {key}
    # A fresh client on the same folder is served from disk too.
    other, seen3 = scripted([])
    client3, _ = make_client(other)
    client3.cache = ResponseCache(tmp_path)
    assert asyncio.run(client3.chat(MSG, temperature=0)).cached and seen3 == []
    # A damaged entry is a miss, not a crash.
    client.cache.path(key).write_text("{not json")
    assert client.cache.get(key) is None


def test_rate_limit_waits_are_requested():
    transport, _ = scripted([httpx.Response(200, json=completion("x"))] * 3)
    client, waits = make_client(transport, requests_per_minute=600)  # one per 0.1 s
    client._limiter = RateLimiter(600, clock=lambda: 5.0)  # frozen clock: 3 back-to-back
    for _ in range(3):
        asyncio.run(client.chat(MSG))
    assert waits == pytest.approx([0.1, 0.2])


def test_concurrency_limit():
    active = [0]
    peak = [0]

    async def handler(request: httpx.Request) -> httpx.Response:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.02)
        active[0] -= 1
        return httpx.Response(200, json=completion("x"))

    client = ChatClient(
        Endpoint("http://llm.test/v1", "m", max_concurrency=2),
        transport=httpx.MockTransport(handler),
    )

    async def main() -> None:
        await asyncio.gather(
            *(client.chat([{"role": "user", "content": str(i)}]) for i in range(6))
        )
        await client.close()

    asyncio.run(main())
    assert peak[0] == 2


# --- against the real mock server ----------------------------------------------------------


def echo(body: dict, wrong: bool) -> str:
    return "WRONG" if wrong else "echo:" + body["messages"][-1]["content"]


def test_every_fault_against_http_server():
    faults = ["429", "500", "hang", "drop", "malformed"]
    with MockChatServer(echo, faults=faults, fault_every=1, hang_s=3.0) as server:
        ep = Endpoint(
            server.base_url,
            "m",
            timeout_s=1.0,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            max_attempts=3,
            max_concurrency=4,
        )
        client = ChatClient(ep, rng=random.Random(0))

        async def main():
            out = await asyncio.gather(
                *(client.chat([{"role": "user", "content": f"q{i}"}]) for i in range(8))
            )
            await client.close()
            return out

        results = asyncio.run(main())
    assert [r.text for r in results] == [f"echo:q{i}" for i in range(8)]
    assert sorted(f for f, _ in server.injected) == sorted(faults)
    assert client.retries == 5 and client.requests == 13  # 8 requests + one retry per fault
    assert sum(r.attempts for r in results) == 13
    assert server.errors == []


def test_chat_sync_inside_a_running_loop():
    with MockChatServer(echo) as server:
        client = ChatClient(Endpoint(server.base_url, "m", timeout_s=5.0))
        assert client.chat_sync(MSG).text == "echo:hello"

        async def inside() -> str:
            # A sync caller (e.g. a reward) running in a thread that has a live loop.
            return client.chat_sync([{"role": "user", "content": "again"}]).text

        assert asyncio.run(inside()) == "echo:again"
        results: list[str] = []
        t = threading.Thread(target=lambda: results.append(client.chat_sync(MSG).text))
        t.start()
        t.join(10)
        assert results == ["echo:hello"]
        client.close_sync()
