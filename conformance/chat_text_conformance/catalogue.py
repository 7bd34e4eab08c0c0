"""The whole rule catalogue: every module that declares rules, imported, then listed.

The registry (:mod:`chat_text_conformance.checks.registry`) sits at the bottom of the package
and knows only what has been declared; the modules that declare rules (the per-response rules,
the properties, the client rules) sit above it. This module, above them all, loads every one of
them, so that ``--list-checks``, the README's tables and ``replay`` see every rule.
"""

from __future__ import annotations

from . import checks, properties
from .checks.registry import Kind, Rule
from .checks.registry import catalogue as _declared
from .checks.registry import get as _get
from .clients import sdk as client_conformance
from .engine.target import Level

__all__ = ["catalogue", "get"]

_DECLARING_MODULES = (checks, properties, client_conformance)


def catalogue(kind: Kind | None = None, level: Level | None = None) -> list[Rule]:
    """Every rule (of one kind, and/or run at ``level``), in report order."""
    return _declared(kind, level)


def get(rule_id: str) -> Rule:
    """The rule ``rule_id`` (``KeyError`` when there is none)."""
    return _get(rule_id)
