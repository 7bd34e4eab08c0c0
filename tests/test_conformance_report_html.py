"""``report.html``: its structure, escaping and self-containment on a hand-made report (a hostile
server's ``<script>`` in a failure message), then real runs rendered by a real browser.

The browser tests drive Debian's headless Chromium (``apt-get install -y chromium``): the DOM
after scripts ran (``--dump-dom``) is asserted on, and a screenshot of a passing and of a
failing run is kept under ``build/report-screenshots/`` (the CI artifact). Without Chromium they
are skipped with the command that installs it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chat_text_conformance import Level, Target, run
from chat_text_conformance.catalogue import get as rule
from chat_text_conformance.checks import Exchange
from chat_text_conformance.cli import main
from chat_text_conformance.engine.pacing import PacingStats
from chat_text_conformance.reporting import files as reports
from chat_text_conformance.reporting.coverage import UNPROVOKED, SpecCoverage
from chat_text_conformance.reporting.html import render_html
from chat_text_conformance.reporting.results import (
    CheckResult,
    ExchangeRecord,
    Failure,
    RequestRecord,
    RunReport,
)

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "report-screenshots"
TOKEN = "Html-Secret-Token-77c1"
BASE = "http://127.0.0.1:9"
HOSTILE = '</pre><script>document.title="pwned"</script><img src=x onerror="document.title=1">'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get install -y chromium"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason=f"headless Chromium is not installed: {INSTALL} (Debian package)"
)


def _record(body: bytes) -> RequestRecord:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    return RequestRecord.build("POST", "/inference/chat_text", headers, body, TOKEN)


def _hand_report() -> RunReport:
    failing = CheckResult("usage_total_is_sum", "response", passed=3)
    for number in range(2):
        failing.record_failure(
            Failure(
                "usage_total_is_sum",
                f"{HOSTILE} the server said {TOKEN} ({number})",
                expected="total_tokens == 9",
                actual=f"<b>total_tokens == 10</b> {TOKEN.swapcase()}",
                request=_record(b'{"model": "m", "messages": []}'),
            )
        )
    unused = CheckResult("usage_within_context_window", "response")
    unused.record_not_exercised("not exercised: give --context-length")
    fine = CheckResult("created_is_unix_seconds", "response", passed=4)
    coverage = SpecCoverage()
    coverage.observe(
        Exchange(
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            400,
            "application/json",
            b"{}",
        )
    )
    return RunReport(
        target=f"{BASE} model=m",
        level="semantic",
        seed=7,
        max_examples=2,
        results=[failing, unused, fine],
        base_url=BASE,
        model="m",
        workers=3,
        notes=[f"a note with {HOSTILE}"],
        coverage=coverage,
        started_at=1_764_086_400.0,
        duration=1.5,
    )


class _Text(HTMLParser):
    """The text a reader sees (script and style contents left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return re.sub(r"\s+", " ", "".join(parser.parts))


# --- the page, without a browser -----------------------------------------------------------------


def test_sections_and_the_catalogue_in_the_page() -> None:
    page = render_html(_hand_report(), token=TOKEN)
    text = _text(page)
    assert page.startswith("<!DOCTYPE html>")
    for anchor in ('id="verdict"', 'id="failures"', 'id="checks"', 'id="coverage"'):
        assert anchor in page
    assert "FAILED" in text and "semantic" in text and f"{BASE} model=m" in text
    assert "2025-11-25 16:00:00 UTC (started), took 1.5 s" in text
    statement = rule("usage_total_is_sum").statement
    assert statement in text
    for source in rule("usage_total_is_sum").sources:
        assert source.where in text
    assert "not exercised: give --context-length" in text
    assert "total_tokens == 9" in text  # expected
    assert "curl -sS -N -X POST http://127.0.0.1:9/inference/chat_text" in text
    assert "1 more example(s) of this failure" in text
    coverage = _hand_report().coverage
    assert coverage is not None
    assert f"{coverage.score:.1f}%" in text
    assert UNPROVOKED["429"] in text  # the reason of a missed item


def test_everything_from_the_run_is_escaped_and_the_token_scrubbed() -> None:
    page = render_html(_hand_report(), token=TOKEN)
    assert page.count("<script>") == 1  # ours, at the end
    assert '<script>document.title="pwned"' not in page
    assert "<img" not in page and "<b>total_tokens" not in page
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page
    assert HOSTILE in _text(page)  # shown as text
    assert TOKEN not in page and TOKEN.swapcase() not in page
    assert "$CHAT_TEXT_API_KEY" in page


def test_rate_limited_answers_and_the_wait_are_on_the_page() -> None:
    report = _hand_report()
    assert "rate-limited" not in render_html(report)  # nothing busy: nothing said
    report.pacing = PacingStats(busy_answers=Counter({429: 7, 503: 2}), resent=8, gave_up=1)
    report.pacing.waited = 12.5
    text = _text(render_html(report))
    assert "9rate-limited answers (429/503; waited 12.5 s)" in text  # a card: number, label
    assert "rate-limited: 9 answer(s) (7 x 429, 2 x 503), 8 re-sent, waited 12.5s" in text
    assert "1 left unanswered (their rules inconclusive" in text


def test_the_page_fetches_nothing() -> None:
    page = render_html(_hand_report(), token=TOKEN)
    assert not re.search(r"<(script|img|iframe|link|source|video|audio)\b[^>]*\s(src|href)=", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page)
    assert re.search(r"Content-Security-Policy\" content=\"default-src 'none'", page)


def test_readable_without_javascript() -> None:
    """Every check row and failure is in the static page; the filter and copy buttons only
    appear when the script runs."""
    report = _hand_report()
    page = render_html(report)
    rows = re.findall(r'<tr data-verdict="([^"]+)"', page)
    assert rows == [r.verdict for r in report.results]
    buttons = re.findall(r"<button[^>]*>", page)
    assert buttons and all(" hidden" in button for button in buttons)


def test_the_report_folder_gets_the_page(tmp_path: Path) -> None:
    written = reports.write_report_dir(_hand_report(), tmp_path, token=TOKEN)
    assert written.report_html == tmp_path / "report.html"
    page = written.report_html.read_text(encoding="utf-8")
    assert "usage_total_is_sum" in page and TOKEN not in page


def test_the_proxy_exchanges_are_listed_when_present() -> None:
    report = _hand_report()
    report.exchanges = [
        ExchangeRecord(1, "POST", "/inference/chat_text", 200, "pass", duration_ms=12.0),
        ExchangeRecord(
            2,
            "POST",
            "/inference/chat_text",
            200,
            "violation",
            violated=("usage_total_is_sum",),
            messages=(f"usage_total_is_sum: {HOSTILE}",),
        ),
    ]
    page = render_html(report)
    assert 'id="exchanges"' in page
    assert page.count("<script>") == 1
    assert "violation" in _text(page) and "usage_total_is_sum: </pre>" in _text(page)
    assert 'id="exchanges"' not in render_html(_hand_report())


# --- real runs in a real browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default level against the embedded reference server, cheapest settings, with a
    minimum coverage it meets (exit 0)."""
    folder = tmp_path_factory.mktemp("passing")
    argv = ["--max-examples", "1", "--seed", "1", "--min-coverage", "80", "-q"]
    assert main([*argv, "--report-dir", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real run against the reference server with one fault of chat_text_testkit.mutations."""
    from chat_text_testkit.mutations import MUTATIONS, mutation_server

    fault = next(m for m in MUTATIONS if m.name == "usage_total_not_sum")
    folder = tmp_path_factory.mktemp("failing")
    with mutation_server() as server, server.mutated(fault):
        target = Target(
            server.base_url,
            server.token,
            server.model,
            context_length=server.context_length,
            request_timeout=10,
            app=server.app,
        )
        report = run(target, Level.SEMANTIC, max_examples=1, seed=1)
        reports.write_report_dir(report, folder, token=server.token)
    assert not report.ok
    return folder, server.token


def test_the_default_level_misses_only_what_no_request_can_provoke(passing: Path) -> None:
    data = json.loads((passing / "report.json").read_text())
    assert data["ok"] is True and data["coverage_ok"] is True and data["min_coverage"] == 80
    missed = {entry["id"] for entry in data["coverage"]["missed"]}
    unprovoked = {
        item["id"] for item in data["coverage"]["items"] if item.get("status") in UNPROVOKED
    }
    assert missed == unprovoked
    assert all(item["known_reason"] for item in data["coverage"]["items"] if "reason" in item)


def _chromium(page: Path, screenshot: Path, profile: Path) -> str:
    """Render ``page`` in headless Chromium: the DOM after its scripts ran, and a screenshot."""
    assert CHROMIUM is not None
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any helper process it left behind
    assert process.returncode == 0, f"chromium exited {process.returncode}"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out.decode("utf-8")


@needs_chromium
def test_a_browser_renders_the_passing_run(passing: Path, tmp_path: Path) -> None:
    dom = _chromium(passing / "report.html", SCREENSHOTS / "passing.png", tmp_path)
    text = _text(dom)
    assert "PASSED" in text
    assert rule("usage_total_is_sum").statement in text
    assert rule("not_a_server_error").statement in text
    data = json.loads((passing / "report.json").read_text())
    assert f"{data['coverage']['score']:.1f}% of the spec" in text
    assert UNPROVOKED["503"] in text
    assert "No check failed." in text
    assert '<body class="filtering">' in dom  # the script ran
    assert not re.search(r'<button[^>]*data-filter="failed"[^>]*hidden', dom)


@needs_chromium
def test_a_browser_renders_the_failing_run(failing: tuple[Path, str], tmp_path: Path) -> None:
    folder, token = failing
    dom = _chromium(folder / "report.html", SCREENSHOTS / "failing.png", tmp_path)
    text = _text(dom)
    assert "FAILED" in text
    assert rule("usage_total_is_sum").statement in text
    assert "usage.total_tokens is" in text  # the failure's message
    data = json.loads((folder / "report.json").read_text())
    failure = next(r for r in data["results"] if r["name"] == "usage_total_is_sum")["failures"][0]
    assert failure["reproducer"].startswith("curl ")
    assert re.sub(r"\s+", " ", failure["reproducer"]) in text
    assert "Authorization: Bearer $CHAT_TEXT_API_KEY" in text
    assert token not in dom
    assert not re.search(r'<button[^>]*class="copy"[^>]*hidden', dom)  # copy buttons shown


@needs_chromium
def test_a_browser_runs_none_of_a_hostile_servers_markup(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(_hand_report(), token=TOKEN), encoding="utf-8")
    dom = _chromium(page, tmp_path / "hostile.png", tmp_path / "profile")
    assert "<title>FAILED: chat-text conformance (semantic)</title>" in dom
    assert "pwned" not in re.search(r"<title>.*?</title>", dom, re.S).group(0)  # type: ignore[union-attr]
    assert HOSTILE in _text(dom)
