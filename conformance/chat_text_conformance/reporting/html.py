"""``report.html``: the run's report for people, one self-contained file.

Everything is inline (CSS, a few lines of JavaScript for the copy buttons and the check filter)
and nothing is fetched: a Content-Security-Policy forbids any network access, and the page
reads the same without JavaScript (every row and failure is shown; the buttons only filter and
copy). Every text that comes from a run (messages, bodies, headers: a hostile server writes
them) is HTML-escaped, and the token is scrubbed like in every other report.

Sections: the summary (verdict, level, target, time, workers, cost, coverage score), the
failures (what, expected, actual, a copyable reproducer with ``$CHAT_TEXT_API_KEY``), the checks
(each rule's verdict with its statement, level and sources from the rule catalogue), the spec
coverage (per group, and what was missed and why), and the validation proxy's exchanges when
the report has them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import html
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .results import CheckResult, Failure, RunReport, redact_token
from .summary import (
    NO_ACTUAL,
    NO_EXPECTED,
    coverage_failure,
    related_reproducers,
    reproducer,
    verdict_text,
)

if TYPE_CHECKING:
    from ..checks.registry import Rule
    from .coverage import SpecCoverage

__all__ = ["HTML_FILE", "render_html", "write_html"]

HTML_FILE = "report.html"

_MAX_EXCHANGES = 500
"""The proxy's exchanges listed at most (the rest are in ``report.json``)."""

_VERDICT_CLASS = {
    "passed": "pass",
    "failed": "fail",
    "not exercised": "skip",
    "inconclusive": "warn",
}

_CSS = """
:root {
  --bg: #f6f7f9; --card: #fff; --text: #1d2330; --muted: #5d6677; --line: #e2e5eb;
  --pass: #16794a; --pass-bg: #e3f4ea; --fail: #b42318; --fail-bg: #fde8e6;
  --skip: #5d6677; --skip-bg: #eceef2; --warn: #8a5a00; --warn-bg: #fdf1d8;
  --accent: #2f5bd3; --code-bg: #f1f3f6;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171d; --card: #1c2029; --text: #e4e7ee; --muted: #9aa3b5; --line: #2c3240;
    --pass: #5fd69a; --pass-bg: #163325; --fail: #ff8a7e; --fail-bg: #3a1c1a;
    --skip: #a3abbb; --skip-bg: #262b36; --warn: #f2c063; --warn-bg: #3a2f17;
    --accent: #8aa8ff; --code-bg: #232836;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif;
}
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 36px 0 12px; }
h3 { font-size: 15px; margin: 0 0 8px; }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; }
pre { background: var(--code-bg); border-radius: 6px; padding: 10px 12px; margin: 4px 0 0;
  white-space: pre-wrap; word-break: break-word; overflow-x: auto; }
.muted { color: var(--muted); }
header.summary { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 22px; display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: center; }
.verdict { font-size: 20px; font-weight: 700; padding: 6px 16px; border-radius: 8px;
  letter-spacing: .04em; }
.verdict.pass { color: var(--pass); background: var(--pass-bg); }
.verdict.fail { color: var(--fail); background: var(--fail-bg); }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; word-break: break-word; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin-top: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; }
.card .n { font-size: 22px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 13px; }
.card.fail .n { color: var(--fail); } .card.pass .n { color: var(--pass); }
.card.warn .n { color: var(--warn); }
.notes { background: var(--warn-bg); color: var(--text); border-radius: 8px; padding: 10px 14px;
  margin-top: 16px; }
.notes.error { background: var(--fail-bg); }
table { width: 100%; border-collapse: collapse; background: var(--card);
  border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
th, td { text-align: left; vertical-align: top; padding: 8px 10px;
  border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
table.checks { table-layout: fixed; }
table.checks col.rule { width: 23%; } table.checks col.verdict { width: 14%; }
table.checks col.count { width: 7%; } table.checks col.level { width: 8%; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  background: var(--code-bg); }
tr:last-child td { border-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px;
  font-weight: 600; white-space: nowrap; }
.pill.pass { color: var(--pass); background: var(--pass-bg); }
.pill.fail { color: var(--fail); background: var(--fail-bg); }
.pill.skip { color: var(--skip); background: var(--skip-bg); }
.pill.warn { color: var(--warn); background: var(--warn-bg); }
.sources { margin: 4px 0 0; padding: 0; list-style: none; font-size: 12.5px;
  color: var(--muted); }
.sources q { font-style: italic; }
.cited { margin: 6px 0 10px; padding: 6px 10px; border-left: 3px solid var(--fail);
  background: var(--card); }
.cited .label { font-size: 12px; text-transform: uppercase; color: var(--muted); }
.premise { font-size: 12.5px; color: var(--warn); margin: 4px 0 0; }
.why { font-size: 13px; color: var(--muted); margin-top: 2px; }
.toolbar { display: flex; gap: 6px; flex-wrap: wrap; margin: 0 0 10px; }
button { font: inherit; font-size: 13px; border: 1px solid var(--line); background: var(--card);
  color: var(--text); border-radius: 6px; padding: 3px 10px; cursor: pointer; }
button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent);
  color: #fff; }
.failure { background: var(--card); border: 1px solid var(--line);
  border-left: 4px solid var(--fail); border-radius: 8px; padding: 14px 16px; margin: 0 0 14px; }
.failure .what { font-weight: 600; margin-bottom: 8px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 760px) { .pair { grid-template-columns: 1fr; } }
.label { font-size: 12px; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); margin-top: 10px; display: flex; justify-content: space-between;
  align-items: center; }
.bar { height: 10px; background: var(--skip-bg); border-radius: 999px; overflow: hidden;
  min-width: 80px; }
.bar > span { display: block; height: 100%; background: var(--pass); }
.score { font-size: 28px; font-weight: 700; }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
body.filtering tr[data-verdict].hidden { display: none; }
@media print { .toolbar, button.copy { display: none; } body { background: #fff; } }
"""

