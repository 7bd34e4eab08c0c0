"""Serving the proxy with uvicorn: in a thread for tests and programs (:func:`running_proxy`),
or in the main thread for the CLI (:func:`serve`), where SIGINT/SIGTERM stop it gracefully."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from ..reporting.results import RunReport
from .app import ProxySettings, ValidationProxy

__all__ = ["RunningProxy", "bind", "recording_signals", "running_proxy", "serve", "url_of"]

_INCOMPLETE = "ASGI callable returned without completing response."


class _QuietCut(logging.Filter):
    """uvicorn logs an error when an app ends a response early; the proxy does that on purpose
    when the upstream broke off (the client must see the same cut) and reports it itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _INCOMPLETE


_FILTER = _QuietCut()


def _config(proxy: ValidationProxy, graceful_timeout: float) -> Any:
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return uvicorn.Config(
        proxy,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(graceful_timeout)),
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one). Raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class RunningProxy:
    url: str
    """The proxy's base URL: give it to clients in place of the server's."""
    proxy: ValidationProxy
    _server: Any

    def report(self, settle: float = 10.0) -> RunReport:
        """The run so far, once the exchanges under way are recorded (waiting at most
        ``settle`` seconds: an answer the client has is judged a moment later)."""
        self.proxy.ledger.settle(settle)
        return self.proxy.ledger.report()

    def stop(self) -> None:
        """Ask the proxy to stop (answers in flight finish); the ``with`` block joins it."""
        self._server.should_exit = True


@contextlib.contextmanager
def running_proxy(
    settings: ProxySettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    say: Callable[[str], None] | None = None,
    graceful_timeout: float = 5.0,
) -> Iterator[RunningProxy]:
    """Serve a :class:`ValidationProxy` in a daemon thread; yields it running. ``--fail-fast``
    stops it at its first violation (``proxy.stop_requested`` is set)."""
    # lazy: the proxy in a thread (tests, the Python API) borrows the reference server's
    # thread runner; serving from the CLI does not import the reference server (~0.2 s)
    from chat_text_server.testing import serving_in_thread

    sock = bind(host, port)
    holder: list[Any] = []
    proxy = ValidationProxy(settings, say=say, on_stop=lambda: _stop(holder))
    server = uvicorn.Server(_config(proxy, graceful_timeout))
    holder.append(server)
    url = url_of(sock)
    proxy.ledger.listen_url = url
    with serving_in_thread(server, sock, name=f"chat-text-proxy:{url}", what=f"the proxy on {url}"):
        yield RunningProxy(url, proxy, server)


def _stop(holder: list[Any]) -> None:
    if holder:
        holder[0].should_exit = True


def serve(proxy: ValidationProxy, sock: socket.socket, *, graceful_timeout: float = 5.0) -> None:
    """Serve ``proxy`` on ``sock`` in this (the main) thread until SIGINT/SIGTERM or
    ``--fail-fast``; answers in flight get ``graceful_timeout`` seconds.

    uvicorn captures SIGINT/SIGTERM, shuts down gracefully, then raises the signal again to the
    handler that was there before it started: the caller installs one that only records it (see
    :func:`recording_signals`), so that the process goes on to write its report."""
    server = uvicorn.Server(_config(proxy, graceful_timeout))
    proxy._on_stop = lambda: setattr(server, "should_exit", True)
    server.run(sockets=[sock])


@contextlib.contextmanager
def recording_signals() -> Iterator[list[int]]:
    """SIGINT and SIGTERM recorded (not acted on) for the ``with`` block; yields the list."""
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
