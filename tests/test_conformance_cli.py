"""``chat-text-conformance``: exit codes, reports, redaction, and the two other ways in: a plain
``st run`` with the repository's ``schemathesis.toml``, and the pytest plugin."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_text_conformance.cli import main

from chat_text_server import create_app
from chat_text_server.testing import running_server

ROOT = Path(__file__).resolve().parent.parent
# Subprocess runs cost seconds of start-up each on a shared machine: the default run keeps the
# ones that prove a claim on their own; the rest run in `tox -e conformance-full`.
full_only = pytest.mark.skipif(
    not os.environ.get("CHAT_TEXT_CONFORMANCE_FULL"),
    reason="set CHAT_TEXT_CONFORMANCE_FULL=1 (tox -e conformance-full)",
)
TOKEN = "cli-test-token-9c2e"
MODEL = "chat-text-mini"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(create_app([TOKEN])) as url:
        yield url


def _env(**extra: str) -> dict[str, str]:
    """This environment without the suite's variables, and with pytest's plugin autoloading on
    (as users run pytest: the plugin must load from its entry point)."""
    unset = ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_TEXT_") and k not in unset}
    env.update(extra)
    return env


# --- the CLI ------------------------------------------------------------------------------------


def test_embedded_run_passes_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    argv = ["--max-examples", "3", "--seed", "1", "--junit-xml", str(junit)]
    code = main([*argv, "--report-json", str(report), "--level", "schema"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "PASSED" in out
    assert "not_a_server_error" in out
    assert "[conformance]" in err  # progress lines
    data = json.loads(report.read_text())
    assert data["ok"] is True
    assert data["level"] == "schema"
    assert data["cases"] > 0
    assert data["base_url"].startswith("http://127.0.0.1:") and data["model"] == MODEL
    assert {r["verdict"] for r in data["results"]} <= {"passed", "not exercised", "inconclusive"}
    suite = ET.fromstring(junit.read_text())  # noqa: S314 - our own file
    cases = suite.findall("testcase")
    assert len(cases) == len(data["results"])
    assert suite.get("failures") == "0"


def test_wrong_token_exits_2_with_a_clear_message(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--base-url", server, "--token", "wrong-token-xyz", "--model", MODEL, "-q"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "rejected the token" in out
    assert "wrong-token-xyz" not in out + err


def test_token_from_environment(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TEXT_API_KEY", TOKEN)
    argv = ["--base-url", server, "--model", MODEL, "--level", "schema", "--max-examples", "2"]
    code = main([*argv, "--seed", "0", "-q"])
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert TOKEN not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--base-url", "http://127.0.0.1:9", "--model", MODEL],  # no token anywhere
        ["--base-url", "http://127.0.0.1:9", "--token", "t"],  # no model
        ["--base-url", "ftp://example", "--token", "t", "--model", MODEL],
        ["--model", "no-such-model"],  # embedded server has no such model
        ["--token", "t"],  # a token without a server
        ["--junit-xml", "/no/such/folder/junit.xml"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "-q"]) == 2
    _, err = capsys.readouterr()
    assert "error:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["--max-examples", "0"], ["--level", "loose"], ["--seed", "x"]])
def test_bad_option_values_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_unreachable_server_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(create_app([TOKEN])) as url:
        pass  # closed again
    code = main(["--base-url", url, "--token", TOKEN, "--model", MODEL, "-q"])
    out, _ = capsys.readouterr()
    assert code == 2
    assert "cannot reach" in out


def _created_in_milliseconds(app: Any) -> Any:
    """A realistic bug: ``created`` in milliseconds in non-streamed answers."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            data = bytes(body)
            if start["status"] == 200 and data.startswith(b"{"):
                doc = json.loads(data)
                doc["created"] = int(doc["created"]) * 1000
                data = json.dumps(doc).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await app(scope, receive, capture if scope["type"] == "http" else send)

    return wrapped


