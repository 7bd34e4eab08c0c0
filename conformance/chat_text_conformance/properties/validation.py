"""Properties of the request's validation and authentication, derived from the spec: every
bound, type, enum, required and unknown field; every way to send a wrong token."""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

import chat_text_spec

from ..checks.answer import token_not_echoed
from ..checks.exchange import CheckFailed, NotApplicable
from ..checks.registry import OPERATION, spec, vendor
from ..engine.harness import (
    NotExercised,
    PropertyRun,
    Reply,
    Violation,
    encode,
    error_body,
    expect_status,
    preview,
)
from ..engine.harness import prop as declare_property
from ._conversations import WORDS, content_max_length, question

__all__ = [
    "boundary_values_accepted",
    "invalid_values_rejected",
    "unauthorized_without_valid_token",
]

_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"  # noqa: S105


def _auth_cases(token: str) -> list[tuple[str, str | None, str]]:
    """(description, Authorization header or None, the credential that must not be echoed)."""
    wrong = "ct-wrong-" + secrets.token_hex(8)
    cases: list[tuple[str, str | None, str]] = [
        ("no Authorization header", None, ""),
        ("an unknown token", f"Bearer {wrong}", wrong),
        ("the token with a character appended", f"Bearer {token}x", token + "x"),
        ("the scheme without a token", "Bearer", ""),
        ("the token without a scheme", token, token),
        ("another scheme (Basic)", "Basic Y3Q6d3Jvbmc=", "Y3Q6d3Jvbmc="),
        ("another scheme with the token (Token)", f"Token {token}", token),
        ("two credentials", f"Bearer {wrong} {token}", wrong),
    ]
    if len(token) > 1:
        cases.append(("a prefix of the token", f"Bearer {token[:-1]}", token[:-1]))
    if token.swapcase() != token:
        cases.append(("the token in another case", f"Bearer {token.swapcase()}", token.swapcase()))
    return cases


@declare_property(
    "a missing, malformed or unknown token is answered 401 with WWW-Authenticate: Bearer and "
    "the error body, quoting neither the credential sent nor the real token; the real token "
    "is accepted",
    sources=[
        spec(f"{OPERATION}/responses/401"),
        spec("/components/securitySchemes/bearerAuth/description"),
        vendor(
            "Bearer authentication header of the form Bearer <token>, where <token> is your "
            "auth token."
        ),
    ],
)
def unauthorized_without_valid_token(run: PropertyRun) -> None:
    """Missing, malformed or unknown tokens → 401 with ``WWW-Authenticate: Bearer``, no echo.

    Neither the credential that was sent nor the real token may appear in the body or in any
    response header. The real token itself is accepted (a positive control).
    """
    token = run.target.token

    def check(description: str, header: str | None, sent: str, stream: bool = False) -> None:
        body = run.body(question(3), max_tokens=run.min_tokens)
        if stream:
            body["stream"] = True
        reply = run.post(body, auth=header)
        expect_status(reply, 401, description)
        challenge = reply.headers.get("www-authenticate", "")
        if not challenge.lower().startswith("bearer"):
            raise Violation(
                f"{description}: 401 without a Bearer challenge",
                expected='WWW-Authenticate: Bearer realm="..."',
                actual=f"WWW-Authenticate: {challenge or '(missing)'}",
                reply=reply,
            )
        error_body(reply, description)
        no_echo(run, reply, description, [s for s in (sent, token) if len(s) >= 6])

    for description, header, sent in _auth_cases(token):
        run.evaluate(functools.partial(check, description, header, sent))
    # the streaming path must be guarded just the same
    for description, header, sent in _auth_cases(token)[:2]:
        run.evaluate(functools.partial(check, f"{description}, stream: true", header, sent, True))

    def random_token(drawn: str) -> None:
        sent = "ct-" + drawn
        if sent == token:
            raise NotExercised("the random token is the real one")
        check("a random token", f"Bearer {sent}", sent)

    tokens = st.text(_TOKEN_CHARS, min_size=8, max_size=40)
    # random tokens add to the fixed cases above: a fifth of the budget
    run.examples(tokens, random_token, budget=run.examples_for(5))

    def accepted() -> None:
        reply = run.post(run.body(question(3), max_tokens=run.min_tokens))
        if reply.status == 401:
            raise Violation(
                "the target's own token is rejected",
                expected="HTTP 200",
                actual=f"HTTP 401: {preview(reply.body)}",
                reply=reply,
            )
        expect_status(reply, 200, "with the valid token")
        no_echo(run, reply, "with the valid token", [token] if len(token) >= 6 else [])

    run.evaluate(accepted)


