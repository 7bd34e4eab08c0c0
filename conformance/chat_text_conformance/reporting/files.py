"""Reports of a run: the human summary, JUnit XML (one test case per check), JSON, and the report
folder (``--report-dir``) that holds all three plus the long request bodies the reproducers name.

The token never appears in any of them: requests are recorded with ``$CHAT_TEXT_API_KEY`` in its
place, and every writer takes the token (when known) to scrub anything that slipped through.

``report.json`` is what ``chat-text-conformance replay`` reads: every failure keeps its request
(:meth:`~chat_text_conformance.reporting.results.RequestRecord.to_json`) and the run keeps
what is needed to send it again (base URL, model, context length, level, seed, examples, workers).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .html import HTML_FILE, write_html
from .reproducer import INLINE_BODY_LIMIT, body_file_name, curl_command
from .results import (
    TOKEN_PLACEHOLDER,
    CheckResult,
    Failure,
    RequestRecord,
    RunReport,
    redact_token,
)
from .summary import (
    REPORT_FILE,
    citation,
    coverage_failure,
    failure_lines,
    related_reproducers,
    reproducer,
    summary_text,
    verdict_counts,
    verdict_text,
)

__all__ = [
    "JUNIT_FILE",
    "REPORT_FILE",
    "REPORT_FORMAT",
    "ReportFiles",
    "citation",
    "coverage_failure",
    "reproducer",
    "summary_text",
    "to_json",
    "verdict_counts",
    "verdict_text",
    "write_bodies",
    "write_json",
    "write_junit_xml",
    "write_report_dir",
]

JUNIT_FILE = "junit.xml"
REPORT_FORMAT = 2
"""Version of the JSON layout (``replay`` refuses what it cannot read)."""

# ---------------------------------------------------------------------------------------------
# JSON


def _request_json(record: RequestRecord) -> dict[str, Any]:
    data = record.to_json()
    if record.body is not None and len(record.body) > INLINE_BODY_LIMIT:
        data["body_file"] = body_file_name(record.body)
    return data


def _failure_json(
    report: RunReport, failure: Failure, report_dir: str | Path | None
) -> dict[str, Any]:
    return {
        "check": failure.check,
        "message": failure.message,
        "citation": citation(failure.check),
        "expected": failure.expected,
        "actual": failure.actual,
        "reproducer": reproducer(report, failure, report_dir=report_dir),
        "request": None if failure.request is None else _request_json(failure.request),
        "requests": [_request_json(r) for r in failure.requests],
        "related_reproducers": related_reproducers(report, failure, report_dir),
    }


def _result_json(
    report: RunReport, result: CheckResult, report_dir: str | Path | None
) -> dict[str, Any]:
    return {
        "name": result.name,
        "group": result.group,
        "ok": result.ok,
        "verdict": result.verdict,
        "why_not": result.why_not,
        "passed": result.passed,
        "failed": result.failed,
        "inconclusive": result.inconclusive,
        "not_exercised": dict(result.not_exercised.most_common()),
        "inconclusive_reasons": dict(result.inconclusive_reasons.most_common()),
        "note": result.note,
        "failures": [_failure_json(report, f, report_dir) for f in result.failures],
    }


def _cost_properties(report: RunReport) -> list[tuple[str, str]]:
    """The run's cost as JUnit properties (``cost.requests``, ``cost.prompt_tokens``, ...)."""
    if report.cost is None:
        return []
    data = report.cost.to_json()
    pairs = [
        (f"cost.{key}", str(value))
        for key, value in data.items()
        if key not in ("requests_by_phase", "unexercised_by_budget") and value is not None
    ]
    if data["unexercised_by_budget"]:
        pairs.append(("cost.unexercised_by_budget", ",".join(data["unexercised_by_budget"])))
    pairs += [
        (f"cost.requests.{phase}", str(count)) for phase, count in data["requests_by_phase"].items()
    ]
    pairs.append(("cost.wall_seconds", f"{report.duration:.3f}"))
    return pairs


def _pacing_properties(report: RunReport) -> list[tuple[str, str]]:
    """Busy answers and waits as JUnit properties (``pacing.rate_limited``, ...)."""
    if report.pacing is None:
        return []
    data = report.pacing.to_json()
    pairs = [
        (f"pacing.{key}", str(value))
        for key, value in data.items()
        if key not in ("by_status", "concurrency") and value is not None
    ]
    pairs += [(f"pacing.rate_limited.{s}", str(n)) for s, n in data["by_status"].items()]
    pairs += [(f"pacing.concurrency.{k}", str(v)) for k, v in data["concurrency"].items()]
    return pairs


