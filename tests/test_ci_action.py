"""The GitHub Action (``action.yml``): its one script, ``scripts/ci/conformance.sh``, run here the
way the action's step runs it (inputs in ``CHAT_TEXT_ACTION_*`` and ``CHAT_TEXT_API_KEY``), against
the reference server; the kit is installed already (``CHAT_TEXT_ACTION_SKIP_INSTALL=1``).

Each run is kept small with a request budget (a few seconds); what the suite judges is tested
elsewhere: here, the exit codes, the report folder, the step outputs and that the token is in
no output and no file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from chat_text_testkit.mutations import MUTATIONS, MutationServer, mutation_server

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "scripts" / "ci" / "conformance.sh"
# A small run: the schema level, one example, at most 40 requests (about 2 s here).
SMALL = "--max-examples 1 --seed 1 --max-requests 40 -q"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def action() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


# --- action.yml --------------------------------------------------------------------------


def test_action_runs_one_script_with_every_input_in_its_environment() -> None:
    spec = action()
    inputs = spec["inputs"]
    assert {"base-url", "token", "model", "level", "workers", "report-dir", "args"} <= set(inputs)
    assert inputs["base-url"]["required"] and inputs["token"]["required"]
    assert inputs["report-dir"]["default"] == "chat-text-report"
    steps = spec["runs"]["steps"]
    assert spec["runs"]["using"] == "composite"
    setup = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    runs = [s for s in steps if "run" in s]
    assert len(setup) == 1 and len(upload) == 1 and len(runs) == 1
    for step in (*setup, *upload):  # pinned to a major version or a commit
        assert re.fullmatch(r"[\w-]+/[\w-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step["uses"]
    [run] = runs
    assert run["shell"] == "bash"
    assert run["run"] == 'bash "$CHAT_TEXT_ACTION_PATH/scripts/ci/conformance.sh"'
    assert "${{" not in run["run"], "inputs reach the script through env only (no injection)"
    env = run["env"]
    assert env["CHAT_TEXT_ACTION_PATH"] == "${{ github.action_path }}"
    assert env["CHAT_TEXT_API_KEY"] == "${{ inputs.token }}"
    # every input but the action's own (Python, artifact) reaches the script by its name
    script = SCRIPT.read_text(encoding="utf-8")
    for name in set(inputs) - {"token", "python-version", "artifact-name"}:
        variable = "CHAT_TEXT_ACTION_" + name.upper().replace("-", "_")
        assert env[variable] == f"${{{{ inputs.{name} }}}}", name
        assert variable in script, f"{variable} is set by action.yml but not read by the script"
    assert setup[0]["with"]["python-version"] == "${{ inputs.python-version }}"
    assert upload[0]["if"] == "always()"
    assert upload[0]["with"]["path"] == "${{ inputs.report-dir }}"
    assert steps.index(setup[0]) < steps.index(run) < steps.index(upload[0])
    assert (
        spec["outputs"]["exit-code"]["value"] == f"${{{{ steps.{run['id']}.outputs.exit-code }}}}"
    )


# --- the script ---------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report_dir: Path
    outputs: dict[str, str]
    summary: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="module")
def server() -> Iterator[MutationServer]:
    with mutation_server() as started:
        yield started


def run_action(
    tmp_path: Path, *, token: str, base_url: str, model: str, extra_path: str = "", **inputs: str
) -> Run:
    """scripts/ci/conformance.sh as the action's step runs it (in a fresh working folder)."""
    work = tmp_path / "workspace"
    work.mkdir()
    github_output, step_summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CHAT_TEXT_", "GITHUB_"))
    }
    env |= {
        "PATH": os.pathsep.join(
            p for p in (extra_path, str(Path(sys.executable).parent), env.get("PATH")) if p
        ),
        "PYTHON": sys.executable,
        "CHAT_TEXT_ACTION_SKIP_INSTALL": "1",
        "CHAT_TEXT_ACTION_PATH": str(ROOT),
        "CHAT_TEXT_API_KEY": token,
        "CHAT_TEXT_ACTION_BASE_URL": base_url,
        "CHAT_TEXT_ACTION_MODEL": model,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(github_output),
        "GITHUB_STEP_SUMMARY": str(step_summary),
    }
    env |= {"CHAT_TEXT_ACTION_" + k.upper(): v for k, v in inputs.items()}
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    outputs = {}
    if github_output.exists():
        outputs = dict(
            line.split("=", 1) for line in github_output.read_text().splitlines() if line
        )
    summary = step_summary.read_text() if step_summary.exists() else ""
    report_dir = work / inputs.get("report_dir", "chat-text-report")
    return Run(proc.returncode, proc.stdout, proc.stderr, report_dir, outputs, summary)


def assert_token_nowhere(result: Run, token: str) -> None:
    """The token is in no output line but the mask command, and in no file of the report."""
    lines = result.output.splitlines()
    assert [line for line in lines if token in line] == [f"::add-mask::{token}"]
    assert lines[0] == f"::add-mask::{token}", "the token is masked before anything else"
    assert token not in result.summary
    for path in result.report_dir.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(encoding="utf-8", errors="replace"), path


