"""The suite's rules: a registry (:mod:`.registry`), the per-response rules by theme
(:mod:`.usage`, :mod:`.answer`, :mod:`.streaming`), the schemathesis built-ins
(:mod:`.builtins`), and :func:`judge`, which applies every per-response rule to one exchange.

Properties (:mod:`chat_text_conformance.properties`) and client rules
(:mod:`chat_text_conformance.client_conformance`) declare themselves in the same registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..target import Level
from . import answer, builtins, schema, streaming, usage
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
    "catalogue",
    "declare",
    "get",
    "judge",
    "media_type",
    "rule",
    "runs_at",
    "schema",
    "spec",
    "streaming",
    "usage",
    "vendor",
]

Outcome = bool | CheckFailed | NotApplicable | Inconclusive
"""``True`` held; :class:`CheckFailed`; :class:`NotApplicable` (with its reason);
:class:`Inconclusive` (the suite cut the response)."""


def _rules_with_checks() -> list[Rule]:
    from .registry import _RULES

    return [r for r in _RULES.values() if r.check is not None and r.kind in ("schema", "response")]


PER_RESPONSE_RULES: tuple[Rule, ...] = tuple(_rules_with_checks())
"""Every rule the suite can evaluate on one exchange by itself (properties, proxy, replay)."""
RESPONSE_RULES: tuple[Rule, ...] = tuple(r for r in PER_RESPONSE_RULES if r.kind == "response")
"""The per-response LLM rules (also registered as schemathesis checks), in report order."""


def judge(
    exchange: Exchange, level: Level = Level.SEMANTIC, rules: Iterable[Rule] | None = None
) -> dict[str, Outcome]:
    """Apply every per-response rule of ``level`` (or ``rules``) to one exchange."""
    outcome: dict[str, Outcome] = {}
    for item in PER_RESPONSE_RULES if rules is None else rules:
        if not runs_at(item, level) or item.check is None:
            continue
        try:
            held = item.check(exchange)
            outcome[item.id] = True if held else NotApplicable("does not apply")
        except (CheckFailed, NotApplicable, Inconclusive) as result:
            outcome[item.id] = result
    return outcome
