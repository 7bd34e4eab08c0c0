"""The whole rule catalogue, for the front ends that show or look up every rule
(``--list-checks``, the docs tables, ``replay``, the proxy's report): every module that
declares rules loaded (:func:`~chat_text_conformance.checks.registry.load_all`), then the
registry read.
"""

from __future__ import annotations

from .checks.registry import Kind, Rule, get, load_all
from .checks.registry import catalogue as _declared
from .engine.target import Level

__all__ = ["catalogue", "get"]


def catalogue(kind: Kind | None = None, level: Level | None = None) -> list[Rule]:
    """Every rule (of one kind, and/or run at ``level``), in report order."""
    load_all()
    return _declared(kind, level)
