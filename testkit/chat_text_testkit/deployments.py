"""What stands in front of a real chat-text server, as ASGI wrappers for the tests.

Each wraps any server app (the reference server, a variant server) the way a real deployment
does, legally (the suite must pass through them) or not (the suite must catch it):

* :class:`RateLimiter`: a token bucket answering ``429`` (or ``503``) when empty — in front of
  auth (a gateway: requests without a token are limited too) or behind it (only authorised
  requests count) — saying how long to wait by ``Retry-After`` seconds, an HTTP-date,
  ``retry-after-ms``, or not at all; or a storm that answers busy to a share of all requests;
* :class:`Slow`: a model that takes its time before the first byte;
* :class:`RefuseCharset`: a fault: ``415`` for ``application/json; charset=utf-8`` (a legal
  label of a JSON body);

and :func:`serving_files` / :func:`not_found_app` are targets that are not this API at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import http.server
import json
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from typing import Any, Literal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

RetryStyle = Literal["seconds", "date", "ms", "none"]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class RateLimiter:
    """A token bucket of ``burst`` requests refilled at ``rate`` per second, in front of
    ``app``; when empty, ``status`` (429 or 503) with the spec's error body.

    ``before_auth``: every request counts (a gateway); else only those that carry one of
    ``tokens`` (the others reach the app, which answers 401). ``retry``: how the busy answer
    says when to come back. ``storm``: instead of a bucket, that share of the requests is
    answered busy at random (seeded), whatever the rate; ``every``: every n-th request counted
    is answered busy (a quota whose window is counted in requests: deterministic, whatever the
    machine's speed). ``busy`` counts the busy answers, ``probe_busy`` those of them to
    schemathesis's own probes (``X-Schemathesis-Probe``: sent before its tests, judged by
    nothing, not paced by the suite)."""

    def __init__(
        self,
        app: App,
        *,
        rate: float = 50.0,
        burst: int = 10,
        before_auth: bool = True,
        tokens: Sequence[str] = (),
        status: int = 429,
        retry: RetryStyle = "ms",
        storm: float | None = None,
        every: int | None = None,
        seed: int = 0,
    ) -> None:
        if status not in (429, 503):
            raise ValueError("a rate limiter answers 429 or 503")
        if not before_auth and not tokens:
            raise ValueError("a limiter behind auth needs the tokens it lets through")
        self.app = app
        self.rate = rate
        self.burst = burst
        self.before_auth = before_auth
        self.tokens = {f"Bearer {t}".encode() for t in tokens}
        self.status = status
        self.retry = retry
        self.storm = storm
        self.every = every
        self._counted = 0
        self._random = random.Random(seed)
        self._level = float(burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.busy = 0
        self.probe_busy = 0
        self.passed = 0

    def _take(self) -> float:
        """0 when a request may pass (a token is taken), else the seconds until one may."""
        with self._lock:
            if self.every is not None:
                self._counted += 1
                return 1.0 / self.rate if self._counted % self.every == 0 else 0.0
            if self.storm is not None:
                return 0.0 if self._random.random() >= self.storm else 1.0 / self.rate
            now = time.monotonic()
            self._level = min(self.burst, self._level + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._level >= 1:
                self._level -= 1
                return 0.0
            return (1 - self._level) / self.rate

    def _headers(self, wait: float) -> list[tuple[str, str]]:
        if self.retry == "seconds":
            return [("Retry-After", str(max(1, math.ceil(wait))))]
        if self.retry == "date":
            # an HTTP-date has whole seconds: the next second after the wait
            return [("Retry-After", email.utils.formatdate(time.time() + wait + 1, usegmt=True))]
        if self.retry == "ms":
            return [("retry-after-ms", str(max(1, math.ceil(wait * 1000))))]
        return []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = self.before_auth or _header(scope, b"authorization") in self.tokens
        wait = self._take() if counted else 0.0
        if wait <= 0:
            with self._lock:
                self.passed += 1
            await self.app(scope, receive, send)
            return
        with self._lock:
            self.busy += 1
            self.probe_busy += _header(scope, b"x-schemathesis-probe") is not None
        code = "rate_limited" if self.status == 429 else "unavailable"
        body = {"error": {"code": code, "message": "Too many requests; slow down.", "field": None}}
        await _answer(send, self.status, body, self._headers(wait))


class Slow:
    """``app`` answering every HTTP request ``latency`` seconds late (before its first byte): a
    model's time to first token."""

    def __init__(self, app: App, latency: float) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.latency)
        await self.app(scope, receive, send)


class RefuseCharset:
    """A fault: ``415`` for any Content-Type with parameters or not spelled exactly
    ``application/json`` (``application/json; charset=utf-8`` is a legal label of JSON)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST":
            content_type = _header(scope, b"content-type")
            if content_type is not None and content_type != b"application/json":
                self.refused += 1
                body = {
                    "error": {
                        "code": "unsupported_media_type",
                        "message": "Content-Type must be application/json.",
                        "field": None,
                    }
                }
                await _answer(send, 415, body, [])
                return
        await self.app(scope, receive, send)


async def not_found_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Another API: every path is ``404 {"detail": "Not Found"}`` (FastAPI's own answer)."""
    if scope["type"] != "http":
        return
    await _answer(send, 404, {"detail": "Not Found"}, [])


async def html_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A web site: every request is answered ``200`` with an HTML page."""
    if scope["type"] != "http":
        return
    page = b"<!doctype html><html><body><h1>Welcome</h1></body></html>"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": page})


@contextlib.contextmanager
def serving_files(folder: str) -> Iterator[str]:
    """``python -m http.server`` on a free 127.0.0.1 port (POST: ``501`` and an HTML page);
    stops when the block ends."""
    handler = functools.partial(_QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="http.server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = 0

    def log_message(self, format: str, *args: Any) -> None:
        type(self).requests += 1
