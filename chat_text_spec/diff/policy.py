"""A team's policy on top of the catalogue: severity overrides and accepted changes.

A policy file (``--policy FILE``, YAML or JSON)::

    severity:                       # rule id -> breaking | non-breaking | info
      component-schema-renamed: breaking
    ignore:                         # accepted findings; every entry needs a reason
      - rule: response-enum-widened
        path: "$.paths['/inference/chat_text'].post.responses['200']...finish_reason.enum"
        reason: "finish_reason is documented as open: clients must accept unknown values"

An ignore entry matches a finding with exactly that rule id and JSONPath (the two things its
``fingerprint`` is made of), so rewording a message never un-accepts a change; an entry that
matches nothing is reported as unused, so stale entries get cleaned up. ``--severity
RULE=LEVEL`` on the command line overrides the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import yaml

from chat_text_spec.diff.changes import Change, SpecDiffError
from chat_text_spec.diff.rules import SEVERITIES, Severity, get_rule

__all__ = ["IgnoreEntry", "Outcome", "Policy", "load_policy", "parse_severity_override"]


@dataclass(frozen=True)
class IgnoreEntry:
    rule: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Outcome:
    """The changes after the policy: what counts, what was accepted (with the reason), and
    ignore entries that matched nothing."""

    changes: list[Change]
    ignored: list[tuple[Change, str]]
    unused: list[IgnoreEntry]
    # rule id -> the catalogue's severity, for the rules the policy overrode
    overridden: dict[str, Severity]


@dataclass
class Policy:
    severity: dict[str, Severity] = field(default_factory=dict)
    ignore: list[IgnoreEntry] = field(default_factory=list)

    def apply(self, changes: list[Change]) -> Outcome:
        kept: list[Change] = []
        ignored: list[tuple[Change, str]] = []
        used: set[IgnoreEntry] = set()
        overridden: dict[str, Severity] = {}
        by_place = {(e.rule, e.path): e for e in self.ignore}
        for change in changes:
            level = self.severity.get(change.rule)
            if level is not None and level != change.severity:
                overridden[change.rule] = change.severity
                change = replace(change, severity=level)
            entry = by_place.get((change.rule, change.path))
            if entry is not None:
                used.add(entry)
                ignored.append((change, entry.reason))
            else:
                kept.append(change)
        kept.sort(key=Change.sort_key)
        unused = [e for e in self.ignore if e not in used]
        return Outcome(kept, ignored, unused, overridden)


def _severity(value: Any, where: str) -> Severity:
    if value not in SEVERITIES:
        raise SpecDiffError(f"{where}: severity {value!r} is not one of {', '.join(SEVERITIES)}")
    return cast(Severity, value)


def _known_rule(rule_id: Any, where: str) -> str:
    if not isinstance(rule_id, str):
        raise SpecDiffError(f"{where}: a rule id must be a string, got {rule_id!r}")
    try:
        get_rule(rule_id)
    except KeyError:
        raise SpecDiffError(
            f"{where}: unknown rule {rule_id!r} (chat-text-spec-diff --list-rules lists them)"
        ) from None
    return rule_id


def parse_severity_override(text: str) -> tuple[str, Severity]:
    """``RULE=LEVEL`` from the command line."""
    rule_id, sep, level = text.partition("=")
    if not sep:
        raise SpecDiffError(f"--severity {text!r}: expected RULE=LEVEL")
    where = f"--severity {text}"
    return _known_rule(rule_id.strip(), where), _severity(level.strip(), where)


def load_policy(path: Path) -> Policy:
    """Read and check a policy file; every problem names the file and the entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecDiffError(f"--policy: cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecDiffError(f"--policy {path}: not valid YAML/JSON: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecDiffError(f"--policy {path}: expected a mapping with 'severity' and 'ignore'")
    unknown = sorted(set(data) - {"severity", "ignore"})
    if unknown:
        raise SpecDiffError(f"--policy {path}: unknown key(s) {', '.join(unknown)}")
    policy = Policy()
    severity = data.get("severity") or {}
    if not isinstance(severity, dict):
        raise SpecDiffError(f"--policy {path}: 'severity' must map rule ids to severities")
    for rule_id, level in severity.items():
        where = f"--policy {path}: severity.{rule_id}"
        policy.severity[_known_rule(rule_id, where)] = _severity(level, where)
    entries = data.get("ignore") or []
    if not isinstance(entries, list):
        raise SpecDiffError(f"--policy {path}: 'ignore' must be a list of entries")
    for i, entry in enumerate(entries):
        where = f"--policy {path}: ignore[{i}]"
        if not isinstance(entry, dict):
            raise SpecDiffError(f"{where}: expected a mapping with rule, path and reason")
        extra = sorted(set(entry) - {"rule", "path", "reason"})
        if extra:
            raise SpecDiffError(f"{where}: unknown key(s) {', '.join(extra)}")
        rule_id = _known_rule(entry.get("rule"), where)
        where_path = entry.get("path")
        if not isinstance(where_path, str) or not where_path.startswith("$"):
            raise SpecDiffError(f"{where}: 'path' must be the finding's JSONPath (starts with $)")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise SpecDiffError(f"{where}: 'reason' is required: say why this change is accepted")
        policy.ignore.append(IgnoreEntry(rule_id, where_path, reason.strip()))
    return policy