def test_broken_server_exits_1_with_a_redacted_curl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    with running_server(_created_in_milliseconds(create_app([TOKEN]))) as url:
        argv = ["--base-url", url, "--token", TOKEN, "--model", MODEL, "--max-examples", "3"]
        code = main([*argv, "--seed", "1", "--report-json", str(report), "-q"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "FAILED created_is_unix_seconds" in out
    assert "(milliseconds?)" in out
    assert "reproduce:" in out
    assert "curl -sS -N -X POST" in out
    assert '"Authorization: Bearer $CHAT_TEXT_API_KEY"' in out
    assert TOKEN not in out + report.read_text()
    data = json.loads(report.read_text())
    assert data["ok"] is False
    failed = next(r for r in data["results"] if r["name"] == "created_is_unix_seconds")
    assert failed["verdict"] == "failed"
    first = failed["failures"][0]
    assert first["expected"] and first["actual"] and first["reproducer"].startswith("curl ")
    assert first["request"]["headers"] and TOKEN not in json.dumps(first["request"])


def test_client_mode_takes_no_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--client", "--base-url", "http://127.0.0.1:9", "-q"]) == 2


def test_client_mode_takes_no_fail_fast(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--client", "--fail-fast", "-q"]) == 2
    assert "error: --fail-fast" in capsys.readouterr().err


def test_client_mode_runs_the_client_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--client", "--max-examples", "1", "--seed", "0", "-q"])
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert "level client" in out
    assert " client " in out  # the check group column


# --- st run with the repository's schemathesis.toml ---------------------------------------------


def _st_run(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "run", "openapi.yaml", "--url", url]
    return subprocess.run(
        [*command, "--max-examples", "3", "--seed", "1", "--no-color"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
@full_only
def test_st_run_passes_with_the_token_from_the_environment(server: str) -> None:
    proc = _st_run(server, _env(CHAT_TEXT_API_KEY=TOKEN, CHAT_TEXT_MODEL=MODEL))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "No issues found" in proc.stdout


@pytest.mark.slow
@full_only
def test_st_run_fails_on_a_wrong_token(server: str) -> None:
    proc = _st_run(server, _env(CHAT_TEXT_API_KEY="wrong", CHAT_TEXT_MODEL=MODEL))
    assert proc.returncode == 1, proc.stdout[-3000:]


def test_st_run_uses_the_per_response_checks_and_passes_the_rest(server: str) -> None:
    """One `st run` with the token from the environment and a context window declared smaller
    than the real one: exactly the window-dependent custom checks fail (proof that `st run`
    ran the suite's checks), every built-in check passes."""
    env = _env(CHAT_TEXT_API_KEY=TOKEN, CHAT_TEXT_MODEL=MODEL, CHAT_TEXT_CONTEXT_LENGTH="10")
    proc = _st_run(server, env)
    assert proc.returncode == 1
    summary = proc.stdout[proc.stdout.index("Failures:") :].split("\n\n")[0]
    failure_lines = [line for line in summary.splitlines() if re.search(r"\bST\d{3}\b", line)]
    assert failure_lines, summary
    window_checks = ("usage_within_context_window", "finish_reason_matches_usage")
    for line in failure_lines:
        assert any(f"`{name}`" in line for name in window_checks), summary


# --- the pytest plugin --------------------------------------------------------------------------


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_team.py").write_text("def test_their_own():\n    pass\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, "test_team.py"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_pytest_plugin_is_inert_unless_enabled(request: pytest.FixtureRequest) -> None:
    """The plugin is loaded in this very run (entry point), and added nothing to it."""
    assert request.config.pluginmanager.has_plugin("chat_text_conformance")
    assert request.config.getoption("--chat-text-base-url") is None
    assert not request.config.getoption("--chat-text-embedded")
    assert not [item for item in request.session.items if "chat-text-conformance" in item.name]


@pytest.mark.slow
@full_only
def test_pytest_plugin_adds_one_test_per_check(server: str, tmp_path: Path) -> None:
    args = ["--chat-text-base-url", server, "--chat-text-token", TOKEN, "--chat-text-model", MODEL]
    proc = _pytest(tmp_path, *args, "--chat-text-level", "schema", "--chat-text-max-examples", "2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    passed = int(proc.stdout.strip().splitlines()[-1].split()[0])
    assert passed > 10  # the team's own test plus one per check
    assert "1 passed" not in proc.stdout


def test_pytest_plugin_fails_on_a_wrong_token(server: str, tmp_path: Path) -> None:
    args = ["--chat-text-base-url", server, "--chat-text-token", "nope", "--chat-text-model", MODEL]
    proc = _pytest(tmp_path, *args, "-rf")
    assert proc.returncode == 1
    assert "rejected the token" in proc.stdout


# --- the Prism mock -----------------------------------------------------------------------------


@pytest.mark.slow
@full_only
@pytest.mark.skipif(
    shutil.which("npm") is None,
    reason="Prism needs npm (it is installed in tools/prism on first use)",
)
def test_schema_level_against_prism_fails_only_where_a_mock_must() -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "chat_text_testkit.prism"),
            *("--max-examples", "3", "--seed", "1", "--request-timeout", "3", "-q"),
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "every other schema-level check passed against the mock" in proc.stdout
    assert "response_schema_conformance" in proc.stdout


# --- every command: a usage error or a crash is one line and exit 2, never a traceback -----------


def test_run_command_turns_every_error_into_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from chat_text_conformance._argtypes import DEBUG_ENV, UsageError, run_command

    parser = argparse.ArgumentParser(prog="tool")

    def raising(error: BaseException) -> Callable[[], int]:
        def body() -> int:
            raise error

        return body

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run_command("tool", parser, lambda: 0) == 0
    assert run_command("tool", parser, raising(UsageError("--flag: bad"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tool") and "tool: error: --flag: bad" in err
    assert run_command("tool", parser, raising(KeyboardInterrupt())) == 2
    assert capsys.readouterr().err == "tool: interrupted\n"
    secret = "sk-secret-token-123"
    code = run_command(
        "tool",
        parser,
        raising(RuntimeError(f"boom {secret}")),
        redact=lambda t: t.replace(secret, "***"),
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "tool: error: RuntimeError: boom ***" in err and secret not in err
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        run_command("tool", parser, raising(RuntimeError("boom")))


@pytest.mark.parametrize(
    ("module", "body", "argv"),
    [
        ("chat_text_conformance.cli", "_execute", []),
        ("chat_text_conformance.proxy.cli", "run", ["proxy", "--upstream", "http://127.0.0.1:9"]),
        ("chat_text_conformance.load.cli", "run", ["load"]),
        ("chat_text_conformance.replay", "run", ["replay", "report.json"]),
        ("chat_text_conformance.clients.matrix.cli", "_execute", ["clients"]),
    ],
)
def test_every_command_reports_a_crash_in_one_line(
    module: str,
    body: str,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    from chat_text_conformance._argtypes import DEBUG_ENV
    from chat_text_conformance.cli import main as suite_main

    def crash(*args: object, **kwargs: object) -> int:
        raise RuntimeError("an unexpected fault")

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr(importlib.import_module(module), body, crash)
    assert suite_main(argv) == 2
    err = capsys.readouterr().err
    assert "error: RuntimeError: an unexpected fault" in err and "Traceback" not in err