_JS = """
(function () {
  document.body.classList.add("filtering");
  var buttons = document.querySelectorAll("[data-filter]");
  buttons.forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var wanted = button.getAttribute("data-filter");
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
      document.querySelectorAll("tr[data-verdict]").forEach(function (row) {
        var show = wanted === "all" || row.getAttribute("data-verdict") === wanted;
        row.classList.toggle("hidden", !show);
      });
    });
  });
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var pre = document.getElementById(button.getAttribute("data-copy"));
      var text = pre ? pre.textContent : "";
      function done(ok) {
        button.textContent = ok ? "Copied" : "Select and copy";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      }
      function fallback() {
        var range = document.createRange();
        range.selectNodeContents(pre);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
"""

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
"""Nothing may be loaded from anywhere: the page is its own file."""


_TOKEN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "report_html_token", default=None
)
"""The token of the page being rendered: every text is scrubbed before it is escaped."""


def _e(text: object) -> str:
    return html.escape(redact_token(str(text), _TOKEN.get()), quote=True)


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _when(report: RunReport) -> str:
    moment = report.started_at
    label = "started"
    if moment is None:
        moment, label = dt.datetime.now(dt.UTC).timestamp(), "written"
    stamp = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({label})"


def _rule(name: str) -> Rule | None:
    from ..checks.registry import get  # at call time: see summary.citation

    try:
        return get(name)
    except KeyError:
        return None


# ---------------------------------------------------------------------------------------------
# Sections


