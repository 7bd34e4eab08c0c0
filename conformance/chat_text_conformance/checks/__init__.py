"""The suite's rules: a registry (:mod:`.registry`), the per-response rules by theme
(:mod:`.usage`, :mod:`.answer`, :mod:`.streaming`), the schemathesis built-ins
(:mod:`.builtins`), and :func:`judge`, which applies every per-response rule to one exchange.

Properties (:mod:`chat_text_conformance.properties`) and client rules
(:mod:`chat_text_conformance.clients.sdk`) declare themselves in the same registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..engine.pacing import is_busy
from ..engine.target import Level
from ..reporting.results import CheckResult, Failure

# isort: off
# imported in report order: a rule's place in the catalogue is its kind, then its declaration
from . import builtins, usage, answer, streaming

# isort: on
from .exchange import (
    Answer,
    CheckFailed,
    Exchange,
    Inconclusive,
    NotApplicable,
    RunContext,
    media_type,
)
from .registry import Rule, Source, catalogue, declare, get, rule, runs_at, spec, vendor

if TYPE_CHECKING:
    from .watch import StreamJudge

__all__ = [
    "PER_RESPONSE_RULES",
    "RESPONSE_RULES",
    "Answer",
    "CheckFailed",
    "Exchange",
    "Inconclusive",
    "Level",
    "NotApplicable",
    "Outcome",
    "Rule",
    "RunContext",
    "Source",
    "answer",
    "builtins",
    "busy_reason",
    "catalogue",
    "declare",
    "get",
    "judge",
    "media_type",
    "record",
    "rule",
    "runs_at",
    "spec",
    "streaming",
    "usage",
    "vendor",
]

Outcome = bool | CheckFailed | NotApplicable | Inconclusive
"""``True`` held; :class:`CheckFailed`; :class:`NotApplicable` (with its reason);
:class:`Inconclusive` (the suite cut the response)."""


def _rules_with_checks() -> list[Rule]:
    return [
        r
        for r in catalogue()
        if r.check is not None and r.kind in ("schema", "response") and r.per_exchange
    ]


PER_RESPONSE_RULES: tuple[Rule, ...] = tuple(_rules_with_checks())
"""Every rule the suite can evaluate on one exchange by itself (properties, proxy, replay)."""
RESPONSE_RULES: tuple[Rule, ...] = tuple(r for r in PER_RESPONSE_RULES if r.kind == "response")
"""The per-response LLM rules (also registered as schemathesis checks), in report order."""


def record(
    result: CheckResult, outcome: Outcome, failure: Callable[[CheckFailed], Failure]
) -> CheckFailed | None:
    """Count one exchange's ``outcome`` for a rule in ``result`` (``failure`` makes the failure
    to keep, with its reproducer); the :class:`CheckFailed` when it failed. The one way every
    front end records what ``judge`` says."""
    if outcome is True:
        result.record_pass()
    elif isinstance(outcome, NotApplicable):
        result.record_not_exercised(outcome.reason)
    elif isinstance(outcome, Inconclusive):
        result.record_inconclusive(outcome.reason)
    elif isinstance(outcome, CheckFailed):
        result.record_failure(failure(outcome))
        return outcome
    else:
        result.record_not_exercised("does not apply")
    return None


def busy_reason(status: int, *, relayed: bool = False) -> str:
    """What a rule says of a busy answer (429, 503): one the run could not wait out, or (the
    proxy's) one ``relayed`` to its client as it was."""
    when = "" if relayed else " even after the waits the run allows"
    return (
        f"rate-limited: answered {status}{when} (429 and 503 are documented answers to any "
        "request, so they are no evidence either way)"
    )


_AT_LEVEL: dict[Level, tuple[Rule, ...]] = {}


def _rules_at(level: Level) -> tuple[Rule, ...]:
    """The per-response rules that run at ``level`` (each level's list made once)."""
    found = _AT_LEVEL.get(level)
    if found is None:
        found = _AT_LEVEL[level] = tuple(
            r for r in PER_RESPONSE_RULES if runs_at(r, level) and r.check is not None
        )
    return found


def judge(
    exchange: Exchange,
    level: Level = Level.SEMANTIC,
    rules: Iterable[Rule] | None = None,
    *,
    relayed: bool = False,
    stream: StreamJudge | None = None,
) -> dict[str, Outcome]:
    """Apply every per-response rule of ``level`` (or ``rules``) to one exchange. A busy answer
    (429, 503) is judged by none: each rule is inconclusive for it (``relayed``: the proxy's
    wording).

    ``stream``: the stream rules' judge that was fed exactly the exchange's body as it arrived
    (the load generator): a stream rule it watches gets its verdict from there (the first chunk
    that broke the rule, else the same fold over the same chunks) rather than from folding the
    body again; a rule it saw broken is failed even when the answer is not a 2xx stream."""
    outcome: dict[str, Outcome] = {}
    busy = busy_reason(exchange.status, relayed=relayed) if is_busy(exchange.status) else None
    if rules is None:
        chosen: Iterable[Rule] = _rules_at(Level(level))
    else:
        chosen = (r for r in rules if runs_at(r, level) and r.check is not None)
    for item in chosen:
        check = item.check
        if check is None:  # pragma: no cover - chosen for having one
            continue
        if busy is not None:
            outcome[item.id] = Inconclusive(busy)
            continue
        if stream is not None:
            known = stream.verdict(item.id, exchange)
            if known is not None:
                outcome[item.id] = known
                continue
        try:
            held = check(exchange)
            outcome[item.id] = True if held else NotApplicable("does not apply")
        except (CheckFailed, NotApplicable, Inconclusive) as result:
            outcome[item.id] = result
    return outcome
