"""Fault injection for the SDK against a real loopback server scripted per test.

Every test asserts the number of attempts the server saw, that each wait the SDK asked for lies
in the documented envelope (waits are observed through the injected ``sleep``, never measured by
the clock), and the final outcome.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import chat_text
from chat_text import AsyncChatText, ChatText, RetryPolicy

TOKEN = "sk-fault-injection-SECRET-1234"
MESSAGES = [{"role": "user", "content": "Hello"}]
POLICY = RetryPolicy(initial_delay=0.01, max_delay=0.04, jitter=0.25, max_retry_after=60.0)

COMPLETION = {
    "id": "chatcmpl-1",
    "created": 1764086400,
    "model": "chat-text-base",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def chunk(content: str, *, last: bool = False, first: bool = False) -> dict[str, Any]:
    delta: dict[str, Any] = {"content": content}
    if first:
        delta["role"] = "assistant"
    return {
        "id": "chatcmpl-2",
        "created": 1764086400,
        "model": "chat-text-base",
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5} if last else None,
    }


def error_body(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{code} happened", "field": None}}


# --------------------------------------------------------------------------------------------
# The scripted server: one action per incoming request (the last action repeats).
# --------------------------------------------------------------------------------------------
Action = Callable[[socket.socket, threading.Event], None]


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(status: int, body: Any, headers: dict[str, str] | None = None) -> Action:
    payload = json.dumps(body).encode()

    def act(sock: socket.socket, stop: threading.Event) -> None:
        hdrs = {
            "Content-Type": "application/json",
            "Content-Length": str(len(payload)),
            "Connection": "close",
            **(headers or {}),
        }
        sock.sendall(_head(status, hdrs) + payload)

    return act


def reset() -> Action:
    """Close with RST before sending anything."""

    def act(sock: socket.socket, stop: threading.Event) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    return act


def stall_after_headers(content_type: str = "application/json") -> Action:
    """Send the headers (and a promise of a body), then nothing until the test ends."""

    def act(sock: socket.socket, stop: threading.Event) -> None:
        hdrs = {"Content-Type": content_type, "Content-Length": "1000", "Connection": "close"}
        sock.sendall(_head(200, hdrs) + b'{"id": ')
        stop.wait(10)

    return act


def sse(
    events: list[dict[str, Any]], *, done: bool = True, cut: bool = False, stall: bool = False
) -> Action:
    """A chunked event stream; ``cut`` breaks the connection (RST) after the events,
    ``stall`` stops sending after them without closing."""

    def act(sock: socket.socket, stop: threading.Event) -> None:
        hdrs = {
            "Content-Type": "text/event-stream",
            "Transfer-Encoding": "chunked",
            "Connection": "close",
        }
        sock.sendall(_head(200, hdrs))
        parts = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
        if done:
            parts.append(b"data: [DONE]\n\n")
        for part in parts:
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        if cut:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        if stall:
            stop.wait(10)
            return
        sock.sendall(b"0\r\n\r\n")

    return act


@dataclass
class Recorded:
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


class ScriptedServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Action] = []
        self.recorded = Recorded()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.handlers: list[threading.Thread] = []

    def process_request(self, request: Any, client_address: Any) -> None:
        # like ThreadingMixIn, but every handler thread is a daemon AND kept, to be joined
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self.lock:
            self.handlers.append(thread)
        thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def attempts(self) -> int:
        with self.lock:
            return len(self.recorded.bodies)

    def next_action(self, head: bytes, body: bytes) -> Action:
        with self.lock:
            index = len(self.recorded.bodies)
            self.recorded.heads.append(head)
            self.recorded.bodies.append(body)
            return self.script[min(index, len(self.script) - 1)]


class _Handler(socketserver.BaseRequestHandler):
    server: ScriptedServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            if not got:
                return
            data += got
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            got = sock.recv(65536)
            if not got:
                return
            body += got
        action = self.server.next_action(head, body)
        with contextlib.suppress(OSError):  # the client may hang up first
            action(sock, self.server.stop)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.stop.set()  # releases stalled handlers
        srv.shutdown()
        thread.join(10)
        for handler in srv.handlers:
            handler.join(10)
        srv.server_close()
        assert not thread.is_alive()
        assert not any(h.is_alive() for h in srv.handlers)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server: ScriptedServer, sleeps: list[float]) -> Iterator[ChatText]:
    with ChatText(
        api_key=TOKEN,
        base_url=server.url,
        max_retries=2,
        retry_policy=POLICY,
        timeout=5.0,
        sleep=sleeps.append,
    ) as c:
        yield c


def assert_backoff(sleeps: list[float], policy: RetryPolicy = POLICY) -> None:
    for n, wait in enumerate(sleeps):
        low, high = policy.envelope(n)
        assert low <= wait <= high, f"wait {n} = {wait} outside [{low}, {high}]"


# --------------------------------------------------------------------------------------------
# 429 with Retry-After in its three forms
# --------------------------------------------------------------------------------------------
def test_429_retry_after_seconds_is_honoured(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [
        respond(429, error_body("rate_limited"), {"Retry-After": "2"}),
        respond(200, COMPLETION),
    ]
    reply = client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert reply.to_dict() == COMPLETION
    assert server.attempts == 2
    assert sleeps == [2.0]


def test_429_retry_after_ms_wins_over_seconds(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [
        respond(429, error_body("rate_limited"), {"Retry-After": "9", "retry-after-ms": "1500"}),
        respond(429, error_body("rate_limited"), {"retry-after-ms": "250"}),
        respond(200, COMPLETION),
    ]
    reply = client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert reply.id == COMPLETION["id"]
    assert server.attempts == 3
    assert sleeps == [1.5, 0.25]


def test_429_retry_after_http_date(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.script = [
        respond(429, error_body("rate_limited"), {"Retry-After": when}),
        respond(200, COMPLETION),
    ]
    client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 2
    assert len(sleeps) == 1
    assert 27.0 < sleeps[0] <= 30.0  # HTTP-dates have one-second resolution


def test_429_retry_after_beyond_cap_is_not_retried(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [respond(429, error_body("rate_limited"), {"Retry-After": "3600"})]
    with pytest.raises(chat_text.RateLimitError) as info:
        client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 1
    assert sleeps == []
    assert info.value.status_code == 429
    assert info.value.headers["retry-after"] == "3600"
    assert info.value.error is not None
    assert info.value.error.error.code == "rate_limited"


def test_429_exhausts_retries(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [respond(429, error_body("rate_limited"), {"Retry-After": "1"})]
    with pytest.raises(chat_text.RateLimitError):
        client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 3  # first attempt + max_retries=2
    assert sleeps == [1.0, 1.0]


# --------------------------------------------------------------------------------------------
# 503 bursts, other statuses
# --------------------------------------------------------------------------------------------
def test_503_burst_shorter_than_budget_recovers(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [
        respond(503, error_body("unavailable")),
        respond(503, error_body("unavailable")),
        respond(200, COMPLETION),
    ]
    reply = client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert reply.choices[0].message.content == "Paris."
    assert server.attempts == 3
    assert len(sleeps) == 2
    assert_backoff(sleeps)


def test_503_burst_longer_than_budget_fails(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [respond(503, error_body("unavailable"))] * 5 + [respond(200, COMPLETION)]
    with pytest.raises(chat_text.ServiceUnavailableError) as info:
        client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 3
    assert len(sleeps) == 2
    assert_backoff(sleeps)
    assert info.value.code == "unavailable"


def test_backoff_grows_and_is_capped(server: ScriptedServer, sleeps: list[float]) -> None:
    server.script = [respond(500, error_body("internal_error"))]
    with (
        ChatText(
            api_key=TOKEN,
            base_url=server.url,
            max_retries=5,
            retry_policy=POLICY,
            sleep=sleeps.append,
        ) as c,
        pytest.raises(chat_text.InternalServerError),
    ):
        c.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 6
    assert len(sleeps) == 5
    assert_backoff(sleeps)
    assert max(sleeps) <= POLICY.max_delay
    assert sleeps[-1] >= POLICY.max_delay * (1 - POLICY.jitter)  # reached the cap


@pytest.mark.parametrize("status", [408, 409])
def test_408_409_are_retried(
    server: ScriptedServer, client: ChatText, sleeps: list[float], status: int
) -> None:
    server.script = [respond(status, error_body("conflict")), respond(200, COMPLETION)]
    client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 2
    assert_backoff(sleeps)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, chat_text.BadRequestError),
        (401, chat_text.AuthenticationError),
        (404, chat_text.NotFoundError),
        (413, chat_text.RequestTooLargeError),
        (415, chat_text.UnsupportedMediaTypeError),
    ],
)
def test_client_errors_are_not_retried(
    server: ScriptedServer,
    client: ChatText,
    sleeps: list[float],
    status: int,
    error: type[chat_text.APIStatusError],
) -> None:
    server.script = [respond(status, error_body("nope")), respond(200, COMPLETION)]
    with pytest.raises(error) as info:
        client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 1
    assert sleeps == []
    assert info.value.status_code == status
    assert info.value.code == "nope"


def test_per_call_max_retries_override(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [respond(503, error_body("unavailable"))]
    with pytest.raises(chat_text.ServiceUnavailableError):
        client.chat_text(model="chat-text-base", messages=MESSAGES, max_retries=0)
    assert server.attempts == 1
    with pytest.raises(chat_text.ServiceUnavailableError):
        client.with_options(max_retries=4).chat_text(model="chat-text-base", messages=MESSAGES)
    assert server.attempts == 1 + 5


# --------------------------------------------------------------------------------------------
# Connection faults and timeouts
# --------------------------------------------------------------------------------------------
def test_connection_reset_before_response_is_retried(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [reset(), reset(), respond(200, COMPLETION)]
    reply = client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert reply.id == COMPLETION["id"]
    assert server.attempts == 3
    assert len(sleeps) == 2
    assert_backoff(sleeps)


def test_connection_reset_every_time_raises_connection_error(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [reset()]
    with pytest.raises(chat_text.APIConnectionError) as info:
        client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert not isinstance(info.value, chat_text.APITimeoutError)
    assert server.attempts == 3
    assert_backoff(sleeps)


def test_body_stalling_after_headers_times_out_and_retries(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [stall_after_headers()]
    with pytest.raises(chat_text.APITimeoutError):
        client.chat_text(model="chat-text-base", messages=MESSAGES, timeout=0.2, max_retries=1)
    assert server.attempts == 2
    assert len(sleeps) == 1
    assert_backoff(sleeps)


def test_connection_refused_is_a_connection_error(sleeps: list[float]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        ChatText(
            api_key=TOKEN,
            base_url=f"http://127.0.0.1:{port}",
            retry_policy=POLICY,
            sleep=sleeps.append,
        ) as c,
        pytest.raises(chat_text.APIConnectionError),
    ):
        c.chat_text(model="chat-text-base", messages=MESSAGES)
    assert len(sleeps) == 2


# --------------------------------------------------------------------------------------------
# Streams: never retried once they started
# --------------------------------------------------------------------------------------------
def test_stream_cut_after_events_raises_and_is_not_retried(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [
        sse([chunk("One", first=True), chunk(" two")], done=False, cut=True),
        sse([chunk("x", last=True)]),
    ]
    got: list[str] = []

    def consume() -> None:
        with client.chat_text(model="chat-text-base", messages=MESSAGES, stream=True) as stream:
            got.extend(str(c.choices[0].delta.content) for c in stream)

    with pytest.raises(chat_text.StreamConnectionError) as raised:
        consume()
    # the stream is incomplete and the network is the cause: either except clause catches it
    assert isinstance(raised.value, chat_text.IncompleteStreamError)
    assert isinstance(raised.value, chat_text.APIConnectionError)
    assert got == ["One", " two"]
    assert server.attempts == 1
    assert sleeps == []


def test_stream_closed_cleanly_without_done_is_incomplete(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [sse([chunk("One", first=True)], done=False)]
    stream = client.chat_text(model="chat-text-base", messages=MESSAGES, stream=True)
    with pytest.raises(chat_text.IncompleteStreamError) as raised:
        list(stream)
    # the server ended its answer: a malformed stream, not a network failure
    assert not isinstance(raised.value, chat_text.APIConnectionError)
    assert server.attempts == 1
    assert stream.response.is_closed


def test_stream_stalling_after_first_event_times_out_without_retry(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [sse([chunk("One", first=True)], done=False, stall=True)]
    stream = client.chat_text(model="chat-text-base", messages=MESSAGES, stream=True, timeout=0.2)
    first = next(stream)
    assert first.choices[0].delta.content == "One"
    with pytest.raises(chat_text.APITimeoutError):
        next(stream)
    assert server.attempts == 1
    assert sleeps == []


def test_stream_error_status_before_events_is_retried(
    server: ScriptedServer, client: ChatText, sleeps: list[float]
) -> None:
    server.script = [
        respond(503, error_body("unavailable"), {"Retry-After": "0"}),
        sse([chunk("Hi", first=True), chunk("!", last=True)]),
    ]
    with client.chat_text(model="chat-text-base", messages=MESSAGES, stream=True) as stream:
        text = "".join(str(c.choices[0].delta.content) for c in stream)
        assert stream.usage is not None
        assert stream.usage.total_tokens == 5
    assert text == "Hi!"
    assert server.attempts == 2
    assert sleeps == [0.0]


def test_stream_stopped_early_releases_the_connection(
    server: ScriptedServer, client: ChatText
) -> None:
    server.script = [sse([chunk("a", first=True)], done=False, stall=True)]
    with client.chat_text(model="chat-text-base", messages=MESSAGES, stream=True) as stream:
        next(stream)
    assert stream.response.is_closed


# --------------------------------------------------------------------------------------------
# The token never leaks
# --------------------------------------------------------------------------------------------
def test_token_is_sent_but_never_shown(
    server: ScriptedServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    leaky = error_body("unauthorized")
    leaky["error"]["message"] = f"bad token {TOKEN}"  # a server that echoes the token
    server.script = [reset(), respond(503, error_body("unavailable")), respond(401, leaky)]
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    client = ChatText(api_key=TOKEN, base_url=server.url, retry_policy=POLICY, sleep=sleeps.append)
    with pytest.raises(chat_text.AuthenticationError) as info:
        client.chat_text(model="chat-text-base", messages=MESSAGES)
    client.close()
    assert server.attempts == 3
    assert f"Bearer {TOKEN}".encode() in server.recorded.heads[0]
    assert "chat_text" in {r.name for r in caplog.records}  # debug logging did run
    shown = [caplog.text, str(info.value), repr(info.value), repr(client)]
    shown += [str(e) for e in (info.value.__cause__, info.value.__context__) if e]
    for text in shown:
        assert TOKEN not in text
    assert "***" in str(info.value)


# --------------------------------------------------------------------------------------------
# The async client under the same faults
# --------------------------------------------------------------------------------------------
async def test_async_retries_honour_retry_after_and_backoff(server: ScriptedServer) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.script = [
        reset(),
        respond(429, error_body("rate_limited"), {"Retry-After": "3"}),
        respond(200, COMPLETION),
    ]
    async with AsyncChatText(
        api_key=TOKEN, base_url=server.url, retry_policy=POLICY, sleep=sleep
    ) as client:
        reply = await client.chat_text(model="chat-text-base", messages=MESSAGES)
    assert reply.to_dict() == COMPLETION
    assert server.attempts == 3
    assert len(waits) == 2
    assert_backoff(waits[:1])
    assert waits[1] == 3.0


async def test_async_stream_cut_is_not_retried(server: ScriptedServer) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.script = [sse([chunk("One", first=True)], done=False, cut=True)]
    async with AsyncChatText(
        api_key=TOKEN, base_url=server.url, retry_policy=POLICY, sleep=sleep
    ) as client:
        stream = await client.chat_text(model="chat-text-base", messages=MESSAGES, stream=True)
        got = []

        async def consume() -> None:
            async for c in stream:
                got.append(c)

        with pytest.raises(chat_text.StreamConnectionError):
            await consume()
    assert len(got) == 1
    assert server.attempts == 1
    assert waits == []


async def test_async_timeout_after_headers(server: ScriptedServer) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.script = [stall_after_headers()]
    async with AsyncChatText(
        api_key=TOKEN, base_url=server.url, retry_policy=POLICY, sleep=sleep, timeout=0.2
    ) as client:
        with pytest.raises(chat_text.APITimeoutError):
            await client.chat_text(model="chat-text-base", messages=MESSAGES, max_retries=1)
    assert server.attempts == 2
    assert_backoff(waits)
    assert len(waits) == 1
