"""A load run's outputs: the suite's report (every rule's result, the failures with their
reproducers, written by the suite's own writers) plus the load's own part — the ``load`` section
of ``report.json``, one JUnit test case per SLO (and one for the workers of a distributed run),
and the charts of ``report.html`` — and the summary and exit code.

Exit codes: 0 every judged rule passed and every SLO was met; 1 a rule failed, an SLO was missed,
a worker was lost, answers were left unjudged, or nothing was judged; 2 a set-up error.
"""

from __future__ import annotations

import json
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..engine.target import Level
from ..reporting import files as reports
from ..reporting.results import CheckResult, RunReport
from .figures import PERCENTILES, Bucket, Figures, Histogram
from .result import LoadResult
from .slo import SLOVerdict, judge_slos

__all__ = ["build_report", "finish", "load_section", "over_time"]

MULTI_CALL_REASON = (
    "cannot apply on single exchanges: it compares several calls the suite makes itself "
    "(run chat-text-conformance)"
)
NOT_JUDGED = "--no-judge: the load was measured, not judged"
MAX_BUCKETS = 60
"""The charts show at most this many time buckets (a bucket spans several seconds in long
runs)."""


def build_report(result: LoadResult) -> RunReport:
    """The run's rule results as the suite's report (every rule of the level, in catalogue
    order), like the proxy's."""
    from ..catalogue import catalogue
    from ..checks.builtins import PREFLIGHT

    settings = result.settings
    results: list[CheckResult] = []
    for rule in catalogue(level=Level(settings.level)):
        if rule.kind == "client":
            continue
        found = result.book.results.get(rule.id)
        if found is not None:
            copy = CheckResult(found.name, found.group)
            copy.merge(found)
            results.append(copy)
            continue
        empty = CheckResult(rule.id, rule.kind)
        if not settings.judge:
            empty.record_not_exercised(NOT_JUDGED)
        elif rule.kind == "property":
            empty.record_not_exercised(MULTI_CALL_REASON)
        elif rule.id == PREFLIGHT:
            empty.record_not_exercised("the load command checks the target before the load")
        else:
            empty.record_not_exercised("no exchange of the load it applies to")
        results.append(empty)
    figures = result.figures
    mode = settings.mode
    target = f"{settings.base_url} model={settings.model} (load, {mode})"
    report = RunReport(
        target=target,
        level=settings.level,
        seed=settings.seed,
        max_examples=0,
        results=results,
        duration=result.ended - result.started,
        base_url=settings.base_url,
        model=settings.model,
        workers=settings.users,
        context_length=settings.context_length,
        started_at=result.started,
        setup_error=result.setup_error,
    )
    total = figures.total
    report.notes.append(
        f"load: {total.requests} request(s) by {settings.users} user(s) over "
        f"{report.duration:.1f}s: {total.answered} answered, {total.rate_limited} "
        f"rate-limited (waited out, judged by no rule), {total.errors} error(s), "
        f"{total.violations} violating"
    )
    for worker in result.lost_workers:
        report.notes.append(f"load: worker {worker.index} ({worker.id}) LOST: {worker.lost}")
    if result.interrupted:
        report.notes.append("load: interrupted before --run-time (Ctrl-C or SIGTERM)")
    if _unjudged(result) and result.judging is not None:
        report.notes.append(f"load: JUDGING INCOMPLETE: {result.judging['error']}")
    if result.gave_up:
        report.notes.append(
            f"load: {result.gave_up} request(s) stayed busy after every re-send (not judged)"
        )
    if not settings.judge:
        report.claims = ()
    else:
        # one exchange shows no rule of the strict level: the load claims the levels below it
        report.claims = tuple(level for level in report.claimed_levels if level != "strict")
    return report


def _bucket_seconds(duration: float) -> int:
    return max(1, math.ceil(duration / MAX_BUCKETS))


def _percentiles(histogram: Histogram) -> dict[str, float | None]:
    summary = histogram.summary()
    return {f"p{q}": summary[f"p{q}"] for q in PERCENTILES}


