"""The report of one comparison, as data (``--format json``, described field by field in
:data:`REPORT_SCHEMA`) and rendered as text, Markdown (a PR comment) or JUnit XML (CI)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from chat_text_spec.diff.changes import SpecDiffError
from chat_text_spec.diff.document import diff_specs
from chat_text_spec.diff.policy import Policy
from chat_text_spec.diff.rules import SEVERITIES
from chat_text_spec.diff.schema import as_dict
from chat_text_spec.diff.semver import actual_bump, bump_is_enough, propose_version, required_bump
from chat_text_spec.diff.sources import git_spec, load_spec_file

__all__ = [
    "REPORT_FORMAT_VERSION",
    "REPORT_SCHEMA",
    "build_report",
    "changelog",
    "error_report",
    "render_junit",
    "render_markdown",
    "render_text",
]

TOOL = "chat-text-spec-diff"
REPORT_FORMAT_VERSION = 1
HEADINGS = {"breaking": "BREAKING", "non-breaking": "NON-BREAKING", "info": "INFO (patch)"}

_CHANGE: dict[str, Any] = {
    "type": "object",
    "required": ["rule", "severity", "path", "message", "fingerprint"],
    "additionalProperties": False,
    "properties": {
        "rule": {"type": "string", "description": "rule id from --list-rules"},
        "severity": {
            "enum": list(SEVERITIES),
            "description": "after --policy/--severity overrides",
        },
        "default_severity": {
            "enum": list(SEVERITIES),
            "description": "the catalogue's severity; present only when a policy overrode it",
        },
        "path": {"type": "string", "description": "JSONPath of the change, through the operation"},
        "message": {"type": "string", "description": "what changed, with old and new values"},
        "fingerprint": {
            "type": "string",
            "pattern": "^[0-9a-f]{16}$",
            "description": "stable id: a hash of rule and path only (not of the wording)",
        },
        "via": {
            "type": "string",
            "description": "the $ref the change was reached through, when inside a component",
        },
        "reason": {"type": "string", "description": "ignored changes only: the policy's reason"},
    },
}
_SIDE: dict[str, Any] = {
    "type": "object",
    "required": ["source", "version"],
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string", "description": "file path, or REF:path for a git ref"},
        "version": {"type": "string", "description": "info.version of that document"},
    },
}
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "chat-text-spec-diff report (--format json)",
    "type": "object",
    "required": [
        "tool",
        "format_version",
        "old",
        "new",
        "counts",
        "breaking",
        "required_bump",
        "version_ok",
        "changes",
        "ignored",
        "unused_ignores",
    ],
    "additionalProperties": False,
    "properties": {
        "tool": {"const": TOOL},
        "format_version": {
            "const": REPORT_FORMAT_VERSION,
            "description": "bumped when a field changes meaning or goes away",
        },
        "old": _SIDE,
        "new": _SIDE,
        "counts": {
            "type": "object",
            "description": "changes per severity (ignored ones counted apart)",
            "required": [*SEVERITIES, "ignored"],
            "additionalProperties": False,
            "properties": {k: {"type": "integer", "minimum": 0} for k in (*SEVERITIES, "ignored")},
        },
        "breaking": {"type": "boolean", "description": "any change (not ignored) is breaking"},
        "required_bump": {
            "enum": ["major", "minor", "patch", "none"],
            "description": "major: something breaking; minor: something non-breaking; patch:"
            " only info changes; none: the documents say the same thing",
        },
        "proposed_version": {
            "type": "string",
            "description": "old info.version bumped by required_bump (0.x: breaking -> minor);"
            " absent when the old version is not X.Y.Z",
        },
        "actual_bump": {
            "enum": ["major", "minor", "patch", "none"],
            "description": "how info.version moved; absent on a version_error",
        },
        "version_ok": {
            "type": "boolean",
            "description": "info.version moved at least as far as required_bump (what --gate"
            " checks)",
        },
        "version_error": {
            "type": "string",
            "description": "why the versions could not be compared (not semver, went down)",
        },
        "changes": {"type": "array", "items": _CHANGE, "description": "most severe first"},
        "ignored": {
            "type": "array",
            "items": _CHANGE,
            "description": "changes a policy ignore entry accepted, each with its reason",
        },
        "unused_ignores": {
            "type": "array",
            "description": "policy ignore entries that matched no change (stale)",
            "items": {
                "type": "object",
                "required": ["rule", "path", "reason"],
                "additionalProperties": False,
                "properties": {k: {"type": "string"} for k in ("rule", "path", "reason")},
            },
        },
    },
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tool", "format_version", "error"],
    "properties": {
        "tool": {"const": TOOL},
        "format_version": {"const": REPORT_FORMAT_VERSION},
        "error": {
            "type": "object",
            "required": ["message", "exit_code"],
            "properties": {"message": {"type": "string"}, "exit_code": {"const": 2}},
        },
    },
}


def build_report(
    old: dict[str, Any],
    new: dict[str, Any],
    old_label: str,
    new_label: str,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """The full report as plain data (what ``--format json`` prints)."""
    outcome = (policy or Policy()).apply(diff_specs(old, new))
    needed = required_bump(outcome.changes)
    old_v = str(as_dict(old.get("info")).get("version"))
    new_v = str(as_dict(new.get("info")).get("version"))

    def entry(change: Any, reason: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = change.to_dict()
        if change.rule in outcome.overridden:
            out["default_severity"] = outcome.overridden[change.rule]
        if reason is not None:
            out["reason"] = reason
        return out

    counts = {kind: sum(c.severity == kind for c in outcome.changes) for kind in SEVERITIES}
    report: dict[str, Any] = {
        "tool": TOOL,
        "format_version": REPORT_FORMAT_VERSION,
        "old": {"source": old_label, "version": old_v},
        "new": {"source": new_label, "version": new_v},
        "counts": {**counts, "ignored": len(outcome.ignored)},
        "breaking": counts["breaking"] > 0,
        "required_bump": needed,
        "changes": [entry(c) for c in outcome.changes],
        "ignored": [entry(c, why) for c, why in outcome.ignored],
        "unused_ignores": [e.to_dict() for e in outcome.unused],
    }
    try:
        report["proposed_version"] = propose_version(old_v, needed)
        report["actual_bump"] = actual_bump(old_v, new_v)
        report["version_ok"] = bump_is_enough(needed, old_v, new_v)
    except SpecDiffError as exc:
        report["version_error"] = str(exc)
        report["version_ok"] = False
    return report


def error_report(message: str) -> dict[str, Any]:
    """What ``--format json`` prints when the comparison could not run (exit 2)."""
    return {
        "tool": TOOL,
        "format_version": REPORT_FORMAT_VERSION,
        "error": {"message": message, "exit_code": 2},
    }


def _semver_line(report: dict[str, Any]) -> str:
    if "version_error" in report:
        return f"version: {report['version_error']}"
    old, new, needs = report["old"], report["new"], report["required_bump"]
    return (
        f"semver: {'no version bump needed' if needs == 'none' else f'needs a {needs} bump'}"
        f" (proposed info.version: {report['proposed_version']}); "
        f"info.version moved {old['version']} -> {new['version']} ({report['actual_bump']})"
    )


def _gate_line(report: dict[str, Any]) -> str:
    if report["version_ok"]:
        return "gate: PASS: info.version was bumped enough"
    return f"gate: FAIL: bump info.version to at least {report.get('proposed_version', '?')}"


def render_text(report: dict[str, Any], *, gate: bool = False) -> str:
    old, new = report["old"], report["new"]
    lines = [f"spec diff: {old['source']} ({old['version']}) -> {new['source']} ({new['version']})"]
    if not report["changes"] and not report["ignored"]:
        lines.append("no changes")
    for kind in SEVERITIES:
        items = [c for c in report["changes"] if c["severity"] == kind]
        if not items:
            continue
        lines.append(f"{HEADINGS[kind]} ({len(items)})")
        for c in items:
            via = f"  [via {c['via']}]" if c.get("via") else ""
            lines.append(f"  {c['rule']}: {c['path']}{via}")
            if c["message"]:
                lines.append(f"      {c['message']}")
    if report["ignored"]:
        lines.append(f"IGNORED by policy ({len(report['ignored'])})")
        for c in report["ignored"]:
            lines.append(f"  {c['rule']}: {c['path']}")
            lines.append(f"      {c['message']} -- accepted: {c['reason']}")
    for e in report["unused_ignores"]:
        lines.append(f"warning: ignore entry matched nothing: {e['rule']} {e['path']}")
    lines.append(_semver_line(report))
    if gate:
        lines.append(_gate_line(report))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any], *, gate: bool = False) -> str:
    """A pull-request comment."""
    old, new = report["old"], report["new"]
    lines = [
        f"### OpenAPI changes: `{old['source']}` ({old['version']}) → "
        f"`{new['source']}` ({new['version']})",
        "",
    ]
    counts = report["counts"]
    summary = ", ".join(f"{counts[k]} {k}" for k in (*SEVERITIES, "ignored"))
    lines.append(f"**{summary}** · {_semver_line(report)}")
    if gate:
        mark = "✅" if report["version_ok"] else "❌"
        lines.append(f"\n{mark} {_gate_line(report)}")
    for kind in SEVERITIES:
        items = [c for c in report["changes"] if c["severity"] == kind]
        if not items:
            continue
        lines += ["", f"#### {HEADINGS[kind]} ({len(items)})", ""]
        lines += ["| Rule | Where | What |", "| --- | --- | --- |"]
        for c in items:
            via = f" (via `{c['via']}`)" if c.get("via") else ""
            lines.append(f"| `{c['rule']}` | `{_cell(c['path'])}`{via} | {_cell(c['message'])} |")
    if report["ignored"]:
        lines += ["", f"#### Accepted by policy ({len(report['ignored'])})", ""]
        lines += ["| Rule | Where | Reason |", "| --- | --- | --- |"]
        for c in report["ignored"]:
            lines.append(f"| `{c['rule']}` | `{_cell(c['path'])}` | {_cell(c['reason'])} |")
    if not report["changes"] and not report["ignored"]:
        lines += ["", "No changes."]
    return "\n".join(lines) + "\n"


def render_junit(report: dict[str, Any], *, gate: bool = False) -> str:
    """JUnit XML: one test case per change (breaking ones fail, ignored ones are skipped),
    plus the semver gate when ``--gate`` is given."""
    suite = ET.Element("testsuite", name=TOOL)
    failures = skipped = tests = 0
    for c in report["changes"]:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=c["rule"], name=c["path"])
        text = f"{c['severity']}: {c['message']} [fingerprint {c['fingerprint']}]"
        if c["severity"] == "breaking":
            failures += 1
            failure = ET.SubElement(case, "failure", message=c["message"], type=c["rule"])
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    for c in report["ignored"]:
        tests += 1
        skipped += 1
        case = ET.SubElement(suite, "testcase", classname=c["rule"], name=c["path"])
        ET.SubElement(case, "skipped", message=f"accepted: {c['reason']}")
    if gate:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname="semver", name="info.version bump")
        if not report["version_ok"]:
            failures += 1
            ET.SubElement(case, "failure", message=_gate_line(report), type="semver")
    if tests == 0:
        tests = 1
        ET.SubElement(suite, "testcase", classname="spec-diff", name="no changes")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode")


def changelog(base_ref: str, spec: Path) -> str:
    """Client-facing changelog between the spec at git ``base_ref`` and the file ``spec``
    (what ``chat-text-regenerate`` prints); a one-line note when there is nothing to compare."""
    try:
        old, label = git_spec(base_ref, spec)
        report = build_report(old, load_spec_file(spec), label, str(spec))
    except SpecDiffError as exc:
        return f"changelog: not available ({exc})"
    return render_text(report)
