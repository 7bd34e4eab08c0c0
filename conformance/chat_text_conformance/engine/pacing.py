"""How the suite paces what it sends: the documented busy answers waited out, the requests in
flight adapted to the target, and an optional rate cap.

``429`` and ``503`` are legal answers to any request, before or after auth (a gateway's rate
limiter, an overloaded model server): they say nothing about the request, so they are never
judged. Every sender of a run (the pre-flight, the schemathesis engines, the properties,
``replay``) sends through one :class:`Pacer`, which

* waits as the answer says — ``retry-after-ms`` (milliseconds), else ``Retry-After`` (seconds or
  an HTTP-date, RFC 9110 section 10.2.3) — or, without either, backs off exponentially, then
  sends the *same* request again; the wait holds every sender of the run, not only the one that
  was told (a quota is the client's, not the request's);
* halves the requests in flight on a busy answer (once per round of requests in flight), and
  adds one back after each round answered without one, up to its ceiling (additive increase,
  multiplicative decrease);
* spaces requests ``1 / max_rate`` seconds apart when a rate is given (``--max-rate``);
* stops waiting when the run's wait budget (``--max-wait``) or its deadline would be passed: the
  busy answer is then handed back, and whatever it was evidence for is inconclusive
  ("rate-limited"), never passed or failed.

What it did is counted in :class:`PacingStats` (the report's ``pacing``). Not paced: the two
capability probes each schemathesis engine sends before its tests (``X-Schemathesis-Probe``;
judged by nothing) and requests to an app called in-process.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "AUTO_CEILING",
    "BUSY_STATUSES",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_MAX_WAIT",
    "Pacer",
    "PacingStats",
    "is_busy",
    "retry_delay",
]

BUSY_STATUSES = frozenset({429, 503})
"""Answers that say "not now" (documented with ``Retry-After`` for every request)."""

DEFAULT_MAX_IN_FLIGHT = 8
"""Requests in flight a run starts with when the concurrency is adaptive (``--workers auto``)."""
AUTO_CEILING = 16
"""... and the most it grows to while no answer is busy."""

DEFAULT_MAX_WAIT = 300.0
"""Seconds a run may spend waiting on busy answers, in all (``--max-wait``)."""

MAX_ATTEMPTS = 20
"""Times one request is sent at most (the first and 19 re-sends) before its busy answer is
handed back: the wait budget is the real bound; this one stops a request that keeps losing the
race for a quota to the others (at one busy answer in two: once in a million requests)."""

BACKOFF_FIRST = 0.5
"""Seconds of the first wait after a busy answer that does not say how long; doubled each
time, up to :data:`BACKOFF_MAX`."""
BACKOFF_MAX = 16.0

R = TypeVar("R")


def is_busy(status: int) -> bool:
    return status in BUSY_STATUSES


def _header(headers: Any, name: str) -> str | None:
    """The first value of header ``name`` (lower-case) in any of the shapes the senders have:
    a mapping (values a string or a list of strings) or pairs, names in any case."""
    pairs: Any = headers.items() if hasattr(headers, "items") else headers
    for key, value in pairs:
        if str(key).lower() == name:
            if isinstance(value, list | tuple):
                return str(value[0]) if value else None
            return str(value)
    return None


def retry_delay(headers: Any, now: float | None = None) -> float | None:
    """Seconds a busy answer asks the client to wait, or ``None`` when it does not say.

    ``retry-after-ms`` (a number of milliseconds, as OpenAI-compatible servers send) wins over
    ``Retry-After``, which is delay-seconds or an HTTP-date (RFC 9110, 10.2.3); a date in the
    past means "now". Anything unreadable counts as not saying."""
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms.strip())
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value / 1000
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class PacingStats:
    """What the pacing did over a run."""

    busy_answers: Counter[int] = field(default_factory=Counter)
    """Busy answers received, by status (each re-send's answer counted too)."""
    resent: int = 0
    """Requests sent again after a busy answer."""
    gave_up: int = 0
    """Busy answers handed back without a re-send (wait budget, deadline or attempts spent):
    what they were evidence for is inconclusive."""
    without_retry_after: int = 0
    """Busy answers that said neither ``Retry-After`` nor ``retry-after-ms`` (the spec requires
    ``Retry-After`` on both: they were waited out with a backoff, and are reported, not judged)."""
    waited: float = 0.0
    """Seconds the run held its requests because of busy answers (wall time, overlaps once)."""
    rate_waited: float = 0.0
    """Seconds requests waited for their turn under ``--max-rate``, summed over requests."""
    max_in_flight: int = 1
    """The ceiling of requests in flight."""
    start_in_flight: int = 1
    adaptive: bool = False
    lowest_in_flight: int = 1
    """The lowest the adaptive limit went (``max_in_flight`` when no busy answer came)."""
    final_in_flight: int = 1
    max_rate: float | None = None
    max_wait: float = DEFAULT_MAX_WAIT
    budget_spent: bool = False
    """The wait budget ran out: later busy answers were handed back at once."""
    relayed: bool = False
    """The validation proxy's count: busy answers relayed to its clients (it sends nothing of
    its own, so it waits for nothing)."""

    @property
    def busy(self) -> int:
        return sum(self.busy_answers.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_limited": self.busy,
            "by_status": {str(status): n for status, n in sorted(self.busy_answers.items())},
            "resent": self.resent,
            "gave_up": self.gave_up,
            "without_retry_after": self.without_retry_after,
            "waited_seconds": round(self.waited, 3),
            "rate_waited_seconds": round(self.rate_waited, 3),
            "max_wait_seconds": self.max_wait,
            "wait_budget_spent": self.budget_spent,
            "max_rate": self.max_rate,
            "concurrency": {
                "adaptive": self.adaptive,
                "start_in_flight": self.start_in_flight,
                "max_in_flight": self.max_in_flight,
                "lowest_in_flight": self.lowest_in_flight,
                "final_in_flight": self.final_in_flight,
            },
        }

    def summary(self) -> str:
        """One line for people: empty when nothing was rate-limited or held."""
        parts: list[str] = []
        statuses = ", ".join(f"{n} x {s}" for s, n in sorted(self.busy_answers.items()))
        if self.busy and self.relayed:
            parts.append(
                f"rate-limited: {self.busy} answer(s) ({statuses}) relayed as they were, judged "
                "by no rule"
            )
        elif self.busy:
            parts.append(
                f"rate-limited: {self.busy} answer(s) ({statuses}), {self.resent} re-sent, "
                f"waited {self.waited:.1f}s"
            )
            if self.gave_up:
                why = "the wait budget ran out" if self.budget_spent else "waits or re-sends spent"
                parts.append(f"{self.gave_up} left unanswered (their rules inconclusive: {why})")
        if self.busy and self.without_retry_after:
            parts.append(
                f"{self.without_retry_after} without Retry-After (the spec requires it: "
                + ("not judged" if self.relayed else "backed off instead, not judged")
                + ")"
            )
        if self.busy and self.adaptive and self.lowest_in_flight < self.start_in_flight:
            parts.append(
                f"requests in flight cut from {self.start_in_flight} to "
                f"{self.lowest_in_flight}, ended at {self.final_in_flight}"
            )
        if self.max_rate is not None:
            parts.append(f"--max-rate {self.max_rate:g}/s (waited {self.rate_waited:.1f}s in all)")
        return "; ".join(parts)


class Pacer:
    """Sends through :meth:`call`: waits out busy answers, keeps the requests in flight within
    an adaptive limit, and spaces requests under ``max_rate``. Thread-safe; one per run.

    ``clock`` and ``sleep`` are injectable so the logic can be tested without real waiting."""

    def __init__(
        self,
        *,
        max_in_flight: int = 1,
        start_in_flight: int | None = None,
        adaptive: bool = False,
        max_rate: float | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if max_rate is not None and max_rate <= 0:
            raise ValueError("max_rate must be > 0")
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self.ceiling = max_in_flight
        self.limit = (
            max_in_flight if start_in_flight is None else min(start_in_flight, max_in_flight)
        )
        self.adaptive = adaptive
        self.max_rate = max_rate
        self.max_wait = max_wait
        self.deadline = deadline
        self._in_flight = 0
        self._first_waiting = 0
        """Senders of :meth:`call`'s ``first`` kind waiting for a place in flight."""
        self._hold_until = 0.0
        self._held_until = 0.0
        """The end of the hold already counted in ``stats.waited``."""
        self._next_send = 0.0
        self._round = 0
        """Bumped at every cut: a busy answer to a request sent before the cut does not cut
        again (one cut per round of requests in flight)."""
        self._answered_in_round = 0
        self.stats = PacingStats(
            max_in_flight=max_in_flight,
            adaptive=adaptive,
            start_in_flight=self.limit,
            lowest_in_flight=self.limit,
            final_in_flight=self.limit,
            max_rate=max_rate,
            max_wait=max_wait,
        )

    # -- sending

    def call(
        self,
        send: Callable[[], R],
        status_of: Callable[[R], int],
        headers_of: Callable[[R], Any],
        *,
        on_busy: Callable[[R], None] | None = None,
        attempts: int = MAX_ATTEMPTS,
        first: bool = False,
    ) -> R:
        """``send()`` until its answer is not busy, or waiting more is not allowed (the wait
        budget, the deadline, or ``attempts`` sends in all); the last answer. ``on_busy`` sees
        every busy answer that is followed by a re-send (to count it; the returned answer is
        the caller's to count). ``first``: the request is on a chain that sends one request
        after another (a schemathesis engine): it takes a free place in flight before the
        requests that are not (the properties' independent examples), so a long chain is not
        starved by a crowd."""
        attempt = 0
        while True:
            with self._slot(first) as round_sent:
                answer = send()
            status = status_of(answer)
            if not is_busy(status):
                self._answered()
                return answer
            asked = retry_delay(headers_of(answer))
            delay = asked if asked is not None else min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
            attempt += 1
            if not self._busy(status, asked is not None, delay, round_sent, attempt < attempts):
                return answer
            if on_busy is not None:
                on_busy(answer)

    @contextmanager
    def _slot(self, first: bool = False) -> Iterator[int]:
        waiting = False
        while True:
            with self._cond:
                now = self._clock()
                held = self._hold_until - now
                if held <= 0:
                    free = self._in_flight < self.limit
                    if free and (first or self._first_waiting == 0):
                        if waiting:
                            self._first_waiting -= 1
                        self._in_flight += 1
                        round_sent = self._round
                        turn = 0.0
                        if self.max_rate is not None:
                            start = max(now, self._next_send)
                            self._next_send = start + 1.0 / self.max_rate
                            turn = start - now
                            self.stats.rate_waited += turn
                        break
                    if first and not waiting:
                        waiting = True
                        self._first_waiting += 1
                    self._cond.wait(1.0)  # a request in flight ends, or the limit grows
                    continue
            self._sleep(held)  # the run is held: every sender waits out the busy answer
        try:
            if turn > 0:
                self._sleep(turn)
            yield round_sent
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _answered(self) -> None:
        if not self.adaptive:
            return
        with self._cond:
            self._answered_in_round += 1
            if self.limit < self.ceiling and self._answered_in_round >= self.limit:
                self.limit += 1
                self._answered_in_round = 0
                self.stats.final_in_flight = self.limit
                self._cond.notify_all()

    def _busy(self, status: int, told: bool, delay: float, round_sent: int, again: bool) -> bool:
        """Count a busy answer; hold the run for ``delay`` and return True when the request may
        be sent again, else False (the answer is handed back)."""
        with self._cond:
            stats = self.stats
            stats.busy_answers[status] += 1
            stats.without_retry_after += not told
            if self.adaptive and round_sent == self._round and self.limit > 1:
                # one cut per round of requests in flight
                self.limit = max(1, self.limit // 2)
                self._round += 1
                self._answered_in_round = 0
                stats.lowest_in_flight = min(stats.lowest_in_flight, self.limit)
                stats.final_in_flight = self.limit
            now = self._clock()
            until = max(self._hold_until, now + delay)
            extra = until - max(now, self._held_until)
            allowed = again and not stats.budget_spent
            if allowed and stats.waited + max(0.0, extra) > self.max_wait:
                stats.budget_spent = True
                allowed = False
            if allowed and self.deadline is not None and until > self.deadline:
                allowed = False
            if not allowed:
                stats.gave_up += 1
                return False
            if extra > 0:
                stats.waited += extra
                self._held_until = until
            self._hold_until = until
            stats.resent += 1
            return True
