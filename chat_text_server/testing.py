"""Helpers for tests: a real uvicorn server on a free 127.0.0.1 port, in a daemon thread.

>>> with running_server() as base_url:          # doctest: +SKIP
...     httpx.post(f"{base_url}/inference/chat_text", ...)

The server stops by itself when the ``with`` block ends: uvicorn's graceful shutdown (in-flight
requests finish), then the thread is joined, with bounded waits throughout.

:class:`PromptCounter` wraps an app and counts what it receives (requests, bytes, and the prompt
tokens of every request's messages as this server's tokenizer counts them, refused requests
included): what a client such as the conformance suite really spends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

from . import engine
from .app import create_app

__all__ = ["TEST_TOKEN", "PromptCounter", "Received", "running_server", "serving_in_thread"]

TEST_TOKEN = "test-token"  # noqa: S105 - a fixed token for local test servers only
"""The token :func:`running_server` accepts when no ``app`` and no ``tokens`` are given."""

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


@contextlib.contextmanager
def running_server(
    app: Any = None,
    *,
    tokens: Sequence[str] = (TEST_TOKEN,),
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """Serve ``app`` (default: ``create_app(tokens)``) and yield its base URL.

    The socket is bound (port 0) before the server starts, so the port is known and free.
    Raises ``RuntimeError`` if the server does not start within a bounded time.
    """
    if app is None:
        app = create_app(tokens)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=int(_STOP_TIMEOUT // 2),
    )
    server = uvicorn.Server(config)
    with serving_in_thread(
        server, sock, name=f"chat-text-server:{port}", what=f"the test server on {host}:{port}"
    ):
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def serving_in_thread(
    server: uvicorn.Server, sock: socket.socket, *, name: str, what: str
) -> Iterator[None]:
    """Run ``server`` on the bound ``sock`` in a daemon thread called ``name`` for the ``with``
    block: started within a bounded wait (``RuntimeError`` saying ``what`` did not start),
    then stopped gracefully (in-flight answers finish), forced if stuck, the socket closed."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a stuck server; force it
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        sock.close()


_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


@dataclass
class Received:
    """What a :class:`PromptCounter` saw."""

    requests: int = 0
    request_bytes: int = 0
    """Request body bytes, as received."""
    prompt_tokens: int = 0
    """Tokens of every received request's messages (:func:`engine.count_prompt_tokens`, before
    any truncation), whatever the answer: a refused prompt was sent all the same."""
    answers_200: int = 0


class PromptCounter:
    """An ASGI app that counts what reaches ``app`` (see :class:`Received`), thread-safe."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = Received()
        self._lock = threading.Lock()

    async def __call__(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the whole body is read first and counted (a request the app refuses unread, such as
        # one without a valid token, was sent all the same), then handed to the app as it came
        messages: list[_Message] = []
        size = 0
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self._count(size, prompt_tokens_of(bytes(body)))

        async def replay() -> _Message:
            return messages.pop(0) if messages else await receive()

        async def counting_send(message: _Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                with self._lock:
                    self.received.answers_200 += 1
            await send(message)

        await self.app(scope, replay, counting_send)

    def _count(self, size: int, tokens: int) -> None:
        with self._lock:
            self.received.requests += 1
            self.received.request_bytes += size
            self.received.prompt_tokens += tokens

    def reset(self) -> Received:
        """What was received so far; the counts start again from zero."""
        with self._lock:
            received, self.received = self.received, Received()
        return received


def prompt_tokens_of(body: bytes) -> int:
    """The tokens of the messages in a request body (0 when it carries none that can be read)."""
    try:
        messages = json.loads(body).get("messages")
    except (ValueError, AttributeError, RecursionError):
        return 0
    if not isinstance(messages, list):
        return 0
    return engine.count_prompt_tokens(
        [m for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)]
    )
