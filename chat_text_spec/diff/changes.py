"""What one comparison finds: :class:`Change` (a difference and the rule that judged it),
:class:`SpecDiffError`, and the small helpers that name places in a document."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from chat_text_spec.diff.rules import SEVERITIES, Rule, Severity

__all__ = ["Change", "SpecDiffError", "canonical", "child", "normalize_text", "show"]


class SpecDiffError(Exception):
    """The documents (or the policy) cannot be used: not OpenAPI, unresolvable ``$ref``,
    unreadable file, unknown git ref, bad ignore entry, ..."""


@dataclass(frozen=True)
class Change:
    """One classified difference: the rule that judged it, where (a JSONPath through the
    operation), a one-line message, and the component it was reached through (``via``)."""

    rule: str
    severity: Severity
    path: str
    message: str
    via: str | None = None

    @classmethod
    def of(cls, rule: Rule, path: str, message: str, via: str | None) -> Change:
        return cls(rule.id, rule.severity, path, message, via)

    @property
    def fingerprint(self) -> str:
        """Stable id of this finding: the rule and the place, not the wording or the values,
        so an accepted change stays accepted when the message is reworded."""
        digest = hashlib.sha256(f"{self.rule}\0{self.path}".encode()).hexdigest()
        return digest[:16]

    def sort_key(self) -> tuple[int, str, str]:
        return (SEVERITIES.index(self.severity), self.path, self.rule)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "fingerprint": self.fingerprint,
        }
        if self.via is not None:
            out["via"] = self.via
        return out


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def child(path: str, key: str | int) -> str:
    """``path`` extended by one key, in JSONPath notation."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def canonical(value: Any) -> str:
    """A stable text form of a JSON value (key order does not matter)."""
    return json.dumps(value, sort_keys=True, default=str)


def normalize_text(value: Any) -> Any:
    """Prose with whitespace collapsed, so reflowed text compares equal."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return {k: normalize_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_text(v) for v in value]
    return value


def show(value: Any) -> str:
    """A value for a message, cut at 80 characters."""
    text = canonical(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
