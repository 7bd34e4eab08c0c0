"""The scripted loopback server: replays the corpus, one case per base URL.

A client gets the base URL ``http://127.0.0.1:PORT/<label>/case/<id>`` (``<label>``, e.g. the
language, is optional and only names whose request is recorded), so the path its generated code
builds is ``/<label>/case/<id>/inference/chat_text``. The server answers with the case's exact
status, headers and body bytes, or with its transport fault, and records the request it got.

Standard library only (``http.server``), in a daemon thread, bound to 127.0.0.1 on a free port;
:func:`scripted_server` stops it when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import chat_text_spec

from .corpus import Case, Corpus

__all__ = ["RecordedRequest", "ScriptedServer", "scripted_server"]

_MAX_REQUEST_BYTES = 1 << 20
_SHORT_BY = 64
"""A ``short`` answer announces this many bytes more than it sends."""


@dataclass(frozen=True)
class RecordedRequest:
    """What one client sent for one case."""

    label: str
    case: str
    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names; repeated headers joined with ", "."""
    body: bytes

    def json_body(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, corpus: Corpus, host: str = "127.0.0.1", port: int = 0) -> None:
        self.corpus = corpus
        self.cases = {case.id: case for case in corpus.cases}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def base_url(self, case_id: str, label: str = "") -> str:
        prefix = f"/{label}" if label else ""
        return f"{self.url}{prefix}/case/{case_id}"

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def recorded(self, label: str) -> dict[str, RecordedRequest]:
        """The last request of each case under ``label``."""
        with self._lock:
            return {r.case: r for r in self.requests if r.label == label}


def _route(path: str) -> tuple[str, str] | None:
    """(label, case id) of ``/[label/]case/<id>/inference/chat_text``."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    tail = chat_text_spec.OPERATION_PATH.strip("/").split("/")
    if len(parts) < 2 + len(tail) or parts[-len(tail) :] != tail:
        return None
    head = parts[: -len(tail)]
    if len(head) == 2 and head[0] == "case":
        return "", head[1]
    if len(head) == 3 and head[1] == "case":
        return head[0], head[2]
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet: the harness reports what matters

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
                if len(body) > _MAX_REQUEST_BYTES:
                    raise ValueError("request body too large")
        length = int(self.headers.get("content-length") or 0)
        if length > _MAX_REQUEST_BYTES:
            raise ValueError("request body too large")
        return self.rfile.read(length)

    def _plain(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._plain(405, "the scripted server answers POST only\n")

    def do_POST(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._plain(400, f"{exc}\n")
            return
        route = _route(self.path)
        case = self.server.cases.get(route[1]) if route else None
        if route is None or case is None:
            self._plain(404, f"no such case: {self.path}\n")
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.server.record(
            RecordedRequest(route[0], case.id, self.command, self.path, headers, body)
        )
        self._answer(case)

    def _answer(self, case: Case) -> None:
        if case.transport == "close":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(case.status)
        for name, value in case.headers:
            self.send_header(name, value)
        announced = len(case.body) + (_SHORT_BY if case.transport == "short" else 0)
        self.send_header("content-length", str(announced))
        self.end_headers()
        self.wfile.write(case.body)
        self.wfile.flush()
        if case.transport == "short":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def scripted_server(
    corpus: Corpus, host: str = "127.0.0.1", port: int = 0
) -> Iterator[ScriptedServer]:
    """Serve ``corpus`` in a daemon thread; stop when the block ends."""
    server = ScriptedServer(corpus, host, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="chat-text-scripted-server",
        daemon=True,
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
