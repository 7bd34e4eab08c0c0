"""What a run spends, and the budgets it honours.

Every request the suite sends goes through one :class:`Meter` (the pre-flight request, the
schemathesis engines through an ``after_call`` hook, the properties' session): it counts
requests by phase (``schemathesis fuzzing``, ``property truncation_keeps_newest_turns``, ...),
200 answers, the prompt and completion tokens the server reported, and request bytes; and it
hands each exchange to its observers (the run's spec coverage, :mod:`.coverage`).

Budgets (``--max-requests``, ``--max-tokens``; tokens = prompt + completion as reported) are
divided in a documented way:

* the schemathesis part may spend at most :data:`SCHEMATHESIS_SHARE` of each budget; when its
  share is spent its engines stop after the requests in flight;
* the properties run one after another; each may spend an equal part of what is left when it
  starts (``left / properties still to run``), so a cheap property leaves more to the next;
* a request is sent only while its share and the whole budget are not spent: a run never goes
  over a budget by more than the requests already in flight. A property whose share ran out
  before it was exercised says "not exercised (budget)".
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import Exchange

__all__ = ["SCHEMATHESIS_SHARE", "Cost", "Meter"]

SCHEMATHESIS_SHARE = 0.4
"""The part of each budget the schemathesis part may spend."""


@dataclass
class Cost:
    """What one run spent."""

    requests: Counter[str] = field(default_factory=Counter)
    """Requests sent, by phase (``pre-flight``, ``schemathesis ...``, ``property <name>``)."""
    answers_200: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    """Tokens as the server reported them in usage (answers without usage count nothing)."""
    request_bytes: int = 0
    max_requests: int | None = None
    max_tokens: int | None = None

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.total_requests,
            "requests_by_phase": dict(sorted(self.requests.items())),
            "answers_200": self.answers_200,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "request_bytes": self.request_bytes,
            "max_requests": self.max_requests,
            "max_tokens": self.max_tokens,
        }

    def summary(self) -> str:
        budget = []
        if self.max_requests is not None:
            budget.append(f"max {self.max_requests} requests")
        if self.max_tokens is not None:
            budget.append(f"max {self.max_tokens} tokens")
        within = f" (budget: {', '.join(budget)})" if budget else ""
        return (
            f"cost: {self.total_requests} request(s){within}, {self.answers_200} answered 200, "
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, "
            f"{self.request_bytes} request bytes"
        )


def usage_of(status: int, content_type: str, body: bytes) -> tuple[int, int]:
    """(prompt, completion) tokens a 200 answer reports; (0, 0) without usage."""
    if status != 200:
        return 0, 0
    from .checks import Exchange, media_type

    return _usage(Exchange(None, status, media_type(content_type), body))


def _usage(exchange: Exchange) -> tuple[int, int]:
    if exchange.status != 200:
        return 0, 0
    answer = exchange.answer
    counts = answer.usage_counts() if answer is not None else None
    return (counts[0], counts[1]) if counts is not None else (0, 0)


class Meter:
    """Counts what a run spends and says whether another request may be sent."""

    def __init__(
        self,
        max_requests: int | None = None,
        max_tokens: int | None = None,
        *,
        observers: Sequence[Callable[[Exchange], None]] = (),
    ) -> None:
        self.cost = Cost(max_requests=max_requests, max_tokens=max_tokens)
        self.observers = tuple(observers)
        """Called with every recorded exchange (e.g. the run's spec coverage)."""
        self._lock = threading.Lock()
        self._limits: dict[str, tuple[int | None, int | None]] = {}
        self._spent: dict[str, list[int]] = {}
        self._on_spent: dict[str, list[Callable[[], None]]] = {}

    # -- shares

    def limit(self, part: str, requests: int | None, tokens: int | None) -> None:
        """Cap what ``part`` (a phase or a group of phases) may spend."""
        with self._lock:
            self._limits[part] = (requests, tokens)
            self._spent.setdefault(part, [0, 0])

    def left(self) -> tuple[int | None, int | None]:
        """(requests, tokens) left in the whole budget (``None``: no budget)."""
        with self._lock:
            requests = (
                None
                if self.cost.max_requests is None
                else max(0, self.cost.max_requests - self.cost.total_requests)
            )
            tokens = (
                None
                if self.cost.max_tokens is None
                else max(0, self.cost.max_tokens - self.cost.total_tokens)
            )
            return requests, tokens

    def tokens_left(self, part: str | None = None) -> int | None:
        """Tokens ``part`` may still spend: the least of what is left of its share and of the
        whole budget (``None``: no token budget). A sender that knows what a request will cost
        (a prompt built to a size near the window) asks before sending it, instead of
        overshooting the budget by that much."""
        with self._lock:
            left: list[int] = []
            if self.cost.max_tokens is not None:
                left.append(self.cost.max_tokens - self.cost.total_tokens)
            if part is not None and part in self._limits:
                tokens = self._limits[part][1]
                if tokens is not None:
                    left.append(tokens - self._spent[part][1])
            return max(0, min(left)) if left else None

    def on_spent(self, part: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` when ``part``'s share (or the whole budget) is spent, e.g. to stop
        the schemathesis engines after the requests in flight."""
        self._on_spent.setdefault(part, []).append(callback)

    def _spent_now(self, part: str | None) -> None:
        for callback in self._on_spent.get(part or "", []):
            callback()

    def _over(self, part: str | None) -> str | None:
        cost = self.cost
        if cost.max_requests is not None and cost.total_requests >= cost.max_requests:
            return f"the run's budget of {cost.max_requests} requests is spent"
        if cost.max_tokens is not None and cost.total_tokens >= cost.max_tokens:
            return f"the run's budget of {cost.max_tokens} tokens is spent"
        if part is not None and part in self._limits:
            requests, tokens = self._limits[part]
            spent = self._spent[part]
            if requests is not None and spent[0] >= requests:
                return f"{part}'s share of {requests} requests is spent"
            if tokens is not None and spent[1] >= tokens:
                return f"{part}'s share of {tokens} tokens is spent"
        return None

    def admit(self, phase: str, part: str | None = None) -> str | None:
        """``None`` when one more request of ``phase`` may be sent (it is counted now), else
        why not."""
        with self._lock:
            why = self._over(part)
            if why is None:
                self.cost.requests[phase] += 1
                if part is not None and part in self._spent:
                    self._spent[part][0] += 1
                return None
        self._spent_now(part)
        return why

    def add(self, phase: str, requests: int) -> None:
        """Count ``requests`` that were sent without passing through :meth:`record`."""
        if requests > 0:
            with self._lock:
                self.cost.requests[phase] += requests

    def record(
        self,
        *,
        request_bytes: int,
        status: int,
        content_type: str,
        body: bytes,
        part: str | None = None,
        phase: str | None = None,
        request: Any = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Account one answer (its request was admitted, or is counted now with ``phase``).

        ``request`` (the JSON body sent) and ``headers`` (the response's) complete the exchange
        the :attr:`observers` see."""
        from .checks import Exchange, media_type

        exchange = Exchange(
            request,
            status,
            media_type(content_type),
            body,
            headers=tuple((str(name).lower(), str(value)) for name, value in headers),
        )
        prompt, completion = _usage(exchange)
        for observe in self.observers:
            observe(exchange)
        with self._lock:
            if phase is not None:
                self.cost.requests[phase] += 1
                if part is not None and part in self._spent:
                    self._spent[part][0] += 1
            self.cost.request_bytes += request_bytes
            self.cost.answers_200 += status == 200
            self.cost.prompt_tokens += prompt
            self.cost.completion_tokens += completion
            if part is not None and part in self._spent:
                self._spent[part][1] += prompt + completion
            spent = self._over(part) is not None
        if spent:
            self._spent_now(part)
