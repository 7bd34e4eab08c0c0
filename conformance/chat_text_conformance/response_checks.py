"""Per-response LLM checks: the promises of one chat-text answer that no schema can express.

Every check is one small function named for what it asserts. It takes an :class:`Exchange`
(the request body that was sent and the response that came back) and

* returns ``False`` when it does not apply (an error response, a stream check on a JSON answer),
* returns ``True`` when it applies and holds,
* raises :class:`CheckFailed` with what was expected and what came back otherwise.

The checks never depend on a particular tokenizer or engine: they check properties any correct
server has. Defaults (``max_tokens``) come from the spec via :mod:`chat_text_spec`.

The same functions are registered as schemathesis custom checks by
:func:`register_with_schemathesis`, so that ``st run`` (through
:mod:`chat_text_conformance.st_hooks`) runs them on every response.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import chat_text_spec

__all__ = [
    "CHECKS",
    "CheckFailed",
    "Exchange",
    "ParsedStream",
    "check_exchange",
    "register_with_schemathesis",
]

# `created` must be Unix time in seconds: not before this instant (2020-01-01T00:00:00Z), which
# also rules out a server that sends a small counter, and not far in the future, which rules out
# milliseconds. Remote servers get a day of clock skew either way.
_EARLIEST_PLAUSIBLE_CREATED = 1_577_836_800
_CLOCK_SKEW_SECONDS = 86_400


class CheckFailed(AssertionError):
    """A per-response check did not hold. ``str()`` is a one-line explanation."""

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class ParsedStream:
    """A ``text/event-stream`` body split into its ``data:`` payloads."""

    chunks: list[Any] = field(default_factory=list)
    """Each ``data:`` payload before ``[DONE]``, JSON-decoded (undecodable ones as ``str``)."""
    undecodable: list[str] = field(default_factory=list)
    """``data:`` payloads that are not JSON."""
    done: bool = False
    """Whether a ``data: [DONE]`` event was seen."""
    events_after_done: int = 0
    """``data:`` events sent after ``[DONE]``."""


@dataclass(frozen=True)
class Exchange:
    """One request and its response, as the checks see them."""

    request: Any
    """The JSON request body that was sent (usually a dict; anything for negative tests)."""
    status: int
    content_type: str
    """The response's media type, lower-cased, without parameters."""
    body: bytes
    context_length: int | None = None
    """The model's context window, when the caller knows it."""
    received_at: float = field(default_factory=time.time)
    token: str | None = None
    """The bearer token the request carried, if any."""

    @functools.cached_property
    def document(self) -> dict[str, Any] | None:
        """The JSON object of a non-streamed answer, or ``None``."""
        if self.content_type != "application/json":
            return None
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @functools.cached_property
    def stream(self) -> ParsedStream | None:
        """The parsed event stream, when the response is one."""
        if self.content_type != "text/event-stream":
            return None
        return parse_event_stream(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def request_fields(self) -> dict[str, Any]:
        return self.request if isinstance(self.request, dict) else {}

    @property
    def asked_to_stream(self) -> bool:
        return self.request_fields.get("stream") is True


def parse_event_stream(body: bytes) -> ParsedStream:
    """Split a server-sent-events body into its ``data:`` payloads (multi-line data joined)."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    chunks: list[Any] = []
    undecodable: list[str] = []
    done = False
    after_done = 0
    for block in text.split("\n\n"):
        data_lines = []
        for line in block.split("\n"):
            if line.startswith("data:"):
                value = line[len("data:") :]
                data_lines.append(value[1:] if value.startswith(" ") else value)
        if not data_lines:
            continue
        payload = "\n".join(data_lines)
        if done:
            after_done += 1
            continue
        if payload.strip() == "[DONE]":
            done = True
            continue
        try:
            chunks.append(json.loads(payload))
        except ValueError:
            undecodable.append(payload[:200])
            chunks.append(payload)
    return ParsedStream(
        chunks=chunks, undecodable=undecodable, done=done, events_after_done=after_done
    )


# ---------------------------------------------------------------------------------------------
# Helpers: a uniform view of a JSON answer and of a stream folded into one answer.


@dataclass(frozen=True)
class _Answer:
    id: Any
    created: Any
    model: Any
    choices: list[dict[str, Any]]
    """``{"index": ..., "content": str, "finish_reason": ...}`` per choice."""
    usage: Any


def _answer(exchange: Exchange) -> _Answer | None:
    """The answer of a successful exchange, non-streamed or streamed, or ``None``."""
    if not exchange.ok:
        return None
    doc = exchange.document
    if doc is not None:
        choices = []
        raw_choices = doc.get("choices")
        for choice in raw_choices if isinstance(raw_choices, list) else []:
            if not isinstance(choice, dict):
                continue
            message = choice.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            choices.append(
                {
                    "index": choice.get("index"),
                    "content": content if isinstance(content, str) else "",
                    "finish_reason": choice.get("finish_reason"),
                }
            )
        return _Answer(
            doc.get("id"), doc.get("created"), doc.get("model"), choices, doc.get("usage")
        )
    stream = exchange.stream
    if stream is None:
        return None
    objects = [chunk for chunk in stream.chunks if isinstance(chunk, dict)]
    if not objects:
        return None
    by_index: dict[Any, dict[str, Any]] = {}
    for chunk in objects:
        raw_choices = chunk.get("choices")
        for choice in raw_choices if isinstance(raw_choices, list) else []:
            if not isinstance(choice, dict):
                continue
            entry = by_index.setdefault(
                choice.get("index"),
                {"index": choice.get("index"), "content": "", "finish_reason": None},
            )
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                entry["content"] += delta["content"]
            if choice.get("finish_reason") is not None:
                entry["finish_reason"] = choice.get("finish_reason")
    last = objects[-1]
    return _Answer(
        objects[0].get("id"),
        objects[0].get("created"),
        objects[0].get("model"),
        list(by_index.values()),
        last.get("usage"),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _usage_counts(answer: _Answer) -> tuple[int, int, int] | None:
    usage = answer.usage
    if not isinstance(usage, dict):
        return None
    values = (usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))
    if not all(_is_int(v) for v in values):
        return None
    return values  # type: ignore[return-value]


def _answer_with_usage(exchange: Exchange) -> tuple[_Answer, tuple[int, int, int]] | None:
    """The answer and its (prompt, completion, total) token counts, or ``None`` when the
    exchange has no answer or no well-formed usage (the schema checks report those)."""
    answer = _answer(exchange)
    if answer is None:
        return None
    counts = _usage_counts(answer)
    return None if counts is None else (answer, counts)


def _requested_max_tokens(exchange: Exchange) -> int | None:
    """The max_tokens the request asked for, or the spec's default when omitted or null."""
    requested = exchange.request_fields.get("max_tokens")
    if requested is None:
        default = chat_text_spec.request_defaults().get("max_tokens")
        return default if _is_int(default) else None
    if isinstance(requested, float) and requested.is_integer():
        return int(requested)  # JSON Schema counts 5.0 as an integer
    return requested if _is_int(requested) else None


def _effective_max_tokens(exchange: Exchange, prompt_tokens: int) -> int | None:
    """max_tokens after the server lowered it to fit the context window (when that is known)."""
    requested = _requested_max_tokens(exchange)
    if requested is None:
        return None
    if exchange.context_length is None:
        return requested
    return max(0, min(requested, exchange.context_length - prompt_tokens))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)[:300]


