"""The ASGI app: ``POST /inference/chat_text`` as the spec describes it.

The operation is a plain ASGI endpoint (no per-request Request/Response objects) mounted
in a Starlette router, which answers unknown paths (404) and methods (405). Every failure
becomes the spec's ``ErrorResponse``; an unexpected exception becomes a 500 with that body
and is logged without request headers (so a token never reaches a log).

Order of checks: bearer token (401), Content-Type (415), size (413, from Content-Length
and while reading), JSON (400), schema (400), model (404), prompt fitting (400
``prompt_too_long``), then generation.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import chat_text_spec

from . import engine
from .errors import ApiError, error_body

__all__ = ["STREAM_PIECES_PER_CHUNK", "ChatTextEndpoint", "create_app"]

logger = logging.getLogger("chat_text_server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STREAM_PIECES_PER_CHUNK = 4
"""Tokens per ``delta.content`` chunk of a stream."""

_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"


Headers = dict[bytes, bytes]
"""Request headers by lower-case name (the last one wins when a name repeats)."""


class ChatTextEndpoint:
    """The ASGI callable serving the operation for one set of tokens and models."""

    def __init__(self, tokens: Sequence[str], models: Mapping[str, int]) -> None:
        self._tokens = [t.encode("utf-8") for t in tokens]
        self._models = dict(models)
        self._validator = chat_text_spec.RequestValidator()
        self._limit = self._validator.max_body_bytes
        # Response ids: a random per-app prefix and a counter, unique without a syscall.
        self._id_prefix = "chatcmpl-" + os.urandom(6).hex()
        self._id_counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            answer = await self._handle(dict(scope["headers"]), receive)
        except ApiError as exc:
            await _send_error(send, exc)
            return
        except chat_text_spec.InvalidRequest as exc:  # the spec's request validator refused it
            body = orjson.dumps(error_body(exc.code, exc.message, exc.field))
            await _send_json(send, exc.status, body)
            return
        except Exception:
            # Never a traceback to the caller; headers (and so tokens) are not logged.
            logger.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            await _send_error(send, ApiError.internal())
            return
        if isinstance(answer, bytes):
            # The 200 answer, sent inline (the hot path): _send_json without its extras.
            headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(answer))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer, "more_body": False})
        else:
            await _send_stream(send, answer)

    # -- checks -------------------------------------------------------------------------

    def _authorize(self, headers: Headers) -> None:
        value = headers.get(b"authorization")
        if value is not None and value[:7] == b"Bearer ":
            # Fast path for the common, well-formed header: exactly what the general path
            # below extracts when nothing around or inside the token is whitespace.
            token = value[7:]
            if token and b" " not in token and token.strip() == token:
                matched = False
                for known in self._tokens:  # every token is compared: no early exit
                    matched |= hmac.compare_digest(token, known)
                if matched:
                    return
                raise ApiError.unauthorized("Invalid bearer token.")
        if value is None or not value.strip():
            raise ApiError.unauthorized("Missing bearer token in the Authorization header.")
        scheme, _, token = value.strip().partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token or b" " in token:
            raise ApiError.unauthorized(
                "Malformed Authorization header: expected 'Bearer <token>'."
            )
        matched = False
        for known in self._tokens:  # every token is compared: no early exit
            matched |= hmac.compare_digest(token, known)
        if not matched:
            raise ApiError.unauthorized("Invalid bearer token.")

    @staticmethod
    def _check_content_type(headers: Headers) -> None:
        raw = headers.get(b"content-type")
        if raw == b"application/json":
            return
        got = raw.decode("latin-1") if raw is not None else ""
        media, *params = got.split(";")
        ok = media.strip().lower() == "application/json"
        for param in params:
            key, _, val = param.partition("=")
            if key.strip().lower() == "charset" and val.strip().strip('"').lower() not in {
                "utf-8",
                "utf8",
            }:
                ok = False
        if not ok:
            shown = got.strip()[:100] or "no Content-Type"
            raise ApiError(
                415,
                "unsupported_media_type",
                f"Content-Type must be application/json, got {shown}.",
            )

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "request_too_large",
            f"The request body exceeds the limit of {self._limit} bytes.",
        )

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None:
            text = declared.strip()
            if not text.isdigit():
                raise ApiError.invalid("The Content-Length header is not a number.")
            if int(text) > self._limit:
                raise self._too_large()
        message = await receive()
        if message["type"] != "http.request":
            raise ApiError.invalid("The client disconnected before sending the body.")
        first: bytes = message.get("body", b"")
        if len(first) > self._limit:
            raise self._too_large()
        if not message.get("more_body", False):
            return first  # the usual case: the whole body in one message
        chunks = [first]
        size = len(first)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ApiError.invalid("The client disconnected before sending the body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- the operation ------------------------------------------------------------------

    async def _handle(self, headers: Headers, receive: Receive) -> bytes | list[bytes]:
        """Check and answer one request: the JSON body, or the stream's events."""
        self._authorize(headers)
        self._check_content_type(headers)
        body = await self._read_body(headers, receive)
        request = self._validator.validate(chat_text_spec.parse_json(body))

        model: str = request["model"]
        context_length = self._models.get(model)
        if context_length is None:
            raise ApiError(404, "model_not_found", f"Unknown model: {model}", "model")
        messages = request["messages"]
        try:
            kept, prompt_tokens = engine.truncate_messages(
                messages, request["prompt_truncate_len"], context_length
            )
            max_tokens = engine.fit_max_tokens(prompt_tokens, request["max_tokens"], context_length)
        except engine.PromptTooLong as exc:
            raise ApiError(
                400,
                "prompt_too_long",
                f"The prompt needs {exc.prompt_tokens} tokens after truncation but model "
                f"{model} has a context window of {exc.context_length} tokens, leaving no "
                "room for an answer.",
                "messages",
            ) from None
        pieces, finish = engine.generate(
            kept, max_tokens, request["temperature"], top_p=request["top_p"], model=model
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        response_id = f"{self._id_prefix}{next(self._id_counter):08x}"
        created = int(time.time())
        if request["stream"]:
            return list(stream_events(response_id, created, model, pieces, finish, usage))
        document = {
            "id": response_id,
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces)},
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
        }
        return orjson.dumps(document)


