"""Known differences: where a client's outcome differs from the reference (the Python SDK)
because of its generator's or its runtime's documented behaviour.

They are data, in ``clients/known_differences.yaml``: a list of entries, each with

``id``        a short name;
``language``  the column (``python-generated``, ``typescript``, ``go``);
``kinds``     the differences it explains, each ``"<reference kind> -> <this client's kind>"``
              with the kinds ``value``, ``status``, ``validation``, ``transport`` (and
              ``request`` on the right for a request that differs);
``cases``     the case ids it explains (exactly; the harness prints them for new ones);
``reason``    why, and ``source``: where that behaviour is documented.

A difference is *known* when an entry names its case and language and lists its kinds.
Everything else fails the run, and so does an entry whose case no longer differs (the list must
stay true).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "KNOWN_PATH",
    "OUTCOME_KINDS",
    "KnownDifference",
    "KnownError",
    "load_known",
    "render_markdown",
]

KNOWN_PATH = Path("clients") / "known_differences.yaml"
OUTCOME_KINDS = ("value", "status", "validation", "transport", "request")
_FIELDS = ("id", "language", "kinds", "cases", "reason", "source")


class KnownError(Exception):
    """The known-differences file cannot be read or is not well formed."""


@dataclass(frozen=True)
class KnownDifference:
    id: str
    language: str
    kinds: tuple[tuple[str, str], ...]
    cases: tuple[str, ...]
    reason: str
    source: str

    def explains(self, language: str, case: str, reference: str, outcome: str) -> bool:
        return (
            language == self.language and case in self.cases and (reference, outcome) in self.kinds
        )


def _kinds(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise KnownError(f"{where}: 'kinds' must be a non-empty list like ['validation -> value']")
    pairs = []
    for item in value:
        parts = [p.strip() for p in item.split("->")] if isinstance(item, str) else []
        if len(parts) != 2 or not all(p in OUTCOME_KINDS for p in parts):
            raise KnownError(
                f"{where}: kind {item!r} must be '<kind> -> <kind>' with kinds from "
                f"{', '.join(OUTCOME_KINDS)}"
            )
        pairs.append((parts[0], parts[1]))
    return tuple(pairs)


def _entry(data: Any, where: str, languages: Iterable[str]) -> KnownDifference:
    if not isinstance(data, dict):
        raise KnownError(f"{where}: an entry must be a mapping")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise KnownError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise KnownError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for name in ("id", "language", "reason", "source"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise KnownError(f"{where}: {name!r} must be a non-empty string")
    if data["language"] not in languages:
        raise KnownError(
            f"{where}: unknown language {data['language']!r} (one of {', '.join(languages)})"
        )
    cases = data["cases"]
    if not isinstance(cases, list) or not cases or not all(isinstance(c, str) for c in cases):
        raise KnownError(f"{where}: 'cases' must be a non-empty list of case ids")
    if len(set(cases)) != len(cases):
        raise KnownError(f"{where}: a case is listed twice")
    return KnownDifference(
        id=data["id"],
        language=data["language"],
        kinds=_kinds(data["kinds"], where),
        cases=tuple(cases),
        reason=" ".join(data["reason"].split()),
        source=data["source"].strip(),
    )


def load_known(path: Path, languages: Sequence[str]) -> list[KnownDifference]:
    """The entries of ``path`` (a missing file means none)."""
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KnownError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise KnownError(f"{path}: not YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise KnownError(f"{path}: must be a list of entries")
    entries = [_entry(item, f"{path}: entry {i + 1}", languages) for i, item in enumerate(data)]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise KnownError(f"{path}: id {entry.id!r} appears twice")
        seen.add(entry.id)
    return entries


def render_markdown(entries: Sequence[KnownDifference]) -> str:
    """The README table of known differences."""
    lines = [
        "| id | client | Python SDK -> client | cases | why (documented behaviour) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in entries:
        kinds = "<br>".join(f"{a} -> {b}" for a, b in entry.kinds)
        cases = ", ".join(f"`{case}`" for case in entry.cases)
        source = (
            f"[source]({entry.source})"
            if entry.source.startswith(("http://", "https://"))
            else f"source: `{entry.source}`"
        )
        lines.append(
            f"| `{entry.id}` | {entry.language} | {kinds} | {cases} | {entry.reason} ({source}) |"
        )
    return "\n".join(lines) + "\n"