def _summary(report: RunReport) -> Iterator[str]:
    ok = report.ok
    verdict = "PASSED" if ok else "FAILED"
    yield '<header class="summary">'
    yield f'<div class="verdict {"pass" if ok else "fail"}" id="verdict">{verdict}</div>'
    yield '<dl class="facts">'
    facts = [
        ("level", report.level),
        ("target", report.target),
        ("time", f"{_when(report)}, took {report.duration:.1f} s"),
        ("seed", "random" if report.seed is None else str(report.seed)),
        ("examples", f"{report.max_examples} per phase and property"),
        ("workers", str(report.workers)),
    ]
    if report.context_length is not None:
        facts.append(("context length", f"{report.context_length} tokens"))
    for term, value in facts:
        yield f"<dt>{_e(term)}</dt><dd>{_e(value)}</dd>"
    yield "</dl></header>"
    counts = {
        "passed": sum(1 for r in report.results if r.verdict == "passed"),
        "failed": report.failed,
        "not exercised": sum(1 for r in report.results if r.verdict == "not exercised"),
        "inconclusive": sum(1 for r in report.results if r.verdict == "inconclusive"),
    }
    yield '<div class="cards">'
    for label, count in counts.items():
        tone = {"passed": "pass", "failed": "fail", "inconclusive": "warn"}.get(label, "")
        yield (
            f'<div class="card {tone if count else ""}"><div class="n">{count}</div>'
            f'<div class="l">checks {_e(label)}</div></div>'
        )
    if report.cost is not None and report.cost.total_requests:
        cost = report.cost
        yield (
            f'<div class="card"><div class="n">{cost.total_requests}</div>'
            f'<div class="l">requests ({cost.answers_200} answered 200)</div></div>'
        )
        yield (
            f'<div class="card"><div class="n">{cost.total_tokens}</div>'
            f'<div class="l">tokens ({cost.prompt_tokens} prompt + {cost.completion_tokens} '
            "completion)</div></div>"
        )
    if report.pacing is not None and report.pacing.busy:
        pacing = report.pacing
        waited = "relayed, not judged" if pacing.relayed else f"waited {pacing.waited:.1f} s"
        yield (
            f'<div class="card warn" id="rate-limited"><div class="n">{pacing.busy}</div>'
            f'<div class="l">rate-limited answers (429/503; {_e(waited)})</div></div>'
        )
    if report.coverage is not None:
        tone = "" if report.coverage_ok else "fail"
        yield (
            f'<div class="card {tone}"><div class="n">{report.coverage.score:.1f}%</div>'
            f'<div class="l"><a href="#coverage">spec coverage</a> '
            f"({report.coverage.hit} of {report.coverage.total})</div></div>"
        )
    yield "</div>"
    if report.setup_error:
        yield (
            '<div class="notes error"><strong>Set-up error:</strong> '
            f"{_e(report.setup_error)}</div>"
        )
    if not report.coverage_ok:
        yield f'<div class="notes error">{_e(coverage_failure(report))}</div>'
    pacing_line = report.pacing.summary() if report.pacing is not None else ""
    if report.notes or pacing_line:
        yield '<div class="notes"><strong>Notes</strong><ul>'
        for note in [*report.notes, *([pacing_line] if pacing_line else [])]:
            yield f"<li>{_e(note)}</li>"
        yield "</ul></div>"


def _sources(rule: Rule) -> str:
    items = []
    for source in rule.sources:
        if source.document == "openapi.yaml":
            items.append(f"<li>openapi.yaml <code>{_e(source.where)}</code></li>")
        else:
            items.append(f"<li>vendor document: <q>{_e(source.where)}</q></li>")
    return f'<ul class="sources">{"".join(items)}</ul>'


def _checks(report: RunReport) -> Iterator[str]:

    yield '<h2 id="checks">Checks</h2>'
    yield '<div class="toolbar" role="group" aria-label="Show checks">'
    for name, label in (
        ("all", "All"),
        ("failed", "Failed"),
        ("passed", "Passed"),
        ("not exercised", "Not exercised"),
        ("inconclusive", "Inconclusive"),
    ):
        pressed = "true" if name == "all" else "false"
        yield (
            f'<button type="button" data-filter="{_e(name)}" aria-pressed="{pressed}" '
            f"hidden>{_e(label)}</button>"
        )
    yield "</div>"
    yield (
        '<table id="checks-table" class="checks"><colgroup><col class="rule"><col class="verdict">'
        '<col class="count"><col class="count"><col><col class="level"></colgroup>'
        "<thead><tr><th>rule</th><th>verdict</th>"
        '<th class="num">passed</th><th class="num">failed</th><th>what must hold</th>'
        "<th>level</th></tr></thead><tbody>"
    )
    for result in report.results:
        yield _check_row(result, verdict_text(result))
    yield "</tbody></table>"


def _check_row(result: CheckResult, text: str) -> str:
    verdict = result.verdict
    rule = _rule(result.name)
    statement = _e(rule.statement) if rule is not None else '<span class="muted">—</span>'
    sources = _sources(rule) if rule is not None else ""
    level = _e(rule.level.value) if rule is not None else _e(result.group)
    why = ""
    if verdict in ("not exercised", "inconclusive"):
        why = f'<div class="why">{_e(text)}</div>'
    name = _e(result.name)
    if verdict == "failed":
        name = f'<a href="#fail-{_anchor(result.name)}">{name}</a>'
    return (
        f'<tr data-verdict="{_e(verdict)}" id="check-{_anchor(result.name)}">'
        f'<td class="mono">{name}</td>'
        f'<td><span class="pill {_VERDICT_CLASS[verdict]}">{_e(verdict)}</span>{why}</td>'
        f'<td class="num">{result.passed}</td><td class="num">{result.failed}</td>'
        f"<td>{statement}{sources}</td><td>{level}</td></tr>"
    )


class _Ids:
    def __init__(self) -> None:
        self.next = 0

    def __call__(self) -> str:
        self.next += 1
        return f"code-{self.next}"


