"""Fuzz the reference server with schemathesis: positive and negative cases, no 5xx allowed.

Starts ``chat-text-server`` on a free 127.0.0.1 port (its own process, access log off), runs
``st run openapi.yaml`` against it with an explicit config (the repository's
``schemathesis.toml`` belongs to the conformance suite and is not used here) and the hooks in
``chat_text_testkit.fuzz_hooks``, then stops the server. Exit status 0 when every check passed,
no response was a 5xx and at least ``--cases`` cases were generated; 1 otherwise.

Checks: ``not_a_server_error`` (never a 5xx), ``status_code_conformance``,
``content_type_conformance``, ``response_headers_conformance`` (e.g. ``WWW-Authenticate``
on 401) and ``negative_data_rejection`` (every invalid request refused with a 4xx).

Usage: ``python scripts/fuzz_server.py [--cases 10000] [--seed N] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "fuzz-token"  # noqa: S105 - a throwaway token for the local server under test
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,negative_data_rejection"
)
CONFIG = """
hooks = "chat_text_testkit.fuzz_hooks"
request-timeout = 30

[generation]
mode = "all"
max-examples = {max_examples}

[cache]
enabled = false

[warnings]
fail-on = ["missing_auth"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "404", "405", "413", "415"]

[output.sanitization]
sensitive-markers = ["secret", "password", "authorization", "credential"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"fuzz: the server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("fuzz: the server did not start")


def run_st(
    port: int, tmp: Path, phases: str, mode: str, examples: int, args: argparse.Namespace
) -> tuple[int, str]:
    """One ``st run``; returns its exit status and output."""
    config = tmp / f"schemathesis-{mode}.toml"
    config.write_text(CONFIG.format(max_examples=max(1, examples)))
    st = [
        str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run",
        str(ROOT / "openapi.yaml"), "--url", f"http://127.0.0.1:{port}",
        "-H", f"Authorization: Bearer {TOKEN}", "--checks", CHECKS,
        "--phases", phases, "--mode", mode, "--workers", args.workers,
        "--continue-on-failure", "--no-color",
    ]  # fmt: skip
    if args.seed is not None:
        st += ["--seed", str(args.seed)]
    env = {**os.environ, "FUZZ_SERVER_STATS": str(tmp / "statuses.txt")}
    print(f"fuzz: st run --phases {phases} --mode {mode} ({examples} examples) ...", flush=True)
    done = subprocess.run(st, cwd=tmp, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=10_000, help="least cases to generate")
    parser.add_argument("--seed", type=int, help="schemathesis seed (default: random)")
    parser.add_argument("--workers", default="2", help="schemathesis workers (default 2)")
    args = parser.parse_args(argv)
    # A SIGTERM (e.g. from a timeout) still stops the server: the finally block below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    port = free_port()
    server_cli = Path(sys.executable).parent / "chat-text-server"
    command = [str(server_cli)] if server_cli.exists() else [
        sys.executable, "-m", "chat_text_server.cli"]  # fmt: skip
    server = subprocess.Popen(
        [*command, "--port", str(port), "--token", TOKEN, "--log-level", "warning"],
        cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_listening(port, server)
        statuses: Counter[str] = Counter()
        total = 0
        failed = 0
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            # The fuzzing phase in mode "all" is pathologically slow in schemathesis 4.32.5
            # (minutes for a few hundred cases), so: examples + coverage in mode "all", then
            # fuzzing once per mode, half of the cases each.
            passes = [
                ("examples,coverage", "all", args.cases),
                ("fuzzing", "positive", args.cases // 2),
                ("fuzzing", "negative", args.cases - args.cases // 2),
            ]
            for phases, mode, examples in passes:
                status, output = run_st(port, tmp, phases, mode, examples, args)
                print(output)
                total += sum(int(n) for n in re.findall(r"(\d+) generated", output))
                failed += status != 0
            stats = tmp / "statuses.txt"
            if stats.exists():
                statuses.update(stats.read_text().split())
        print(f"fuzz: {total} test cases generated (asked for at least {args.cases})")
        print("fuzz: responses by status: " + ", ".join(
            f"{code}: {n}" for code, n in sorted(statuses.items())))  # fmt: skip
        if any(code.startswith("5") for code in statuses):
            print("fuzz: FAILED: the server answered 5xx")
            return 1
        if server.poll() is not None:
            print(f"fuzz: FAILED: the server died (status {server.returncode})")
            return 1
        if failed:
            print(f"fuzz: FAILED: {failed} schemathesis run(s) reported failures (see above)")
            return 1
        if total < args.cases:
            print("fuzz: FAILED: fewer cases than asked for")
            return 1
        print("fuzz: OK")
        return 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(20)


if __name__ == "__main__":
    sys.exit(main())