# ---------------------------------------------------------------------------------------------
# The checks. Each one is named for what it asserts.


def usage_total_is_sum(exchange: Exchange) -> bool:
    """usage.total_tokens == usage.prompt_tokens + usage.completion_tokens."""
    found = _answer_with_usage(exchange)
    if found is None:
        return False
    prompt, completion, total = found[1]
    if total != prompt + completion:
        raise CheckFailed(
            f"usage.total_tokens is {total}, but prompt_tokens + completion_tokens is "
            f"{prompt} + {completion} = {prompt + completion}",
            expected=f"total_tokens == {prompt + completion}",
            actual=f"total_tokens == {total}",
        )
    return True


def completion_within_max_tokens(exchange: Exchange) -> bool:
    """usage.completion_tokens <= the requested max_tokens (or the spec default when unset)."""
    found = _answer_with_usage(exchange)
    limit = _requested_max_tokens(exchange)
    if found is None or limit is None:
        return False
    completion = found[1][1]
    if completion > limit:
        asked = exchange.request_fields.get("max_tokens")
        source = "requested" if asked is not None else "spec default"
        raise CheckFailed(
            f"usage.completion_tokens is {completion}, more than max_tokens {limit} ({source})",
            expected=f"completion_tokens <= {limit}",
            actual=f"completion_tokens == {completion}",
        )
    return True