def no_echo(run: PropertyRun, reply: Reply, what: str, secrets_sent: Sequence[str]) -> None:
    """The ``token_not_echoed`` rule for each credential (the one sent and the real token)."""
    exchange = reply.exchange(run.context)
    for secret in secrets_sent:
        try:
            token_not_echoed(dataclasses.replace(exchange, token=secret))
        except NotApplicable:
            continue
        except CheckFailed as failure:
            raise Violation(
                f"{what}: {failure.message}",
                expected=failure.expected,
                actual=failure.actual,
                reply=reply,
            ) from None


# --- invalid values, derived from the request schema ------------------------------------------

_SAMPLES: dict[str, Any] = {
    "string": "not-valid",
    "integer": 7,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def _alternatives(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    schema = chat_text_spec.resolve(schema)
    alts = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [dict(chat_text_spec.resolve(a)) for a in alts]


def _allowed_types(schema: Mapping[str, Any]) -> set[str]:
    types: set[str] = set()
    for alt in _alternatives(schema):
        kind = alt.get("type")
        if kind is None and "enum" in alt:
            kind = sorted({type(v).__name__.replace("str", "string") for v in alt["enum"]})
        if isinstance(kind, str):
            types.add(kind)
        elif isinstance(kind, list):
            types.update(kind)
    if "number" in types:
        types.add("integer")
    return types


def _wrong_types(schema: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    allowed = _allowed_types(schema)
    for kind, sample in _SAMPLES.items():
        if kind not in allowed:
            yield f"a {kind} ({json.dumps(sample)})", sample


def _out_of_range(schema: Mapping[str, Any], valid: Any) -> Iterator[tuple[str, Any]]:
    """Values of the right type just outside each documented bound."""
    for alt in _alternatives(schema):
        kind = alt.get("type")
        step: float = 1 if kind == "integer" else 0.5
        if kind in ("integer", "number"):
            if "minimum" in alt:
                yield f"below the minimum {alt['minimum']}", alt["minimum"] - step
            if "maximum" in alt:
                yield f"above the maximum {alt['maximum']}", alt["maximum"] + step
            if "exclusiveMinimum" in alt:
                yield f"at the exclusive minimum {alt['exclusiveMinimum']}", alt["exclusiveMinimum"]
            if "exclusiveMaximum" in alt:
                yield f"at the exclusive maximum {alt['exclusiveMaximum']}", alt["exclusiveMaximum"]
        elif kind == "string" or "enum" in alt:
            if "enum" in alt:
                yield "a value outside the enum", "not-" + "-".join(map(str, alt["enum"]))
            if alt.get("minLength", 0) > 0:
                yield f"shorter than minLength {alt['minLength']}", "x" * (alt["minLength"] - 1)
            if "maxLength" in alt:
                yield f"longer than maxLength {alt['maxLength']}", "x" * (alt["maxLength"] + 1)
        elif kind == "array" and isinstance(valid, list) and valid:
            if alt.get("minItems", 0) > 0:
                yield f"fewer than minItems {alt['minItems']}", valid[: alt["minItems"] - 1]
            if "maxItems" in alt:
                over = alt["maxItems"] + 1
                yield f"more than maxItems {alt['maxItems']}", (valid * over)[:over]


def _object_cases(
    schema: Mapping[str, Any], valid: Mapping[str, Any], path: str
) -> Iterator[tuple[str, str, Callable[[Any], Any]]]:
    """(path of the field at fault, description, how to corrupt a copy of ``valid``)."""
    schema = chat_text_spec.resolve(schema)
    props: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        yield f"{path}{name}", f"{path}{name} missing", _remover(name)
    if schema.get("additionalProperties") is False:
        extra = "unknown_field"
        yield f"{path}{extra}", f"unknown field {path}{extra}", _setter(extra, 1)
    for name, prop in props.items():
        current = valid.get(name)
        for description, value in [*_wrong_types(prop), *_out_of_range(prop, current)]:
            yield f"{path}{name}", f"{path}{name} {description}", _setter(name, value)
        alts = _alternatives(prop)
        items = next((a["items"] for a in alts if a.get("type") == "array" and "items" in a), None)
        if (
            items is not None
            and isinstance(current, list)
            and current
            and isinstance(current[0], dict)
        ):
            for sub_path, description, corrupt in _object_cases(
                items, current[0], f"{path}{name}[0]."
            ):
                yield sub_path, description, _in_first_item(name, corrupt)
            for description, value in _wrong_types(items):
                yield (
                    f"{path}{name}[0]",
                    f"{path}{name}[0] {description}",
                    _in_first_item(name, _replacer(value)),
                )


Corruption = Callable[[Any], Any]


def _remover(name: str) -> Corruption:
    return lambda obj: {k: v for k, v in obj.items() if k != name}


def _setter(name: str, value: Any) -> Corruption:
    return lambda obj: {**obj, name: value}


def _replacer(value: Any) -> Corruption:
    return lambda obj: value


def _in_first_item(name: str, corrupt: Corruption) -> Corruption:
    return lambda obj: {**obj, name: [corrupt(obj[name][0]), *obj[name][1:]]}


def _names_field(error: Mapping[str, Any], path: str) -> bool:
    """The error's ``field`` (or, failing that, its message) names the top-level field."""
    top = path.split("[")[0].split(".")[0]
    where = error.get("field")
    if isinstance(where, str) and where.split("[")[0].split(".")[0] == top:
        return True
    message = error.get("message")
    return isinstance(message, str) and top in message


@declare_property(
    "wrong-typed, out-of-range, missing and unknown fields are answered 400 naming the field; "
    "an unknown model 404, a non-JSON body 400, a non-JSON media type 415, an oversized body 413",
    sources=[
        spec("/components/schemas/ChatTextRequest"),
        spec(f"{OPERATION}/responses/400/description"),
        spec(f"{OPERATION}/responses/404/description"),
        spec(f"{OPERATION}/responses/413/description"),
        spec(f"{OPERATION}/responses/415/description"),
    ],
)
def invalid_values_rejected(run: PropertyRun) -> None:
    """Wrong-typed, out-of-range, missing and unknown fields → 400 naming the field.

    The cases are derived from the request schema (every property, its type, bounds, enum,
    required and additionalProperties, recursively into ``messages[0]``); a few more draw random
    values outside the numeric bounds. Also: an unknown model → 404 naming ``model``, a body that
    is not JSON → 400, a body over ``x-max-body-bytes`` → 413, a non-JSON media type → 415.
    Every error is an ErrorResponse with a documented status, and never echoes the token.
    """
    valid = run.body(question(3), max_tokens=run.min_tokens)
    _schema_cases_rejected(run, valid)
    _malformed_requests_rejected(run, valid)
    _random_out_of_range_rejected(run, valid)


def _expect_rejected(
    run: PropertyRun, reply: Reply, what: str, status: int, path: str | None
) -> None:
    """``reply`` refuses an invalid request as documented: HTTP ``status`` with an
    ErrorResponse naming the field ``path`` (when given), quoting not the token."""
    token = run.target.token
    # An invalid model name may also be reported as an unknown model (both documented).
    also = {404} if status == 400 and path == "model" else set()
    if reply.status != status and reply.status not in also:
        hint = " (the invalid value was accepted)" if reply.status < 300 else ""
        raise Violation(
            f"{what}: expected HTTP {status}{hint}",
            expected=f"HTTP {status} with an ErrorResponse" + (f" naming {path!r}" if path else ""),
            actual=f"HTTP {reply.status}: {preview(reply.body)}",
            reply=reply,
        )
    error = error_body(reply, what)
    if path is not None and not _names_field(error, path):
        top = path.split("[")[0].split(".")[0]
        message = preview(str(error.get("message")))
        raise Violation(
            f"{what}: the error does not name the field",
            expected=f"error.field (or error.message) naming {top!r}",
            actual=f"field={error.get('field')!r}, message={message!r}",
            reply=reply,
        )
    no_echo(run, reply, what, [token] if len(token) >= 6 else [])


def _schema_cases_rejected(run: PropertyRun, valid: dict[str, Any]) -> None:
    """Every invalid case derived from the request schema → 400 naming its field (a bound or
    an unknown field streamed too: the streaming path must validate just the same)."""

    def post_rejected(body: Any, what: str, status: int, path: str | None) -> None:
        _expect_rejected(run, run.post(body), what, status, path)

    for path, description, corrupt in _object_cases(chat_text_spec.request_schema(), valid, ""):
        body = corrupt(json.loads(json.dumps(valid)))
        run.evaluate(functools.partial(post_rejected, body, description, 400, path))
        bound = "minimum" in description or "maximum" in description or "unknown" in description
        if bound and isinstance(body, dict) and not path.startswith("stream"):
            # the streaming path must validate just the same
            streamed = {**body, "stream": True}
            what = f"{description}, stream: true"
            run.evaluate(functools.partial(post_rejected, streamed, what, 400, path))


def _malformed_requests_rejected(run: PropertyRun, valid: dict[str, Any]) -> None:
    """An unknown model → 404 naming ``model``; a body that is not a JSON object → 400; a
    non-JSON media type → 415; a body over ``x-max-body-bytes`` → 413."""

    def raw_rejected(raw: bytes, what: str, status: int) -> None:
        _expect_rejected(run, run.post(content=raw), what, status, None)

    unknown = "no-such-model-" + secrets.token_hex(4)
    run.evaluate(
        lambda: _expect_rejected(
            run,
            run.post({**valid, "model": unknown}),
            f"unknown model {unknown!r}",
            404,
            "model",
        )
    )
    for description, raw in (
        ("a body that is not JSON", b'{"model": '),
        ("a JSON array body", b"[]"),
        ("an empty body", b""),
    ):
        run.evaluate(functools.partial(raw_rejected, raw, description, 400))
    run.evaluate(
        lambda: _expect_rejected(
            run,
            run.post(content=json.dumps(valid).encode(), content_type="text/plain"),
            "a text/plain body",
            415,
            None,
        )
    )
    limit = chat_text_spec.max_body_bytes()
    big = json.dumps({**valid, "messages": [{"role": "user", "content": "x" * (limit + 1)}]})
    run.evaluate(
        lambda: _expect_rejected(
            run, run.post(content=big.encode()), f"a body over {limit} bytes", 413, None
        )
    )


def _outside(alt: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Numbers outside the bounds (``minimum``, ``maximum``) of the numeric schema ``alt``."""
    integer = alt["type"] == "integer"
    choices: list[st.SearchStrategy[Any]] = []
    if "minimum" in alt:
        low = alt["minimum"] - 1 if integer else alt["minimum"] - 1e-6
        choices.append(
            st.integers(max_value=low)
            if integer
            else st.floats(max_value=low, allow_nan=False, allow_infinity=False)
        )
    if "maximum" in alt:
        high = alt["maximum"] + 1 if integer else alt["maximum"] + 1e-6
        choices.append(
            st.integers(min_value=high)
            if integer
            else st.floats(min_value=high, allow_nan=False, allow_infinity=False)
        )
    return st.one_of(choices)


def _random_out_of_range_rejected(run: PropertyRun, valid: dict[str, Any]) -> None:
    """Random values outside a bounded numeric field's bounds → 400 naming the field."""
    numeric = [
        (name, alt)
        for name, prop in chat_text_spec.request_schema()["properties"].items()
        for alt in _alternatives(prop)
        if alt.get("type") in ("integer", "number") and ("minimum" in alt or "maximum" in alt)
    ]

    def random_out_of_range(drawn: tuple[str, Any]) -> None:
        name, value = drawn
        reply = run.post({**valid, name: value})
        _expect_rejected(run, reply, f"{name}={value!r} (out of range)", 400, name)

    if numeric:
        strategy = st.sampled_from(numeric).flatmap(
            lambda pair: st.tuples(st.just(pair[0]), _outside(pair[1]))
        )
        run.examples(strategy, random_out_of_range, budget=run.examples_for(5))


@declare_property(
    "values exactly at each documented bound, integral floats for integers, and unusual but "
    "valid conversations are accepted",
    sources=[spec("/components/schemas/ChatTextRequest"), spec("/info/description")],
)
def boundary_values_accepted(run: PropertyRun) -> None:
    """Values exactly at each documented bound are valid: 200, never 400.

    Also an integral float (``5.0``) where the spec says integer (JSON Schema counts it as an
    integer) and ``messages`` at maxItems with the smallest prompt_truncate_len. Limits on
    sizes are checked at their exact value too, where the only acceptable refusal is
    ``prompt_too_long`` (a long text may not fit the model): content of maxLength multi-byte
    characters (maxLength counts characters, not bytes), a body of exactly x-max-body-bytes
    (not 413), and a model name of maxLength characters (an unknown model: 404, not 400).
    """
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")
    for description, fields in _bound_cases(ptl_min):

        def one(d: str = description, f: dict[str, Any] = fields) -> None:
            body = {**run.body(question(3), max_tokens=8), **f}
            expect_status(run.post(body), 200, d)

        run.evaluate(one)
    _unusual_conversations_accepted(run)
    _size_limits_accepted(run, ptl_min)


def _bound_cases(ptl_min: int) -> list[tuple[str, dict[str, Any]]]:
    """(description, fields) of each value exactly at a numeric bound, an integral float for
    each integer, and ``messages`` at maxItems (with the smallest prompt_truncate_len)."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, prop in chat_text_spec.request_schema()["properties"].items():
        for alt in _alternatives(prop):
            if alt.get("type") not in ("integer", "number"):
                continue
            for key in ("minimum", "maximum"):
                if key in alt:
                    cases.append((f"{name}={alt[key]} ({key})", {name: alt[key]}))
            if alt.get("type") == "integer" and "minimum" in alt:
                value = float(alt["minimum"]) + 4.0
                cases.append((f"{name}={value} (an integral float)", {name: value}))
    messages_bounds = chat_text_spec.field_bounds("messages")
    if "maxItems" in messages_bounds:
        count = messages_bounds["maxItems"]
        many = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": WORDS[i % len(WORDS)]}
            for i in range(count - 1)
        ] + [{"role": "user", "content": "hello"}]
        cases.append(
            (f"{count} messages (maxItems)", {"messages": many, "prompt_truncate_len": ptl_min})
        )
    return cases


def _unusual_conversations_accepted(run: PropertyRun) -> None:
    """Unusual but valid conversations (only a system message, an empty message, ending with
    the assistant, odd text) are answered: no server may fail on them."""
    edge_cases: list[tuple[str, list[dict[str, str]], bool]] = [
        ("only a system message", [{"role": "system", "content": "Be brief."}], False),
        ("an empty message", [{"role": "user", "content": ""}], False),
        ("an empty message, streamed", [{"role": "user", "content": ""}], True),
        (
            "a conversation ending with an assistant message",
            [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
            False,
        ),
        (
            "newlines, quotes and non-ASCII text, streamed",
            [{"role": "user", "content": 'line one\nline "two"\n\n— ünïcødé 東京 🌊\tend'}],
            True,
        ),
    ]
    for description, messages, stream in edge_cases:

        def edge(
            d: str = description, m: list[dict[str, str]] = messages, s: bool = stream
        ) -> None:
            if s:
                run.stream(m, d, max_tokens=8)
            else:
                run.complete(m, d, max_tokens=8)

        run.evaluate(edge)


def _size_limits_accepted(run: PropertyRun, ptl_min: int) -> None:
    """Sizes exactly at their limit are accepted (or refused as ``prompt_too_long`` only):
    content of maxLength two-byte characters, a body of exactly x-max-body-bytes; a model name
    of maxLength characters is an unknown model (404, not 400)."""

    def not_refused(body: dict[str, Any], what: str) -> None:
        reply = run.post(body)
        if reply.status == 400 and reply.error_code() == "prompt_too_long":
            return
        expect_status(reply, 200, what)

    size = content_max_length()
    wide = {"role": "user", "content": "é" * size}
    run.evaluate(
        lambda: not_refused(
            run.body([wide], max_tokens=8, prompt_truncate_len=ptl_min),
            f"content of exactly maxLength {size} two-byte characters",
        )
    )
    limit = chat_text_spec.max_body_bytes()
    run.evaluate(lambda: not_refused(_body_of_size(run, limit), f"a body of exactly {limit} bytes"))

    model_max = chat_text_spec.field_bounds("model").get("maxLength")
    if isinstance(model_max, int):

        def long_model() -> None:
            reply = run.post({**run.body(question(3)), "model": "m" * model_max})
            expect_status(reply, 404, f"an unknown model name of maxLength {model_max}")
            error_body(reply, "unknown model")

        run.evaluate(long_model)


def _body_of_size(run: PropertyRun, size: int) -> dict[str, Any]:
    """A valid request whose JSON encoding (:func:`_encode`) is exactly ``size`` bytes."""
    per_message = content_max_length()
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")
    body = run.body([], max_tokens=8, prompt_truncate_len=ptl_min)
    base = len(encode(body))
    empty = {"role": "user", "content": ""}
    first = len(encode({**body, "messages": [empty]})) - base  # one empty message
    each = first + 1  # every further message also costs a comma
    target = size - base + 1  # = count * each - 1 + characters
    count = -(-target // (each + per_message))
    characters = target - count * each
    for _ in range(count):
        take = min(per_message, characters)
        body["messages"].append({"role": "user", "content": "x" * take})
        characters -= take
    return body
