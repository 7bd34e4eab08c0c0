"""Realistic faults to inject into a chat-text server, one at a time, to test the suite.

Each :class:`Mutation` is a bug a real implementation of ``POST /inference/chat_text`` could
ship (several are modelled on bugs real LLM servers have shipped: usage counted before
truncation, a new id per stream chunk, a stream that never says why it ended, a wrong default
``max_tokens``, ``created`` in milliseconds, FastAPI's 403/422 answers, TGI's ``eos_token``).
Each names the :class:`~chat_text_conformance.Level` its rule belongs to (the lowest level that
must catch it) and the rules that catch it. It is applied in one of two ways:

* ``wrap``: a middleware in front of the app edits the request (headers, JSON body) and/or
  rewrites the response (status, headers, JSON document or event stream). It needs nothing of
  the app's internals, so it applies to any server.
* ``patch``: a bug inside the server's own logic. For the reference server it replaces one
  function of :mod:`chat_text_server.engine` (``truncate_messages``, ``fit_max_tokens``,
  ``generate``: the engine documents them as its replaceable steps); for the variant server
  (``chat_text_testkit.variant_server``) the same bug is the fault switch of the same name
  (:data:`variant_server.FAULTS`).

:func:`mutation_server` starts ONE server (the reference server, or a named variant) on a free
loopback port whose app can be swapped; :meth:`MutationServer.mutated` applies a mutation for the
duration of a ``with`` block and undoes it afterwards. ``tests/test_mutations.py`` checks that
the suite catches every one, at its level, on every server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chat_text_conformance import Level

import chat_text_spec
from chat_text_spec.sse import decode_events

__all__ = [
    "MUTATIONS",
    "Mutation",
    "MutationServer",
    "Patcher",
    "mutation_server",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

SCHEMA, SEMANTIC, STRICT = Level.SCHEMA, Level.SEMANTIC, Level.STRICT


class Patcher:
    """``setattr`` with undo, like pytest's monkeypatch but without pytest."""

    def __init__(self) -> None:
        self._undo: list[tuple[object, str, object]] = []

    def setattr(self, owner: object, name: str, value: object) -> None:
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def undo(self) -> None:
        while self._undo:
            owner, name, value = self._undo.pop()
            setattr(owner, name, value)


@dataclass
class Exchange:
    """One request and its response as a middleware sees them; edits change what is sent."""

    token: str
    """The token the server accepts."""
    headers: dict[str, str]
    """Request headers, lower-case names."""
    body: Any
    """The request's JSON body (``None`` when it is not JSON)."""
    size: int = 0
    """Size of the request body in bytes."""
    status: int = 0
    response_headers: Headers = field(default_factory=list)
    document: Any = None
    """The JSON response document, or ``None``."""
    chunks: list[dict[str, Any]] | None = None
    """The chunks of an event-stream response (without ``[DONE]``), or ``None``."""
    done: bool = True
    """Whether the event stream ends with ``data: [DONE]``."""
    raw: bytes | None = None
    """Set by an edit: the response body to send as it is (``document``/``chunks`` ignored)."""

    @property
    def bearer(self) -> str:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    @property
    def streamed(self) -> bool:
        """Whether the request asks for a stream."""
        return isinstance(self.body, dict) and self.body.get("stream") is True


EditRequest = Callable[[Exchange], "tuple[int, dict[str, Any]] | None"]
"""Edit ``headers``/``body`` in place, or return (status, JSON document) to answer at once."""
EditResponse = Callable[[Exchange], None]
"""Edit ``status``, ``response_headers``, ``document``, ``chunks``/``done`` or ``raw``."""


@dataclass(frozen=True)
class Mutation:
    name: str
    kind: str
    """``shape``, ``auth``, ``semantics``, ``validation`` or ``streaming``."""
    level: Level
    """The lowest level that must catch it: the level of its rules, or higher when only a
    higher level sends the requests that show it (or, for ``strict``, when seeing it needs the
    determinism that only the strict level assumes)."""
    rules: frozenset[str]
    """The catalogue rules that catch it (any one of them is enough)."""
    description: str
    patch: Callable[[Patcher], None] | None = None
    """The reference server's engine replacement; the variant server's fault switch of the same
    name does the same (a ``patch`` mutation applies to the variant server only through it)."""
    request: EditRequest | None = None
    response: EditResponse | None = None
    unobservable: Mapping[str, str] = field(default_factory=dict)
    """Server name -> why the fault cannot show on that server (the test skips it there)."""


def _rules(*names: str) -> frozenset[str]:
    return frozenset(names)


# ---------------------------------------------------------------------------------------------
# The middleware


