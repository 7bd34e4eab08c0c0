"""Reports of a run: the human summary, JUnit XML (one test case per check) and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .results import CheckResult, RunReport

__all__ = ["summary_text", "to_json", "write_json", "write_junit_xml"]

_MAX_REPRODUCER_CHARS = 1500


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " …[truncated]"


def summary_text(report: RunReport, *, failures_per_check: int = 1) -> str:
    """A table (check: passed/failed) and, per failure, what was expected and a reproducer."""
    lines: list[str] = []
    width = max([len(r.name) for r in report.results] + [len("check")])
    lines.append(f"{'check':<{width}}  {'group':<8}  {'passed':>6}  {'failed':>6}  verdict")
    lines.append("-" * (width + 36))
    for result in report.results:
        verdict = "ok" if result.ok else "FAIL"
        if result.ok and result.passed == 0:
            verdict = "ok (not exercised)"
        lines.append(
            f"{result.name:<{width}}  {result.group:<8}  {result.passed:>6}  {result.failed:>6}  "
            f"{verdict}"
        )
    failed = [r for r in report.results if not r.ok]
    for result in failed:
        lines.append("")
        lines.append(f"FAILED {result.name} ({result.failed} time(s))")
        for failure in result.failures[:failures_per_check]:
            lines.append(f"  what: {failure.message}")
            if failure.expected:
                lines.append(f"  expected: {failure.expected}")
            if failure.actual:
                lines.append(f"  got: {_shorten(failure.actual, 500)}")
            if failure.reproducer:
                lines.append("  reproduce:")
                for line in _shorten(failure.reproducer, _MAX_REPRODUCER_CHARS).splitlines():
                    lines.append(f"    {line}")
    lines.append("")
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.setup_error:
        lines.append(f"SET-UP ERROR: {report.setup_error}")
    verdict = "PASSED" if report.ok else "FAILED"
    volume = f"{report.duration:.1f}s"
    if report.cases:
        volume += (
            f" ({report.cases} schemathesis request(s) in {report.schemathesis_seconds:.1f}s, "
            f"{report.cases_per_second:.0f}/s)"
        )
    lines.append(
        f"{verdict}: {report.passed} check(s) passed, {report.failed} failed; "
        f"level {report.level}; {volume}; seed {report.seed}; target {report.target}"
    )
    return "\n".join(lines)


def _result_dict(result: CheckResult) -> dict[str, Any]:
    data = asdict(result)
    data["ok"] = result.ok
    return data


def to_json(report: RunReport) -> dict[str, Any]:
    """The report as a JSON-ready dict (token never included)."""
    return {
        "ok": report.ok,
        "target": report.target,
        "level": report.level,
        "seed": report.seed,
        "max_examples": report.max_examples,
        "duration_seconds": round(report.duration, 3),
        "cases": report.cases,
        "cases_per_second": round(report.cases_per_second, 1),
        "schemathesis_seconds": round(report.schemathesis_seconds, 3),
        "checks_passed": report.passed,
        "checks_failed": report.failed,
        "setup_error": report.setup_error,
        "notes": list(report.notes),
        "results": [_result_dict(r) for r in report.results],
    }


def write_json(report: RunReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json(report), indent=2) + "\n", encoding="utf-8")


def write_junit_xml(report: RunReport, path: str | Path) -> None:
    """JUnit XML: one ``testcase`` per check (classname = its group), failures with details."""
    suite = ET.Element(
        "testsuite",
        {
            "name": f"chat-text-conformance[{report.level}]",
            "tests": str(len(report.results) + (1 if report.setup_error else 0)),
            "failures": str(report.failed + (1 if report.setup_error else 0)),
            "errors": "0",
            "time": f"{report.duration:.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", report.target),
        ("seed", str(report.seed)),
        ("max_examples", str(report.max_examples)),
        ("cases", str(report.cases)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    if report.setup_error:
        case = ET.SubElement(suite, "testcase", {"classname": "setup", "name": "setup"})
        failure = ET.SubElement(case, "failure", {"message": report.setup_error})
        failure.text = report.setup_error
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"chat_text_conformance.{result.group}", "name": result.name},
        )
        ET.SubElement(case, "system-out").text = f"passed {result.passed}, failed {result.failed}"
        if not result.ok:
            first = result.failures[0] if result.failures else None
            failure = ET.SubElement(
                case,
                "failure",
                {"message": first.message if first else f"{result.failed} failure(s)"},
            )
            parts = []
            for item in result.failures:
                parts.append(
                    f"{item.message}\nexpected: {item.expected}\ngot: {item.actual}\n"
                    f"reproduce:\n{item.reproducer}\n"
                )
            failure.text = "\n".join(parts)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