def test_a_passing_run(tmp_path: Path, server: MutationServer) -> None:
    result = run_action(
        tmp_path,
        token=server.token,
        base_url=server.base_url,
        model=server.model,
        level="schema",
        args=SMALL.replace("--seed 1", "'--seed' \"1\""),  # quotes are split as a shell would
    )
    assert result.code == 0, result.output
    assert "PASSED:" in result.stdout
    assert {"report.json", "junit.xml"} <= {p.name for p in result.report_dir.iterdir()}
    report = json.loads((result.report_dir / "report.json").read_text())
    assert report["ok"] is True
    assert (report["level"], report["seed"], report["workers"]) == ("schema", 1, "auto")
    assert (report["base_url"], report["model"]) == (server.base_url, server.model)
    assert "<testsuite" in (result.report_dir / "junit.xml").read_text()
    assert (result.report_dir / "report.html").is_file()
    counts = {key: result.outputs.pop(key) for key in list(result.outputs) if key != "exit-code"}
    assert result.outputs == {"exit-code": "0"}
    # the four verdicts counted apart, as in report.json
    assert counts == {
        "report-dir": "chat-text-report",
        "checks-passed": str(report["checks_passed"]),
        "checks-failed": "0",
        "checks-not-exercised": str(report["checks_not_exercised"]),
        "checks-inconclusive": str(report["checks_inconclusive"]),
        "rate-limited": "0",
    }
    assert int(counts["checks-passed"]) > 0
    assert result.summary.startswith("### chat-text conformance: exit 0")
    assert "PASSED:" in result.summary
    assert_token_nowhere(result, server.token)


def test_a_failing_run_exits_1_with_its_report(tmp_path: Path, server: MutationServer) -> None:
    [success_is_201] = [m for m in MUTATIONS if m.name == "success_is_201"]
    with server.mutated(success_is_201):
        result = run_action(
            tmp_path,
            token=server.token,
            base_url=server.base_url,
            model=server.model,
            level="schema",
            report_dir="out/report",
            args=f"{SMALL} --fail-fast",  # what a CI gate may want: the first failure, sooner
        )
    assert result.code == 1, result.output
    report = json.loads((result.report_dir / "report.json").read_text())
    failed = {r["name"] for r in report["results"] if r["verdict"] == "failed"}
    assert "status_code_conformance" in failed
    assert any(note.startswith("fail fast:") for note in report["notes"])
    assert "$CHAT_TEXT_API_KEY" in (result.report_dir / "report.json").read_text()
    assert 'failures="0"' not in (result.report_dir / "junit.xml").read_text()
    assert result.outputs["exit-code"] == "1" and result.outputs["report-dir"] == "out/report"
    assert int(result.outputs["checks-failed"]) >= 1
    assert_token_nowhere(result, server.token)


def test_a_rejected_token_is_a_setup_error(tmp_path: Path, server: MutationServer) -> None:
    wrong = "wrong-token-" + "x" * 24
    result = run_action(
        tmp_path, token=wrong, base_url=server.base_url, model=server.model, args=SMALL
    )
    assert result.code == 2, result.output
    assert "401" in result.output
    assert result.outputs["exit-code"] == "2"
    assert_token_nowhere(result, wrong)


def test_inputs_become_the_suites_options(tmp_path: Path) -> None:
    """Every input maps to its option (a recording chat-text-conformance first on PATH), the
    token only to the environment, and the suite's exit status is the step's."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "argv.json"
    fake = fake_bin / "chat-text-conformance"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'token': os.environ.get('CHAT_TEXT_API_KEY')}},"
        f" open({str(record)!r}, 'w'))\n"
        "print('FAILED: 1 check failed')\n"
        "sys.exit(1)\n"
    )
    fake.chmod(0o755)
    token = "t0k3n-in-the-environment-only"
    result = run_action(
        tmp_path,
        token=token,
        base_url="https://llm.example.com",
        model="my model",
        context_length="8192",
        level="strict",
        workers="8",
        report_dir="reports/run 1",
        args="--seed 7 --max-requests 300 --max-time '60'",
        extra_path=str(fake_bin),
    )
    assert result.code == 1, result.output
    recorded = json.loads(record.read_text())
    assert recorded["token"] == token
    assert recorded["argv"] == [
        "--base-url", "https://llm.example.com", "--model", "my model",
        "--report-dir", "reports/run 1", "--context-length", "8192", "--level", "strict",
        "--workers", "8", "--seed", "7", "--max-requests", "300", "--max-time", "60",
    ]  # fmt: skip
    assert result.outputs == {"exit-code": "1", "report-dir": "reports/run 1"}
    assert "### chat-text conformance: exit 1" in result.summary
    assert_token_nowhere(result, token)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"base_url": ""}, "the input base-url is empty"),
        ({"token": ""}, "the input token is empty"),
        ({"model": ""}, "the input model is empty"),
        ({"args": "--seed 'unterminated"}, "the input args cannot be split"),
        ({"args": "--token abc"}, "pass the token with the input token, not in args"),
        ({"skip_install": "0", "path": "/nonexistent"}, "CHAT_TEXT_ACTION_PATH must be"),
    ],
)
def test_bad_inputs_exit_2_naming_the_input(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    given = {"token": "t0k3n-not-sent-anywhere", "base_url": "http://127.0.0.1:9", "model": "m"}
    given |= inputs
    token, base_url, model = given.pop("token"), given.pop("base_url"), given.pop("model")
    result = run_action(tmp_path, token=token, base_url=base_url, model=model, **given)
    assert result.code == 2, result.output
    assert f"chat-text action: error: {message}" in result.stderr
    assert result.outputs == {}, "nothing ran"