def usage_within_context_window(exchange: Exchange) -> bool:
    """prompt_tokens + completion_tokens never exceed the model's context window (when known)."""
    if exchange.context_length is None:
        return False
    found = _answer_with_usage(exchange)
    if found is None:
        return False
    prompt, completion, _ = found[1]
    if prompt + completion > exchange.context_length:
        raise CheckFailed(
            f"prompt_tokens + completion_tokens = {prompt} + {completion} = {prompt + completion} "
            f"exceeds the model's context window of {exchange.context_length}: max_tokens was "
            "not lowered to the room left",
            expected=f"prompt_tokens + completion_tokens <= {exchange.context_length}",
            actual=f"{prompt + completion}",
        )
    return True


def finish_reason_matches_usage(exchange: Exchange) -> bool:
    """finish_reason is ``length`` exactly when completion_tokens reached the (lowered) max_tokens.

    With one choice, ``completion_tokens`` is that choice's length: equal to the effective
    max_tokens means generation was cut (``length``); fewer means the model stopped (``stop``).
    Without the context length, lowering cannot be computed, so only ``completion == max_tokens
    ⇒ length`` and ``length ⇒ completion <= max_tokens`` are checked.
    """
    found = _answer_with_usage(exchange)
    if found is None or len(found[0].choices) != 1:
        return False
    answer, counts = found
    prompt, completion, _ = counts
    reason = answer.choices[0]["finish_reason"]
    if reason not in ("stop", "length"):
        return False  # the schema checks report unknown values
    effective = _effective_max_tokens(exchange, prompt)
    if effective is None:
        return False
    if exchange.context_length is not None:
        expected = "length" if completion >= effective else "stop"
        rule = (
            f"completion_tokens {completion} "
            + (">=" if expected == "length" else "<")
            + f" effective max_tokens {effective} (min(max_tokens, "
            f"context {exchange.context_length} - prompt {prompt}))"
        )
    else:
        if completion == effective:
            expected, rule = "length", f"completion_tokens == max_tokens == {effective}"
        else:
            return True  # "length" below max_tokens may be a lowered max_tokens: unknown window
    if reason != expected:
        raise CheckFailed(
            f"finish_reason is {reason!r} but {rule}",
            expected=f"finish_reason {expected!r}",
            actual=f"finish_reason {reason!r}",
        )
    return True


def completion_tokens_cover_content(exchange: Exchange) -> bool:
    """Non-empty generated text costs at least one completion token."""
    found = _answer_with_usage(exchange)
    if found is None:
        return False
    answer, counts = found
    if counts[1] == 0 and any(choice["content"] for choice in answer.choices):
        raise CheckFailed(
            "usage.completion_tokens is 0 but the answer has generated text",
            expected="completion_tokens >= 1 for a non-empty message",
            actual="completion_tokens == 0",
        )
    return True


