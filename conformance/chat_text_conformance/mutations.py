"""Realistic faults to inject into the reference server, one at a time, to test the suite.

Each :class:`Mutation` is a bug a real implementation of ``POST /inference/chat_text`` could
ship: a wrong branch in truncation, an off-by-one in max_tokens, an auth shortcut, a sloppy
stream. It is applied either by replacing one function of :mod:`chat_text_server.engine` /
:mod:`chat_text_server.app` / :mod:`chat_text_server.validation` (the server always calls them
through their module, so the replacement takes effect), or by wrapping the ASGI app in a
middleware that rewrites responses.

:func:`mutation_server` starts ONE reference server on a free loopback port whose app can be
swapped; :meth:`MutationServer.mutated` applies a mutation for the duration of a ``with``
block and undoes it afterwards. The conformance suite's mutation tests
(``tests/test_mutations.py``) check that the default (semantic) level catches every one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MUTATIONS", "Mutation", "MutationServer", "Patcher", "mutation_server"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
Rewrite = Callable[[int, Headers, bytes, Mapping[str, Any]], tuple[int, Headers, bytes]]
"""(status, headers, body, request JSON or {}) → the corrupted (status, headers, body)."""


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


@dataclass(frozen=True)
class Mutation:
    name: str
    kind: str
    """``shape``, ``auth``, ``semantics``, ``validation`` or ``streaming``."""
    description: str
    patch: Callable[[Patcher], None] | None = None
    rewrite: Rewrite | None = None


# ---------------------------------------------------------------------------------------------
# Response-rewriting middleware


def _rewriting(app: ASGIApp, rewrite: Rewrite) -> ASGIApp:
    """Buffer each response of ``app`` and pass it through ``rewrite`` before sending it."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_chunks: list[bytes] = []

        async def recording_receive() -> Message:
            message = await receive()
            if message.get("type") == "http.request":
                request_chunks.append(message.get("body", b""))
            return message

        start: Message = {}
        body: list[bytes] = []

        async def buffering_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await app(scope, recording_receive, buffering_send)
        try:
            request = json.loads(b"".join(request_chunks))
        except ValueError:
            request = {}
        status, headers, data = rewrite(
            start["status"],
            list(start.get("headers", [])),
            b"".join(body),
            request if isinstance(request, dict) else {},
        )
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(data)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data, "more_body": False})

    return wrapped


def _media(headers: Headers) -> str:
    for key, value in headers:
        if key.lower() == b"content-type":
            return value.decode("latin-1").split(";")[0].strip()
    return ""


def _on_json_200(edit: Callable[[dict[str, Any], Mapping[str, Any]], None]) -> Rewrite:
    """Edit the JSON document of every successful non-streamed answer."""

    def rewrite(
        status: int, headers: Headers, body: bytes, request: Mapping[str, Any]
    ) -> tuple[int, Headers, bytes]:
        if status != 200 or _media(headers) != "application/json":
            return status, headers, body
        doc = json.loads(body)
        edit(doc, request)
        return status, headers, json.dumps(doc).encode()

    return rewrite


def _drop_created(doc: dict[str, Any], request: Mapping[str, Any]) -> None:
    del doc["created"]


def _usage_as_strings(doc: dict[str, Any], request: Mapping[str, Any]) -> None:
    doc["usage"] = {k: str(v) for k, v in doc["usage"].items()}


def _total_off(doc: dict[str, Any], request: Mapping[str, Any]) -> None:
    doc["usage"]["total_tokens"] = doc["usage"]["completion_tokens"]


def _canonical_model(doc: dict[str, Any], request: Mapping[str, Any]) -> None:
    doc["model"] = f"{doc['model']}-2026-01-01"


def _status_201(
    status: int, headers: Headers, body: bytes, request: Mapping[str, Any]
) -> tuple[int, Headers, bytes]:
    return (201 if status == 200 else status), headers, body


def _fastapi_422(
    status: int, headers: Headers, body: bytes, request: Mapping[str, Any]
) -> tuple[int, Headers, bytes]:
    if status != 400:
        return status, headers, body
    error = json.loads(body)["error"]
    if error["code"] != "invalid_request":
        return status, headers, body
    detail = {"detail": [{"loc": ["body", error.get("field")], "msg": error["message"]}]}
    return 422, headers, json.dumps(detail).encode()