def _code_block(label: str, text: str, ids: _Ids, *, copy: bool = False) -> Iterator[str]:
    block = ids()
    button = (
        f'<button type="button" class="copy" data-copy="{block}" hidden>Copy</button>'
        if copy
        else ""
    )
    yield f'<div class="label"><span>{_e(label)}</span>{button}</div>'
    yield f'<pre id="{block}">{_e(text)}</pre>'


def _failures(report: RunReport, report_dir: str | Path | None, ids: _Ids) -> Iterator[str]:
    failing = [r for r in report.results if not r.ok]
    yield '<h2 id="failures">Failures</h2>'
    if not failing:
        yield '<p class="muted">No check failed.</p>'
        return
    for result in failing:
        yield f'<section id="fail-{_anchor(result.name)}">'
        rule = _rule(result.name)
        yield (
            f'<h3><span class="mono">{_e(result.name)}</span> '
            f'<span class="pill fail">failed {result.failed} time(s)</span></h3>'
        )
        if rule is not None:  # the sentence the server contradicts, with the failure
            yield f'<p class="muted">{_e(rule.statement)}</p>'
            yield '<div class="cited"><span class="label">contradicts</span>'
            yield _sources(rule)
            if rule.premise is not None:
                yield f'<p class="premise">{_e(rule.premise)}</p>'
            yield "</div>"
        if not result.failures:
            yield '<p class="muted">No failure details were kept.</p>'
        if result.failures:
            yield from _failure(report, result.failures[0], report_dir, ids)
        others = result.failures[1:]
        if others:
            yield f"<details><summary>{len(others)} more example(s) of this failure</summary>"
            for failure in others:
                yield from _failure(report, failure, report_dir, ids)
            yield "</details>"
        hidden = result.failed - len(result.failures)
        if hidden > 0:
            yield f'<p class="muted">… and {hidden} more failure(s) of this check.</p>'
        yield "</section>"


def _failure(
    report: RunReport, failure: Failure, report_dir: str | Path | None, ids: _Ids
) -> Iterator[str]:

    yield '<div class="failure">'
    yield f'<div class="what">{_e(failure.message or "(no message)")}</div>'
    yield '<div class="pair"><div>'
    yield from _code_block("expected", failure.expected or NO_EXPECTED, ids)
    yield "</div><div>"
    yield from _code_block("actual", failure.actual or NO_ACTUAL, ids)
    yield "</div></div>"
    command = reproducer(report, failure, report_dir=report_dir)
    if command:
        yield from _code_block(
            "reproduce (export CHAT_TEXT_API_KEY first)", command, ids, copy=True
        )
    else:
        yield '<div class="label"><span>reproduce</span></div>'
        yield '<p class="muted">No request was recorded for this failure.</p>'
    related = related_reproducers(report, failure, report_dir)
    if related:
        yield f"<details><summary>compared with {len(related)} earlier request(s)</summary>"
        for index, command in enumerate(related, 1):
            yield from _code_block(f"earlier request {index}", command, ids, copy=True)
        yield "</details>"
    yield "</div>"


def _coverage(coverage: SpecCoverage | None, report: RunReport) -> Iterator[str]:
    # lazy: the coverage model reads the rule modules (~0.1 s); --help does without them
    from .coverage import GROUPS

    yield '<h2 id="coverage">Spec coverage</h2>'
    if coverage is None:
        yield '<p class="muted">No spec coverage was measured for this run.</p>'
        return
    minimum = (
        ""
        if report.min_coverage is None
        else f" (minimum {report.min_coverage:g}%: {'met' if report.coverage_ok else 'NOT met'})"
    )
    yield (
        f'<p><span class="score">{coverage.score:.1f}%</span> of the spec\'s '
        f"{coverage.total} coverage items exercised by {coverage.exchanges} exchange(s)"
        f"{_e(minimum)}.</p>"
    )
    yield (
        "<table><thead><tr><th>what</th><th>group</th><th class=num>hit</th>"
        "<th>share</th></tr></thead><tbody>"
    )
    for group, (hit, total) in coverage.by_group().items():
        share = 100.0 * hit / total if total else 100.0
        yield (
            f"<tr><td>{_e(GROUPS.get(group, group))}</td><td class=mono>{_e(group)}</td>"
            f'<td class="num">{hit} / {total}</td>'
            f'<td><div class="bar" title="{share:.0f}%"><span style="width:{share:.1f}%">'
            "</span></div></td></tr>"
        )
    yield "</tbody></table>"
    missed = coverage.missed()
    yield '<h3 style="margin-top:18px">Missed</h3>'
    if not missed:
        yield '<p class="muted">Nothing: every item was exercised.</p>'
    else:
        yield (
            "<table><thead><tr><th>item</th><th>why</th><th>where the spec says it</th>"
            "</tr></thead><tbody>"
        )
        for entry in missed:
            yield (
                f"<tr><td>{_e(entry.item.label)}</td><td>{_e(entry.reason)}</td>"
                f'<td class="mono">{_e(entry.item.pointer)}</td></tr>'
            )
        yield "</tbody></table>"
    yield f"<details><summary>every item ({coverage.total})</summary>"
    yield (
        '<table><thead><tr><th>item</th><th class="num">exchanges</th><th>group</th></tr>'
        "</thead><tbody>"
    )
    for item in coverage.ordered():
        hits = coverage.hits(item.id)
        pill = (
            f'<span class="pill pass">{hits}</span>' if hits else '<span class="pill skip">0</span>'
        )
        yield (
            f"<tr><td>{_e(item.label)}</td><td class=num>{pill}</td>"
            f"<td class=mono>{_e(item.group)}</td></tr>"
        )
    yield "</tbody></table></details>"


