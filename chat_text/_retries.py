"""When to retry and how long to wait.

What is retried: connection errors, timeouts, and the statuses 408, 409, 429 and every 5xx.
A stream is never retried once its first event has been delivered to the caller.

How long to wait before retry number ``n`` (``n = 0`` for the first retry):

* If the response carries ``retry-after-ms`` (milliseconds) or ``Retry-After`` (seconds, or an
  HTTP-date), that wait is used as is (``retry-after-ms`` wins when both are present; a date in
  the past means 0). If the server asks for more than ``max_retry_after`` seconds (default 60),
  the SDK does not retry at all and raises the error at once: it will not sleep that long, and
  retrying sooner would ignore the server.
* Otherwise exponential backoff with jitter::

      wait = min(max_delay, initial_delay * 2**n) * (1 - jitter * U),  U uniform in [0, 1)

  With the defaults (``initial_delay=0.5``, ``max_delay=8``, ``jitter=0.25``) the waits are
  0.375-0.5 s, 0.75-1 s, 1.5-2 s, ... never more than 8 s.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "is_retryable_status", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Retried besides every 5xx."""


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUSES or status_code >= 500


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait as asked by ``retry-after-ms`` / ``Retry-After``; ``None`` if neither
    header is present and valid. Headers are looked up case-insensitively by ``headers``."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient about the zone
            return None
        return max(0.0, when.timestamp() - now())
    if math.isfinite(seconds) and seconds >= 0:
        return seconds
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff settings (the number of retries is ``max_retries`` on the client)."""

    initial_delay: float = 0.5
    """Seconds before the first retry (before jitter)."""
    max_delay: float = 8.0
    """Cap on the exponential backoff, in seconds."""
    jitter: float = 0.25
    """Fraction of the wait that is randomly taken off (0 = no jitter, at most 1)."""
    max_retry_after: float = 60.0
    """Longest server-requested wait (Retry-After) that is honoured; beyond it, no retry."""

    def __post_init__(self) -> None:
        if not (self.initial_delay >= 0 and self.max_delay >= 0 and self.max_retry_after >= 0):
            raise ValueError("RetryPolicy delays must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered exponential wait before retry ``retry_number`` (0-based)."""
        base = min(self.max_delay, self.initial_delay * (2.0**retry_number))
        return base * (1.0 - self.jitter * rand())

    def envelope(self, retry_number: int) -> tuple[float, float]:
        """The (lowest, highest) backoff wait before retry ``retry_number``."""
        base = min(self.max_delay, self.initial_delay * (2.0**retry_number))
        return base * (1.0 - self.jitter), base

    def delay(
        self,
        retry_number: int,
        headers: Mapping[str, str] | None,
        now: Callable[[], float] = time.time,
    ) -> float | None:
        """How long to wait before retry ``retry_number``; ``None``: do not retry, because the
        server asked for a longer wait than ``max_retry_after``."""
        if headers is not None:
            asked = parse_retry_after(headers, now)
            if asked is not None:
                return asked if asked <= self.max_retry_after else None
        return self.backoff(retry_number)
