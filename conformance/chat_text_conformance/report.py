"""Reports of a run: the human summary, JUnit XML (one test case per check), JSON, and the report
folder (``--report-dir``) that holds all three plus the long request bodies the reproducers name.

The token never appears in any of them: requests are recorded with ``$CHAT_TEXT_API_KEY`` in its
place, and every writer takes the token (when known) to scrub anything that slipped through.

``report.json`` is what ``chat-text-conformance replay`` reads: every failure keeps its request
(:meth:`~chat_text_conformance.results.RequestRecord.to_json`) and the run keeps what is needed to
send it again (base URL, model, context length, level, seed, examples, workers).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .reproducer import INLINE_BODY_LIMIT, body_file_name, curl_command
from .results import (
    TOKEN_PLACEHOLDER,
    CheckResult,
    Failure,
    RequestRecord,
    RunReport,
    redact_token,
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

REPORT_FILE = "report.json"
JUNIT_FILE = "junit.xml"
REPORT_FORMAT = 2
"""Version of the JSON layout (``replay`` refuses what it cannot read)."""

_MAX_REPRODUCER_CHARS = 4000
_NO_EXPECTED = "(not recorded: the rule gave no expected value)"
_NO_ACTUAL = "(not recorded: the rule gave no actual value)"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " …[truncated]"


def _scrub(text: str, token: str | None) -> str:
    """Last line of defence: the token (and values derived from it) replaced by placeholders."""
    return redact_token(text, token)


def verdict_text(result: CheckResult) -> str:
    """``ok``, ``FAIL``, ``not exercised: <reason>`` or ``inconclusive: <reason>``."""
    verdict = result.verdict
    if verdict == "failed":
        return "FAIL"
    if verdict == "passed":
        return "ok"
    reason = result.why_not or (
        "no response it applies to" if verdict == "not exercised" else "no reason recorded"
    )
    if reason.startswith(f"{verdict}: "):  # reasons that already say so
        reason = reason[len(verdict) + 2 :]
    return f"{verdict}: {reason}"


def reproducer(report: RunReport, failure: Failure, *, report_dir: str | Path | None = None) -> str:
    """The failure's reproducer: a curl command rebuilt from its request (long bodies named as
    files under ``report_dir``), or the one the check gave when it recorded no request."""
    if failure.request is not None and report.base_url:
        return curl_command(report.base_url, failure.request, report_dir=report_dir)
    return failure.reproducer


def _related_reproducers(
    report: RunReport, failure: Failure, report_dir: str | Path | None
) -> list[str]:
    if not report.base_url:
        return []
    return [curl_command(report.base_url, r, report_dir=report_dir) for r in failure.requests]


# ---------------------------------------------------------------------------------------------
# The summary


def summary_text(
    report: RunReport,
    *,
    failures_per_check: int = 1,
    report_dir: str | Path | None = None,
    token: str | None = None,
) -> str:
    """A table (check: passed/failed/verdict) and, per failure, what failed, what was expected,
    what came back and a reproducer."""
    lines: list[str] = []
    width = max([len(r.name) for r in report.results] + [len("check")])
    header = f"{'check':<{width}}  {'group':<8}  {'passed':>6}  {'failed':>6}  verdict"
    lines.append(header)
    lines.append("-" * (len(header) + 30))
    for result in report.results:
        lines.append(
            f"{result.name:<{width}}  {result.group:<8}  {result.passed:>6}  {result.failed:>6}  "
            f"{verdict_text(result)}"
        )
    for result in (r for r in report.results if not r.ok):
        lines.append("")
        lines.append(f"FAILED {result.name} ({result.failed} time(s))")
        shown = result.failures[:failures_per_check]
        if not shown:
            lines.append("  (no failure details were kept)")
        for failure in shown:
            lines.extend(_failure_lines(report, failure, report_dir))
        hidden = result.failed - len(shown)
        if hidden > 0:
            kept = len(result.failures) - len(shown)
            where = f"; {kept} of them in {REPORT_FILE}" if report_dir is not None and kept else ""
            lines.append(f"  ... and {hidden} more failure(s) of this check{where}")
    lines.append("")
    for note in report.notes:
        lines.append(f"note: {note}")
    unjudged = report.unjudged_levels() if report.setup_error is None else []
    if unjudged:
        lines.append(
            f"NOT JUDGED: no rule of the {', '.join(unjudged)} level(s) passed (each was not "
            "exercised or inconclusive, with the reason above): a run that judged nothing there "
            "cannot pass"
        )
    if report.cost is not None and report.cost.total_requests:
        lines.append(report.cost.summary() + f"; {report.duration:.1f}s")
        by_phase = ", ".join(f"{p} {n}" for p, n in sorted(report.cost.requests.items()))
        lines.append(f"  requests by phase: {by_phase}")
    pacing = report.pacing.summary() if report.pacing is not None else ""
    if pacing:
        lines.append(pacing)
    if report.coverage is not None and report.setup_error is None:
        lines.extend(report.coverage.summary())
    if not report.coverage_ok:
        lines.append(coverage_failure(report))
    if report.setup_error:
        lines.append(f"SET-UP ERROR: {report.setup_error}")
    verdict = {"passed": "PASSED", "not judged": "NOT JUDGED"}.get(report.verdict, "FAILED")
    volume = f"{report.duration:.1f}s"
    if report.cases:
        volume += (
            f" ({report.cases} schemathesis request(s) in {report.schemathesis_seconds:.1f}s, "
            f"{report.cases_per_second:.0f}/s)"
        )
    lines.append(
        f"{verdict}: {verdict_counts(report)}; level {report.level}; {volume}; "
        f"seed {report.seed}; target {report.target}"
    )
    return _scrub("\n".join(lines), token)


def coverage_failure(report: RunReport) -> str:
    """The line saying why a run with ``--min-coverage`` failed on coverage."""
    if report.coverage is None:
        return (
            f"COVERAGE: no spec coverage was measured, but --min-coverage "
            f"{report.min_coverage:g} asks for it"
        )
    return (
        f"COVERAGE BELOW MINIMUM: the run exercised {report.coverage.score:.1f}% of the spec, "
        f"--min-coverage asks for {report.min_coverage:g}%"
    )


def verdict_counts(report: RunReport) -> str:
    """The four verdicts counted apart: ``38 passed, 0 failed, 3 not exercised, 0 inconclusive
    (of 41 rules)``."""
    return (
        f"{report.passed} passed, {report.failed} failed, {report.not_exercised} not exercised, "
        f"{report.inconclusive} inconclusive (of {len(report.results)} rules)"
    )


def citation(rule_id: str) -> list[str]:
    """The rule's statement, sources and premise (:meth:`Rule.citation`), or nothing for a row
    that is not a rule of the catalogue."""
    from .catalogue import get

    try:
        return get(rule_id).citation()
    except KeyError:
        return []


def _failure_lines(
    report: RunReport, failure: Failure, report_dir: str | Path | None
) -> Iterator[str]:
    yield f"  what: {failure.message or '(no message)'}"
    for line in citation(failure.check):
        yield f"  {line}"
    yield f"  expected: {_shorten(failure.expected, 500) if failure.expected else _NO_EXPECTED}"
    yield f"  actual: {_shorten(failure.actual, 500) if failure.actual else _NO_ACTUAL}"
    command = reproducer(report, failure, report_dir=report_dir)
    if command:
        yield "  reproduce:"
        for line in _shorten(command, _MAX_REPRODUCER_CHARS).splitlines():
            yield f"    {line}"
    else:
        yield "  reproduce: (no request was recorded for this failure)"
    related = _related_reproducers(report, failure, report_dir)
    if related:
        yield f"  compared with {len(related)} earlier request(s):"
        for command in related:
            for line in _shorten(command, _MAX_REPRODUCER_CHARS).splitlines():
                yield f"    {line}"


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
        "related_reproducers": _related_reproducers(report, failure, report_dir),
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
    Path(path).write_text(_scrub(text, token) + "\n", encoding="utf-8")


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
        ET.SubElement(properties, "property", {"name": name, "value": _scrub(value, token)})
    if report.setup_error:
        case = ET.SubElement(suite, "testcase", {"classname": "setup", "name": "setup"})
        message = _scrub(report.setup_error, token)
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
            failure = ET.SubElement(case, "failure", {"message": _scrub(message, token)})
            parts = ["\n".join(_failure_lines(report, f, report_dir)) for f in result.failures]
            failure.text = _scrub("\n\n".join(parts), token)
        elif result.verdict in ("inconclusive", "not exercised"):
            ET.SubElement(case, "skipped", {"message": _scrub(verdict_text(result), token)})
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
    :data:`~chat_text_conformance.reproducer.INLINE_BODY_LIMIT` bytes, or not UTF-8) under
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
    from .report_html import HTML_FILE, write_html

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    bodies = write_bodies(report, root, token=token)
    json_path, junit_path = root / REPORT_FILE, root / JUNIT_FILE
    write_json(report, json_path, report_dir=root, token=token)
    write_junit_xml(report, junit_path, report_dir=root, token=token)
    html_path = write_html(report, root / HTML_FILE, report_dir=root, token=token)
    return ReportFiles(json_path, junit_path, tuple(bodies), html_path)
