"""Failures a server team can replay: ``--report-dir`` (report.json, junit.xml, long bodies as
files), reproducers that work when pasted with ``$CHAT_TEXT_API_KEY`` set, and
``chat-text-conformance replay REPORT`` (exit 1 while the bug is there, 0 once it is fixed).

One reference server (chat_text_testkit.mutations) is broken on purpose for a run and for the
replays, then repaired; the same report is replayed against both."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chat_text_conformance.cli import main
from chat_text_conformance.engine.target import Level
from chat_text_conformance.reporting.reproducer import INLINE_BODY_LIMIT
from chat_text_testkit.deployments import RateLimiter
from chat_text_testkit.mutations import (
    MUTATIONS,
    Exchange,
    Mutation,
    MutationServer,
    mutation_server,
)

from chat_text_server.testing import running_server

MODEL = "chat-text-mini"


def _total_off_for_long_bodies(ex: Exchange) -> None:
    if ex.size > INLINE_BODY_LIMIT and ex.status == 200 and isinstance(ex.document, dict):
        ex.document["usage"]["total_tokens"] += 1


LONG_BODY_BUG = Mutation(
    "total_off_for_long_bodies",
    "semantics",
    Level.SEMANTIC,
    frozenset({"usage_total_is_sum"}),
    "usage.total_tokens is one too many in answers to requests over 2 KiB",
    response=_total_off_for_long_bodies,
)
CASE_BUG = next(m for m in MUTATIONS if m.name == "token_case_insensitive")
PROPERTY_BUG = next(m for m in MUTATIONS if m.name == "truncation_newest_first")
"""A bug no single answer shows: only a property, comparing answers, sees it."""


@dataclass(frozen=True)
class Run:
    folder: Path
    code: int
    out: str
    err: str


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def server() -> Iterator[MutationServer]:
    with mutation_server() as running:
        yield running


@pytest.fixture
def token_env(server: MutationServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHAT_TEXT_API_KEY", server.token)
    return server.token


def _run(server: MutationServer, bug: Mutation, folder: Path) -> Run:
    argv = ["--base-url", server.base_url, "--token", server.token, "--model", MODEL]
    argv += ["--level", "semantic", "--max-examples", "2", "--seed", "1", "-q"]
    with server.mutated(bug):
        code, out, err = _main([*argv, "--report-dir", str(folder)])
    return Run(folder, code, out, err)


@pytest.fixture(scope="module")
def long_body_run(server: MutationServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    # a folder that does not exist yet: --report-dir creates it
    return _run(server, LONG_BODY_BUG, tmp_path_factory.mktemp("runs") / "long" / "report")


@pytest.fixture(scope="module")
def case_run(server: MutationServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(server, CASE_BUG, tmp_path_factory.mktemp("runs") / "case")


@pytest.fixture(scope="module")
def property_run(server: MutationServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(server, PROPERTY_BUG, tmp_path_factory.mktemp("runs") / "property")


def _report(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.folder / "report.json").read_text())
    return data


def _result(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in data["results"] if r["name"] == name)
    return found


def _all_text(run: Run) -> str:
    files = [p.read_text(errors="replace") for p in run.folder.rglob("*") if p.is_file()]
    return "\n".join([run.out, run.err, *files])


# --- the report folder --------------------------------------------------------------------------


def test_report_dir_holds_the_full_report(long_body_run: Run, server: MutationServer) -> None:
    assert long_body_run.code == 1, long_body_run.out
    data = _report(long_body_run)
    assert data["ok"] is False
    assert data["base_url"] == server.base_url
    assert (data["model"], data["level"], data["seed"]) == (MODEL, "semantic", 1)
    assert (data["max_examples"], data["workers"], data["context_length"]) == (2, "auto", None)
    assert any("context length is unknown" in note for note in data["notes"])
    verdicts = {r["name"]: r["verdict"] for r in data["results"]}
    assert verdicts["usage_total_is_sum"] == "failed"
    assert verdicts["usage_within_context_window"] == "not exercised"
    assert set(verdicts.values()) <= {"passed", "failed", "not exercised", "inconclusive"}
    window = _result(data, "usage_within_context_window")
    assert window["passed"] == 0 and window["not_exercised"] and window["why_not"]
    failed = _result(data, "usage_total_is_sum")
    assert failed["failed"] >= len(failed["failures"]) > 0
    for failure in failed["failures"]:
        assert failure["message"] and failure["expected"] and failure["actual"]
        assert failure["request"]["method"] == "POST"
        assert len(failure["request"]["body"].encode()) > INLINE_BODY_LIMIT


def test_long_bodies_are_files_the_reproducers_name(long_body_run: Run) -> None:
    failures = _result(_report(long_body_run), "usage_total_is_sum")["failures"]
    for failure in failures:
        body_file = long_body_run.folder / failure["request"]["body_file"]
        assert body_file.read_text() == failure["request"]["body"]
        assert f"--data-binary @{body_file}" in failure["reproducer"]
        assert "$CHAT_TEXT_API_KEY" in failure["reproducer"]
    # the printed summary names the same files
    assert f"@{long_body_run.folder}/bodies/" in long_body_run.out
    assert len(list((long_body_run.folder / "bodies").iterdir())) >= len(failures)


def test_junit_marks_failures_and_skips_what_was_not_judged(long_body_run: Run) -> None:
    suite = ET.fromstring((long_body_run.folder / "junit.xml").read_text())  # noqa: S314
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert len(cases) == len(_report(long_body_run)["results"])
    failure = cases["usage_total_is_sum"].find("failure")
    assert failure is not None and failure.text is not None
    assert "expected:" in failure.text and "actual:" in failure.text
    assert "@" in failure.text and "/bodies/" in failure.text
    skipped = cases["usage_within_context_window"].find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("not exercised: ")
    assert cases["usage_total_is_sum"].find("skipped") is None
    assert int(suite.get("skipped", "0")) >= 1


def test_summary_shows_each_verdict_and_the_failure(long_body_run: Run) -> None:
    out = long_body_run.out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["usage_total_is_sum"].endswith("FAIL")
    assert "not exercised: " in lines["usage_within_context_window"]
    assert lines["created_is_unix_seconds"].endswith(" ok")
    assert "FAILED usage_total_is_sum" in out
    for label in ("what:", "expected:", "actual:", "reproduce:"):
        assert label in out


def test_the_token_appears_nowhere(
    long_body_run: Run, case_run: Run, server: MutationServer
) -> None:
    for run in (long_body_run, case_run):
        text = _all_text(run)
        for secret in (server.token, server.token.swapcase(), server.token[:-1]):
            assert secret not in text


def test_a_file_as_report_dir_is_a_usage_error(
    tmp_path: Path, server: MutationServer, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    argv = ["--base-url", server.base_url, "--token", server.token, "--model", MODEL]
    assert main([*argv, "--report-dir", str(taken), "-q"]) == 2
    _, err = capsys.readouterr()
    assert "--report-dir" in err and "is a file" in err
    assert "Traceback" not in err
    assert taken.read_text() == "not a folder"


# --- the reproducer, pasted into a shell --------------------------------------------------------


def _shell(command: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_TEXT_")}
    if token is not None:
        env["CHAT_TEXT_API_KEY"] = token
    return subprocess.run(
        ["/bin/sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _usage(stdout: str) -> tuple[int, int, int]:
    usage = json.loads(stdout)["usage"]
    return usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]


def test_the_curl_reproducer_shows_the_bug_and_then_the_fix(
    long_body_run: Run, server: MutationServer
) -> None:
    command = _result(_report(long_body_run), "usage_total_is_sum")["failures"][0]["reproducer"]
    assert command.startswith("curl ") and server.token not in command
    with server.mutated(LONG_BODY_BUG):
        broken = _shell(command, server.token)
    assert broken.returncode == 0, broken.stderr
    prompt, completion, total = _usage(broken.stdout)
    assert total != prompt + completion  # the failure, reproduced by hand
    fixed = _shell(command, server.token)
    prompt, completion, total = _usage(fixed.stdout)
    assert total == prompt + completion
    # the command takes its token from $CHAT_TEXT_API_KEY, not from anywhere else
    assert json.loads(_shell(command, "not-the-token").stdout)["error"]["code"]


def test_reproducers_with_a_derived_token_run_in_a_shell(
    case_run: Run, server: MutationServer
) -> None:
    failures = _result(_report(case_run), "ignored_auth")["failures"]
    derived = [f for f in failures if "tr a-zA-Z A-Za-z" in f["reproducer"]]
    assert derived, [f["reproducer"] for f in failures]  # the token in swapped case
    command = derived[0]["reproducer"]
    assert "CHAT_TEXT_API_KEY" in command
    with server.mutated(CASE_BUG):
        accepted = _shell(command, server.token)
    assert json.loads(accepted.stdout)["choices"]  # the swapped-case token got in: the bug
    refused = _shell(command, server.token)
    assert json.loads(refused.stdout)["error"]["code"]
    # the property that sends such tokens judges its answers too, its own way
    assert _result(_report(case_run), "unauthorized_without_valid_token")["verdict"] == "failed"


# --- replay -------------------------------------------------------------------------------------


def test_replay_exits_1_while_the_bug_is_there_and_0_once_fixed(
    long_body_run: Run, server: MutationServer, token_env: str
) -> None:
    with server.mutated(LONG_BODY_BUG):
        code, out, _ = _main(["replay", str(long_body_run.folder), "-q"])
    assert code == 1, out
    assert "STILL FAILS usage_total_is_sum" in out
    rows = [line for line in out.splitlines() if line.startswith("usage_total_is_sum ")]
    assert rows and all("FAIL: usage.total_tokens" in row for row in rows)
    code, out, _ = _main(["replay", str(long_body_run.folder / "report.json"), "-q"])
    assert code == 0, out
    assert rows and all(
        row.rstrip().endswith("passes (HTTP 200)")
        for row in out.splitlines()
        if row.startswith("usage_total_is_sum ")
    )
    assert token_env not in out


def test_replay_waits_out_a_rate_limiter_and_never_judges_a_busy_answer(
    long_body_run: Run, server: MutationServer, token_env: str
) -> None:
    """Behind a gateway that answers every other request 429, the replay gives the same
    verdicts (the busy answers waited out); behind one that answers nothing else, every case is
    inconclusive, none fails."""
    limiter = RateLimiter(server.app, every=2, rate=100, retry="ms")
    with server.mutated(LONG_BODY_BUG), running_server(limiter) as url:
        code, out, _ = _main(["replay", str(long_body_run.folder), "--base-url", url, "-q"])
    assert code == 1, out
    assert limiter.busy > 0
    rows = [line for line in out.splitlines() if line.startswith("usage_total_is_sum ")]
    assert rows and all("FAIL: usage.total_tokens" in row for row in rows)
    storm = RateLimiter(server.app, storm=1.0, rate=1000, retry="ms")
    with server.mutated(LONG_BODY_BUG), running_server(storm) as url:
        code, out, _ = _main(["replay", str(long_body_run.folder), "--base-url", url, "-q"])
    rows = [line for line in out.splitlines() if line.startswith("usage_total_is_sum ")]
    assert rows and all("inconclusive: rate-limited: answered 429" in row for row in rows), out
    # nothing could be judged again: not "fixed", and nothing still fails
    assert code == 1 and "STILL FAILS" not in out, out
    assert out.splitlines()[-1].startswith("NOT JUDGED: ")


def test_replay_reruns_a_failed_property(
    property_run: Run, server: MutationServer, token_env: str
) -> None:
    assert property_run.code == 1
    assert _result(_report(property_run), "truncation_keeps_newest_turns")["verdict"] == "failed"
    with server.mutated(PROPERTY_BUG):
        code, out, _ = _main(["replay", str(property_run.folder), "-q"])
    assert code == 1, out
    row = next(line for line in out.splitlines() if line.startswith("truncation_keeps_newest"))
    assert "property re-run" in row and "FAIL" in row.split("FAIL", 1)[1]
    code, out, _ = _main(["replay", str(property_run.folder), "-q"])
    assert code == 0, out
    row = next(line for line in out.splitlines() if line.startswith("truncation_keeps_newest"))
    assert "passes" in row
    assert token_env not in out


def test_replay_through_the_installed_command(long_body_run: Run, server: MutationServer) -> None:
    command = Path(sys.executable).with_name("chat-text-conformance")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_TEXT_")}
    proc = subprocess.run(
        [str(command), "replay", str(long_body_run.folder), "-q"],
        env={**env, "CHAT_TEXT_API_KEY": server.token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FIXED" in proc.stdout


def _request(body: Any, *, auth: str | None = "Bearer $CHAT_TEXT_API_KEY") -> dict[str, Any]:
    headers = [["Content-Type", "application/json"]]
    if auth is not None:
        headers.append(["Authorization", auth])
    return {
        "method": "POST",
        "path": "/inference/chat_text",
        "headers": headers,
        "body": body if isinstance(body, str) else json.dumps(body),
    }


def _handmade(base_url: str, *failures: tuple[str, dict[str, Any] | None]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for name, request in failures:
        entry = results.setdefault(name, {"name": name, "failed": 0, "failures": []})
        entry["failed"] += 1
        entry["failures"].append({"check": name, "message": f"{name} failed", "request": request})
    return {
        "base_url": base_url,
        "model": MODEL,
        "level": "semantic",
        "seed": 0,
        "max_examples": 1,
        "workers": 1,
        "results": list(results.values()),
    }


def test_replay_judges_builtin_rules_by_status(
    server: MutationServer, token_env: str, tmp_path: Path
) -> None:
    valid = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2}
    report = _handmade(
        server.base_url,
        ("status_code_conformance", _request(valid)),
        ("positive_data_acceptance", _request(valid)),
        ("negative_data_rejection", _request({"model": MODEL, "messages": []})),
        ("not_a_server_error", _request("[1, 2]")),
        ("ignored_auth", _request(valid, auth="Bearer wrong-token-123")),
        ("missing_required_header", _request(valid, auth=None)),
        ("content_type_conformance", _request({**valid, "stream": True})),
        ("response_headers_conformance", _request(valid, auth=None)),
        ("response_schema_conformance", _request({**valid, "stream": False})),
        ("a_rule_of_a_newer_suite", _request(valid)),
        ("sdk_parses_responses", None),
        ("after_run", None),
    )
    path = tmp_path / "handmade.json"
    path.write_text(json.dumps(report))
    code, out, _ = _main(["replay", str(path), "-q"])
    assert code == 0, out
    now = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    for rule in (
        "status_code_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
        "not_a_server_error",
        "ignored_auth",
        "missing_required_header",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ):
        assert "passes" in now[rule], now[rule]
    assert "not re-judged: re-sent: HTTP 200" in now["a_rule_of_a_newer_suite"]
    assert "not replayable: a client rule" in now["sdk_parses_responses"]
    assert "not replayable: the report kept no request" in now["after_run"]
    with server.mutated(next(m for m in MUTATIONS if m.name == "success_is_201")):
        code, out, _ = _main(["replay", str(path), "-q"])
    assert code == 1
    assert "STILL FAILS status_code_conformance: Undocumented status code" in out
    assert "Received: 201" in out
    with server.mutated(next(m for m in MUTATIONS if m.name == "no_www_authenticate")):
        code, out, _ = _main(["replay", str(path), "-q"])
    assert code == 1
    assert "STILL FAILS response_headers_conformance: Missing required response headers" in out
    assert "STILL FAILS status_code" not in out


# --- usage errors -------------------------------------------------------------------------------


def _replay_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["replay", *argv]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "chat-text-conformance replay: error:" in err
    return err


def test_replay_of_a_missing_report(
    tmp_path: Path, token_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no such report" in _replay_error([str(tmp_path / "nope.json")], capsys)
    assert "no report.json" in _replay_error([str(tmp_path)], capsys)
    (tmp_path / "bad.json").write_text("{not json")
    assert "not a readable JSON report" in _replay_error([str(tmp_path / "bad.json")], capsys)
    (tmp_path / "other.json").write_text('{"hello": 1}')
    assert "not a chat-text-conformance report" in _replay_error(
        [str(tmp_path / "other.json")], capsys
    )


def test_replay_without_a_token(
    long_body_run: Run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHAT_TEXT_API_KEY", raising=False)
    assert "needs the token" in _replay_error([str(long_body_run.folder)], capsys)


def test_replay_against_an_unreachable_server(
    long_body_run: Run, token_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(long_body_run.folder), "--base-url", "http://127.0.0.1:9"]
    assert "cannot reach http://127.0.0.1:9" in _replay_error(argv, capsys)


def test_replay_of_a_report_without_failures(
    tmp_path: Path, server: MutationServer, token_env: str
) -> None:
    path = tmp_path / "clean.json"
    path.write_text(json.dumps(_handmade(server.base_url)))
    code, out, _ = _main(["replay", str(path)])
    assert code == 0
    assert "nothing to replay" in out


def test_replay_help_and_the_flat_form_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["replay", "--help"])
    assert info.value.code == 0
    assert "REPORT" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--report-dir" in out and "replay REPORT" in out
