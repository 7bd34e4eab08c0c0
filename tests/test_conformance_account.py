"""An honest account of every verdict: the four verdicts counted apart in every output, a run
that judged nothing is not green, every failure quotes the sentence it rests on (and strict's
premise), what the run itself proves of the window is used, integral floats are integers, one
token variable, and a property blocked by another rule's failure says so."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_text_conformance import Level, Target, run
from chat_text_conformance.catalogue import get as rule
from chat_text_conformance.checks.registry import STRICT_PREMISE
from chat_text_conformance.cli import main
from chat_text_conformance.engine.target import token_from_env
from chat_text_conformance.reporting import files as reports
from chat_text_conformance.reporting.results import CheckResult, Failure, RunReport

from chat_text_server import create_app
from chat_text_server.engine import MODELS
from chat_text_server.testing import running_server

TOKEN = "account-token-4f2a9c"
MODEL = "chat-text-mini"
SEED = 3
Rewrite = Callable[[Any], None]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _json_rewriting(app: Any, rewrite: Rewrite) -> Any:
    """``app`` with every JSON document it answers 2xx (a plain answer, each stream chunk)
    passed through ``rewrite`` (in place)."""

    def one(text: bytes) -> bytes:
        doc = json.loads(text)
        rewrite(doc)
        return json.dumps(doc).encode()

    def body_of(data: bytes, content_type: str) -> bytes:
        if content_type.startswith("application/json"):
            return one(data)
        if "event-stream" in content_type:
            events = []
            for event in data.split(b"\n\n"):
                if event.startswith(b"data: {"):
                    event = b"data: " + one(event[len(b"data: ") :])
                events.append(event)
            return b"\n\n".join(events)
        return data

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            content_type = dict(start["headers"]).get(b"content-type", b"").decode()
            data = bytes(body)
            if 200 <= start["status"] < 300:
                data = body_of(data, content_type)
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await app(scope, receive, capture)

    return wrapped


@contextlib.contextmanager
def _serving(rewrite: Rewrite | None = None) -> Iterator[str]:
    app = create_app([TOKEN])
    with running_server(app if rewrite is None else _json_rewriting(app, rewrite)) as url:
        yield url


def _target(url: str, context_length: int | None = None) -> Target:
    return Target(url, TOKEN, MODEL, context_length=context_length, request_timeout=10)


# --- four verdicts, counted apart everywhere ----------------------------------------------------


def test_without_context_length_the_rules_that_never_ran_are_not_counted_as_passed(
    tmp_path: Path,
) -> None:
    with _serving() as url:
        code, out, _ = _cli(
            *("--base-url", url, "--token", TOKEN, "--model", MODEL, "--seed", str(SEED)),
            *("--max-examples", "2", "-q", "--report-dir", str(tmp_path)),
        )
    assert code == 0, out
    data = json.loads((tmp_path / "report.json").read_text())
    verdicts = [r["verdict"] for r in data["results"]]
    counts = {v: verdicts.count(v) for v in ("passed", "failed", "not exercised", "inconclusive")}
    assert counts["not exercised"] >= 1  # the window rules: no --context-length
    assert data["checks_passed"] == counts["passed"] < len(verdicts)
    assert data["checks_not_exercised"] == counts["not exercised"]
    assert data["verdict"] == "passed" and data["unjudged_levels"] == []
    last = next(line for line in out.splitlines() if line.startswith("PASSED"))
    assert last.startswith(
        f"PASSED: {counts['passed']} passed, 0 failed, {counts['not exercised']} not exercised, "
        f"{counts['inconclusive']} inconclusive (of {len(verdicts)} rules)"
    ), last
    window = next(r for r in data["results"] if r["name"] == "usage_within_context_window")
    assert window["verdict"] == "not exercised" and "--context-length" in window["why_not"]
    suite = ET.fromstring((tmp_path / "junit.xml").read_text())  # noqa: S314 - our own file
    assert suite.get("skipped") == str(counts["not exercised"] + counts["inconclusive"])
    skipped = {
        case.get("name"): case.find("skipped") for case in suite.iter("testcase")
    }  # the reason, as the skip message
    assert "--context-length" in (skipped["usage_within_context_window"].get("message") or "")


def test_the_pytest_plugin_skips_what_did_not_run(tmp_path: Path) -> None:
    (tmp_path / "test_team.py").write_text("def test_their_own():\n    pass\n")
    with _serving() as url:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "test_team.py"),
                *("--chat-text-base-url", url, "--chat-text-model", MODEL),
                *("--chat-text-max-examples", "2", "--chat-text-seed", str(SEED)),
            ],
            cwd=tmp_path,
            env={**_clean_env(), "CHAT_TEXT_API_KEY": TOKEN},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0, proc.stdout[-3000:]
    outcome = proc.stdout.strip().splitlines()[-1]
    assert " skipped" in outcome and " passed" in outcome and "failed" not in outcome, outcome
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert any("not exercised" in line and "--context-length" in line for line in skips), skips


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CHAT_TEXT_")} | {
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": ""
    }


def _hand(results: list[CheckResult], level: str = "semantic") -> RunReport:
    return RunReport(target="t", level=level, seed=1, max_examples=1, results=results)


def test_a_run_that_judged_nothing_at_a_level_is_not_green() -> None:
    unjudged = CheckResult("usage_total_is_sum", "response")
    unjudged.record_inconclusive("rate-limited: answered 429 ...")
    report = _hand([CheckResult("not_a_server_error", "schema", passed=4), unjudged])
    assert report.unjudged_levels() == ["semantic"]
    assert not report.ok and report.verdict == "not judged"
    text = reports.summary_text(report)
    assert text.splitlines()[-1].startswith("NOT JUDGED: 1 passed, 0 failed, 0 not exercised, 1")
    assert "no rule of the semantic level(s) passed" in text
    data = reports.to_json(report)
    assert data["ok"] is False and data["verdict"] == "not judged"
    assert data["unjudged_levels"] == ["semantic"]
    # the same rules at the level that only claims schema: green
    assert _hand(report.results, level="schema").ok


# --- a failure quotes its source where it is shown ----------------------------------------------


def _total_off_by_one(doc: Any) -> None:
    usage = doc.get("usage")
    if isinstance(usage, dict):
        usage["total_tokens"] += 1


def test_a_failure_quotes_its_source_in_the_summary_junit_html_and_replay(tmp_path: Path) -> None:
    statement = rule("usage_total_is_sum").statement
    source = "openapi.yaml#/components/schemas/Usage/description"
    with _serving(_total_off_by_one) as url:
        code, out, _ = _cli(
            *("--base-url", url, "--token", TOKEN, "--model", MODEL, "--seed", str(SEED)),
            *("--max-examples", "2", "-q", "--report-dir", str(tmp_path)),
            *("--context-length", str(MODELS[MODEL])),
        )
        assert code == 1, out
        block = out[out.index("FAILED usage_total_is_sum") :]
        assert f"  rule: {statement}" in block and f"  source: {source}" in block
        suite = ET.fromstring((tmp_path / "junit.xml").read_text())  # noqa: S314 - our own file
        case = next(c for c in suite.iter("testcase") if c.get("name") == "usage_total_is_sum")
        failure = case.find("failure")
        assert failure is not None and f"source: {source}" in (failure.get("message") or "")
        page = (tmp_path / "report.html").read_text()
        assert "contradicts" in page and "/components/schemas/Usage/description" in page
        code, replayed, _ = _cli("replay", str(tmp_path), "--token", TOKEN, "-q")
        assert code == 1 and f"  source: {source}" in replayed
    # the properties its failure kept from being exercised say so, and that a re-run will
    data = json.loads((tmp_path / "report.json").read_text())
    blocked = [
        r
        for r in data["results"]
        if any("blocked by the failure of" in why for why in r["not_exercised"])
    ]
    assert blocked, [r["not_exercised"] for r in data["results"] if r["group"] == "property"]
    assert all(
        "usage_total_is_sum" in why and "a re-run after the fix will judge it" in why
        for r in blocked
        for why in r["not_exercised"]
        if "blocked" in why
    )


def test_a_strict_failure_says_it_rests_on_stricts_premise() -> None:
    failing = CheckResult("temperature_zero_deterministic", "property")
    failing.record_failure(Failure("temperature_zero_deterministic", "content differs"))
    text = reports.summary_text(_hand([failing], level="strict"))
    assert f"  premise: {STRICT_PREMISE}" in text
    usage = CheckResult("usage_total_is_sum", "response")
    usage.record_failure(Failure("usage_total_is_sum", "total off"))
    assert "premise:" not in reports.summary_text(_hand([usage]))


# --- what the run proves, it uses -----------------------------------------------------------------


def _always_length(doc: Any) -> None:
    for choice in doc.get("choices") or []:
        if choice.get("finish_reason") is not None:
            choice["finish_reason"] = "length"


def test_length_for_every_answer_fails_without_context_length() -> None:
    """The window is not given, but the run's own answers prove a lower bound on it: a short
    answer that says 'length' cannot have had its max_tokens lowered below that."""
    with _serving(_always_length) as url:
        report = run(_target(url), Level.SEMANTIC, max_examples=2, seed=SEED)
    result = report.result("finish_reason_matches_usage")
    assert result is not None and result.verdict == "failed"
    assert "the run's own answers prove the window holds at least" in result.failures[0].message


def test_a_given_context_length_the_answers_contradict_is_said() -> None:
    with _serving() as url:
        report = run(_target(url, context_length=16), Level.SEMANTIC, max_examples=1, seed=SEED)
    assert any("more than --context-length 16" in note for note in report.notes), report.notes


# --- integral floats are integers -----------------------------------------------------------------


def _usage_as_floats(doc: Any) -> None:
    usage = doc.get("usage")
    if isinstance(usage, dict):
        doc["usage"] = {key: float(value) for key, value in usage.items()}


def _usage_as_strings(doc: Any) -> None:
    usage = doc.get("usage")
    if isinstance(usage, dict):
        doc["usage"] = {key: str(value) for key, value in usage.items()}


def test_usage_written_as_integral_floats_is_judged_as_integers() -> None:
    with _serving(_usage_as_floats) as url:
        report = run(
            _target(url, context_length=MODELS[MODEL]), Level.SEMANTIC, max_examples=2, seed=SEED
        )
    assert report.ok, [(f.check, f.message) for f in report.failures()]
    for name in (
        "usage_total_is_sum",
        "completion_within_max_tokens",
        "finish_reason_matches_usage",
    ):
        result = report.result(name)
        assert result is not None and result.passed > 0
        assert not any("integers" in why for why in result.not_exercised), result.not_exercised


def test_usage_that_really_is_malformed_fails_the_schema_rule_it_names() -> None:
    with _serving(_usage_as_strings) as url:
        report = run(
            _target(url, context_length=MODELS[MODEL]), Level.SEMANTIC, max_examples=1, seed=SEED
        )
    schema = report.result("response_schema_conformance")
    assert schema is not None and schema.verdict == "failed"
    usage = report.result("usage_total_is_sum")
    assert usage is not None and usage.failed == 0
    assert any(
        "usage is not three integers: response_schema_conformance reports it" in why
        for why in usage.not_exercised
    ), usage.not_exercised


# --- one token variable ---------------------------------------------------------------------------


def test_the_token_comes_from_chat_text_api_key_and_its_old_name_with_a_notice() -> None:
    said: list[str] = []
    assert token_from_env({"CHAT_TEXT_API_KEY": "a", "CHAT_TEXT_TOKEN": "b"}, said.append) == "a"
    assert said == []
    assert token_from_env({"CHAT_TEXT_TOKEN": "b"}, said.append) == "b"
    assert said == ["note: the token is read from $CHAT_TEXT_TOKEN, the old name of "
                    "$CHAT_TEXT_API_KEY"]  # fmt: skip
    assert token_from_env({}, said.append) is None


def test_the_cli_reads_the_old_name_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAT_TEXT_API_KEY", raising=False)
    monkeypatch.setenv("CHAT_TEXT_TOKEN", TOKEN)
    with _serving() as url:
        code, out, err = _cli("--base-url", url, "--model", MODEL, "--level", "schema",
                              "--max-examples", "1", "--seed", "1", "-q")  # fmt: skip
    assert code == 0, out
    assert "the old name of $CHAT_TEXT_API_KEY" in err
