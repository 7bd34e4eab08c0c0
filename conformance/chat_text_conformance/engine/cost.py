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
  over a budget by more than the requests already in flight (a prompt built to a size near the
  window is sent only when the share still covers it). A property whose share ran out before it
  was exercised says "not exercised (budget)", and :attr:`Cost.unexercised` names every rule a
  budget left unexercised (the summary and ``report.json`` say which).

What a run will cost is known before it starts: :func:`estimate` (``--dry-run``) gives the
requests, prompt tokens and request bytes a run of a level, budget of examples and context
window is expected to send, without sending anything.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checks.exchange import Exchange, media_type

__all__ = ["SCHEMATHESIS_SHARE", "Cost", "Estimate", "Meter", "estimate", "window_bound"]

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
    unexercised: list[str] = field(default_factory=list)
    """The rules a budget left unexercised (by rule id; empty without a budget)."""

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
            "unexercised_by_budget": list(self.unexercised),
        }

    def summary(self) -> str:
        budget = []
        if self.max_requests is not None:
            budget.append(f"max {self.max_requests} requests")
        if self.max_tokens is not None:
            budget.append(f"max {self.max_tokens} tokens")
        within = f" (budget: {', '.join(budget)})" if budget else ""
        left = ""
        if self.unexercised:
            left = (
                f"; the budget left {len(self.unexercised)} rule(s) unexercised: "
                f"{', '.join(self.unexercised)}"
            )
        return (
            f"cost: {self.total_requests} request(s){within}, {self.answers_200} answered 200, "
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, "
            f"{self.request_bytes} request bytes{left}"
        )

    def note_unexercised(self, results: Iterable[Any], schemathesis_stopped: bool) -> None:
        """Name the rules of ``results`` (:class:`~.results.CheckResult`) that a budget left
        unexercised: not exercised (or inconclusive) for a budget reason, or, when the budget
        stopped the schemathesis part, for no recorded reason at all."""
        if self.max_requests is None and self.max_tokens is None:
            return
        for result in results:
            if result.verdict not in ("not exercised", "inconclusive"):
                continue
            reasons = [*result.not_exercised, *result.inconclusive_reasons, result.note]
            if any("budget" in reason for reason in reasons) or (
                schemathesis_stopped and not any(reasons)
            ):
                self.unexercised.append(result.name)


def usage_of(status: int, content_type: str, body: bytes) -> tuple[int, int]:
    """(prompt, completion) tokens a 200 answer reports; (0, 0) without usage."""
    if status != 200:
        return 0, 0

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


# ---------------------------------------------------------------------------------------------
# What a run will cost, before it is spent

WINDOW_BOUND_TOKENS = 80_000
"""A default-level run with ``--context-length W`` sends at most ``3 * W`` + this many prompt
tokens (counted by the server: ``tests/test_conformance_cost.py``, ``scripts/bench_cost.py``)."""

# What the parts that do not depend on the window sent the reference server (counted by the
# server, seed 1, 2026-12): (requests, prompt tokens, request bytes) at 25 examples and the
# extra per example above or below it. Prompt tokens vary from run to run by up to 35,000 (a
# schemathesis draw of a long string of punctuation).
_BASE: dict[str, tuple[tuple[int, int, int], tuple[float, float, float]]] = {
    "schema": ((171, 14_000, 2_280_000), (1.0, 40, 1_000)),
    "semantic": ((370, 40_000, 2_450_000), (4.8, 800, 11_000)),
    "strict": ((465, 45_000, 2_540_000), (8.5, 1_000, 15_000)),
}
# Near the window (semantic and strict, with a context length): the filler's calibration (3
# short prompts on a tokenizer where "." is one token), then two prompts of about the window.
_WINDOW_REQUESTS = 5
_WINDOW_SMALL_TOKENS = 3 * 150
_WINDOW_BODY_OVERHEAD = 200
"""JSON around a near-window prompt, per request (model, fields, message wrappers)."""


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def window_bound(context_length: int) -> int:
    """The prompt tokens a default-level run with this window is held to: ``3 W + 80,000``."""
    return 3 * context_length + WINDOW_BOUND_TOKENS


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to send (:func:`estimate`)."""

    level: str
    max_examples: int
    context_length: int | None
    requests: int
    prompt_tokens: int
    request_bytes: int
    window_requests: int
    window_prompt_tokens: int
    window_bytes: int

    @property
    def bound(self) -> int | None:
        if self.context_length is None or self.level == "schema":
            return None
        return window_bound(self.context_length)

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "max_examples": self.max_examples,
            "context_length": self.context_length,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "request_bytes": self.request_bytes,
            "near_window": {
                "requests": self.window_requests,
                "prompt_tokens": self.window_prompt_tokens,
                "request_bytes": self.window_bytes,
            },
            "prompt_token_bound": self.bound,
        }

    def lines(self) -> list[str]:
        window = (
            f"context length {self.context_length:,}"
            if self.context_length is not None
            else "context length unknown"
        )
        lines = [
            f"dry run, nothing sent: level {self.level}, {self.max_examples} example(s), {window}",
            f"expected: about {self.requests:,} requests, {self.prompt_tokens:,} prompt tokens, "
            f"{_size(self.request_bytes)} of request bodies",
        ]
        if self.window_requests:
            lines.append(
                f"  of which near the window: {self.window_requests} requests, "
                f"{self.window_prompt_tokens:,} prompt tokens, {_size(self.window_bytes)} "
                "(two prompts of about the window, built once and shared by the three window "
                "rules; a tokenizer that needs more than one byte per token sends more bytes)"
            )
        elif self.level != "schema":
            lines.append("  nothing near the window: give --context-length to judge it")
        if self.bound is not None:
            lines.append(
                f"  bound: a default-level run sends at most 3 x {self.context_length:,} + "
                f"{WINDOW_BOUND_TOKENS:,} = {self.bound:,} prompt tokens"
            )
        lines.append(
            "  (the reference server's counts; other servers differ with their tokenizer, "
            "overheads and answers)"
        )
        return lines


def estimate(level: str, max_examples: int, context_length: int | None) -> Estimate:
    """What a run of ``level`` with ``max_examples`` and this window is expected to send, from
    the reference server's counts (see ``docs/conformance.md``, "What a run costs")."""
    (requests, tokens, size), (per_requests, per_tokens, per_size) = _BASE[level]
    extra = max_examples - 25
    base = (
        max(1, round(requests + per_requests * extra)),
        max(0, round(tokens + per_tokens * extra)),
        max(0, round(size + per_size * extra)),
    )
    window = (0, 0, 0)
    if context_length is not None and level != "schema":
        near = 2 * context_length + 1  # one token of room, then none (plus an evictable turn)
        window = (
            _WINDOW_REQUESTS,
            near + _WINDOW_SMALL_TOKENS,
            near + 2 * _WINDOW_BODY_OVERHEAD + _WINDOW_SMALL_TOKENS,
        )
    return Estimate(
        level,
        max_examples,
        context_length,
        base[0] + window[0],
        base[1] + window[1],
        base[2] + window[2],
        *window,
    )