def model_echoes_request(exchange: Exchange) -> bool:
    """The answer's ``model`` (every chunk's, for a stream) is the model named in the request."""
    if not exchange.ok:
        return False
    asked = exchange.request_fields.get("model")
    if not isinstance(asked, str):
        return False
    if exchange.document is not None:
        models = [exchange.document.get("model")]
    elif exchange.stream is not None:
        models = [c.get("model") for c in exchange.stream.chunks if isinstance(c, dict)]
    else:
        return False
    for got in models:
        if got != asked:
            raise CheckFailed(
                f"the request named model {asked!r} but the answer says {got!r}",
                expected=f"model == {asked!r}",
                actual=f"model == {got!r}",
            )
    return bool(models)


def created_is_unix_seconds(exchange: Exchange) -> bool:
    """``created`` is a plausible Unix timestamp in seconds (not ms, not 0, not far off); every
    chunk of a stream carries the same one."""
    answer = _answer(exchange)
    if answer is None:
        return False
    created = answer.created
    if exchange.stream is not None:
        values = [c.get("created") for c in exchange.stream.chunks if isinstance(c, dict)]
        if len(set(map(repr, values))) > 1:
            raise CheckFailed(
                f"the chunks of one stream carry different created values: {values[:4]}",
                expected="the same created in every chunk",
                actual=f"{len(set(map(repr, values)))} different values",
            )
    if isinstance(created, bool) or not isinstance(created, int | float):
        return False  # the schema checks report a missing or mistyped field
    latest = exchange.received_at + _CLOCK_SKEW_SECONDS
    if not math.isfinite(created) or not _EARLIEST_PLAUSIBLE_CREATED <= created <= latest:
        hint = " (milliseconds?)" if created > latest and created / 1000 <= latest else ""
        raise CheckFailed(
            f"created is {created!r}{hint}, not a plausible Unix time in seconds",
            expected=f"{_EARLIEST_PLAUSIBLE_CREATED} <= created <= now + 1 day ({latest:.0f})",
            actual=f"created == {created!r}",
        )
    return True


def id_is_not_blank(exchange: Exchange) -> bool:
    """``id`` is a non-empty, non-blank string (for a stream: one id shared by every chunk)."""
    if not exchange.ok:
        return False
    if exchange.document is not None:
        ids = [exchange.document.get("id")]
    elif exchange.stream is not None:
        ids = [c.get("id") for c in exchange.stream.chunks if isinstance(c, dict)]
    else:
        return False
    for value in ids:
        if not isinstance(value, str) or not value.strip():
            raise CheckFailed(
                f"id is {value!r}",
                expected="a non-empty string",
                actual=_json(value),
            )
    if len(set(ids)) > 1:
        raise CheckFailed(
            f"the chunks of one stream carry different ids: {sorted(map(str, set(ids)))[:3]}",
            expected="the same id in every chunk",
            actual=f"{len(set(ids))} different ids",
        )
    return bool(ids)


def choices_indexed_from_zero(exchange: Exchange) -> bool:
    """There is at least one choice and the choices are indexed 0..n-1 in order."""
    if not exchange.ok or exchange.document is None:
        return False
    choices = exchange.document.get("choices")
    if not isinstance(choices, list):
        return False
    indices = [c.get("index") if isinstance(c, dict) else None for c in choices]
    expected = list(range(len(choices)))
    if not choices or indices != expected:
        raise CheckFailed(
            f"choices are indexed {indices}" if choices else "the answer has no choices",
            expected=f"indices {expected or [0]}",
            actual=f"indices {indices}",
        )
    return True


def stream_answered_as_event_stream(exchange: Exchange) -> bool:
    """``stream: true`` gets ``text/event-stream``; ``stream`` false/null/omitted gets JSON."""
    if not exchange.ok or not isinstance(exchange.request, dict):
        return False
    wanted = "text/event-stream" if exchange.asked_to_stream else "application/json"
    if exchange.content_type != wanted:
        flag = exchange.request_fields.get("stream", "omitted")
        raise CheckFailed(
            f"request with stream={_json(flag)} was answered with "
            f"{exchange.content_type or 'no Content-Type'}",
            expected=f"Content-Type {wanted}",
            actual=f"Content-Type {exchange.content_type or '(none)'}",
        )
    return True


