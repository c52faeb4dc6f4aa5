"""A local OpenAI-compatible chat server with scheduled faults, for tests and dry runs.

`MockChatServer` serves ``POST /v1/chat/completions`` on 127.0.0.1 from a thread. Replies
come from a ``responder(body, wrong)`` function (deterministic in the tests), and faults
are injected on a schedule so a client's retry logic meets each of them:

- ``"429"``: HTTP 429 with a ``Retry-After`` header;
- ``"500"``: HTTP 500;
- ``"hang"``: no answer until ``hang_s`` has passed (past the client's timeout), then the
  connection is closed;
- ``"drop"``: the connection is closed without a response;
- ``"malformed"``: HTTP 200 whose body is cut-off JSON;
- ``"wrong"``: HTTP 200 with a well-formed reply from ``responder(body, wrong=True)``.

Schedule: every ``fault_every``-th request makes the next fault of ``faults`` due; a due
fault goes to the next request whose body has not had a fault yet, so every fault is
injected exactly once and no request meets two of them.

Every request is counted by its `vthinker.llm.client.request_key` (the same hash as
the client's response cache): ``received`` (all requests), ``served`` (well-formed replies
sent), and ``bodies``. With ``api_key``, a request without ``Authorization: Bearer
<api_key>`` gets 401 and an error body that echoes the key it was sent, as real APIs do.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vthinker.llm.client import request_key

__all__ = ["FAULTS", "MockChatServer"]

FAULTS = ("429", "500", "hang", "drop", "malformed", "wrong")

Responder = Callable[[dict[str, Any], bool], str]


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class MockChatServer:
    """See the module docstring.

    Args:
        responder: ``(request body, wrong) -> reply content``.
        faults: Fault names (from `FAULTS`) in the order they are injected.
        fault_every: A fault becomes due every this many requests.
        delay_s: Pause before each normal reply (keeps requests in flight).
        hang_s: How long a ``"hang"`` holds the connection.
        retry_after: ``Retry-After`` value sent with ``"429"``.
        api_key: The key the server expects (None: any or none).
    """

    def __init__(
        self,
        responder: Responder,
        *,
        faults: Sequence[str] = (),
        fault_every: int = 3,
        delay_s: float = 0.0,
        hang_s: float = 5.0,
        retry_after: str = "0.05",
        api_key: str | None = None,
    ) -> None:
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
        if fault_every < 1:
            raise ValueError("fault_every must be >= 1")
        self.responder = responder
        self.schedule = list(faults)
        self.fault_every = fault_every
        self.delay_s = delay_s
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.api_key = api_key
        self.received: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.bodies: dict[str, dict[str, Any]] = {}
        self.injected: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self._count = 0
        self._due: list[str] = []
        self._faulted: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> MockChatServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> MockChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        """Forget the request counts (not the schedule)."""
        with self._lock:
            self.received.clear()
            self.served.clear()
            self.bodies.clear()

    # --- request handling ---

    def _next_fault(self, key: str) -> str | None:
        with self._lock:
            self._count += 1
            self.received[key] += 1
            if self._count % self.fault_every == 0 and self.schedule:
                self._due.append(self.schedule.pop(0))
            if self._due and key not in self._faulted:
                fault = self._due.pop(0)
                self._faulted.add(key)
                self.injected.append((fault, key))
                return fault
        return None

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _drop(self, h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = self._read_body(h)
        if body is None:
            return
        key = request_key(self.base_url, body)
        with self._lock:
            self.bodies[key] = body
        fault = self._next_fault(key)
        if fault is not None and self._inject(h, fault):
            return
        self._reply(h, body, key, wrong=fault == "wrong")

    def _read_body(self, h: BaseHTTPRequestHandler) -> dict[str, Any] | None:
        """The request's JSON body, or None after answering a bad path, body or key."""
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        if not h.path.rstrip("/").endswith("/chat/completions"):
            self._send(h, 404, b'{"error": {"message": "not found"}}')
            return None
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(h, 400, b'{"error": {"message": "body is not JSON"}}')
            return None
        if self.api_key is not None:
            auth = h.headers.get("Authorization", "")
            if auth != f"Bearer {self.api_key}":
                sent = auth.removeprefix("Bearer ")
                msg = json.dumps({"error": {"message": f"Incorrect API key provided: {sent}"}})
                self._send(h, 401, msg.encode())
                return None
        return body

    def _inject(self, h: BaseHTTPRequestHandler, fault: str) -> bool:
        """Answer with ``fault``; False for ``"wrong"``, which is a normal (wrong) reply."""
        if fault == "429":
            self._send(
                h, 429, b'{"error": {"message": "rate limited"}}', {"Retry-After": self.retry_after}
            )
        elif fault == "500":
            self._send(h, 500, b'{"error": {"message": "internal error"}}')
        elif fault == "hang":
            self._stop.wait(self.hang_s)
            self._drop(h)
        elif fault == "drop":
            self._drop(h)
        elif fault == "malformed":
            self._send(h, 200, b'{"id": "mock", "choices": [{"message": {"content": "tru')
        else:
            return False
        return True

    def _reply(
        self, h: BaseHTTPRequestHandler, body: dict[str, Any], key: str, wrong: bool
    ) -> None:
        """A chat completion with the responder's content."""
        try:
            content = self.responder(body, wrong)
        except Exception as err:  # a responder bug: make it visible to the test
            self.errors.append(f"{type(err).__name__}: {err}")
            self._send(h, 500, json.dumps({"error": {"message": str(err)}}).encode())
            return
        if self.delay_s:
            self._stop.wait(self.delay_s)
        prompt = json.dumps(body.get("messages"), ensure_ascii=False)
        reply = {
            "id": f"mock-{self._count}",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": _tokens(prompt),
                "completion_tokens": _tokens(content),
                "total_tokens": _tokens(prompt) + _tokens(content),
            },
        }
        with self._lock:
            self.served[key] += 1
        self._send(h, 200, json.dumps(reply).encode())