def _no_challenge(
    status: int, headers: Headers, body: bytes, request: Mapping[str, Any]
) -> tuple[int, Headers, bytes]:
    return status, [(k, v) for k, v in headers if k.lower() != b"www-authenticate"], body


# ---------------------------------------------------------------------------------------------
# Engine / app / validation replacements


def _engine() -> Any:
    from chat_text_server import engine

    return engine


def _app_module() -> Any:
    from chat_text_server import app

    return app


def _truncate_with(
    order: Callable[[int], Sequence[int]],
    *,
    keep_system: bool = True,
    keep_last: bool = True,
    fits: Callable[[int, int], bool] = lambda total, limit: total <= limit,
    report_untruncated: bool = False,
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
        if total >= context_length:
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


def _fixed_id(p: Patcher) -> None:
    p.setattr(_app_module(), "_response_id", lambda: "chatcmpl-0000000000000000")


def _authorize_with(accept: Callable[[bytes, Sequence[bytes]], bool], echo: bool = False) -> Any:
    from chat_text_server.errors import ApiError

    def authorize(self: Any, scope: Scope) -> None:
        value = None
        for key, val in scope["headers"]:
            if key == b"authorization":
                value = bytes(val)
        if value is None:
            raise ApiError.unauthorized("Missing bearer token in the Authorization header.")
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"bearer":
            raise ApiError.unauthorized("Malformed Authorization header.")
        token = token.strip()
        if not accept(token, self._tokens):
            shown = f": {token.decode('latin-1')}" if echo else "."
            raise ApiError.unauthorized(f"Invalid bearer token{shown}")

    return authorize


def _patch_auth(accept: Callable[[bytes, Sequence[bytes]], bool], echo: bool = False) -> Any:
    def patch(p: Patcher) -> None:
        p.setattr(_app_module().ChatTextEndpoint, "_authorize", _authorize_with(accept, echo=echo))

    return patch


def _patch_validator(edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Any:
    """Post-process RequestValidator.validate's result: edit(result, raw document)."""

    def patch(p: Patcher) -> None:
        from chat_text_server.validation import RequestValidator

        original = RequestValidator.validate

        def validate(self: Any, document: Any) -> dict[str, Any]:
            request = original(self, document)
            edit(request, document)
            return request

        p.setattr(RequestValidator, "validate", validate)

    return patch


def _null_max_tokens_unlimited(request: dict[str, Any], document: dict[str, Any]) -> None:
    if "max_tokens" in document and document["max_tokens"] is None:
        request["max_tokens"] = 1 << 20


def _schema_edit(edit: Callable[[dict[str, Any]], None]) -> Any:
    """Validate requests against an edited copy of the spec's request schema."""

    def patch(p: Patcher) -> None:
        import jsonschema_rs

        import chat_text_spec
        from chat_text_server.validation import RequestValidator

        schema = json.loads(json.dumps(chat_text_spec.request_schema()))
        edit(schema)
        schema["components"] = {"schemas": chat_text_spec.load_spec()["components"]["schemas"]}
        compiled = jsonschema_rs.validator_for(schema)
        original = RequestValidator.validate

        def validate(self: Any, document: Any) -> dict[str, Any]:
            saved = self._validator
            self._validator = compiled
            try:
                result: dict[str, Any] = original(self, document)
            finally:
                self._validator = saved
            return result

        p.setattr(RequestValidator, "validate", validate)

    return patch


def _allow_unknown_fields(schema: dict[str, Any]) -> None:
    schema["additionalProperties"] = True


def _temperature_max_exclusive(schema: dict[str, Any]) -> None:
    for alt in schema["properties"]["temperature"]["anyOf"]:
        if "maximum" in alt:
            alt["exclusiveMaximum"] = alt.pop("maximum")


def _patch_stream(
    transform: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], *, done: bool = True
) -> Callable[[Patcher], None]:
    """Replace the app's stream_events with one whose chunks pass through ``transform``."""

    def patch(p: Patcher) -> None:
        module = _app_module()
        original = module.stream_events

        def stream_events(*args: Any, **kwargs: Any) -> Iterator[bytes]:
            chunks = []
            for event in original(*args, **kwargs):
                payload = event.decode()[len("data: ") :].strip()
                if payload != "[DONE]":
                    chunks.append(json.loads(payload))
            for chunk in transform(chunks):
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
            if done:
                yield b"data: [DONE]\n\n"

        p.setattr(module, "stream_events", stream_events)

    return patch


def _usage_everywhere(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    usage = chunks[-1]["usage"]
    return [{**c, "usage": usage} for c in chunks]


def _usage_missing(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "usage": None} for c in chunks]


def _identity(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return chunks


def _first_piece_dropped(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [chunks[0]]
    for i, chunk in enumerate(chunks[1:]):
        if i == 0 and len(chunks) > 2:
            continue  # the first content chunk is lost (an off-by-one in the chunk loop)
        out.append(chunk)
    return out


def _completion_counts_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = dict(chunks[-1])
    usage = dict(last["usage"])
    usage["completion_tokens"] = len(chunks) - 1
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    last["usage"] = usage
    return [*chunks[:-1], last]


def _exact_token(token: bytes, known: Sequence[bytes]) -> bool:
    return token in known


MUTATIONS: tuple[Mutation, ...] = (
    # --- shape
    Mutation(
        "response_missing_created",
        "shape",
        "answers lack the required created field",
        rewrite=_on_json_200(_drop_created),
    ),
    Mutation(
        "usage_counts_as_strings",
        "shape",
        'usage numbers sent as strings ("12")',
        rewrite=_on_json_200(_usage_as_strings),
    ),
    Mutation("success_is_201", "shape", "success answered 201 instead of 200", rewrite=_status_201),
    Mutation(
        "validation_errors_are_422",
        "shape",
        "invalid requests answered 422 with a FastAPI-style {detail} body",
        rewrite=_fastapi_422,
    ),
    # --- auth
    Mutation(
        "accepts_any_token",
        "auth",
        "any bearer token is accepted",
        patch=_patch_auth(lambda token, known: bool(token)),
    ),
    Mutation(
        "accepts_token_prefix",
        "auth",
        "a prefix of a valid token is accepted (startswith comparison)",
        patch=_patch_auth(lambda token, known: any(k.startswith(token) for k in known if token)),
    ),
    Mutation(
        "no_www_authenticate",
        "auth",
        "401 without the WWW-Authenticate challenge",
        rewrite=_no_challenge,
    ),
    Mutation(
        "echoes_token",
        "auth",
        "the rejected token is quoted in the 401 message",
        patch=_patch_auth(_exact_token, echo=True),
    ),
    # --- semantics
    Mutation(
        "usage_total_not_sum",
        "semantics",
        "usage.total_tokens is completion_tokens only",
        rewrite=_on_json_200(_total_off),
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
        rewrite=_on_json_200(_canonical_model),
    ),
    Mutation("ids_repeat", "semantics", "every answer has the same id", patch=_fixed_id),
    Mutation(
        "nondeterministic_at_temperature_0",
        "semantics",
        "temperature 0 samples like any other temperature",
        patch=_patch_generate(random_seed=True),
    ),
    Mutation(
        "null_max_tokens_unlimited",
        "semantics",
        "max_tokens: null means no limit instead of the default",
        patch=_patch_validator(_null_max_tokens_unlimited),
    ),
    # --- validation
    Mutation(
        "unknown_fields_ignored",
        "validation",
        "unknown request fields are silently ignored",
        patch=_schema_edit(_allow_unknown_fields),
    ),
    Mutation(
        "temperature_max_exclusive",
        "validation",
        "temperature equal to its maximum is rejected (exclusive bound)",
        patch=_schema_edit(_temperature_max_exclusive),
    ),
    # --- streaming
    Mutation(
        "stream_usage_in_every_chunk",
        "streaming",
        "every chunk of a stream carries usage",
        patch=_patch_stream(_usage_everywhere),
    ),
    Mutation(
        "stream_usage_missing",
        "streaming",
        "the last chunk of a stream has no usage",
        patch=_patch_stream(_usage_missing),
    ),
    Mutation(
        "stream_without_done",
        "streaming",
        "the stream ends without data: [DONE]",
        patch=_patch_stream(_identity, done=False),
    ),
    Mutation(
        "stream_drops_first_piece",
        "streaming",
        "the first content chunk of a stream is lost",
        patch=_patch_stream(_first_piece_dropped),
    ),
    Mutation(
        "stream_counts_chunks_as_tokens",
        "streaming",
        "a stream's completion_tokens is its number of chunks",
        patch=_patch_stream(_completion_counts_chunks),
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
            if mutation is not None and mutation.rewrite is not None:
                self._switch.current = _rewriting(self._switch.base, mutation.rewrite)
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