def _middleware(app: ASGIApp, token: str, mutation: Mutation) -> ASGIApp:
    """``app`` behind ``mutation``'s request and response edits (responses are buffered)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        raw = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        exchange = Exchange(token, headers, body, size=len(raw))
        if mutation.request is not None:
            answer = mutation.request(exchange)
            if answer is not None:
                status, document = answer
                payload = json.dumps(document).encode()
                await _send(send, status, [(b"content-type", b"application/json")], payload)
                return
            if exchange.body is not body:
                raw = json.dumps(exchange.body, separators=(",", ":"), ensure_ascii=False).encode()
            exchange.headers["content-length"] = str(len(raw))
        scope = dict(scope)
        scope["headers"] = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in exchange.headers.items()
        ]
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        start: Message = {}
        parts: list[bytes] = []

        async def buffer(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await app(scope, replay, buffer)
        exchange.status = start["status"]
        exchange.response_headers = list(start.get("headers", []))
        data = b"".join(parts)
        if mutation.response is not None:
            media = _media(exchange.response_headers)
            if media == "application/json":
                exchange.document = json.loads(data)
            elif media == "text/event-stream":
                exchange.chunks, exchange.done = _parse_events(data)
            mutation.response(exchange)
            if exchange.raw is not None:
                data = exchange.raw
            elif exchange.document is not None:
                data = json.dumps(exchange.document).encode()
            elif exchange.chunks is not None:
                data = _encode_events(exchange.chunks, exchange.done)
        await _send(send, exchange.status, exchange.response_headers, data)

    return wrapped


async def _send(send: Send, status: int, headers: Headers, data: bytes) -> None:
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def _media(headers: Headers) -> str:
    for key, value in headers:
        if key.lower() == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _parse_events(data: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The chunks of a stream in any legal SSE framing, and whether it ended with [DONE]."""
    chunks: list[dict[str, Any]] = []
    done = False
    for event in decode_events(data)[0]:
        if event.data.strip() == "[DONE]":
            done = True
        else:
            chunks.append(json.loads(event.data))
    return chunks, done


def _encode_events(chunks: Sequence[Mapping[str, Any]], done: bool) -> bytes:
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return data + (b"data: [DONE]\n\n" if done else b"")


# ---------------------------------------------------------------------------------------------
# Response edits


def _on_answer(edit: Callable[[dict[str, Any]], None]) -> EditResponse:
    """Edit the document of every successful non-streamed answer."""

    def response(ex: Exchange) -> None:
        if ex.status == 200 and isinstance(ex.document, dict):
            edit(ex.document)

    return response


def _on_stream(edit: Callable[[Exchange, list[dict[str, Any]]], None]) -> EditResponse:
    """Edit the chunks of every stream."""

    def response(ex: Exchange) -> None:
        if ex.status == 200 and ex.chunks:
            edit(ex, ex.chunks)

    return response


def _drop_created(doc: dict[str, Any]) -> None:
    del doc["created"]


def _usage_as_strings(doc: dict[str, Any]) -> None:
    if doc.get("usage"):
        doc["usage"] = {k: str(v) for k, v in doc["usage"].items()}


def _total_off(doc: dict[str, Any]) -> None:
    if doc.get("usage"):
        doc["usage"]["total_tokens"] = doc["usage"]["completion_tokens"]


def _dated_model(doc: dict[str, Any]) -> None:
    doc["model"] = f"{doc['model']}-2026-01-01"


def _status_201(ex: Exchange) -> None:
    if ex.status == 200:
        ex.status = 201


def _fastapi_422(ex: Exchange) -> None:
    if ex.status == 400 and isinstance(ex.document, dict):
        error = ex.document.get("error", {})
        if error.get("code") == "invalid_request":
            ex.status = 422
            ex.document = {
                "detail": [{"loc": ["body", error.get("field")], "msg": error["message"]}]
            }


def _no_challenge(ex: Exchange) -> None:
    ex.response_headers = [
        (k, v) for k, v in ex.response_headers if k.lower() != b"www-authenticate"
    ]


def _echo_token(ex: Exchange) -> None:
    if ex.status == 401 and isinstance(ex.document, dict) and ex.bearer:
        ex.document["error"]["message"] = f"Invalid bearer token: {ex.bearer}"


_FIXED_ID = "chatcmpl-0000000000000000"


def _fixed_id(ex: Exchange) -> None:
    if ex.status == 200 and isinstance(ex.document, dict):
        ex.document["id"] = _FIXED_ID
    for chunk in ex.chunks or []:
        chunk["id"] = _FIXED_ID


