"""The report writers on hand-made results (no server): verdict lines, failures that never show an
empty expected/actual, JUnit skips, the report folder with long bodies as files, and the token,
or anything derived from it, nowhere; reproducers expanded by a real shell."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from chat_text_conformance.reporting import files as reports
from chat_text_conformance.reporting.reproducer import INLINE_BODY_LIMIT, curl_command
from chat_text_conformance.reporting.results import CheckResult, Failure, RequestRecord, RunReport

TOKEN = "Secret-Token-4f9a"
BASE = "http://127.0.0.1:9"
PATH = "/inference/chat_text"


def _record(body: bytes, authorization: str | None = f"Bearer {TOKEN}") -> RequestRecord:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return RequestRecord.build("POST", PATH, headers, body, TOKEN)


def _report() -> RunReport:
    long_body = json.dumps({"messages": [{"role": "user", "content": "x" * 3000}]}).encode()
    failing = CheckResult("usage_total_is_sum", "response", passed=3)
    failing.record_failure(
        Failure(
            "usage_total_is_sum",
            f"total is wrong (the server said {TOKEN})",
            expected="total_tokens == 9",
            actual="total_tokens == 10",
            request=_record(long_body),
        )
    )
    bare = CheckResult("after_run", "schema")
    bare.record_failure(Failure("after_run", "something went wrong"))
    derived = CheckResult("unauthorized_without_valid_token", "property")
    derived.record_failure(
        Failure(
            "unauthorized_without_valid_token",
            "a token in another case was accepted",
            expected="HTTP 401",
            actual="HTTP 200",
            request=_record(b"{}", f"Bearer {TOKEN.swapcase()}"),
            requests=(_record(b'{"a": 1}', f"Bearer {TOKEN[:-1]}"),),
        )
    )
    unused = CheckResult("usage_within_context_window", "response")
    unused.record_not_exercised("not exercised: give --context-length")
    cut = CheckResult("stream_ends_with_done", "response")
    cut.record_inconclusive("the suite's cap of 10s per response")
    fine = CheckResult("created_is_unix_seconds", "response", passed=4)
    return RunReport(
        target=f"{BASE} model=m",
        level="semantic",
        seed=7,
        max_examples=2,
        results=[failing, bare, derived, unused, cut, fine],
        base_url=BASE,
        model="m",
        workers=3,
        context_length=512,
        notes=["a note"],
    )


def test_verdicts_in_the_summary() -> None:
    text = reports.summary_text(_report())
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert lines["usage_total_is_sum"].endswith("FAIL")
    assert lines["created_is_unix_seconds"].endswith(" ok")
    assert lines["usage_within_context_window"].endswith("not exercised: give --context-length")
    assert lines["stream_ends_with_done"].endswith(
        "inconclusive: the suite's cap of 10s per response"
    )


def test_a_failure_always_says_what_was_expected_and_what_came_back() -> None:
    text = reports.summary_text(_report())
    block = text[text.index("FAILED after_run") :].split("\n\n")[0]
    assert "what: something went wrong" in block
    assert "expected: (not recorded" in block
    assert "actual: (not recorded" in block
    assert "reproduce: (no request was recorded" in block
    block = text[text.index("FAILED usage_total_is_sum") :].split("\n\n")[0]
    assert "expected: total_tokens == 9" in block and "actual: total_tokens == 10" in block
    # without a report folder the long body is named, and the command says where to get it
    assert "saved only with --report-dir" in block


def test_junit_skips_what_was_not_judged(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    reports.write_junit_xml(_report(), path, token=TOKEN)
    suite = ET.fromstring(path.read_text())  # noqa: S314 - our own file
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert suite.get("failures") == "3" and suite.get("skipped") == "2"
    skipped = cases["stream_ends_with_done"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("inconclusive: ")
    assert cases["created_is_unix_seconds"].find("skipped") is None
    failure = cases["after_run"].find("failure")
    assert failure is not None and "expected: (not recorded" in (failure.text or "")


def test_the_report_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "run-1"
    report = _report()
    written = reports.write_report_dir(report, folder, token=TOKEN)
    assert written.report_json == folder / "report.json" and written.junit_xml.is_file()
    data = json.loads(written.report_json.read_text())
    assert (data["base_url"], data["model"], data["level"], data["seed"]) == (
        BASE,
        "m",
        "semantic",
        7,
    )
    assert (data["max_examples"], data["workers"], data["context_length"]) == (2, 3, 512)
    assert data["notes"] == ["a note"]
    assert data["checks_not_exercised"] == 1 and data["checks_inconclusive"] == 1
    by_name = {r["name"]: r for r in data["results"]}
    assert by_name["usage_within_context_window"]["not_exercised"] == {
        "not exercised: give --context-length": 1
    }
    assert by_name["stream_ends_with_done"]["inconclusive_reasons"]
    failure = by_name["usage_total_is_sum"]["failures"][0]
    (body_file,) = written.bodies
    assert body_file == folder / failure["request"]["body_file"]
    assert len(body_file.read_bytes()) > INLINE_BODY_LIMIT
    assert body_file.read_bytes() == failure["request"]["body"].encode()
    assert f"--data-binary @{body_file}" in failure["reproducer"]
    assert RequestRecord.from_json(failure["request"]) == report.results[0].failures[0].request
    related = by_name["unauthorized_without_valid_token"]["failures"][0]
    assert len(related["requests"]) == 1 and related["related_reproducers"][0].startswith("curl")


def test_the_token_and_what_derives_from_it_appear_nowhere(tmp_path: Path) -> None:
    report = _report()
    reports.write_report_dir(report, tmp_path, token=TOKEN)
    texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    texts.append(reports.summary_text(report, report_dir=tmp_path, token=TOKEN))
    for text in texts:
        for secret in (TOKEN, TOKEN.swapcase(), TOKEN[:-1]):
            assert secret not in text


@pytest.mark.parametrize(
    "sent",
    [TOKEN, f"{TOKEN}x", TOKEN[:-1], TOKEN.swapcase(), f"wrong {TOKEN}", "Bearer"],
    ids=["token", "appended", "prefix", "swapcase", "two", "no-token"],
)
def test_a_shell_expands_the_reproducer_back_to_what_was_sent(sent: str) -> None:
    record = _record(b'{"q": "it\'s $HOME `x`"}', f"Bearer {sent}")
    command = curl_command(BASE, record)
    for secret in (TOKEN, TOKEN.swapcase(), TOKEN[:-1]):
        assert secret not in command
    assert record.headers_for(TOKEN)["Authorization"] == f"Bearer {sent}"
    # the shell's own word splitting and expansion, with printf in place of curl
    shown = subprocess.run(
        ["/bin/sh", "-c", "printf '%s\\n' " + command.removeprefix("curl ")],
        env={"CHAT_TEXT_API_KEY": TOKEN, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert f"Authorization: Bearer {sent}" in shown
    assert '{"q": "it\'s $HOME `x`"}' in shown
