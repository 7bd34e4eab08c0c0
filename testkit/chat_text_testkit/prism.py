"""Run the schema-only level against the Prism mock of ``openapi.yaml`` (``tox -e prism``).

Starts ``npx --no-install prism mock openapi.yaml`` on a free loopback port, waits until it
listens, runs ``chat-text-conformance --level schema`` against it, stops Prism and exits with
the suite's exit code. What a mock cannot pass (it answers from examples, not from a model)
is beyond the schema level by design; a schema-level failure here points at the spec.

    python -m chat_text_testkit.prism [extra chat-text-conformance options]

A repository tool (Prism is pinned in ``tools/prism``): test support, not in the shipped package.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from chat_text_conformance.cli import EXIT_FAILED, EXIT_OK, EXIT_SETUP
from chat_text_conformance.cli import main as conformance_main

import chat_text_spec

__all__ = ["main", "prism_mock"]

_START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


PRISM_DIR = Path("tools") / "prism"
"""Where Prism is pinned (its own package.json and lock, apart from the tools CI installs),
relative to the project folder."""


def prism_command(root: Path) -> list[str]:
    """The pinned Prism under ``root`` (``tools/prism``), installed there with ``npm ci`` when
    it is missing."""
    folder = root / PRISM_DIR
    prism = folder / "node_modules" / ".bin" / "prism"
    if not prism.exists():
        npm = shutil.which("npm")
        if npm is None or not (folder / "package-lock.json").is_file():
            raise RuntimeError(f"cannot install Prism: needs npm and {folder}/package-lock.json")
        print(f"[prism] npm ci in {folder}", file=sys.stderr, flush=True)
        args = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(args, cwd=folder, check=True)
    return [str(prism)]


@contextlib.contextmanager
def prism_mock(spec: Path, *, cwd: Path) -> Iterator[str]:
    """Prism mocking ``spec`` on a free 127.0.0.1 port; yields its base URL, stops it after."""
    port = _free_port()
    command = [*prism_command(cwd), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: npx starts node as a child
    )
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not _listening(port):
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"prism exited with {process.returncode}: {error[-1000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prism did not listen on port {port} within {_START_TIMEOUT}s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


MOCK_LIMITATIONS = {
    "ignored_auth": "a mock accepts any bearer token: it cannot know which tokens are valid",
    "allow_header_conformance": "Prism answers undeclared methods 405 without an Allow header",
    "server_answers_every_request": (
        "Prism 5.16 never answers a body that is not JSON (`{`, a NUL byte): the spec says 400"
    ),
}
"""Checks a mock cannot pass whatever the spec says; reported, but they do not fail this env."""


def main(argv: Sequence[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    spec = chat_text_spec.spec_path()
    try:
        # the pinned Prism is in ./tools/prism: run from the project folder (tox does)
        with tempfile.TemporaryDirectory() as tmp, prism_mock(spec, cwd=Path.cwd()) as url:
            print(f"[prism] mocking {spec.name} at {url}", file=sys.stderr, flush=True)
            report_path = Path(tmp) / "report.json"
            code = conformance_main(
                [
                    *("--base-url", url, "--token", "prism-accepts-any-token"),
                    *("--model", _first_example_model(), "--level", "schema"),
                    *("--report-json", str(report_path), *extra),
                ]
            )
            if code != EXIT_FAILED or not report_path.is_file():
                return code
            report = json.loads(report_path.read_text())
    except RuntimeError as exc:
        print(f"[prism] error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    failed = {r["name"] for r in report["results"] if not r["ok"]}
    if report["setup_error"] or not failed <= set(MOCK_LIMITATIONS):
        print(f"[prism] FAILED beyond the mock's limits: {sorted(failed - set(MOCK_LIMITATIONS))}")
        return EXIT_FAILED
    for name in sorted(failed):
        print(f"[prism] expected with a mock: {name} failed ({MOCK_LIMITATIONS[name]})")
    print("[prism] every other schema-level check passed against the mock")
    return EXIT_OK


def _first_example_model() -> str:
    from chat_text_conformance.st_hooks import default_model

    return default_model()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
