"""The relay: an ASGI app that sends every request on to the upstream server and its answer back
to the client, and judges each exchange with the rule catalogue.

* The request body is read whole (requests are small: ``x-max-body-bytes``; the proxy relays up
  to :attr:`ProxySettings.body_cap` bytes and answers ``413`` itself beyond that), classified
  (:func:`~.judging.classify_request`), and sent with the proxy's own lean HTTP/1.1 client
  (:mod:`.upstream`).
* The answer goes back chunk by chunk as it arrives: nothing is buffered, so a stream reaches
  the client event by event. Each chunk of an event stream is fed to the stream rules' watches
  (:class:`~..checks.watch.StreamJudge`) after it has been sent on. A copy of the body (up to
  the cap) is kept and judged with every rule once the answer is complete.
* ``--enforce``: a plain answer is read whole and judged before it is sent; one that breaks a
  rule is replaced by ``502`` with the spec's error body (code ``upstream_nonconformant``). A
  stream's headers wait for its first event; an event that breaks a rule is not sent (``502``
  when nothing was sent yet; otherwise the stream ends there), and ``data: [DONE]`` is sent only
  once the whole stream passed, so a client that saw ``[DONE]`` got a conformant stream.
* Headers: hop-by-hop headers (RFC 9110 section 7.6.1) are not relayed in either direction;
  ``Host`` and ``Content-Length`` are set for the upstream request; the upstream is asked for
  uncompressed bodies (``Accept-Encoding: identity``) so that the proxy can read them. An
  upstream that compresses anyway is relayed as it is; the proxy decodes its copy (gzip,
  deflate) or, for other codings, judges only the status and headers.
* The upstream unreachable or timing out before its answer: ``502`` with the spec's error body
  (code ``upstream_unavailable``). The upstream going away mid-body: the client's connection is
  closed at the same point (the client sees the same cut), and the exchange is an upstream error.
* Every path and method is relayed; only ``/inference/chat_text`` is judged (other paths are
  "not judged": the spec documents nothing else).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from ..checks import CheckFailed, Exchange, Outcome, RunContext, media_type
from ..checks.watch import StreamJudge
from ..engine.target import Level
from ..reporting.results import ExchangeRecord, RequestRecord
from .judging import (
    RequestFacts,
    classify_request,
    judge_exchange,
    warm_up,
)
from .ledger import Ledger
from .upstream import UpstreamError, UpstreamPool, UpstreamResponse

__all__ = ["ProxySettings", "ValidationProxy"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that belong to one connection, never relayed (RFC 9110 section 7.6.1)."""
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect", "accept-encoding"}

NONCONFORMANT = "upstream_nonconformant"
"""The error code of ``--enforce``'s 502 (not in openapi.yaml's list: clients tolerate codes
added later)."""
UNAVAILABLE = "upstream_unavailable"
"""The error code of the 502 when the upstream cannot be reached or does not answer."""
TOO_LARGE = "request_too_large"


@dataclass(frozen=True)
class ProxySettings:
    upstream: str
    """The server's base URL (``http://host:port``, with a path prefix if it has one)."""
    level: Level = Level.SEMANTIC
    context_length: int | None = None
    """The model's context window, for the rules that need it (else they are not exercised)."""
    request_timeout: float = 60.0
    """Seconds to wait for the upstream's answer to begin, and between two pieces of it."""
    enforce: bool = False
    fail_fast: bool = False
    body_cap: int = 16 * 1024 * 1024
    """Bytes of a body the proxy keeps to judge (requests over it are refused with 413; answers
    over it are relayed whole, and the rules that need their end are inconclusive)."""
    max_records: int = 10_000
    """Exchanges listed one by one in the report (all are counted in the rules' results)."""


