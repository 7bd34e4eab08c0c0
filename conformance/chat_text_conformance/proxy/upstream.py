"""A lean HTTP/1.1 client for the proxy's upstream: asyncio protocols, httptools' parser (the
one uvicorn uses), a pool of keep-alive connections to one server.

Why not ``httpx.AsyncClient``: measured here, it adds about 2 to 4 ms to every round trip on a
loaded two-core machine (its anyio layers, per-request objects), against about 0.2 ms for a
protocol that writes the request and parses the answer as it arrives; the proxy's budget for
what it adds to the time to first byte is a few milliseconds in all (``scripts/bench_proxy.py``).

What it does: one request at a time per connection (no pipelining); idle connections reused
while the server keeps them alive; the body of the answer yielded chunk by chunk as it arrives,
reading paused while the consumer lags (``_HIGH_WATER`` chunks queued); ``Content-Length``,
chunked and read-until-close bodies; TLS for ``https`` upstreams with the system's CAs;
timeouts to connect, for the answer to begin and between two pieces of it. A request whose
reused connection turns out to be closed before any byte of the answer is sent again once on a
fresh connection (the server never saw it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httptools  # type: ignore[import-untyped,unused-ignore]

__all__ = ["UpstreamError", "UpstreamPool", "UpstreamResponse"]

_HIGH_WATER = 64
_LOW_WATER = 16
_MAX_IDLE = 64
"""Idle keep-alive connections kept for reuse (more are closed when their answer ends)."""
_END = object()


class UpstreamError(Exception):
    """The upstream could not be reached, broke off, spoke bad HTTP, or was too slow."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class _Connection(asyncio.Protocol):
    """One connection to the upstream and the answer currently being read on it."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.closed = False
        self._paused = False
        self._reset()

    def _reset(self) -> None:
        self.parser: Any = httptools.HttpResponseParser(self)
        self.head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] | None = None
        self.chunks: collections.deque[object] = collections.deque()
        self.arrived = asyncio.Event()
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.received_any = False
        self.complete = False
        self.keep_alive = False
        self.framed = False
        self.no_body = False
        self.head_only = False

    # -- asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # asyncio's or uvloop's (not an asyncio.Transport subclass)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - no upgrades are relayed
            self._fail(UpstreamError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"the upstream's answer is not valid HTTP/1.1 ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete or self.head is None:
            return
        if self.head.done() and not self.framed and not self.no_body:
            self._finish()  # a body delimited by the end of the connection
            return
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        self._fail(UpstreamError(f"the upstream closed the connection{why}"))

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.headers = []  # an interim answer (103 Early Hints): the real one follows
            return
        self.status = status
        names = {name.lower() for name, _ in self.headers}
        self.framed = b"content-length" in names or b"transfer-encoding" in names
        self.no_body = self.no_body or status in (204, 304)
        # after a HEAD answer the parser would wait for the body its Content-Length announces
        self.keep_alive = bool(self.parser.should_keep_alive()) and not self.head_only
        if self.head is not None and not self.head.done():
            self.head.set_result((status, self.headers))
        if self.no_body:
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self.status and not self.complete:
            self._push(bytes(body))

    def on_message_complete(self) -> None:
        if self.status:
            self._finish()

    # -- the answer's pieces

    def _push(self, item: object) -> None:
        self.chunks.append(item)
        self.arrived.set()
        if len(self.chunks) >= _HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def _finish(self) -> None:
        if not self.complete:
            self.complete = True
            self._push(_END)

    def _fail(self, error: UpstreamError) -> None:
        if self.head is not None and not self.head.done():
            self.head.set_exception(error)
        elif not self.complete:
            self.complete = True
            self.keep_alive = False
            self._push(error)
        if self.transport is not None:
            self.transport.close()

    async def next_piece(self, seconds: float) -> object:
        while not self.chunks:
            self.arrived.clear()
            try:
                async with asyncio.timeout(seconds):
                    await self.arrived.wait()
            except TimeoutError:
                raise UpstreamError(f"no data for {seconds:g} s", timeout=True) from None
        item = self.chunks.popleft()
        if self._paused and len(self.chunks) <= _LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return item

    def begin(self, head_only: bool) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]]:
        self._reset()
        self.no_body = self.head_only = head_only
        self.head = asyncio.get_running_loop().create_future()
        return self.head

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamResponse:
    """The upstream's answer: status and headers now, the body as it arrives."""

    def __init__(
        self,
        pool: UpstreamPool,
        connection: _Connection,
        status: int,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self._pool = pool
        self._connection = connection
        self.status_code = status
        self.raw_headers = headers
        """Name/value pairs as the upstream sent them."""
        self._done = False

    def header(self, name: str) -> str | None:
        """The value of the last header called ``name`` (any case), or ``None``."""
        wanted = name.lower().encode("latin-1")
        found: bytes | None = None
        for key, value in self.raw_headers:
            if key.lower() == wanted:
                found = value
        return None if found is None else found.decode("latin-1")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece; raises :class:`UpstreamError` if it breaks off."""
        while not self._done:
            item = await self._connection.next_piece(self._pool.timeout)
            if item is _END:
                self._done = True
                return
            if isinstance(item, UpstreamError):
                self._done = True
                raise item
            assert isinstance(item, bytes)
            yield item

    async def aclose(self) -> None:
        """Give the connection back when the answer was read whole and the server keeps it
        alive; close it otherwise."""
        connection = self._connection
        if self._done and connection.complete and connection.keep_alive and not connection.closed:
            self._pool._release(connection)
        else:
            connection.close()


class UpstreamPool:
    """Keep-alive connections to one upstream server."""

    def __init__(self, base_url: str, *, timeout: float, connect_timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.rpartition("@")[2].encode("idna")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamError(
                f"no connection within {self.connect_timeout:g} s", timeout=True
            ) from None
        except OSError as exc:
            raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from None
        return connection

    def _release(self, connection: _Connection) -> None:
        if len(self._idle) < _MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.close()

    def _request_bytes(
        self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), (self.prefix + target).encode())]
        lines.append(b"host: " + self.host_header)
        lines.extend(name + b": " + value for name, value in headers)
        if body is not None:
            lines.append(b"content-length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def send(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> UpstreamResponse:
        """Send one request (``target``: path and query below the base URL; ``headers``
        without Host, Content-Length or hop-by-hop ones); returns once the answer's headers
        arrived."""
        data = self._request_bytes(method, target, headers, body)
        for attempt in range(2):
            reused = False
            connection: _Connection | None = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed:
                    connection, reused = candidate, True
                    break
            if connection is None:
                connection = await self._connect()
            head = connection.begin(head_only=method.upper() == "HEAD")
            assert connection.transport is not None
            connection.transport.write(data)
            try:
                async with asyncio.timeout(self.timeout):
                    status, response_headers = await head
            except TimeoutError:
                connection.close()
                raise UpstreamError(f"no answer within {self.timeout:g} s", timeout=True) from None
            except UpstreamError:
                if reused and attempt == 0 and not connection.received_any:
                    continue  # the server had closed the idle connection: it never saw this
                raise
            return UpstreamResponse(self, connection, status, response_headers)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