@functools.cache
def _chunk_validator() -> Any:
    import jsonschema_rs

    spec = chat_text_spec.load_spec()
    schema = {"$ref": "#/components/schemas/ChatTextChunk", "components": spec["components"]}
    return jsonschema_rs.validator_for(schema)


def stream_chunks_match_schema(exchange: Exchange) -> bool:
    """Every ``data:`` event of a stream is JSON valid against the spec's ChatTextChunk schema."""
    stream = exchange.stream
    if not exchange.ok or stream is None:
        return False
    if stream.undecodable:
        raise CheckFailed(
            f"{len(stream.undecodable)} stream event(s) are not JSON, "
            f"e.g. {stream.undecodable[0]!r}",
            expected="data: <ChatTextChunk JSON>",
            actual=f"data: {stream.undecodable[0]}",
        )
    if not stream.chunks:
        raise CheckFailed(
            "the event stream has no chunk before [DONE]",
            expected="at least one ChatTextChunk event",
            actual="no chunk",
        )
    validator = _chunk_validator()
    for position, chunk in enumerate(stream.chunks):
        errors = list(validator.iter_errors(chunk))
        if errors:
            error = errors[0]
            path = "/".join(str(p) for p in error.instance_path) or "(root)"
            raise CheckFailed(
                f"stream chunk {position} does not match ChatTextChunk at {path}: {error.message}",
                expected="a ChatTextChunk document",
                actual=_json(chunk),
            )
    return True


def stream_usage_only_in_last_chunk(exchange: Exchange) -> bool:
    """``usage`` is null in every chunk but the last, where it is present."""
    stream = exchange.stream
    if not exchange.ok or stream is None:
        return False
    objects = [c for c in stream.chunks if isinstance(c, dict)]
    if not objects:
        return False
    early = [i for i, c in enumerate(objects[:-1]) if c.get("usage") is not None]
    if early:
        raise CheckFailed(
            f"chunk {early[0]} of {len(objects)} carries usage before the last chunk",
            expected="usage: null in every chunk but the last",
            actual=_json(objects[early[0]].get("usage")),
        )
    if not isinstance(objects[-1].get("usage"), dict):
        raise CheckFailed(
            "the last chunk of the stream has no usage",
            expected="usage {prompt_tokens, completion_tokens, total_tokens} in the last chunk",
            actual=_json(objects[-1].get("usage")),
        )
    return True


def stream_finish_reason_only_at_end(exchange: Exchange) -> bool:
    """Each choice gets a finish_reason exactly once, in its last chunk, and the first delta has
    ``role: assistant``."""
    stream = exchange.stream
    if not exchange.ok or stream is None:
        return False
    objects = [c for c in stream.chunks if isinstance(c, dict)]
    if not objects:
        return False
    finished: dict[Any, int] = {}
    seen_role: set[Any] = set()
    for position, chunk in enumerate(objects):
        raw_choices = chunk.get("choices")
        for choice in raw_choices if isinstance(raw_choices, list) else []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            delta = choice.get("delta")
            if index in finished:
                raise CheckFailed(
                    f"choice {index} continues in chunk {position} after its finish_reason in "
                    f"chunk {finished[index]}",
                    expected="no chunk for a choice after its finish_reason",
                    actual=_json(chunk),
                )
            if index not in seen_role:
                seen_role.add(index)
                role = delta.get("role") if isinstance(delta, dict) else None
                if role != "assistant":
                    raise CheckFailed(
                        f"the first delta of choice {index} has role {role!r}",
                        expected="delta.role == 'assistant' in the first chunk of a choice",
                        actual=_json(delta),
                    )
            if choice.get("finish_reason") is not None:
                finished[index] = position
    unfinished = sorted(str(i) for i in seen_role - set(finished))
    if unfinished:
        raise CheckFailed(
            f"choice(s) {', '.join(unfinished)} never got a finish_reason",
            expected="finish_reason 'stop' or 'length' in the last chunk of each choice",
            actual="finish_reason null throughout",
        )
    return True


