"""The rule catalogue: every rule of the suite, declared once, with its level and its source.

A rule is what a failure means: "the server contradicts this sentence of ``openapi.yaml`` or of
the vendor document". Each one is declared here (per-response rules and properties with the
:func:`rule` decorator next to their code; schemathesis built-ins and client rules by
:func:`declare`) with

* ``id``: the name reports, JUnit and ``--list-checks`` use;
* ``statement``: what must hold, in one line;
* ``level``: the lowest level that runs it (``schema`` < ``semantic`` < ``strict``);
* ``sources``: JSON pointers into ``openapi.yaml`` and/or sentences of the vendor document.

A rule without a source cannot be declared. The tests resolve every pointer and find every
vendor sentence in the document.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ..engine.target import Level

__all__ = [
    "KINDS",
    "Rule",
    "Source",
    "catalogue",
    "declare",
    "get",
    "rule",
    "spec",
    "vendor",
]

Kind = Literal["schema", "response", "property", "client"]
KINDS: tuple[Kind, ...] = ("schema", "response", "property", "client")
SPEC_FILE = "openapi.yaml"
VENDOR_DOCUMENT = "vendor document"


@dataclass(frozen=True)
class Source:
    document: str
    """``openapi.yaml`` or ``vendor document``."""
    where: str
    """A JSON pointer (``openapi.yaml``) or a sentence quoted verbatim (vendor document)."""

    def __str__(self) -> str:
        if self.document == SPEC_FILE:
            return f"{SPEC_FILE}#{self.where}"
        return f'{VENDOR_DOCUMENT}: "{self.where}"'


def spec(pointer: str) -> Source:
    """A JSON pointer into ``openapi.yaml`` (``/components/schemas/Usage``)."""
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/': {pointer!r}")
    return Source(SPEC_FILE, pointer)


def vendor(sentence: str) -> Source:
    """A sentence of the vendor document the API was created from, quoted verbatim."""
    return Source(VENDOR_DOCUMENT, sentence)


STRICT_PREMISE = (
    "rests on strict's premise: temperature 0 is deterministic (not promised by the documents)"
)
"""Said with every failure of a strict-level rule."""

OPERATION = "/paths/~1inference~1chat_text/post"
"""JSON pointer of the operation, for sources."""


@dataclass(frozen=True)
class Rule:
    id: str
    statement: str
    level: Level
    kind: Kind
    sources: tuple[Source, ...]
    check: Callable[..., Any] | None = None
    """The code that judges it: a function of one exchange (kinds ``schema`` and
    ``response``), of a property's run (``property``), or of a client run (``client``)."""
    per_exchange: bool = True
    """Whether every exchange is judged by it (``checks.judge``); ``False`` for a rule one
    sender judges on its own exchanges (the pre-flight)."""

    @property
    def premise(self) -> str | None:
        """What a failure of the rule rests on beyond the documents, if anything (the strict
        level's premise)."""
        return STRICT_PREMISE if self.level is Level.STRICT else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "level": self.level.value,
            "kind": self.kind,
            "sources": [{"document": s.document, "where": s.where} for s in self.sources],
        }

    def citation(self) -> list[str]:
        """What a failure of the rule rests on, one line each: the statement, every source (the
        spec pointer or the vendor sentence), and the premise when there is one."""
        lines = [f"rule: {self.statement}"]
        lines += [f"source: {source}" for source in self.sources]
        if self.premise is not None:
            lines.append(f"premise: {self.premise}")
        return lines


_RULES: dict[str, Rule] = {}
_SEQUENCE: dict[str, int] = {}
_LEVEL_ORDER = {Level.SCHEMA: 0, Level.SEMANTIC: 1, Level.STRICT: 2}

F = TypeVar("F", bound=Callable[..., Any])


def declare(
    id: str,
    statement: str,
    *,
    level: Level,
    kind: Kind,
    sources: Sequence[Source],
    check: Callable[..., Any] | None = None,
    per_exchange: bool = True,
) -> Rule:
    """Add a rule to the catalogue (once per id; a second, different declaration is an error)."""
    if not sources:
        raise ValueError(f"rule {id!r} has no source: cite openapi.yaml or the vendor document")
    if not statement or "\n" in statement:
        raise ValueError(f"rule {id!r} needs a one-line statement")
    declared = Rule(id, statement, Level(level), kind, tuple(sources), check, per_exchange)
    existing = _RULES.get(id)
    if existing is not None and existing.to_json() != declared.to_json():
        raise ValueError(f"rule {id!r} is declared twice, differently")
    _RULES[id] = declared
    _SEQUENCE.setdefault(id, len(_SEQUENCE))
    return declared


def rule(
    statement: str,
    *,
    level: Level,
    kind: Kind,
    sources: Sequence[Source],
    id: str | None = None,
    per_exchange: bool = True,
) -> Callable[[F], F]:
    """Decorator: declare the function as the rule named after it (or ``id``)."""

    def register(fn: F) -> F:
        declare(
            id or fn.__name__,
            statement,
            level=level,
            kind=kind,
            sources=sources,
            check=fn,
            per_exchange=per_exchange,
        )
        return fn

    return register


def catalogue(kind: Kind | None = None, level: Level | None = None) -> list[Rule]:
    """Every rule declared so far (of one kind, and/or run at ``level``), in report order.

    Rules are declared when their module is imported; :func:`load_all` imports every such
    module (:func:`chat_text_conformance.catalogue.catalogue` calls it first)."""
    rules: Iterator[Rule] = iter(sorted(_RULES.values(), key=_report_order))
    if kind is not None:
        rules = (r for r in rules if r.kind == kind)
    if level is not None:
        rules = (r for r in rules if _LEVEL_ORDER[r.level] <= _LEVEL_ORDER[Level(level)])
    return list(rules)


_KIND_ORDER = {"schema": 0, "response": 1, "property": 2, "client": 3}


def _report_order(item: Rule) -> tuple[int, int]:
    """By kind, then in the order the rules were declared (their modules' import order)."""
    return _KIND_ORDER[item.kind], _SEQUENCE[item.id]


DECLARING_MODULES = ("checks", "properties", "clients.sdk")
"""The modules of the package that declare rules (imported, they add them here): the
per-response and schema rules, the properties, the client rules."""


def load_all() -> None:
    """Import every module that declares rules: afterwards the catalogue is whole. (The
    registry sits at the bottom of the package and the rules above it, so it loads them by
    name, on first need: a front end that needs only the per-response rules, the proxy, does
    not import the properties' or the clients' dependencies.)"""
    package = __name__.rsplit(".", 2)[0]
    for module in DECLARING_MODULES:
        importlib.import_module(f"{package}.{module}")


def get(id: str) -> Rule:
    """The rule ``id``; every declaring module is loaded first when it is not declared yet
    (``KeyError`` when there is no such rule)."""
    if id not in _RULES:
        load_all()
    return _RULES[id]


def runs_at(rule: Rule, level: Level) -> bool:
    return _LEVEL_ORDER[rule.level] <= _LEVEL_ORDER[Level(level)]
