"""Realistic faults to inject into the reference server, one at a time, to test the suite.

Each :class:`Mutation` is a bug a real implementation of ``POST /inference/chat_text`` could
ship: a wrong branch in truncation, an off-by-one in max_tokens, an auth shortcut, a sloppy
stream. It is applied in one of two ways:

* ``patch``: replace one function of :mod:`chat_text_server.engine` (``truncate_messages``,
  ``fit_max_tokens``, ``generate``: the engine documents them as its replaceable steps and
  the app always calls them through the module);
* ``wrap``: put a middleware in front of the app that edits the request (headers, JSON body)
  and/or rewrites the response (status, headers, JSON document or event stream). This needs
  nothing of the app's internals.

:func:`mutation_server` starts ONE reference server on a free loopback port whose app can be
swapped; :meth:`MutationServer.mutated` applies a mutation for the duration of a ``with``
block and undoes it afterwards. ``tests/test_mutations.py`` checks that the default
(semantic) level of the suite catches every one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import chat_text_spec

__all__ = ["MUTATIONS", "Mutation", "MutationServer", "Patcher", "mutation_server"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


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

    @property
    def bearer(self) -> str:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""


EditRequest = Callable[[Exchange], "tuple[int, dict[str, Any]] | None"]
"""Edit ``headers``/``body`` in place, or return (status, JSON document) to answer at once."""
EditResponse = Callable[[Exchange], None]
"""Edit ``status``, ``response_headers``, ``document`` or ``chunks``/``done`` in place."""


@dataclass(frozen=True)
class Mutation:
    name: str
    kind: str
    """``shape``, ``auth``, ``semantics``, ``validation`` or ``streaming``."""
    description: str
    patch: Callable[[Patcher], None] | None = None
    request: EditRequest | None = None
    response: EditResponse | None = None


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
            if exchange.document is not None:
                data = json.dumps(exchange.document).encode()
            elif exchange.chunks is not None:
                data = b"".join(
                    b"data: " + json.dumps(c).encode() + b"\n\n" for c in exchange.chunks
                )
                data += b"data: [DONE]\n\n" if exchange.done else b""
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
            return value.decode("latin-1").split(";")[0].strip()
    return ""


def _parse_events(data: bytes) -> tuple[list[dict[str, Any]], bool]:
    chunks: list[dict[str, Any]] = []
    done = False
    for block in data.decode().split("\n\n"):
        if block.startswith("data: "):
            payload = block[len("data: ") :]
            if payload.strip() == "[DONE]":
                done = True
            else:
                chunks.append(json.loads(payload))
    return chunks, done


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
    doc["usage"] = {k: str(v) for k, v in doc["usage"].items()}


def _total_off(doc: dict[str, Any]) -> None:
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
    if len(chunks) > 2:
        del chunks[1]  # the first content chunk is lost: an off-by-one in the chunk loop


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
    from chat_text_conformance.properties._conversations import content_max_length

    limit = content_max_length()
    messages = ex.body.get("messages") if isinstance(ex.body, dict) else None
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and len(content.encode()) > limit:
            where = f"messages[{i}].content"
            error = {"code": "invalid_request", "message": f"{where} is too long", "field": where}
            return 400, {"error": error}
    return None


def _body_limit_inclusive(ex: Exchange) -> tuple[int, dict[str, Any]] | None:
    """A body of exactly x-max-body-bytes is refused (>= instead of >)."""
    limit = chat_text_spec.max_body_bytes()
    if ex.size >= limit:
        message = f"The request body exceeds the limit of {limit} bytes."
        return 413, {"error": {"code": "request_too_large", "message": message, "field": None}}
    return None


def _stream_token_accepted(ex: Exchange) -> None:
    """The streaming code path forgot the auth check."""
    if isinstance(ex.body, dict) and ex.body.get("stream") is True:
        ex.headers["authorization"] = f"Bearer {ex.token}"


def _stream_drops_truncation(ex: Exchange) -> None:
    """The streaming code path does not pass prompt_truncate_len on."""
    if isinstance(ex.body, dict) and ex.body.get("stream") is True:
        ex.body = {k: v for k, v in ex.body.items() if k != "prompt_truncate_len"}


def _stream_clamps(ex: Exchange) -> None:
    """The streaming code path clamps numbers into range instead of rejecting them."""
    if not (isinstance(ex.body, dict) and ex.body.get("stream") is True):
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
            model: str = "",
            seed: int | None = None,
        ) -> tuple[list[str], str]:
            if random_seed:
                seed = int.from_bytes(os.urandom(8))
            pieces, reason = original(
                messages, max_tokens + extra_tokens, temperature, model=model, seed=seed
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


MUTATIONS: tuple[Mutation, ...] = (
    # --- shape
    Mutation(
        "response_missing_created",
        "shape",
        "answers lack the required created field",
        response=_on_answer(_drop_created),
    ),
    Mutation(
        "usage_counts_as_strings",
        "shape",
        'usage numbers sent as strings ("12")',
        response=_on_answer(_usage_as_strings),
    ),
    Mutation(
        "success_is_201", "shape", "success answered 201 instead of 200", response=_status_201
    ),
    Mutation(
        "validation_errors_are_422",
        "shape",
        "invalid requests answered 422 with a FastAPI-style {detail} body",
        response=_fastapi_422,
    ),
    # --- auth
    Mutation(
        "accepts_any_token", "auth", "any bearer token is accepted", request=_any_bearer_accepted
    ),
    Mutation(
        "accepts_token_prefix",
        "auth",
        "a prefix of a valid token is accepted (startswith comparison)",
        request=_prefix_accepted,
    ),
    Mutation(
        "token_case_insensitive",
        "auth",
        "tokens are compared case-insensitively",
        request=_case_insensitive_token,
    ),
    Mutation(
        "no_www_authenticate",
        "auth",
        "401 without the WWW-Authenticate challenge",
        response=_no_challenge,
    ),
    Mutation(
        "echoes_token",
        "auth",
        "the rejected token is quoted in the 401 message",
        response=_echo_token,
    ),
    # --- semantics
    Mutation(
        "usage_total_not_sum",
        "semantics",
        "usage.total_tokens is completion_tokens only",
        response=_on_answer(_total_off),
    ),
    Mutation(
        "max_tokens_off_by_one",
        "semantics",
        "generation runs one token past max_tokens",
        patch=_patch_generate(extra_tokens=1),
    ),
    Mutation(
        "max_tokens_not_lowered",
        "semantics",
        "prompt + max_tokens over the context window is an error instead of being lowered",
        patch=_max_tokens_not_lowered,
    ),
    Mutation(
        "max_tokens_lowered_one_too_far",
        "semantics",
        "max_tokens is lowered to one more than the room left",
        patch=_lowered_one_too_far,
    ),
    Mutation(
        "truncation_evicts_system",
        "semantics",
        "truncation evicts system messages too",
        patch=_patch_truncation(order=_oldest_first, keep_system=False),
    ),
    Mutation(
        "truncation_newest_first",
        "semantics",
        "truncation evicts the newest turns first",
        patch=_patch_truncation(order=_newest_first),
    ),
    Mutation(
        "truncation_ignores_limit",
        "semantics",
        "prompt_truncate_len is ignored (nothing is evicted)",
        patch=_patch_truncation(order=_no_eviction),
    ),
    Mutation(
        "truncation_off_by_one",
        "semantics",
        "truncation evicts until the prompt is strictly below prompt_truncate_len",
        patch=_patch_truncation(order=_oldest_first, fits=lambda total, limit: total < limit),
    ),
    Mutation(
        "truncation_evicts_last",
        "semantics",
        "the last message can be evicted",
        patch=_patch_truncation(order=_oldest_first, keep_last=False),
    ),
    Mutation(
        "prompt_tokens_before_truncation",
        "semantics",
        "usage.prompt_tokens counts the evicted messages too",
        patch=_patch_truncation(order=_oldest_first, report_untruncated=True),
    ),
    Mutation(
        "finish_reason_always_stop",
        "semantics",
        "finish_reason is stop even when max_tokens cut the answer",
        patch=_patch_generate(finish="stop"),
    ),
    Mutation(
        "model_not_echoed",
        "semantics",
        "answers name a dated model version instead of the requested name",
        response=_on_answer(_dated_model),
    ),
    Mutation("ids_repeat", "semantics", "every answer has the same id", response=_fixed_id),
    Mutation(
        "nondeterministic_at_temperature_0",
        "semantics",
        "temperature 0 samples like any other temperature",
        patch=_patch_generate(random_seed=True),
    ),
    Mutation(
        "null_max_tokens_unlimited",
        "semantics",
        "max_tokens: null means the maximum instead of the default",
        request=_null_max_tokens_is_maximum,
    ),
    Mutation(
        "one_token_of_room_refused",
        "semantics",
        "a prompt leaving exactly one token of room is refused as prompt_too_long",
        patch=_room_of_one_refused,
    ),
    Mutation(
        "full_window_accepted",
        "semantics",
        "a prompt that fills the whole window is answered (with 0 tokens) instead of refused",
        patch=_full_window_accepted,
    ),
    Mutation(
        "prompt_tokens_skip_last_message",
        "semantics",
        "usage.prompt_tokens leaves out the last message",
        patch=_last_message_not_counted,
    ),
    Mutation(
        "temperature_zero_cache",
        "semantics",
        "temperature-0 answers cached by messages and replayed (same id, max_tokens ignored)",
        request=_CACHE_REQUEST,
        response=_CACHE_RESPONSE,
    ),
    Mutation(
        "empty_message_crashes",
        "semantics",
        "a last message without any token crashes generation (500)",
        patch=_empty_message_crashes,
    ),
    # --- validation
    Mutation(
        "content_length_in_bytes",
        "validation",
        "content maxLength is checked on UTF-8 bytes, not characters",
        request=_content_bytes_limited,
    ),
    Mutation(
        "body_limit_inclusive",
        "validation",
        "a body of exactly x-max-body-bytes is refused with 413",
        request=_body_limit_inclusive,
    ),
    Mutation(
        "unknown_fields_ignored",
        "validation",
        "unknown request fields are silently ignored",
        request=_unknown_fields_dropped,
    ),
    Mutation(
        "temperature_max_exclusive",
        "validation",
        "temperature equal to its maximum is rejected (exclusive bound)",
        request=_temperature_max_rejected,
    ),
    Mutation(
        "stream_clamps_out_of_range",
        "validation",
        "with stream: true, out-of-range numbers are clamped instead of rejected",
        request=_stream_clamps,
    ),
    # --- streaming
    Mutation(
        "stream_skips_auth",
        "auth",
        "the streaming code path accepts any token",
        request=_stream_token_accepted,
    ),
    Mutation(
        "stream_ignores_truncation",
        "streaming",
        "with stream: true, prompt_truncate_len is ignored",
        request=_stream_drops_truncation,
    ),
    Mutation(
        "stream_role_in_every_chunk",
        "streaming",
        "every chunk's delta repeats role: assistant",
        response=_on_stream(_role_everywhere),
    ),
    Mutation(
        "stream_usage_in_every_chunk",
        "streaming",
        "every chunk of a stream carries usage",
        response=_on_stream(_usage_everywhere),
    ),
    Mutation(
        "stream_usage_missing",
        "streaming",
        "the last chunk of a stream has no usage",
        response=_on_stream(_usage_missing),
    ),
    Mutation(
        "stream_without_done",
        "streaming",
        "the stream ends without data: [DONE]",
        response=_on_stream(_no_done),
    ),
    Mutation(
        "stream_drops_first_piece",
        "streaming",
        "the first content chunk of a stream is lost",
        response=_on_stream(_first_piece_dropped),
    ),
    Mutation(
        "stream_counts_chunks_as_tokens",
        "streaming",
        "a stream's completion_tokens is its number of chunks",
        response=_on_stream(_completion_counts_chunks),
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


@dataclass
class MutationServer:
    base_url: str
    token: str
    _switch: _Switch

    @contextlib.contextmanager
    def mutated(self, mutation: Mutation | None) -> Iterator[None]:
        """Apply ``mutation`` (``None``: the unmutated server) for the ``with`` block."""
        patcher = Patcher()
        try:
            if mutation is not None and mutation.patch is not None:
                mutation.patch(patcher)
            if mutation is not None and (mutation.request or mutation.response):
                self._switch.current = _middleware(self._switch.base, self.token, mutation)
            yield
        finally:
            self._switch.current = self._switch.base
            patcher.undo()


@contextlib.contextmanager
def mutation_server() -> Iterator[MutationServer]:
    """One reference server on a free loopback port, ready to be mutated."""
    from chat_text_server import create_app
    from chat_text_server.testing import running_server

    token = "mut-" + secrets.token_urlsafe(18)
    switch = _Switch(create_app([token]))
    with running_server(switch, tokens=[token]) as base_url:
        yield MutationServer(base_url, token, switch)