def stream_events(
    response_id: str,
    created: int,
    model: str,
    pieces: Sequence[str],
    finish: str,
    usage: Mapping[str, int],
) -> Iterator[bytes]:
    """The server-sent events of a streamed answer, ``data: [DONE]`` included."""

    def event(delta: dict[str, str], reason: str | None, use: Mapping[str, int] | None) -> bytes:
        chunk = {
            "id": response_id,
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            "usage": use,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    yield event({"role": "assistant", "content": ""}, None, None)
    step = STREAM_PIECES_PER_CHUNK
    starts = range(0, len(pieces), step)
    for start in starts:
        last = start == starts[-1]
        text = "".join(pieces[start : start + step])
        yield event({"content": text}, finish if last else None, usage if last else None)
    if not pieces:
        yield event({"content": ""}, finish, usage)
    yield _DONE


async def _send_stream(send: Send, events: Sequence[bytes]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    for data in events:
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_json(
    send: Send, status: int, body: bytes, extra: Mapping[str, str] | None = None
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    if extra:
        for key, value in extra.items():
            headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_error(send: Send, error: ApiError) -> None:
    await _send_json(send, error.status, error.body(), error.headers)


def _error_response(error: ApiError) -> Response:
    return Response(
        error.body(), status_code=error.status, headers=error.headers, media_type="application/json"
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError(
            405,
            "method_not_allowed",
            f"Method {request.method} is not allowed on {request.url.path}.",
            headers={"Allow": "POST"},
        )
    elif exc.status_code == 404:
        error = ApiError(404, "not_found", f"No such path: {request.url.path[:200]}")
    else:
        error = ApiError(exc.status_code, "http_error", str(exc.detail) or "HTTP error.")
    return _error_response(error)


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error("unexpected %s in %s %s", type(exc).__name__, request.method, request.url.path)
    return _error_response(ApiError.internal())


class ChatTextApp(Starlette):
    """Starlette, with ``POST /inference/chat_text`` dispatched straight to its endpoint.

    The endpoint answers every outcome itself (including its own 500), so the router and the
    exception middleware add nothing on the hot path; every other request goes through them
    (404, 405 with the spec's error body).
    """

    def __init__(self, endpoint: ChatTextEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == chat_text_spec.OPERATION_PATH
            and scope["method"] == "POST"
        ):
            await self.endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(tokens: Sequence[str], *, models: Mapping[str, int] | None = None) -> Starlette:
    """The reference server as an ASGI app.

    ``tokens``: the bearer tokens it accepts (at least one). ``models``: model name → context
    window in tokens; by default :data:`chat_text_server.engine.MODELS`.
    """
    if isinstance(tokens, str | bytes):
        raise TypeError("tokens must be a sequence of strings, not a single string")
    token_list = [t for t in tokens if t]
    if not token_list:
        raise ValueError("create_app needs at least one non-empty bearer token")
    chosen = dict(engine.MODELS if models is None else models)
    if not chosen or any(not isinstance(v, int) or v < 2 for v in chosen.values()):
        raise ValueError("models must map at least one name to a context length >= 2")
    endpoint = ChatTextEndpoint(token_list, chosen)
    app = ChatTextApp(
        endpoint,
        routes=[Route(chat_text_spec.OPERATION_PATH, endpoint, methods=["POST"])],
        exception_handlers={HTTPException: _http_exception, Exception: _internal_error},
    )
    app.router.redirect_slashes = False
    app.state.models = chosen
    return app
