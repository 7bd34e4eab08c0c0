"""The suite against servers that hang, reset connections or send garbage: it ends within its
budget, reports failures (never a green run) and never crashes with a traceback."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from chat_text_conformance import Level, Target, run
from chat_text_conformance.engine.runner import PREFLIGHT_CHECK
from chat_text_conformance.engine.schemathesis_adapter import TRANSPORT_CHECK

TOKEN = "hostile-test-token"
REQUEST_TIMEOUT = 0.5
# Generous upper bounds, far above what these runs take; they only prove the run ends.
RUN_BOUND_SECONDS = 90.0

VALID_ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "created": int(time.time()),
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def _http(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _read_request(conn: socket.socket) -> bool:
    """Read one request (headers + Content-Length body); False if the peer went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        rest += chunk
    return True


Behaviour = Callable[[socket.socket, int, threading.Event], None]


def _answer_then(after: Behaviour) -> Behaviour:
    """The first request gets a valid answer (so the pre-flight passes), the rest ``after``."""

    def handle(conn: socket.socket, number: int, stop: threading.Event) -> None:
        if number == 0:
            if _read_request(conn):
                conn.sendall(_http("200 OK", VALID_ANSWER))
            return
        after(conn, number, stop)

    return handle


def hang(conn: socket.socket, number: int, stop: threading.Event) -> None:
    _read_request(conn)
    stop.wait(30)  # never answers; released when the server stops


def reset(conn: socket.socket, number: int, stop: threading.Event) -> None:
    _read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def garbage(conn: socket.socket, number: int, stop: threading.Event) -> None:
    if _read_request(conn):
        conn.sendall(b"\x00\xffthis is not HTTP at all\r\n\r\n" * (1 + number % 3))


def not_json(conn: socket.socket, number: int, stop: threading.Event) -> None:
    if _read_request(conn):
        conn.sendall(_http("200 OK", b'{"id": "chatcmpl-1", "choices": [tru'))


@contextlib.contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[str]:
    """A tiny loopback server running ``behaviour`` per connection; stops by itself."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def serve_one(conn: socket.socket, number: int) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                behaviour(conn, number, stop)

    def accept_loop() -> None:
        number = 0
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=serve_one, args=(conn, number), daemon=True)
            workers.append(worker)
            worker.start()
            number += 1

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for worker in workers:
            worker.join(5)


def _target(base_url: str) -> Target:
    return Target(base_url, TOKEN, "m", context_length=None, request_timeout=REQUEST_TIMEOUT)


@pytest.mark.parametrize("behaviour", [hang, reset, garbage], ids=lambda b: b.__name__)
def test_hostile_from_the_first_request_is_a_setup_error(behaviour: Behaviour) -> None:
    with hostile_server(behaviour) as url:
        report = run(_target(url), Level.SEMANTIC, max_examples=3, seed=0)
    assert not report.ok
    assert report.setup_error is not None
    assert report.result(PREFLIGHT_CHECK) is not None
    assert report.result(PREFLIGHT_CHECK).failed == 1  # type: ignore[union-attr]
    assert TOKEN not in json.dumps([f.__dict__ for f in report.failures()], default=str)


@pytest.mark.parametrize("behaviour", [hang, reset, garbage, not_json], ids=lambda b: b.__name__)
def test_hostile_after_preflight_fails_within_budget(behaviour: Behaviour) -> None:
    started = time.monotonic()
    with hostile_server(_answer_then(behaviour)) as url:
        report = run(_target(url), Level.SCHEMA, max_examples=3, seed=0, max_time=3)
    assert time.monotonic() - started < RUN_BOUND_SECONDS
    assert report.setup_error is None
    assert not report.ok
    failed = {r.name for r in report.results if not r.ok}
    if behaviour is not_json:
        assert "response_schema_conformance" in failed
    else:
        assert TRANSPORT_CHECK in failed
    for failure in report.failures():
        assert TOKEN not in failure.reproducer + failure.message + failure.actual


def test_cli_against_a_hanging_server_exits_2_without_traceback() -> None:
    with hostile_server(hang) as url:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "chat_text_conformance.cli",
                "--base-url",
                url,
                "--token",
                TOKEN,
                "--model",
                "m",
                "--request-timeout",
                "0.5",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=RUN_BOUND_SECONDS,
            check=False,
        )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "did not answer within 0.5s" in proc.stdout
    assert TOKEN not in proc.stderr + proc.stdout