def over_time(figures: Figures, started: float, ended: float) -> dict[str, Any]:
    """The figures per time bucket, from the run's start (``t``: seconds since it)."""
    width = _bucket_seconds(ended - started)
    first = int(started)
    merged: dict[int, Bucket] = {}
    for second, bucket in figures.seconds.items():
        index = max(0, (second - first) // width)
        mine = merged.get(index)
        if mine is None:
            merged[index] = mine = Bucket()
        mine.merge(bucket)
    rows = []
    for index in sorted(merged):
        bucket = merged[index]
        rows.append(
            {
                "t": index * width,
                "requests": bucket.requests,
                "requests_per_second": round(bucket.requests / width, 3),
                "output_tokens_per_second": round(bucket.output_tokens / width, 3),
                "answered": bucket.answered,
                "errors": bucket.errors,
                "rate_limited": bucket.rate_limited,
                "violations": bucket.violations,
                "good": bucket.good,
                "ttft_ms": _percentiles(bucket.ttft),
                "itl_ms": _percentiles(bucket.itl),
                "latency_ms": _percentiles(bucket.latency),
            }
        )
    return {"bucket_seconds": width, "buckets": rows}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def load_section(result: LoadResult, verdicts: list[SLOVerdict]) -> dict[str, Any]:
    """The ``load`` section of ``report.json``."""
    settings = result.settings
    figures = result.figures
    total = figures.total
    seconds = max(result.ended - result.started, 1e-9)
    return {
        "mode": settings.mode,
        "users": settings.users,
        "spawn_rate": settings.spawn_rate,
        "run_time_seconds": settings.run_time,
        "duration_seconds": round(result.ended - result.started, 3),
        "seed": settings.seed,
        "judged": settings.judge,
        "interrupted": result.interrupted,
        "requests": {
            "total": total.requests,
            "answered": total.answered,
            "rate_limited": total.rate_limited,
            "errors": total.errors,
            "violations": total.violations,
            "conformant": total.conformant,
            "good": total.good,
            "streams": total.streams,
            "gave_up": result.gave_up,
            "by_kind": dict(sorted(figures.kinds.items())),
            "by_status": dict(sorted(figures.statuses.items())),
            "error_reasons": dict(figures.error_reasons.most_common()),
        },
        "requests_per_second": round(total.requests / seconds, 3),
        "answers_per_second": round(total.answered / seconds, 3),
        "prompt_tokens": total.prompt_tokens,
        "output_tokens": total.output_tokens,
        "output_tokens_per_second": round(total.output_tokens / seconds, 3),
        "error_rate": _share(total.errors, total.answered),
        "rate_limited_rate": _share(total.rate_limited, total.requests),
        "goodput": {
            "good": total.good,
            "share": _share(total.good, total.answered),
            "per_second": round(total.good / seconds, 3),
        },
        "ttft_ms": total.ttft.summary(),
        "itl_ms": total.itl.summary(),
        "tpot_ms": figures.tpot.summary(),
        "latency_ms": total.latency.summary(),
        "slos": [verdict.to_json() for verdict in verdicts],
        "slos_met": all(verdict.met for verdict in verdicts),
        "workers": [worker.to_json(result.started) for worker in result.workers],
        "workers_lost": len(result.lost_workers),
        "locust": {"requests": result.locust_requests, "failures": result.locust_failures},
        "generator": {
            "cpu_seconds": None if result.cpu_seconds is None else round(result.cpu_seconds, 3),
            "cpu_share": None
            if result.cpu_seconds is None
            else round(result.cpu_seconds / seconds, 3),
            "cpu_us_per_request": None
            if result.cpu_seconds is None or not total.requests
            else round(result.cpu_seconds / total.requests * 1e6, 1),
        },
        "judging": _judging(result),
        "over_time": over_time(figures, result.started, result.ended),
    }


def _judging(result: LoadResult) -> dict[str, Any] | None:
    """What judging cost: the judge processes' CPU (per answer), the answers left to judge when
    the load stopped and how long they took, the users' wait on a full buffer."""
    stats = result.judging
    if stats is None:
        return None
    judged = int(stats["judged"])
    return {
        "where": "a judge process beside each load process (lowest priority while the load runs)",
        "processes": stats["processes"],
        "answers": stats["answers"],
        "judged": judged,
        "cpu_seconds": round(float(stats["cpu_seconds"]), 3),
        "cpu_us_per_answer": round(float(stats["cpu_seconds"]) / judged * 1e6, 1)
        if judged
        else None,
        "backlog_at_stop": stats["backlog_at_stop"],
        "drain_seconds": round(float(stats["drain_seconds"]), 3),
        "held_seconds": round(float(stats["held_seconds"]), 3),
        "error": stats["error"],
    }


def _junit(path: Path, result: LoadResult, verdicts: list[SLOVerdict]) -> None:
    """Add one test case per SLO (and one for the workers) to the suite's JUnit file."""
    tree = ET.parse(path)  # noqa: S314 - our own file, just written
    suite = tree.getroot()
    added = failed = 0
    for verdict in verdicts:
        case = ET.SubElement(
            suite, "testcase", {"classname": "chat_text_conformance.slo", "name": verdict.slo.name}
        )
        ET.SubElement(case, "system-out").text = verdict.detail
        added += 1
        if not verdict.met:
            failed += 1
            ET.SubElement(case, "failure", {"message": verdict.detail}).text = verdict.detail
    if result.workers:
        case = ET.SubElement(
            suite, "testcase", {"classname": "chat_text_conformance.load", "name": "workers"}
        )
        lost = result.lost_workers
        ET.SubElement(
            case, "system-out"
        ).text = f"{len(result.workers)} worker(s), {len(lost)} lost"
        added += 1
        if lost:
            failed += 1
            message = "; ".join(f"worker {w.index} ({w.id}): {w.lost}" for w in lost)
            ET.SubElement(case, "failure", {"message": message}).text = message
    judging = result.judging
    if judging is not None:
        case = ET.SubElement(
            suite, "testcase", {"classname": "chat_text_conformance.load", "name": "judging"}
        )
        ET.SubElement(case, "system-out").text = (
            f"{judging['judged']} of {judging['answers']} answer(s) judged; "
            f"{judging['backlog_at_stop']} left when the load stopped, judged in "
            f"{float(judging['drain_seconds']):.1f}s"
        )
        added += 1
        if judging["error"]:
            failed += 1
            ET.SubElement(case, "failure", {"message": judging["error"]}).text = judging["error"]
    suite.set("tests", str(int(suite.get("tests", "0")) + added))
    suite.set("failures", str(int(suite.get("failures", "0")) + failed))
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _summary(section: dict[str, Any], verdicts: list[SLOVerdict], result: LoadResult) -> str:
    requests = section["requests"]

    def ms(summary: dict[str, Any]) -> str:
        if not summary["count"]:
            return "none measured"
        return ", ".join(f"p{q} {summary[f'p{q}']:.1f}" for q in PERCENTILES) + " ms"

    share = section["goodput"]["share"]
    lines = [
        f"load: {requests['total']} request(s), {section['requests_per_second']:.1f}/s; "
        f"{section['output_tokens_per_second']:.1f} output tokens/s; errors {requests['errors']}, "
        f"rate-limited {requests['rate_limited']}, violating {requests['violations']}; goodput "
        + ("n/a" if share is None else f"{share * 100:.1f}%")
        + ("" if section["judged"] else " (not judged: --no-judge)"),
        f"  TTFT: {ms(section['ttft_ms'])}; ITL: {ms(section['itl_ms'])}; "
        f"TPOT: {ms(section['tpot_ms'])}; latency: {ms(section['latency_ms'])}",
    ]
    judging = section["judging"]
    if judging is not None:
        lines.append(
            f"  judged {judging['judged']} of {judging['answers']} answer(s) beside the load, "
            f"{judging['cpu_us_per_answer'] or 0:.0f} us of CPU each; "
            f"{judging['backlog_at_stop']} left when the load stopped, "
            + ("judging stopped after" if judging["error"] else "judged in")
            + f" {judging['drain_seconds']:.1f}s"
            + (f"; users held {judging['held_seconds']:.1f}s" if judging["held_seconds"] else "")
        )
        if judging["error"]:
            lines.append(f"  JUDGING INCOMPLETE: {judging['error']}")
    for verdict in verdicts:
        lines.append(f"  SLO {verdict.detail}")
    if result.workers:
        lost = result.lost_workers
        lines.append(f"  workers: {len(result.workers)}, lost {len(lost)}")
        for worker in lost:
            lines.append(f"  WORKER LOST: worker {worker.index} ({worker.id}): {worker.lost}")
    return "\n".join(lines)


def _unjudged(result: LoadResult) -> bool:
    """Whether answers were left unjudged (the judge died or ran out of time): the run cannot
    say they were conformant."""
    return bool(result.judging is not None and result.judging["error"])


def _load_failures(report: RunReport, section: dict[str, Any], result: LoadResult) -> list[str]:
    """Why the load run fails besides its rules (an empty list: it does not)."""
    why = []
    if not section["slos_met"]:
        why.append("an SLO was missed")
    if result.lost_workers:
        why.append(f"{len(result.lost_workers)} worker(s) lost")
    if _unjudged(result):
        why.append("answers were left unjudged")
    return why


def finish(result: LoadResult, token: str | None) -> int:
    """Write the outputs, print the summary; the exit code."""
    from .charts import inject_html

    settings = result.settings
    report = build_report(result)
    verdicts = judge_slos(
        settings.slo_objectives, result.figures, max(result.ended - result.started, 1e-9)
    )
    section = load_section(result, verdicts)
    failures = _load_failures(report, section, result)
    folder = Path(settings.report_dir) if settings.report_dir else None
    if folder is not None:
        written = reports.write_report_dir(report, folder, token=token)
        data = json.loads(written.report_json.read_text(encoding="utf-8"))
        data["load"] = section
        data["ok"] = data["ok"] and not failures
        text = json.dumps(data, indent=2, ensure_ascii=False)
        written.report_json.write_text(text + "\n", encoding="utf-8")
        _junit(written.junit_xml, result, verdicts)
        if written.report_html is not None:
            inject_html(written.report_html, section)
    out = sys.stdout
    print(reports.summary_text(report, report_dir=folder, token=token), file=out)
    print(_summary(section, verdicts, result), file=out, flush=True)
    if report.setup_error is None and failures:
        rules = "the rules passed, but " if report.ok else ""
        print(f"LOAD FAILED: {rules}{'; '.join(failures)}", file=out, flush=True)
    if folder is not None:
        print(
            f"report: {folder / 'report.html'}, {folder / 'report.json'}, {folder / 'junit.xml'}",
            file=out,
            flush=True,
        )
    if report.setup_error is not None:
        return 2
    return 0 if report.ok and not failures else 1
