"""Retry timing and rate limiting: exponential backoff with jitter, ``Retry-After``
parsing and `RateLimiter`."""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone


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