def _exchange_properties(report: RunReport) -> list[tuple[str, str]]:
    """The validation proxy's exchanges by outcome as JUnit properties (``proxy.exchanges``,
    ``proxy.outcome.violation``, ...)."""
    if report.exchanges is None:
        return []
    outcomes = Counter(record.outcome for record in report.exchanges)
    return [("proxy.exchanges", str(len(report.exchanges)))] + [
        (f"proxy.outcome.{outcome.replace(' ', '_')}", str(count))
        for outcome, count in sorted(outcomes.items())
    ]


def _coverage_properties(report: RunReport) -> list[tuple[str, str]]:
    """The spec coverage as JUnit properties (``coverage.score``, ``coverage.missed``, ...)."""
    coverage = report.coverage
    if coverage is None:
        return []
    pairs = [
        ("coverage.score", f"{coverage.score:.1f}"),
        ("coverage.hit", str(coverage.hit)),
        ("coverage.total", str(coverage.total)),
        ("coverage.missed", ", ".join(entry.item.id for entry in coverage.missed())),
    ]
    if report.min_coverage is not None:
        pairs.append(("coverage.minimum", f"{report.min_coverage:g}"))
    return pairs


def to_json(report: RunReport, *, report_dir: str | Path | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (token never included)."""
    return {
        "format": REPORT_FORMAT,
        "ok": report.ok,
        "target": report.target,
        "base_url": report.base_url,
        "model": report.model,
        "context_length": report.context_length,
        "level": report.level,
        "seed": report.seed,
        "max_examples": report.max_examples,
        "workers": report.workers,
        "started_at": report.started_at,
        "duration_seconds": round(report.duration, 3),
        "cases": report.cases,
        "cases_per_second": round(report.cases_per_second, 1),
        "schemathesis_seconds": round(report.schemathesis_seconds, 3),
        "verdict": report.verdict,
        "checks_passed": report.passed,
        "checks_failed": report.failed,
        "checks_not_exercised": report.not_exercised,
        "checks_inconclusive": report.inconclusive,
        "unjudged_levels": report.unjudged_levels() if report.setup_error is None else [],
        "setup_error": report.setup_error,
        "notes": list(report.notes),
        "cost": None
        if report.cost is None
        else {**report.cost.to_json(), "wall_seconds": round(report.duration, 3)},
        "pacing": None if report.pacing is None else report.pacing.to_json(),
        "coverage": None if report.coverage is None else report.coverage.to_json(),
        "min_coverage": report.min_coverage,
        "coverage_ok": report.coverage_ok,
        "results": [_result_json(report, r, report_dir) for r in report.results],
        **_exchanges_json(report, report_dir),
    }


def _exchanges_json(report: RunReport, report_dir: str | Path | None) -> dict[str, Any]:
    """The validation proxy's exchanges (``{}`` for suite runs): each with its verdict, and a
    reproducer when it broke a rule."""
    if report.exchanges is None:
        return {}
    listed = []
    for record in report.exchanges:
        data = record.to_json()
        if record.request is not None:
            data["request"] = _request_json(record.request)
            if report.base_url:
                data["reproducer"] = curl_command(
                    report.base_url, record.request, report_dir=report_dir
                )
        listed.append(data)
    return {"exchanges": listed}


def write_json(
    report: RunReport,
    path: str | Path,
    *,
    report_dir: str | Path | None = None,
    token: str | None = None,
) -> None:
    text = json.dumps(to_json(report, report_dir=report_dir), indent=2, ensure_ascii=False)
    Path(path).write_text(redact_token(text, token) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# JUnit XML


def write_junit_xml(
    report: RunReport,
    path: str | Path,
    *,
    report_dir: str | Path | None = None,
    token: str | None = None,
) -> None:
    """JUnit XML: one ``testcase`` per check (classname = its group); failures with what,
    expected, actual and reproducer; inconclusive and not-exercised checks as ``skipped``."""
    skipped = sum(1 for r in report.results if r.verdict in ("inconclusive", "not exercised"))
    minimum = int(report.min_coverage is not None)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"chat-text-conformance[{report.level}]",
            "tests": str(len(report.results) + (1 if report.setup_error else 0) + minimum),
            "failures": str(
                report.failed + (1 if report.setup_error else 0) + (not report.coverage_ok)
            ),
            "errors": "0",
            "skipped": str(skipped),
            "time": f"{report.duration:.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", report.target),
        ("level", report.level),
        ("seed", str(report.seed)),
        ("max_examples", str(report.max_examples)),
        ("workers", str(report.workers)),
        ("cases", str(report.cases)),
        *_cost_properties(report),
        *_pacing_properties(report),
        *_exchange_properties(report),
        *_coverage_properties(report),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": redact_token(value, token)})
    if report.setup_error:
        case = ET.SubElement(suite, "testcase", {"classname": "setup", "name": "setup"})
        message = redact_token(report.setup_error, token)
        ET.SubElement(case, "failure", {"message": message}).text = message
    if report.min_coverage is not None:
        case = ET.SubElement(suite, "testcase", {"classname": "coverage", "name": "min_coverage"})
        if report.coverage is not None:
            ET.SubElement(case, "system-out").text = "\n".join(report.coverage.summary())
        if not report.coverage_ok:
            message = coverage_failure(report)
            ET.SubElement(case, "failure", {"message": message}).text = message
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"chat_text_conformance.{result.group}", "name": result.name},
        )
        ET.SubElement(
            case, "system-out"
        ).text = (
            f"passed {result.passed}, failed {result.failed}, inconclusive {result.inconclusive}"
        )
        if result.verdict == "failed":
            first = result.failures[0] if result.failures else None
            message = first.message if first else f"{result.failed} failure(s)"
            cited = [line for line in citation(result.name) if not line.startswith("rule: ")]
            if cited:  # the sentence it contradicts, where CI shows the failure
                message += " (" + "; ".join(cited) + ")"
            failure = ET.SubElement(case, "failure", {"message": redact_token(message, token)})
            parts = ["\n".join(failure_lines(report, f, report_dir)) for f in result.failures]
            failure.text = redact_token("\n\n".join(parts), token)
        elif result.verdict in ("inconclusive", "not exercised"):
            ET.SubElement(case, "skipped", {"message": redact_token(verdict_text(result), token)})
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------------------------------
# The report folder


def _records(report: RunReport) -> Iterator[RequestRecord]:
    for failure in report.failures():
        if failure.request is not None:
            yield failure.request
        yield from failure.requests
    for exchange in report.exchanges or ():
        if exchange.request is not None:
            yield exchange.request


def write_bodies(report: RunReport, folder: str | Path, *, token: str | None = None) -> list[Path]:
    """Save every failure request body the reproducers reference as a file (those over
    :data:`~chat_text_conformance.reporting.reproducer.INLINE_BODY_LIMIT` bytes, or not UTF-8) under
    ``folder/bodies/``; the paths written."""
    written: list[Path] = []
    for record in _records(report):
        body = record.body
        if body is None or not _needs_file(body):
            continue
        path = Path(folder) / body_file_name(body)
        if path in written:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if token and token.encode() in body:
            body = body.replace(token.encode(), TOKEN_PLACEHOLDER.encode())
        path.write_bytes(body)
        written.append(path)
    return written


def _needs_file(body: bytes) -> bool:
    if len(body) > INLINE_BODY_LIMIT:
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report_dir` wrote."""

    report_json: Path
    junit_xml: Path
    bodies: tuple[Path, ...]
    report_html: Path | None = None


def write_report_dir(
    report: RunReport, folder: str | Path, *, token: str | None = None
) -> ReportFiles:
    """Write ``report.html`` (self-contained, for people), ``report.json``, ``junit.xml`` and
    ``bodies/*.json`` into ``folder`` (created when missing). Reproducers name the body files as
    ``folder/bodies/<sha>.json``."""

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    bodies = write_bodies(report, root, token=token)
    json_path, junit_path = root / REPORT_FILE, root / JUNIT_FILE
    write_json(report, json_path, report_dir=root, token=token)
    write_junit_xml(report, junit_path, report_dir=root, token=token)
    html_path = write_html(report, root / HTML_FILE, report_dir=root, token=token)
    return ReportFiles(json_path, junit_path, tuple(bodies), html_path)