def _usage_everywhere(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        chunk["usage"] = chunks[-1]["usage"]


def _usage_missing(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    chunks[-1]["usage"] = None


def _no_done(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    ex.done = False


def _first_piece_dropped(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    """The first piece of content is lost (an off-by-one in the chunk loop); role is kept."""
    for chunk in chunks:
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                choice["delta"]["content"] = ""
                return


def _completion_counts_chunks(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    usage = chunks[-1]["usage"]
    usage["completion_tokens"] = len(chunks) - 1
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]


# ---------------------------------------------------------------------------------------------
# Request edits


def _any_bearer_accepted(ex: Exchange) -> None:
    if ex.bearer:
        ex.headers["authorization"] = f"Bearer {ex.token}"


def _prefix_accepted(ex: Exchange) -> None:
    if ex.bearer and ex.token.startswith(ex.bearer):
        ex.headers["authorization"] = f"Bearer {ex.token}"


def _case_insensitive_token(ex: Exchange) -> None:
    if ex.bearer and ex.bearer.lower() == ex.token.lower():
        ex.headers["authorization"] = f"Bearer {ex.token}"


def _null_max_tokens_is_maximum(ex: Exchange) -> None:
    if isinstance(ex.body, dict) and "max_tokens" in ex.body and ex.body["max_tokens"] is None:
        ex.body = {**ex.body, "max_tokens": chat_text_spec.field_bounds("max_tokens")["maximum"]}


def _unknown_fields_dropped(ex: Exchange) -> None:
    if isinstance(ex.body, dict):
        known = chat_text_spec.request_schema()["properties"]
        ex.body = {k: v for k, v in ex.body.items() if k in known}


def _temperature_max_rejected(ex: Exchange) -> tuple[int, dict[str, Any]] | None:
    top = chat_text_spec.field_bounds("temperature")["maximum"]
    if isinstance(ex.body, dict) and ex.body.get("temperature") == top:
        message = f"temperature: {top} must be less than {top}"
        return 400, {
            "error": {"code": "invalid_request", "message": message, "field": "temperature"}
        }
    return None


def _content_bytes_limited(ex: Exchange) -> tuple[int, dict[str, Any]] | None:
    """maxLength checked on UTF-8 bytes instead of characters."""
    limit = _content_max_length()
    messages = ex.body.get("messages") if isinstance(ex.body, dict) else None
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and len(content.encode()) > limit:
            where = f"messages[{i}].content"
            error = {"code": "invalid_request", "message": f"{where} is too long", "field": where}
            return 400, {"error": error}
    return None


def _content_max_length() -> int:
    spec = chat_text_spec.load_spec()
    limit: int = spec["components"]["schemas"]["Message"]["properties"]["content"]["maxLength"]
    return limit


def _body_limit_inclusive(ex: Exchange) -> tuple[int, dict[str, Any]] | None:
    """A body of exactly x-max-body-bytes is refused (>= instead of >)."""
    limit = chat_text_spec.max_body_bytes()
    if ex.size >= limit:
        message = f"The request body exceeds the limit of {limit} bytes."
        return 413, {"error": {"code": "request_too_large", "message": message, "field": None}}
    return None


def _stream_token_accepted(ex: Exchange) -> None:
    """The streaming code path forgot the auth check."""
    if ex.streamed:
        ex.headers["authorization"] = f"Bearer {ex.token}"


def _stream_drops_truncation(ex: Exchange) -> None:
    """The streaming code path does not pass prompt_truncate_len on."""
    if ex.streamed:
        ex.body = {k: v for k, v in ex.body.items() if k != "prompt_truncate_len"}


def _stream_clamps(ex: Exchange) -> None:
    """The streaming code path clamps numbers into range instead of rejecting them."""
    if not ex.streamed:
        return
    body = dict(ex.body)
    for name in ("max_tokens", "prompt_truncate_len", "temperature"):
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            bounds = chat_text_spec.field_bounds(name)
            body[name] = min(max(value, bounds["minimum"]), bounds["maximum"])
    ex.body = body


def _role_everywhere(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        for choice in chunk["choices"]:
            choice["delta"]["role"] = "assistant"


def _temperature_zero_cache() -> tuple[EditRequest, EditResponse]:
    """Answers at temperature 0 cached by (model, messages): replayed whole, id and all."""
    cache: dict[str, dict[str, Any]] = {}

    def key(ex: Exchange) -> str | None:
        body = ex.body
        if not isinstance(body, dict) or body.get("temperature") != 0 or body.get("stream"):
            return None
        return json.dumps([body.get("model"), body.get("messages")], sort_keys=True)

    def request(ex: Exchange) -> tuple[int, dict[str, Any]] | None:
        k = key(ex)
        if k is not None and k in cache and ex.bearer == ex.token:
            return 200, cache[k]
        return None

    def response(ex: Exchange) -> None:
        k = key(ex)
        if k is not None and ex.status == 200 and isinstance(ex.document, dict):
            cache[k] = ex.document

    return request, response


_CACHE_REQUEST, _CACHE_RESPONSE = _temperature_zero_cache()


def _on_answer_or_chunks(edit: Callable[[dict[str, Any], int], None]) -> EditResponse:
    """Edit every successful answer document and every chunk of every stream (with its index)."""

    def response(ex: Exchange) -> None:
        if ex.status != 200:
            return
        if isinstance(ex.document, dict):
            edit(ex.document, 0)
        for i, chunk in enumerate(ex.chunks or []):
            edit(chunk, i)

    return response


def _created_in_ms(doc: dict[str, Any], i: int) -> None:
    doc["created"] = int(doc["created"] * 1000)


def _created_per_chunk(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    for i, chunk in enumerate(chunks):
        chunk["created"] = int(chunk["created"]) + i  # each chunk stamped when it was sent


def _eos_token(doc: dict[str, Any], i: int) -> None:
    for choice in doc.get("choices", []):
        if choice.get("finish_reason") == "stop":
            choice["finish_reason"] = "eos_token"


def _new_id_per_chunk(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        chunk["id"] = f"chatcmpl-{uuid.uuid4().hex}"


def _never_finishes(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        for choice in chunk["choices"]:
            choice["finish_reason"] = None


def _done_without_blank_line(ex: Exchange, chunks: list[dict[str, Any]]) -> None:
    ex.raw = _encode_events(chunks, done=False) + b"data: [DONE]\n"


def _prompt_too_long_renamed(ex: Exchange) -> None:
    error = ex.document.get("error") if isinstance(ex.document, dict) else None
    if ex.status == 400 and isinstance(error, dict) and error.get("code") == "prompt_too_long":
        error["code"] = "context_length_exceeded"  # OpenAI's name for it


def _too_large_as_html(ex: Exchange) -> None:
    """A proxy in front of the server refuses big bodies with its own HTML page."""
    if ex.status == 413:
        ex.response_headers = [
            (k, v) for k, v in ex.response_headers if k.lower() != b"content-type"
        ] + [(b"content-type", b"text/html")]
        ex.raw = b"<html><body><h1>413 Request Entity Too Large</h1></body></html>"


def _missing_token_403(ex: Exchange) -> tuple[int, dict[str, Any]] | None:
    """FastAPI's ``HTTPBearer``: no (bearer) Authorization header is 403 Not authenticated."""
    if not ex.bearer:
        return 403, {"detail": "Not authenticated"}
    return None


def _default_max_tokens(value: int) -> EditRequest:
    """The server's own default for max_tokens instead of the spec's."""

    def request(ex: Exchange) -> None:
        if isinstance(ex.body, dict) and ex.body.get("max_tokens") is None:
            ex.body = {**ex.body, "max_tokens": value}

    return request


def _stream_ignores_temperature(ex: Exchange) -> None:
    """The streaming code path does not pass temperature on (samples at the default)."""
    if ex.streamed and isinstance(ex.body, dict):
        ex.body = {k: v for k, v in ex.body.items() if k != "temperature"}


def _temperature_zero_is_default(ex: Exchange) -> None:
    """``temperature = body.get("temperature") or default``: 0 is falsy."""
    if isinstance(ex.body, dict) and ex.body.get("temperature") == 0:
        ex.body = {k: v for k, v in ex.body.items() if k != "temperature"}


def _stream_flag_ignored(ex: Exchange) -> None:
    """``stream: true`` is accepted but answered with one JSON document."""
    if ex.streamed and isinstance(ex.body, dict):
        ex.body = {**ex.body, "stream": False}


# ---------------------------------------------------------------------------------------------
# Engine replacements (the engine's documented patch points)


def _engine() -> Any:
    from chat_text_server import engine

    return engine


def _truncate_with(
    order: Callable[[int], Sequence[int]],
    *,
    keep_system: bool = True,
    keep_last: bool = True,
    fits: Callable[[int, int], bool] = lambda total, limit: total <= limit,
    report_untruncated: bool = False,
    overflows: Callable[[int, int], bool] = lambda total, context: total >= context,
) -> Callable[..., Any]:
    """A truncate_messages with one of its rules broken."""
    engine = _engine()

    def truncate(
        messages: Sequence[Mapping[str, str]], prompt_truncate_len: int, context_length: int
    ) -> tuple[list[Mapping[str, str]], int]:
        costs = [engine.count_message_tokens(m) for m in messages]
        total = full = sum(costs)
        evicted: set[int] = set()
        last = len(messages) - 1
        for i in order(len(messages)):
            if fits(total, prompt_truncate_len):
                break
            if (keep_last and i == last) or (keep_system and messages[i]["role"] == "system"):
                continue
            evicted.add(i)
            total -= costs[i]
        if overflows(total, context_length):
            raise engine.PromptTooLong(total, context_length)
        kept = [m for i, m in enumerate(messages) if i not in evicted]
        return kept, (full if report_untruncated else total)

    return truncate


def _patch_truncation(**rules: Any) -> Callable[[Patcher], None]:
    def patch(p: Patcher) -> None:
        p.setattr(_engine(), "truncate_messages", _truncate_with(**rules))

    return patch


def _oldest_first(n: int) -> Sequence[int]:
    return range(n)


def _newest_first(n: int) -> Sequence[int]:
    return range(n - 1, -1, -1)


def _no_eviction(n: int) -> Sequence[int]:
    return ()


def _patch_generate(
    *, extra_tokens: int = 0, finish: str | None = None, random_seed: bool = False
) -> Callable[[Patcher], None]:
    def patch(p: Patcher) -> None:
        engine = _engine()
        original = engine.generate

        def generate(
            messages: Sequence[Mapping[str, str]],
            max_tokens: int,
            temperature: float,
            *,
            seed: int | None = None,
            **options: Any,
        ) -> tuple[list[str], str]:
            if random_seed:
                seed = int.from_bytes(os.urandom(8))
            pieces, reason = original(
                messages, max_tokens + extra_tokens, temperature, seed=seed, **options
            )
            return pieces, (finish or reason)

        p.setattr(engine, "generate", generate)

    return patch


def _max_tokens_not_lowered(p: Patcher) -> None:
    engine = _engine()

    def fit(prompt_tokens: int, max_tokens: int, context_length: int) -> int:
        if prompt_tokens + max_tokens > context_length:
            raise engine.PromptTooLong(prompt_tokens + max_tokens, context_length)
        return max_tokens

    p.setattr(engine, "fit_max_tokens", fit)


def _lowered_one_too_far(p: Patcher) -> None:
    engine = _engine()

    def fit(prompt_tokens: int, max_tokens: int, context_length: int) -> int:
        room = context_length - prompt_tokens
        if room < 1:
            raise engine.PromptTooLong(prompt_tokens, context_length)
        return min(max_tokens, room + 1)

    p.setattr(engine, "fit_max_tokens", fit)


def _room_of_one_refused(p: Patcher) -> None:
    engine = _engine()

    def fit(prompt_tokens: int, max_tokens: int, context_length: int) -> int:
        room = context_length - prompt_tokens
        if room <= 1:  # off by one: one token of room is room enough
            raise engine.PromptTooLong(prompt_tokens, context_length)
        return min(max_tokens, room)

    p.setattr(engine, "fit_max_tokens", fit)


def _full_window_accepted(p: Patcher) -> None:
    engine = _engine()
    p.setattr(
        engine,
        "truncate_messages",
        _truncate_with(_oldest_first, overflows=lambda total, context: total > context),
    )
    p.setattr(engine, "fit_max_tokens", lambda prompt, asked, context: min(asked, context - prompt))


def _last_message_not_counted(p: Patcher) -> None:
    engine = _engine()
    original = engine.truncate_messages

    def truncate(
        messages: Sequence[Mapping[str, str]], prompt_truncate_len: int, context_length: int
    ) -> tuple[list[Mapping[str, str]], int]:
        kept, total = original(messages, prompt_truncate_len, context_length)
        return kept, total - engine.count_message_tokens(messages[-1])

    p.setattr(engine, "truncate_messages", truncate)


def _empty_message_crashes(p: Patcher) -> None:
    engine = _engine()
    original = engine.generate

    def generate(messages: Sequence[Mapping[str, str]], *args: Any, **kwargs: Any) -> Any:
        last_word = engine.tokenize(messages[-1]["content"])[-1]  # IndexError when empty
        del last_word
        return original(messages, *args, **kwargs)

    p.setattr(engine, "generate", generate)


_SHORT_ANSWERS = (
    "its natural answers are at most 64 tokens, so any max_tokens default above that gives the "
    "same answers as the spec's 200: the fault cannot show"
)

MUTATIONS: tuple[Mutation, ...] = (
    # --- shape
    Mutation(
        "response_missing_created",
        "shape",
        SCHEMA,
        _rules("response_schema_conformance"),
        "answers lack the required created field",
        response=_on_answer(_drop_created),
    ),
    Mutation(
        "usage_counts_as_strings",
        "shape",
        SCHEMA,
        _rules("response_schema_conformance"),
        'usage numbers sent as strings ("12")',
        response=_on_answer(_usage_as_strings),
    ),
    Mutation(
        "success_is_201",
        "shape",
        SCHEMA,
        _rules("status_code_conformance"),
        "success answered 201 instead of 200",
        response=_status_201,
    ),
    Mutation(
        "validation_errors_are_422",
        "shape",
        SCHEMA,
        _rules("status_code_conformance", "response_schema_conformance"),
        "invalid requests answered 422 with a FastAPI-style {detail} body",
        response=_fastapi_422,
    ),
    Mutation(
        "finish_reason_eos_token",
        "shape",
        SCHEMA,
        _rules("response_schema_conformance"),
        "finish_reason eos_token (TGI's name) instead of stop, in answers and streams",
        response=_on_answer_or_chunks(_eos_token),
    ),
    Mutation(
        "too_large_as_html",
        "shape",
        SEMANTIC,  # the schema level never sends a body over x-max-body-bytes
        _rules("content_type_conformance", "response_schema_conformance"),
        "a proxy answers bodies over the limit with its own 413 HTML page",
        response=_too_large_as_html,
    ),
    # --- auth
    Mutation(
        "accepts_any_token",
        "auth",
        SCHEMA,
        _rules("ignored_auth", "unauthorized_without_valid_token"),
        "any bearer token is accepted",
        request=_any_bearer_accepted,
    ),
    Mutation(
        "accepts_token_prefix",
        "auth",
        SEMANTIC,
        _rules("ignored_auth", "unauthorized_without_valid_token"),
        "a prefix of a valid token is accepted (startswith comparison)",
        request=_prefix_accepted,
    ),
    Mutation(
        "token_case_insensitive",
        "auth",
        SEMANTIC,
        _rules("ignored_auth", "unauthorized_without_valid_token"),
        "tokens are compared case-insensitively",
        request=_case_insensitive_token,
    ),
    Mutation(
        "no_www_authenticate",
        "auth",
        SCHEMA,
        _rules("response_headers_conformance", "unauthorized_without_valid_token"),
        "401 without the WWW-Authenticate challenge",
        response=_no_challenge,
    ),
    Mutation(
        "missing_token_is_403",
        "auth",
        SCHEMA,
        _rules("missing_required_header", "status_code_conformance"),
        "no bearer header answered 403 {detail: Not authenticated} (FastAPI's HTTPBearer)",
        request=_missing_token_403,
    ),
    Mutation(
        "echoes_token",
        "auth",
        SEMANTIC,
        _rules("token_not_echoed", "unauthorized_without_valid_token"),
        "the rejected token is quoted in the 401 message",
        response=_echo_token,
    ),
    Mutation(
        "stream_skips_auth",
        "auth",
        SEMANTIC,
        _rules("ignored_auth", "unauthorized_without_valid_token"),
        "the streaming code path accepts any token",
        request=_stream_token_accepted,
    ),
    # --- semantics
    Mutation(
        "usage_total_not_sum",
        "semantics",
        SEMANTIC,
        _rules("usage_total_is_sum"),
        "usage.total_tokens is completion_tokens only",
        response=_on_answer(_total_off),
    ),
    Mutation(
        "max_tokens_off_by_one",
        "semantics",
        SEMANTIC,
        _rules("completion_within_max_tokens"),
        "generation runs one token past max_tokens",
        patch=_patch_generate(extra_tokens=1),
    ),
    Mutation(
        "max_tokens_not_lowered",
        "semantics",
        SEMANTIC,
        _rules("max_tokens_lowered_to_fit", "context_window_boundary"),
        "prompt + max_tokens over the context window is an error instead of being lowered",
        patch=_max_tokens_not_lowered,
    ),
    Mutation(
        "max_tokens_lowered_one_too_far",
        "semantics",
        SEMANTIC,
        _rules("usage_within_context_window", "context_window_boundary"),
        "max_tokens is lowered to one more than the room left",
        patch=_lowered_one_too_far,
    ),
    Mutation(
        "default_max_tokens_16",
        "semantics",
        SEMANTIC,
        _rules("finish_reason_matches_usage", "null_and_omitted_mean_default"),
        "max_tokens omitted or null means 16 (the old completions API's default), not 200",
        request=_default_max_tokens(16),
    ),
    Mutation(
        "default_max_tokens_4096",
        "semantics",
        SEMANTIC,
        _rules("completion_within_max_tokens", "null_and_omitted_mean_default"),
        "max_tokens omitted or null means 4096, not 200",
        request=_default_max_tokens(4096),
        unobservable={"models": _SHORT_ANSWERS},
    ),
    Mutation(
        "null_max_tokens_unlimited",
        "semantics",
        SEMANTIC,
        _rules("completion_within_max_tokens", "null_and_omitted_mean_default"),
        "max_tokens: null means the maximum instead of the default",
        request=_null_max_tokens_is_maximum,
        unobservable={"models": _SHORT_ANSWERS},
    ),
    Mutation(
        "truncation_evicts_system",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns"),
        "truncation evicts system messages too",
        patch=_patch_truncation(order=_oldest_first, keep_system=False),
    ),
    Mutation(
        "truncation_newest_first",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns"),
        "truncation evicts the newest turns first",
        patch=_patch_truncation(order=_newest_first),
    ),
    Mutation(
        "truncation_ignores_limit",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns"),
        "prompt_truncate_len is ignored (nothing is evicted)",
        patch=_patch_truncation(order=_no_eviction),
    ),
    Mutation(
        "truncation_off_by_one",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns"),
        "truncation evicts until the prompt is strictly below prompt_truncate_len",
        patch=_patch_truncation(order=_oldest_first, fits=lambda total, limit: total < limit),
    ),
    Mutation(
        "truncation_evicts_last",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns"),
        "the last message can be evicted",
        patch=_patch_truncation(order=_oldest_first, keep_last=False),
    ),
    Mutation(
        "prompt_tokens_before_truncation",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns"),
        "usage.prompt_tokens counts the evicted messages too (usage counted before truncation)",
        patch=_patch_truncation(order=_oldest_first, report_untruncated=True),
    ),
    Mutation(
        "prompt_tokens_skip_last_message",
        "semantics",
        SEMANTIC,
        _rules("truncation_keeps_newest_turns", "prompt_tokens_count_every_message"),
        "usage.prompt_tokens leaves out the last message",
        patch=_last_message_not_counted,
    ),
    Mutation(
        "one_token_of_room_refused",
        "semantics",
        SEMANTIC,
        _rules("context_window_boundary"),
        "a prompt leaving exactly one token of room is refused as prompt_too_long",
        patch=_room_of_one_refused,
    ),
    Mutation(
        "full_window_accepted",
        "semantics",
        SEMANTIC,
        _rules("context_window_boundary", "prompt_too_long_when_kept_messages_overflow"),
        "a prompt that fills the whole window is answered (with 0 tokens) instead of refused",
        patch=_full_window_accepted,
    ),
    Mutation(
        "prompt_too_long_code_renamed",
        "semantics",
        SEMANTIC,
        _rules(
            "prompt_too_long_when_kept_messages_overflow",
            "context_window_boundary",
            "positive_data_acceptance",
        ),
        "prompt_too_long answered with code context_length_exceeded (OpenAI's name)",
        response=_prompt_too_long_renamed,
    ),
    Mutation(
        "finish_reason_always_stop",
        "semantics",
        STRICT,  # cut at max_tokens, completion_tokens == max_tokens: stop is legal unless the
        # answer is known to go on, which only a deterministic server shows
        _rules("finish_reason_matches_max_tokens"),
        "finish_reason is stop even when max_tokens cut the answer",
        patch=_patch_generate(finish="stop"),
    ),
    Mutation(
        "model_not_echoed",
        "semantics",
        SEMANTIC,
        _rules("model_echoes_request"),
        "answers name a dated model version instead of the requested name",
        response=_on_answer(_dated_model),
    ),
    Mutation(
        "ids_repeat",
        "semantics",
        SEMANTIC,
        _rules("id_not_repeated"),
        "every answer has the same id",
        response=_fixed_id,
    ),
    Mutation(
        "created_in_milliseconds",
        "semantics",
        SEMANTIC,
        _rules("created_is_unix_seconds"),
        "created is Unix time in milliseconds (answers and stream chunks)",
        response=_on_answer_or_chunks(_created_in_ms),
    ),
    Mutation(
        "nondeterministic_at_temperature_0",
        "semantics",
        STRICT,  # a legal choice below strict (spec 1.0.1 promises no determinism)
        _rules(
            "temperature_zero_deterministic",
            "stream_matches_non_stream",
            "finish_reason_matches_max_tokens",
            "null_and_omitted_mean_default",
        ),
        "temperature 0 samples like any other temperature",
        patch=_patch_generate(random_seed=True),
    ),
    Mutation(
        "temperature_zero_is_default",
        "semantics",
        STRICT,  # the result is a non-deterministic temperature 0: legal below strict
        _rules(
            "temperature_zero_deterministic",
            "stream_matches_non_stream",
            "finish_reason_matches_max_tokens",
            "null_and_omitted_mean_default",
        ),
        "temperature 0 is falsy, so `temperature or default` samples at temperature 1",
        request=_temperature_zero_is_default,
    ),
    Mutation(
        "temperature_zero_cache",
        "semantics",
        SEMANTIC,
        _rules("id_not_repeated", "completion_within_max_tokens"),
        "temperature-0 answers cached by messages and replayed (same id, max_tokens ignored)",
        request=_CACHE_REQUEST,
        response=_CACHE_RESPONSE,
    ),
    Mutation(
        "empty_message_crashes",
        "semantics",
        SEMANTIC,
        _rules("not_a_server_error", "boundary_values_accepted"),
        "a last message without any token crashes generation (500)",
        patch=_empty_message_crashes,
    ),
    # --- validation
    Mutation(
        "content_length_in_bytes",
        "validation",
        SEMANTIC,
        _rules("boundary_values_accepted", "invalid_values_rejected"),
        "content maxLength is checked on UTF-8 bytes, not characters",
        request=_content_bytes_limited,
    ),
    Mutation(
        "body_limit_inclusive",
        "validation",
        SEMANTIC,
        _rules("boundary_values_accepted"),
        "a body of exactly x-max-body-bytes is refused with 413",
        request=_body_limit_inclusive,
    ),
    Mutation(
        "unknown_fields_ignored",
        "validation",
        SEMANTIC,
        _rules("negative_data_rejection", "invalid_values_rejected"),
        "unknown request fields are silently ignored",
        request=_unknown_fields_dropped,
    ),
    Mutation(
        "temperature_max_exclusive",
        "validation",
        SEMANTIC,
        _rules("positive_data_acceptance", "boundary_values_accepted"),
        "temperature equal to its maximum is rejected (exclusive bound)",
        request=_temperature_max_rejected,
    ),
    Mutation(
        "stream_clamps_out_of_range",
        "validation",
        SEMANTIC,
        _rules("invalid_values_rejected", "negative_data_rejection"),
        "with stream: true, out-of-range numbers are clamped instead of rejected",
        request=_stream_clamps,
    ),
    # --- streaming
    Mutation(
        "stream_flag_ignored",
        "streaming",
        SEMANTIC,
        _rules("stream_answered_as_event_stream"),
        "stream: true is answered with one JSON document",
        request=_stream_flag_ignored,
    ),
    Mutation(
        "stream_ignores_truncation",
        "streaming",
        SEMANTIC,
        _rules("stream_usage_in_last_chunk", "invalid_values_rejected", "negative_data_rejection"),
        "with stream: true, prompt_truncate_len is neither checked nor applied",
        request=_stream_drops_truncation,
    ),
    Mutation(
        "stream_new_id_per_chunk",
        "streaming",
        SEMANTIC,
        _rules("stream_chunks_share_id"),
        "every chunk of a stream has a new id",
        response=_on_stream(_new_id_per_chunk),
    ),
    Mutation(
        "stream_created_per_chunk",
        "streaming",
        SEMANTIC,
        _rules("created_is_unix_seconds"),
        "every chunk of a stream is stamped with its own created time",
        response=_on_stream(_created_per_chunk),
    ),
    Mutation(
        "stream_never_finishes",
        "streaming",
        SEMANTIC,
        _rules("stream_finish_reason_only_at_end"),
        "no chunk of a stream ever carries a finish_reason",
        response=_on_stream(_never_finishes),
    ),
    Mutation(
        "stream_role_in_every_chunk",
        "streaming",
        SEMANTIC,
        _rules("stream_role_only_in_first_chunk"),
        "every chunk's delta repeats role: assistant",
        response=_on_stream(_role_everywhere),
    ),
    Mutation(
        "stream_usage_in_every_chunk",
        "streaming",
        SEMANTIC,
        _rules("stream_usage_only_in_last_chunk"),
        "every chunk of a stream carries usage",
        response=_on_stream(_usage_everywhere),
    ),
    Mutation(
        "stream_usage_missing",
        "streaming",
        SEMANTIC,
        _rules("stream_usage_only_in_last_chunk"),
        "the last chunk of a stream (the usage-only one, where there is one) has usage: null",
        response=_on_stream(_usage_missing),
    ),
    Mutation(
        "stream_without_done",
        "streaming",
        SEMANTIC,
        _rules("stream_ends_with_done"),
        "the stream ends without data: [DONE]",
        response=_on_stream(_no_done),
    ),
    Mutation(
        "stream_done_without_blank_line",
        "streaming",
        SEMANTIC,
        _rules("stream_ends_with_done"),
        "the stream ends with data: [DONE] and one line end, so the event is never dispatched",
        response=_on_stream(_done_without_blank_line),
    ),
    Mutation(
        "stream_counts_chunks_as_tokens",
        "streaming",
        SEMANTIC,
        _rules("finish_reason_matches_usage", "completion_within_max_tokens"),
        "a stream's completion_tokens is its number of chunks",
        response=_on_stream(_completion_counts_chunks),
    ),
    Mutation(
        "stream_drops_first_piece",
        "streaming",
        STRICT,  # usage still counts the piece: only comparing with the plain answer shows it
        _rules("stream_matches_non_stream"),
        "the first piece of content of a stream is lost",
        response=_on_stream(_first_piece_dropped),
    ),
    Mutation(
        "stream_ignores_temperature",
        "streaming",
        STRICT,
        # the streamed answer is sampled at the default temperature: it differs from the plain
        # one (unless the random draw happens to agree: about 1 run in 60 on the reference
        # server); and since temperature is dropped before validation, an out-of-range one
        # is accepted on the streaming path, which the validation property always sees
        _rules("stream_matches_non_stream", "invalid_values_rejected"),
        "the streaming code path drops temperature, so its joined deltas differ from the "
        "plain answer at temperature 0 (and its range goes unchecked)",
        request=_stream_ignores_temperature,
    ),
)


# ---------------------------------------------------------------------------------------------
# One server, mutations swapped in and out


class _Switch:
    """An ASGI app that forwards to whatever app is current."""

    def __init__(self, app: ASGIApp) -> None:
        self.base = app
        self.current = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.current(scope, receive, send)


REFERENCE = "reference"
"""The name of the reference server in :func:`mutation_server`."""


@dataclass
class MutationServer:
    name: str
    """``reference`` or the name of a variant (``variant_server.VARIANTS``)."""
    base_url: str
    token: str
    model: str
    context_length: int
    _switch: _Switch
    """The app the server serves (mutations swap what it forwards to)."""
    _faulted: Callable[[Mutation], ASGIApp | None]
    """The app with a ``patch`` mutation's bug built in (``None``: apply ``mutation.patch``)."""

    @property
    def app(self) -> ASGIApp:
        """The served app, for in-process calls: whatever mutation is applied applies too."""
        return self._switch

    def unsupported(self, mutation: Mutation) -> str | None:
        """Why ``mutation`` cannot be applied to, or cannot show on, this server (else None)."""
        reason = mutation.unobservable.get(self.name)
        if reason is not None:
            return f"{mutation.name} on {self.name}: {reason}"
        return None

    @contextlib.contextmanager
    def mutated(self, mutation: Mutation | None) -> Iterator[None]:
        """Apply ``mutation`` (``None``: the unmutated server) for the ``with`` block."""
        patcher = Patcher()
        app = self._switch.base
        try:
            if mutation is not None and mutation.patch is not None:
                faulted = self._faulted(mutation)
                if faulted is None:
                    mutation.patch(patcher)
                else:
                    app = faulted
            if mutation is not None and (mutation.request or mutation.response):
                app = _middleware(app, self.token, mutation)
            self._switch.current = app
            yield
        finally:
            self._switch.current = self._switch.base
            patcher.undo()


@contextlib.contextmanager
def mutation_server(
    name: str = REFERENCE, *, window: int | None = None
) -> Iterator[MutationServer]:
    """One server on a free loopback port, ready to be mutated: the reference server
    (``chat-text-mini``, its 512-token window) or the variant ``name`` (its first model).
    ``window``: that model's context window instead (e.g. 131,072, as most current models)."""
    from chat_text_server import create_app
    from chat_text_server.testing import running_server

    token = "mut-" + secrets.token_urlsafe(18)
    faulted: Callable[[Mutation], ASGIApp | None]
    base: ASGIApp
    if name == REFERENCE:
        model, context = "chat-text-mini", 512 if window is None else window
        base = create_app([token], models=None if window is None else {model: context})

        def faulted(mutation: Mutation) -> ASGIApp | None:
            return None

    else:
        from .variant_server import VARIANTS, create_variant_app

        # Without the timing switches (latency, stream_delay): they slow every request and
        # make no fault easier or harder to see.
        variant = dataclasses.replace(VARIANTS[name], latency=0.0, stream_delay=0.0)
        model, context = next(iter(variant.models.items()))
        if window is not None:
            context = window
            variant = dataclasses.replace(variant, models={model: window})
        base = create_variant_app(variant, [token])

        def faulted(mutation: Mutation) -> ASGIApp | None:
            bugged = dataclasses.replace(variant, faults=frozenset({mutation.name}))
            app: ASGIApp = create_variant_app(bugged, [token])
            return app

    switch = _Switch(base)
    with running_server(switch, tokens=[token]) as base_url:
        yield MutationServer(name, base_url, token, model, context, switch, faulted)