def stream_ends_with_done(exchange: Exchange) -> bool:
    """The stream ends with the literal event ``data: [DONE]`` and nothing after it."""
    stream = exchange.stream
    if not exchange.ok or stream is None:
        return False
    if not stream.done:
        raise CheckFailed(
            "the event stream ended without data: [DONE]",
            expected="a final event data: [DONE]",
            actual=f"{len(stream.chunks)} chunk(s), no [DONE]",
        )
    if stream.events_after_done:
        raise CheckFailed(
            f"{stream.events_after_done} event(s) after data: [DONE]",
            expected="nothing after data: [DONE]",
            actual=f"{stream.events_after_done} more event(s)",
        )
    return True


def stream_role_only_in_first_chunk(exchange: Exchange) -> bool:
    """``delta.role`` appears in the first chunk of a choice only (later deltas carry content)."""
    stream = exchange.stream
    if not exchange.ok or stream is None:
        return False
    seen: set[Any] = set()
    for position, chunk in enumerate(stream.chunks):
        raw_choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in raw_choices if isinstance(raw_choices, list) else []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            delta = choice.get("delta")
            if index in seen and isinstance(delta, dict) and "role" in delta:
                raise CheckFailed(
                    f"chunk {position} repeats delta.role for choice {index}",
                    expected="role in the first chunk of a choice only",
                    actual=_json(delta),
                )
            seen.add(index)
    return bool(seen)


_MIN_TOKEN_LENGTH_TO_SEARCH = 8
"""Shorter tokens (schemathesis's own made-up ones) could match any body by chance."""


def token_not_echoed(exchange: Exchange) -> bool:
    """No response (answer or error) quotes the caller's bearer token."""
    token = exchange.token
    if not token or len(token) < _MIN_TOKEN_LENGTH_TO_SEARCH:
        return False
    if token.encode() in exchange.body:
        raise CheckFailed(
            f"the HTTP {exchange.status} response body contains the bearer token",
            expected="the token never sent back",
            actual="the token, verbatim, in the body (redacted here)",
        )
    return True


_SEEN_IDS: dict[str, int] = {}
_SEEN_IDS_LOCK = threading.Lock()


def id_not_repeated(exchange: Exchange, *, response_key: int | None = None) -> bool:
    """No two answers of one run share an ``id`` (per stream: its one id).

    ``response_key`` identifies the response object: schemathesis may check one response more
    than once (shrinking, reporting), which is not a repeat.
    """
    answer = _answer(exchange)
    if answer is None or not isinstance(answer.id, str) or not answer.id:
        return False
    key = response_key if response_key is not None else id(exchange)
    with _SEEN_IDS_LOCK:
        first = _SEEN_IDS.setdefault(answer.id, key)
    if first != key:
        raise CheckFailed(
            f"id {answer.id!r} was already used by an earlier answer in this run",
            expected="a unique id per answer",
            actual=f"id {answer.id!r} repeated",
        )
    return True


ResponseCheck = Callable[[Exchange], bool]

CHECKS: dict[str, ResponseCheck] = {
    check.__name__: check
    for check in (
        usage_total_is_sum,
        completion_within_max_tokens,
        usage_within_context_window,
        finish_reason_matches_usage,
        completion_tokens_cover_content,
        model_echoes_request,
        created_is_unix_seconds,
        id_is_not_blank,
        choices_indexed_from_zero,
        stream_answered_as_event_stream,
        stream_chunks_match_schema,
        stream_usage_only_in_last_chunk,
        stream_finish_reason_only_at_end,
        stream_role_only_in_first_chunk,
        stream_ends_with_done,
        token_not_echoed,
        id_not_repeated,
    )
}
"""Every per-response check by name, in the order they are reported."""


