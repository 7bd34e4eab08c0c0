"""Helpers for tests: a real uvicorn server on a free 127.0.0.1 port, in a daemon thread.

>>> with running_server() as base_url:          # doctest: +SKIP
...     httpx.post(f"{base_url}/inference/chat_text", ...)

The server stops by itself when the ``with`` block ends: uvicorn's graceful shutdown (in-flight
requests finish), then the thread is joined, with bounded waits throughout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn

from .app import create_app

__all__ = ["TEST_TOKEN", "running_server", "serving_in_thread"]

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