def _exchanges(report: RunReport) -> Iterator[str]:
    records = report.exchanges
    if records is None:
        return
    yield '<h2 id="exchanges">Exchanges</h2>'
    if not records:
        yield '<p class="muted">No request went through the proxy.</p>'
        return
    shown = records[:_MAX_EXCHANGES]
    yield (
        '<table><thead><tr><th class="num">#</th><th>request</th><th class="num">status</th>'
        '<th>outcome</th><th>rules broken</th><th class="num">ms</th></tr></thead><tbody>'
    )
    for record in shown:
        css = {"pass": "pass", "violation": "fail", "upstream error": "fail"}.get(
            record.outcome, "skip"
        )
        detail = list(record.messages)
        for extra in (record.request_problem, record.upstream_error, record.note):
            if extra:
                detail.append(extra)
        detail_html = "".join(f'<div class="why">{_e(line)}</div>' for line in detail)
        status = "—" if record.status is None else str(record.status)
        yield (
            f'<tr><td class="num">{record.number}</td>'
            f'<td class="mono">{_e(record.method)} {_e(record.path)}</td>'
            f'<td class="num">{_e(status)}</td>'
            f'<td><span class="pill {css}">{_e(record.outcome)}</span></td>'
            f'<td class="mono">{_e(", ".join(record.violated))}{detail_html}</td>'
            f'<td class="num">{record.duration_ms:.0f}</td></tr>'
        )
    yield "</tbody></table>"
    if len(records) > len(shown):
        yield (
            f'<p class="muted">{len(records) - len(shown)} more exchange(s) are listed in '
            "report.json.</p>"
        )


# ---------------------------------------------------------------------------------------------
# The page


def render_html(
    report: RunReport, *, report_dir: str | Path | None = None, token: str | None = None
) -> str:
    """The whole page as a string (token scrubbed, every run-supplied text escaped)."""
    reset = _TOKEN.set(token)
    try:
        return _render(report, report_dir, token)
    finally:
        _TOKEN.reset(reset)


def _render(report: RunReport, report_dir: str | Path | None, token: str | None) -> str:
    ids = _Ids()
    verdict = "PASSED" if report.ok else "FAILED"
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{verdict}: chat-text conformance ({_e(report.level)})</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>chat-text conformance report</h1>",
        '<p class="muted">POST /inference/chat_text checked against openapi.yaml and the vendor '
        "document.</p>",
    ]
    sections: Iterable[Iterable[str]] = (
        _summary(report),
        _failures(report, report_dir, ids),
        _checks(report),
        _coverage(report.coverage, report),
        _exchanges(report),
    )
    for section in sections:
        parts.extend(section)
    parts.append(
        "<footer>Written by chat-text-conformance. report.json holds the same run for "
        "<code>chat-text-conformance replay</code>; junit.xml is for CI. Reproducers read the "
        "token from <code>$CHAT_TEXT_API_KEY</code>.</footer>"
    )
    parts.append(f"</main><script>{_JS}</script></body></html>")
    return redact_token("\n".join(parts), token) + "\n"


def write_html(
    report: RunReport,
    path: str | Path,
    *,
    report_dir: str | Path | None = None,
    token: str | None = None,
) -> Path:
    """Write :func:`render_html` to ``path``."""
    target = Path(path)
    target.write_text(render_html(report, report_dir=report_dir, token=token), encoding="utf-8")
    return target
