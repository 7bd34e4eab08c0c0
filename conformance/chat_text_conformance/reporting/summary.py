"""The human side of a report: the summary a run prints (a row per rule with its verdict, then
per failure what failed, the rule it breaks with its sources, what was expected and came back,
and a curl reproducer), and the pieces report.html shows the same way (verdict words, citations,
reproducers, the coverage line). :mod:`.files` (JSON, JUnit) and :mod:`.html` both read it; it
reads neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .reproducer import curl_command
from .results import CheckResult, Failure, RunReport, redact_token

__all__ = [
    "NO_ACTUAL",
    "NO_EXPECTED",
    "REPORT_FILE",
    "citation",
    "coverage_failure",
    "failure_lines",
    "related_reproducers",
    "reproducer",
    "summary_text",
    "verdict_counts",
    "verdict_text",
]

REPORT_FILE = "report.json"
"""The report folder's JSON file (written by :mod:`.files`; the summary names it)."""

_MAX_REPRODUCER_CHARS = 4000
NO_EXPECTED = "(not recorded: the rule gave no expected value)"
NO_ACTUAL = "(not recorded: the rule gave no actual value)"


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


def related_reproducers(
    report: RunReport, failure: Failure, report_dir: str | Path | None
) -> list[str]:
    """The curl commands of the earlier requests a failure was compared with."""
    if not report.base_url:
        return []
    return [curl_command(report.base_url, r, report_dir=report_dir) for r in failure.requests]


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
            lines.extend(failure_lines(report, failure, report_dir))
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
    # at call time: the checks package imports reporting.results, which this module reads
    from ..checks.registry import get

    try:
        return get(rule_id).citation()
    except KeyError:
        return []


def failure_lines(
    report: RunReport, failure: Failure, report_dir: str | Path | None
) -> Iterator[str]:
    """One failure, line by line: what, the citation, expected, actual, the reproducers."""
    yield f"  what: {failure.message or '(no message)'}"
    for line in citation(failure.check):
        yield f"  {line}"
    yield f"  expected: {_shorten(failure.expected, 500) if failure.expected else NO_EXPECTED}"
    yield f"  actual: {_shorten(failure.actual, 500) if failure.actual else NO_ACTUAL}"
    command = reproducer(report, failure, report_dir=report_dir)
    if command:
        yield "  reproduce:"
        for line in _shorten(command, _MAX_REPRODUCER_CHARS).splitlines():
            yield f"    {line}"
    else:
        yield "  reproduce: (no request was recorded for this failure)"
    related = related_reproducers(report, failure, report_dir)
    if related:
        yield f"  compared with {len(related)} earlier request(s):"
        for command in related:
            for line in _shorten(command, _MAX_REPRODUCER_CHARS).splitlines():
                yield f"    {line}"
