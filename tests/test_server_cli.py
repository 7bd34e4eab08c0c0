"""``chat-text-server`` as a real subprocess: refuses to run without a token, serves,
and on SIGTERM finishes the request in flight before exiting 0. Every wait is bounded."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

WAIT = 20.0
PATH = "/inference/chat_text"
BODY = {"model": "chat-text-mini", "messages": [{"role": "user", "content": "hello"}]}


def command() -> list[str]:
    script = Path(sys.executable).parent / "chat-text-server"
    if script.exists():
        return [str(script)]
    found = shutil.which("chat-text-server")
    return [found] if found else [sys.executable, "-m", "chat_text_server.cli"]


class Server:
    """A ``chat-text-server`` subprocess whose stderr lines are collected in the background."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k != "CHAT_TEXT_TOKENS"}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [*command(), "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"never saw {pattern!r}; stderr so far: {''.join(self.seen)}")

    def base_url(self) -> str:
        match = self.wait_for(r"running on (http://127\.0\.0\.1:\d+)")
        return match.group(1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(WAIT)
        finally:
            if self.proc.poll() is None:  # pragma: no cover - only when stuck
                self.proc.kill()
                self.proc.wait(WAIT)
            self._reader.join(WAIT)


@pytest.fixture
def server_factory() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_it_refuses_to_start_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHAT_TEXT_TOKENS"}
    done = subprocess.run(
        [*command(), "--port", "0"], capture_output=True, text=True, timeout=WAIT, env=env
    )
    assert done.returncode == 2
    assert "no bearer token configured" in done.stderr
    assert "CHAT_TEXT_TOKENS" in done.stderr


def test_help_lists_the_options() -> None:
    done = subprocess.run([*command(), "--help"], capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0
    for option in ("--host", "--port", "--token"):
        assert option in done.stdout


def test_it_serves_tokens_from_flags_and_environment_and_stops_on_sigterm(
    server_factory: list[Server],
) -> None:
    server = Server("--token", "flag-token", env={"CHAT_TEXT_TOKENS": "env-one, env-two"})
    server_factory.append(server)
    url = server.base_url() + PATH
    for token, status in [("flag-token", 200), ("env-one", 200), ("env-two", 200), ("no", 401)]:
        response = httpx.post(url, json=BODY, headers={"Authorization": f"Bearer {token}"},
                              timeout=WAIT)  # fmt: skip
        assert response.status_code == status
    assert server.stop() == 0
    assert not any("flag-token" in line or "env-one" in line for line in server.seen)


def test_sigterm_lets_the_request_in_flight_finish(server_factory: list[Server]) -> None:
    server = Server("--token", "t")
    server_factory.append(server)
    host, port = server.base_url().removeprefix("http://").split(":")
    body = json.dumps(BODY).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer t\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=WAIT) as sock:
        sock.sendall(head)
        # uvicorn answers "100 Continue" when the app first asks for the body: from here on
        # the request is in flight inside the handler.
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = sock.recv(1)
            assert chunk, interim
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100"), interim
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for("Shutting down")
        sock.sendall(body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", received
    payload = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert payload["choices"][0]["message"]["role"] == "assistant"
    assert server.stop() == 0