class ValidationProxy:
    """The ASGI app of ``chat-text-conformance proxy``."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        say: Callable[[str], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.base = settings.upstream.rstrip("/")
        self.stop_requested = threading.Event()
        """Set when ``--fail-fast`` saw its first violation."""
        self._on_stop = on_stop
        self.ledger = Ledger(
            upstream=self.base,
            level=settings.level,
            context_length=settings.context_length,
            max_records=settings.max_records,
            say=say,
            on_violation=self._violation if settings.fail_fast else None,
        )
        self.context = RunContext(context_length=settings.context_length)
        warm_up(settings.level)
        self._numbers = itertools.count(1)
        timeout = settings.request_timeout
        self.pool = UpstreamPool(self.base, timeout=timeout, connect_timeout=min(timeout, 10.0))
        self.judging = ThreadPoolExecutor(1, thread_name_prefix="chat-text-proxy-judge")
        """One thread judges and records the exchanges, in the order they end."""

    def _violation(self) -> None:
        if not self.stop_requested.is_set():
            self.stop_requested.set()
            if self._on_stop is not None:
                self._on_stop()

    async def aclose(self) -> None:
        await self.pool.aclose()
        self.judging.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _Call(self, scope, receive, send).run()
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return


_CREDENTIAL = re.compile(r"\S+")


class _Copy:
    """The proxy's copy of an answer's body, decoded when the upstream compressed it anyway."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.readable = coding in ("", "identity", "gzip", "x-gzip", "deflate")
        self._zlib = (
            zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
            if coding not in ("", "identity") and self.readable
            else None
        )

    def decode(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            return chunk if self.readable else b""
        try:
            return self._zlib.decompress(chunk)
        except zlib.error:
            self.readable = False
            self._zlib = None
            return b""


class _Call:
    """One exchange in flight."""

    def __init__(self, proxy: ValidationProxy, scope: Scope, receive: Receive, send: Send) -> None:
        self.proxy = proxy
        self.settings = proxy.settings
        self.scope = scope
        self.receive = receive
        self.send = send
        self.number = next(proxy._numbers)
        proxy.ledger.begin()
        self.started = time.time()
        self.t0 = time.perf_counter()
        self.first_byte: float | None = None
        self.kept = bytearray()
        self.copy = _Copy("")
        self.cut_short: str | None = None
        self.upstream_error: str | None = None
        self.note: str | None = None
        self.relayed = 0
        self.received_at = self.started
        self.failed = False
        self.exchange: Exchange | None = None
        self.disconnect: asyncio.Future[Message] | None = None

    # -- the client side

    async def _read_body(self) -> bytes | None:
        """The whole request body (``None``: over the cap, or the client went away)."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                self.note = "not relayed: the client went away before its request was read"
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.body_cap:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _client_gone(self) -> bool:
        return self.disconnect is not None and self.disconnect.done()

    async def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def _body(self, data: bytes, more: bool = True) -> None:
        if data or not more:
            await self.send({"type": "http.response.body", "body": data, "more_body": more})
        if data:
            self.relayed += len(data)
            if self.first_byte is None:
                self.first_byte = time.perf_counter()

    async def _error(self, status: int, code: str, message: str) -> None:
        body = orjson.dumps(
            {"error": {"code": code, "message": self.proxy.ledger.redact(message), "field": None}}
        )
        await self._start(
            status,
            [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        )
        await self._body(body, more=False)

    def _keep(self, chunk: bytes) -> bytes:
        """Add ``chunk`` to the copy to judge; what it adds (decoded)."""
        data = self.copy.decode(chunk)
        room = self.settings.body_cap - len(self.kept)
        if len(data) <= room:
            self.kept += data
            return data
        self.kept += data[: max(room, 0)]
        if self.cut_short is None:
            self.cut_short = (
                f"the proxy keeps at most {self.settings.body_cap} bytes of a body to judge; "
                "the rest was relayed and checked event by event only"
            )
        return data

    async def _pieces(self, response: UpstreamResponse) -> AsyncIterator[bytes]:
        """The upstream's body as it arrives; a break ends it and sets ``upstream_error``."""
        try:
            async for chunk in response.chunks():
                yield chunk
        except UpstreamError as exc:
            size = len(self.kept)
            why = f"it sent nothing for {self.settings.request_timeout:g} s" if exc.timeout else exc
            self.upstream_error = f"the upstream's answer broke off after {size} bytes ({why})"
            self.cut_short = f"the upstream's answer broke off after {size} bytes"

    # -- the exchange

    async def run(self) -> None:
        scope = self.scope
        method: str = scope["method"]
        path: str = scope["path"]
        raw_path: bytes = scope.get("raw_path") or path.encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = [(k.lower(), v) for k, v in scope["headers"]]
        named = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        body = await self._read_body()
        if body is None:
            await self._refuse_large(method, target)
            return
        facts = classify_request(method, path, named.items(), body)
        self.proxy.ledger.remember_token(facts.token)
        self.disconnect = asyncio.ensure_future(self.receive())
        exchange: Exchange | None = None
        watch: StreamJudge | None = None
        outcome: dict[str, Outcome] = {}

        def record() -> None:
            self._record(facts, target, named, body, exchange, watch, outcome)

        try:
            response = await self._send_upstream(method, target, headers, body)
            if response is not None:
                try:
                    exchange, watch, outcome = await self._answer(facts, response)
                finally:
                    await response.aclose()
        except asyncio.CancelledError:
            self.cut_short = self.cut_short or "the proxy stopped before the answer ended"
            self.note = "the proxy stopped before the answer ended"
            record()
            raise
        except Exception as exc:  # a bug of the proxy's: not the server's
            self.note = f"the proxy itself failed ({type(exc).__name__}: {exc}); not judged"
            self.failed = True
            record()
            raise
        else:
            await asyncio.get_running_loop().run_in_executor(self.proxy.judging, record)
        finally:
            self.disconnect.cancel()

    async def _refuse_large(self, method: str, target: str) -> None:
        cap = self.settings.body_cap
        with contextlib.suppress(OSError):
            await self._error(
                413, TOO_LARGE, f"The proxy relays request bodies of up to {cap} bytes."
            )
        self.proxy.ledger.record(
            number=self.number,
            method=method,
            path=target,
            model=None,
            exchange=None,
            outcome={},
            request=None,
            request_bytes=0,
            request_problem=None,
            upstream_error=None,
            judged=False,
            stream=False,
            events=None,
            started=self.started,
            duration_ms=(time.perf_counter() - self.t0) * 1000,
            first_byte_ms=None,
            note=self.note
            or f"not relayed: the request body is over the proxy's cap of {cap} bytes",
        )

    async def _send_upstream(
        self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamResponse | None:
        connection = {
            name.strip().lower()
            for key, value in headers
            if key == b"connection"
            for name in value.decode("latin-1").split(",")
        }
        forward = [
            (k, v)
            for k, v in headers
            if k.decode("latin-1") not in _NOT_FORWARDED and k.decode("latin-1") not in connection
        ]
        forward.append((b"accept-encoding", b"identity"))
        framed = any(k in (b"content-length", b"transfer-encoding") for k, _ in headers)
        try:
            return await self.proxy.pool.send(
                method, target, forward, body if body or framed else None
            )
        except UpstreamError as exc:
            self.upstream_error = (
                f"no answer within {self.settings.request_timeout:g} s (--request-timeout)"
                if exc.timeout
                else f"the upstream could not be reached or answered nothing ({exc})"
            )
        await self._error(
            502,
            UNAVAILABLE,
            f"The proxy got no answer from the upstream server: {self.upstream_error}",
        )
        return None

    def _headers_back(self, response: UpstreamResponse) -> list[tuple[bytes, bytes]]:
        connection = {
            name.strip().lower() for name in (response.header("connection") or "").split(",")
        }
        dropped = set(HOP_BY_HOP) | connection
        return [
            (k.lower(), v)
            for k, v in response.raw_headers
            if k.decode("latin-1").lower() not in dropped
        ]

    def _exchange(self, facts: RequestFacts, response: UpstreamResponse) -> Exchange:
        cut_short = self.cut_short
        if not self.copy.readable:
            cut_short = (
                f"the upstream sent its answer with Content-Encoding {self.copy.coding}, "
                "which the proxy cannot read"
            )
        return Exchange(
            request=facts.document,
            status=response.status_code,
            content_type=media_type(response.header("content-type")),
            body=bytes(self.kept) if self.copy.readable else b"",
            context=self.proxy.context,
            headers=tuple(
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.raw_headers
            ),
            token=facts.token,
            cut_short=cut_short,
            key=self.number,
            received_at=self.received_at,
            method=facts.method,
            path=facts.path,
            known_facts=facts,
        )

    async def _judge(
        self, facts: RequestFacts, response: UpstreamResponse, watch: StreamJudge | None
    ) -> dict[str, Outcome]:
        """Every rule on the exchange so far, judged on the proxy's judging thread (so that the
        event loop relays other exchanges meanwhile)."""
        exchange = self.exchange = self._exchange(facts, response)
        readable, level = self.copy.readable, self.settings.level

        def judge() -> dict[str, Outcome]:
            return judge_exchange(facts, exchange, level, watch=watch, body_read=readable)

        return await asyncio.get_running_loop().run_in_executor(self.proxy.judging, judge)

    async def _answer(
        self, facts: RequestFacts, response: UpstreamResponse
    ) -> tuple[Exchange, StreamJudge | None, dict[str, Outcome]]:
        self.received_at = time.time()
        self.copy = _Copy((response.header("content-encoding") or "").strip().lower())
        status = response.status_code
        ok = 200 <= status < 300
        is_stream = ok and media_type(response.header("content-type")) == "text/event-stream"
        watch = None
        if is_stream and facts.is_call:
            watch = StreamJudge(facts.document, self.settings.level)
        headers = self._headers_back(response)
        if self.settings.enforce and facts.is_call:
            if watch is not None:
                outcome = await self._enforce_stream(facts, response, headers, watch)
            else:
                outcome = await self._enforce_whole(facts, response, headers)
        else:
            await self._start(status, headers)
            if await self._relay(response, watch):
                await self._body(b"", more=False)
            outcome = await self._judge(facts, response, watch)
        return self.exchange or self._exchange(facts, response), watch, outcome

    async def _relay(self, response: UpstreamResponse, watch: StreamJudge | None) -> bool:
        """Send the rest of the answer on as it arrives; whether it ended normally (else the
        client's connection is left cut, as the upstream's was)."""
        async for chunk in self._pieces(response):
            await self._body(chunk)
            data = self._keep(chunk)
            if watch is not None:
                watch.feed(data)
            if self._client_gone():
                self._client_left()
                return False
        return self.upstream_error is None

    def _client_left(self) -> None:
        self.cut_short = f"the client went away after {self.relayed} bytes of the answer"
        self.note = "the client went away before the answer ended"

    async def _enforce_whole(
        self,
        facts: RequestFacts,
        response: UpstreamResponse,
        headers: list[tuple[bytes, bytes]],
    ) -> dict[str, Outcome]:
        """``--enforce`` on a plain answer: read it whole, judge it, then send it or a 502."""
        raw = bytearray()
        async for chunk in self._pieces(response):
            raw += chunk
            self._keep(chunk)
            if self.cut_short is not None and self.upstream_error is None:
                # too large to hold: relay it unenforced
                self.note = "--enforce: the answer is over the proxy's cap, relayed as it came"
                await self._start(response.status_code, headers)
                await self._body(bytes(raw))
                if await self._relay(response, None):
                    await self._body(b"", more=False)
                return await self._judge(facts, response, None)
        outcome = await self._judge(facts, response, None)
        if self.upstream_error is not None:
            await self._error(
                502, UNAVAILABLE, f"The upstream server's answer broke off: {self.upstream_error}"
            )
            return outcome
        broken = [rule for rule, r in outcome.items() if isinstance(r, CheckFailed)]
        if broken:
            await self._refuse(response.status_code, outcome, broken)
            return outcome
        await self._start(response.status_code, headers)
        await self._body(bytes(raw), more=False)
        return outcome

    async def _refuse(self, status: int, outcome: dict[str, Outcome], broken: list[str]) -> None:
        first = outcome[broken[0]]
        assert isinstance(first, CheckFailed)
        self.note = f"--enforce: answered 502 instead of the upstream's HTTP {status}"
        await self._error(
            502,
            NONCONFORMANT,
            f"The upstream server's answer (HTTP {status}) breaks the API contract "
            f"({', '.join(broken)}): {first.message[:300]}",
        )

    async def _enforce_stream(
        self,
        facts: RequestFacts,
        response: UpstreamResponse,
        headers: list[tuple[bytes, bytes]],
        watch: StreamJudge,
    ) -> dict[str, Outcome]:
        """``--enforce`` on a stream: no event that breaks a rule reaches the client, and
        ``[DONE]`` only after the whole stream passed."""
        started = False
        held = bytearray()
        status = response.status_code
        async for chunk in self._pieces(response):
            data = self._keep(chunk)
            if watch.feed(data) or watch.failures:
                self.cut_short = self.cut_short or (
                    "--enforce stopped reading the stream at its first violation"
                )
                outcome = await self._judge(facts, response, watch)
                broken = [rule for rule, r in outcome.items() if isinstance(r, CheckFailed)]
                if not started:
                    await self._refuse(status, outcome, broken)
                else:
                    self.note = (
                        f"--enforce: the stream was ended before event {watch.events} "
                        f"(it breaks {', '.join(broken)}); [DONE] not sent"
                    )
                    await self._body(b"", more=False)
                return outcome
            if watch.done or (not started and watch.events == 0):
                held += chunk  # the first event is checked before the headers go out;
                continue  # [DONE] waits for the whole stream's verdict
            if not started:
                await self._start(status, headers)
                started = True
            await self._body(bytes(held) + chunk)
            held.clear()
            if self._client_gone():
                self._client_left()
                return await self._judge(facts, response, watch)
        outcome = await self._judge(facts, response, watch)
        broken = [rule for rule, r in outcome.items() if isinstance(r, CheckFailed)]
        if self.upstream_error is not None:
            if not started:
                await self._error(
                    502,
                    UNAVAILABLE,
                    f"The upstream server's answer broke off: {self.upstream_error}",
                )
            return outcome  # started: the client's connection is cut, as the upstream's was
        if broken:
            if not started:
                await self._refuse(status, outcome, broken)
            else:
                self.note = (
                    f"--enforce: the whole stream breaks {', '.join(broken)}; "
                    "the end of the stream ([DONE]) was not sent"
                )
                await self._body(b"", more=False)
            return outcome
        if not started:
            await self._start(status, headers)
        await self._body(bytes(held), more=False)
        return outcome

    # -- the record

    def _record(
        self,
        facts: RequestFacts,
        target: str,
        named: dict[str, str],
        body: bytes,
        exchange: Exchange | None,
        watch: StreamJudge | None,
        outcome: dict[str, Outcome],
    ) -> ExchangeRecord:
        ledger = self.proxy.ledger
        request: RequestRecord | None = None
        if self.upstream_error is not None or any(
            isinstance(r, CheckFailed) for r in outcome.values()
        ):
            request = self._request_record(facts, target, named, body)
        now = time.perf_counter()
        return ledger.record(
            number=self.number,
            method=facts.method,
            path=target,
            model=facts.model,
            exchange=exchange,
            outcome=outcome,
            request=request,
            request_bytes=len(body),
            request_problem=facts.problem,
            upstream_error=self.upstream_error,
            judged=facts.on_operation and not self.failed,
            call=facts.is_call,
            stream=watch is not None,
            events=None if watch is None else watch.events,
            started=self.started,
            duration_ms=(now - self.t0) * 1000,
            first_byte_ms=None if self.first_byte is None else (self.first_byte - self.t0) * 1000,
            note=self.note,
        )

    def _request_record(
        self, facts: RequestFacts, target: str, named: dict[str, str], body: bytes
    ) -> RequestRecord:
        pairs: list[tuple[str, str]] = []
        for name, value in named.items():
            if name in HOP_BY_HOP or name == "expect":
                continue
            if name == "authorization" and facts.authorization == "malformed":
                # the credential of a malformed header is not a known token: hide it, keep its
                # shape (scheme and spaces), which is what the server was judged on
                scheme, space, rest = value.partition(" ")
                value = scheme + space + _CREDENTIAL.sub("REDACTED", rest)
            pairs.append((name, value))
        record = RequestRecord.build(facts.method, target, pairs, body or None, facts.token)
        ledger = self.proxy.ledger
        return RequestRecord(
            record.method,
            ledger.redact(record.path),
            tuple((name, ledger.redact(value)) for name, value in record.headers),
            record.body,
        )