def check_exchange(exchange: Exchange) -> dict[str, CheckFailed | bool]:
    """Run every check on one exchange: name -> ``True`` (held), ``False`` (n/a) or the failure."""
    outcome: dict[str, CheckFailed | bool] = {}
    for name, check in CHECKS.items():
        try:
            outcome[name] = check(exchange)
        except CheckFailed as failure:
            outcome[name] = failure
    return outcome


def media_type(content_type: str | None) -> str:
    """``'application/json; charset=utf-8'`` -> ``'application/json'``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


# ---------------------------------------------------------------------------------------------
# schemathesis integration


_CONTEXT_LENGTH: dict[str, int | None] = {"value": None}


def set_context_length(value: int | None) -> None:
    """The context window the schemathesis-registered checks assume (``None``: unknown)."""
    _CONTEXT_LENGTH["value"] = value


def exchange_from_schemathesis(case: Any, response: Any) -> Exchange:
    """Build an :class:`Exchange` from a schemathesis ``Case`` and ``Response``."""
    headers: Mapping[str, Any] = response.headers
    content_type = ""
    for key, value in headers.items():
        if key.lower() == "content-type":
            content_type = value[0] if isinstance(value, list | tuple) and value else str(value)
            break
    token = None
    request = getattr(response, "request", None)
    authorization = getattr(request, "headers", {}).get("Authorization") if request else None
    if isinstance(authorization, str) and authorization.lower().startswith("bearer "):
        token = authorization[len("bearer ") :].strip()
    body = case.body
    return Exchange(
        request=body if isinstance(body, dict) else None,
        status=int(response.status_code),
        content_type=media_type(content_type),
        body=bytes(response.content or b""),
        context_length=_CONTEXT_LENGTH["value"],
        token=token,
    )


_REGISTERED: dict[str, Callable[..., Any]] = {}


_APPLIED: Counter[str] = Counter()
_APPLIED_LOCK = threading.Lock()


def reset_applied() -> None:
    """Start a new run: forget how often each check applied and the ids seen so far."""
    with _APPLIED_LOCK:
        _APPLIED.clear()
    with _SEEN_IDS_LOCK:
        _SEEN_IDS.clear()


def applied_counts() -> dict[str, int]:
    """How many responses each check applied to and held on since :func:`reset_applied`.

    schemathesis counts a check as passed on every response, even one it does not apply to
    (a stream check on a JSON answer); reports use these counts instead.
    """
    with _APPLIED_LOCK:
        return dict(_APPLIED)


def _as_schemathesis_check(name: str, check: ResponseCheck) -> Callable[..., Any]:
    def run(ctx: Any, response: Any, case: Any) -> bool | None:
        exchange = exchange_from_schemathesis(case, response)
        try:
            held = (
                id_not_repeated(exchange, response_key=id(response))
                if check is id_not_repeated
                else check(exchange)
            )
            if held:
                with _APPLIED_LOCK:
                    _APPLIED[name] += 1
        except CheckFailed as failure:
            detail = failure.message
            if failure.expected or failure.actual:
                detail += f" (expected {failure.expected}; got {failure.actual})"
            raise AssertionError(detail) from None
        return None

    run.__name__ = name
    run.__qualname__ = name
    run.__doc__ = check.__doc__
    return run


def register_with_schemathesis() -> list[str]:
    """Register every per-response check as a schemathesis custom check (idempotent).

    Returns the registered names (use them to enable or disable the checks in a config).
    """
    import schemathesis

    for name, check in CHECKS.items():
        if name not in _REGISTERED:
            _REGISTERED[name] = schemathesis.check(_as_schemathesis_check(name, check))
    return list(CHECKS)
