"""How the proxy judges one exchange: what the request is (:func:`classify_request`), the
schema-level rules a single exchange can show (:func:`single_exchange_rules`), the stream
watched event by event as it is relayed (:class:`StreamWatch`), and all of it put together
(:func:`judge_exchange`).

The per-response rules of the catalogue (``checks.judge``) are applied as they are. The
schemathesis built-ins have no code of their own in the catalogue (schemathesis evaluates them in
the suite); here each is evaluated on real traffic where one exchange can show it, with the same
premises as ``replay``:

* a request is *valid* when it is ``POST`` on the operation, sent as ``application/json``,
  within ``x-max-body-bytes``, JSON, and valid against the request schema (the reference server's
  own validator, compiled from ``openapi.yaml``); otherwise the first problem is kept;
* ``negative_data_rejection``: an invalid request must not be answered 2xx;
* ``positive_data_acceptance``: a valid request with a bearer token must be answered 2xx, or
  refused for a documented reason: 401 (the proxy cannot know which tokens are valid), 404
  ``model_not_found`` (the proxy cannot know the server's models), 413, ``prompt_too_long`` for a
  prompt that may not fit;
* ``missing_required_header``: a valid request without ``Authorization`` must be answered 401
  (with an invalid body too, the documents do not say which error comes first: not judged);
* ``ignored_auth``: a request without a well-formed bearer token must not be answered 2xx (a
  well-formed but unknown token cannot be told from a good one by a proxy);
* ``unsupported_method`` and ``allow_header_conformance`` on other methods of the operation's
  path; ``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance`` and
  ``response_headers_conformance`` on every answer of the operation.

A busy answer (429, 503) is a documented answer to any request: no rule judges it (each is
inconclusive for it; the client was told when to come back, the proxy relays it as it is).

Rules that compare several answers (properties) and the suite's pre-flight cannot apply to one
exchange: the report lists them as not exercised, with that reason.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import chat_text_spec
from chat_text_spec.sse import SSEDecodeError, SSEDecoder

from .. import checks
from ..checks import CheckFailed, Exchange, Inconclusive, NotApplicable, Outcome
from ..checks.exchange import excerpt
from ..pacing import is_busy
from ..target import Level

__all__ = [
    "SINGLE_EXCHANGE_RULES",
    "TRANSPORT_RULE",
    "RequestFacts",
    "StreamWatch",
    "classify_request",
    "judge_exchange",
    "single_exchange_rules",
    "warm_up",
]

Authorization = Literal["missing", "malformed", "bearer"]

TRANSPORT_RULE = "server_answers_every_request"
"""The rule an upstream error (refused, reset, timed out) fails."""

SINGLE_EXCHANGE_RULES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
)
"""The schemathesis built-ins the proxy evaluates itself, one exchange at a time."""


@dataclass(frozen=True)
class RequestFacts:
    """What the proxy knows of a request before relaying it."""

    method: str
    path: str
    """The path, without the query."""
    document: Any
    """The JSON body (``None`` when there is none or it is not JSON)."""
    problem: str | None
    """Why the request is invalid against the spec (``None``: valid, or not the operation)."""
    authorization: Authorization
    token: str | None
    """The bearer token, when the header is well-formed (kept in memory only)."""

    @property
    def on_operation(self) -> bool:
        """Whether the path is the one ``openapi.yaml`` documents."""
        return self.path == chat_text_spec.OPERATION_PATH

    @property
    def is_call(self) -> bool:
        """``POST`` on the operation's path: a call the spec describes."""
        return self.on_operation and self.method == "POST"

    @property
    def asked_to_stream(self) -> bool:
        return isinstance(self.document, dict) and self.document.get("stream") is True

    @property
    def model(self) -> str | None:
        model = self.document.get("model") if isinstance(self.document, dict) else None
        return model if isinstance(model, str) else None


@functools.cache
def _validator() -> Any:
    return chat_text_spec.RequestValidator()


def _authorization(headers: Mapping[str, str]) -> tuple[Authorization, str | None]:
    value = headers.get("authorization")
    if value is None:
        return "missing", None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token or token != token.strip() or " " in token:
        return "malformed", None
    return "bearer", token


def classify_request(
    method: str, path: str, headers: Mapping[str, str], body: bytes
) -> RequestFacts:
    """The facts of one request; ``headers`` with lower-case names."""
    authorization, token = _authorization(headers)
    method = method.upper()
    if path != chat_text_spec.OPERATION_PATH or method != "POST":
        return RequestFacts(method, path, None, None, authorization, token)
    from chat_text_spec import InvalidRequest, parse_json

    document: Any = None
    problem: str | None = None
    media = checks.media_type(headers.get("content-type"))
    limit = chat_text_spec.max_body_bytes()
    try:
        document = parse_json(body)
    except InvalidRequest as error:
        problem = error.message
    if media != "application/json":
        problem = f"the body is sent as {media or 'no Content-Type'}, not application/json"
    elif len(body) > limit:
        problem = f"the body is {len(body)} bytes, over x-max-body-bytes ({limit})"
    elif problem is None:
        try:
            _validator().validate(document)
        except InvalidRequest as error:
            problem = error.message
    return RequestFacts(method, path, document, problem, authorization, token)


# ---------------------------------------------------------------------------------------------
# The built-ins, one exchange at a time


def _error_code(ex: Exchange) -> str | None:
    error = ex.document.get("error") if ex.document is not None else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _refusal(facts: RequestFacts, ex: Exchange, context_length: int | None) -> str | None:
    """Why a non-2xx answer to a valid request is a documented refusal (``None``: it is not)."""
    from ..schemathesis_adapter import prompt_surely_fits

    status = ex.status
    if status == 401:
        return "answered 401: a proxy cannot tell whether the token is one the server accepts"
    if status == 404 and _error_code(ex) == "model_not_found":
        return "answered 404 model_not_found: a proxy cannot know the server's models"
    if status == 413:
        return "answered 413 (x-max-body-bytes counts the body as the server received it)"
    prompt_too_long = status == 400 and _error_code(ex) == "prompt_too_long"
    if prompt_too_long and not prompt_surely_fits(facts.document, context_length):
        return "answered prompt_too_long: the prompt may not fit the model's window"
    return None


def _fail(message: str, expected: str, actual: str) -> CheckFailed:
    return CheckFailed(message, expected=expected, actual=actual)


def single_exchange_rules(
    facts: RequestFacts, ex: Exchange, context_length: int | None
) -> dict[str, Outcome]:
    """The schemathesis built-ins one exchange can show (see the module's docstring)."""
    if not facts.on_operation:
        return {}
    status = ex.status
    if is_busy(status):  # a documented answer to any request: it says nothing of this one
        reason = checks.busy_reason(status, relayed=True)
        return {rule: Inconclusive(reason) for rule in SINGLE_EXCHANGE_RULES}
    outcome: dict[str, Outcome] = {}
    headers = dict(ex.headers)
    if status < 500:
        outcome["not_a_server_error"] = True
    else:
        outcome["not_a_server_error"] = _fail(
            f"{facts.method} {facts.path} was answered HTTP {status}",
            "a status below 500",
            f"HTTP {status}: {_body_excerpt(ex)}",
        )
    if not facts.is_call:
        outcome["unsupported_method"] = (
            True
            if status == 405
            else _fail(
                f"{facts.method} on {facts.path} was answered HTTP {status}, not 405",
                "HTTP 405 (the path documents only POST)",
                f"HTTP {status}",
            )
        )
        if status != 405:
            outcome["allow_header_conformance"] = NotApplicable("not a 405 answer")
        elif "allow" in headers:
            outcome["allow_header_conformance"] = True
        else:
            outcome["allow_header_conformance"] = _fail(
                "a 405 answer without an Allow header",
                "Allow: POST",
                "no Allow header",
            )
        return outcome
    documented = chat_text_spec.documented_response(status)
    if documented is None:
        outcome["status_code_conformance"] = _fail(
            f"HTTP {status} is not a status openapi.yaml documents for the operation",
            "one of " + ", ".join(chat_text_spec.operation()["responses"]),
            f"HTTP {status}",
        )
        outcome["content_type_conformance"] = NotApplicable(f"HTTP {status} is not documented")
        outcome["response_headers_conformance"] = NotApplicable(f"HTTP {status} is not documented")
    else:
        outcome["status_code_conformance"] = True
        media = {checks.media_type(m) for m in documented.get("content", {})}
        if not media or ex.content_type in media:
            outcome["content_type_conformance"] = True
        else:
            outcome["content_type_conformance"] = _fail(
                f"HTTP {status} answered with Content-Type {ex.content_type or '(none)'}",
                " or ".join(sorted(media)),
                ex.content_type or "(none)",
            )
        missing = [
            name
            for name, header in documented.get("headers", {}).items()
            if chat_text_spec.resolve(header).get("required") and name.lower() not in headers
        ]
        outcome["response_headers_conformance"] = (
            _fail(
                f"HTTP {status} without the header(s) openapi.yaml requires: {', '.join(missing)}",
                ", ".join(missing),
                "missing",
            )
            if missing
            else True
        )
    ok = 200 <= status < 300
    if facts.problem is not None:
        outcome["negative_data_rejection"] = (
            _fail(
                f"a request the spec forbids was answered HTTP {status}: {facts.problem}",
                "a 4xx refusal",
                f"HTTP {status}",
            )
            if ok
            else True
        )
        outcome["positive_data_acceptance"] = NotApplicable("the request is invalid")
    else:
        outcome["negative_data_rejection"] = NotApplicable("the request is valid")
        if facts.authorization != "bearer":
            outcome["positive_data_acceptance"] = NotApplicable("no well-formed bearer token")
        elif ok:
            outcome["positive_data_acceptance"] = True
        else:
            why = _refusal(facts, ex, context_length)
            outcome["positive_data_acceptance"] = (
                NotApplicable(why)
                if why is not None
                else _fail(
                    f"a request valid against the spec was refused with HTTP {status}",
                    "2xx, or a documented refusal (401, 404 model_not_found, 413, "
                    "prompt_too_long that may not fit)",
                    f"HTTP {status}: {_body_excerpt(ex)}",
                )
            )
    if facts.authorization == "missing":
        if facts.problem is not None:
            outcome["missing_required_header"] = NotApplicable(
                "the body is invalid too: the documents do not say which error comes first"
            )
        else:
            outcome["missing_required_header"] = (
                True
                if status == 401
                else _fail(
                    f"a request without Authorization was answered HTTP {status}",
                    "HTTP 401",
                    f"HTTP {status}",
                )
            )
    else:
        outcome["missing_required_header"] = NotApplicable("the request has Authorization")
    if facts.authorization != "bearer":
        outcome["ignored_auth"] = (
            _fail(
                f"a request with a {facts.authorization} Authorization header was answered "
                f"HTTP {status}",
                "not 2xx (401)",
                f"HTTP {status}",
            )
            if ok
            else True
        )
    else:
        outcome["ignored_auth"] = NotApplicable(
            "a well-formed bearer token: a proxy cannot tell a wrong one from a good one"
        )
    return outcome


def _body_excerpt(ex: Exchange, limit: int = 200) -> str:
    text = ex.body[:limit].decode("utf-8", errors="replace")
    return text + ("..." if len(ex.body) > limit else "")


# ---------------------------------------------------------------------------------------------
# Streams, event by event


@functools.cache
def _chunk_validator() -> Any:
    return chat_text_spec.schema_validator("ChatTextChunk")


class StreamWatch:
    """The stream rules that one event can break, checked as each event arrives.

    What it finds, the per-response rules find too on the whole body (they stay the judges of
    record); the watch exists so that a violation is seen when it happens (``--enforce`` stops
    the stream before the offending event reaches the client, ``--fail-fast`` stops at once) and
    so that a stream longer than the proxy keeps in memory is still judged event by event.
    """

    def __init__(self, model: str | None) -> None:
        self._decoder = SSEDecoder()
        self._model = model
        self.events = 0
        """Data events so far (``[DONE]`` and events after it included)."""
        self.done = False
        """Whether ``data: [DONE]`` has arrived."""
        self.failures: dict[str, CheckFailed] = {}
        """The first failure of each rule, by rule id."""
        self._chunks = 0
        self._first: dict[str, Any] | None = None
        self._usage_at: int | None = None
        self._finished: dict[Any, int] = {}
        self._roles: set[Any] = set()
        self._broken = False

    def _failed(self, rule: str, failure: CheckFailed, found: list[str]) -> None:
        if rule not in self.failures:
            self.failures[rule] = failure
            found.append(rule)

    def feed(self, data: bytes) -> list[str]:
        """Feed the next bytes of the body; the rules newly broken by the events they complete."""
        found: list[str] = []
        if self._broken:
            return found
        try:
            events = self._decoder.feed(data)
        except SSEDecodeError:
            self._broken = True
            self._failed(
                "stream_chunks_match_schema",
                _fail(
                    "the event stream is not valid UTF-8",
                    "UTF-8 text/event-stream",
                    "undecodable bytes",
                ),
                found,
            )
            return found
        for event in events:
            self.events += 1
            if self.done:
                self._failed(
                    "stream_ends_with_done",
                    _fail(
                        "an event after data: [DONE]",
                        "nothing after data: [DONE]",
                        f"data: {event.data[:200]}",
                    ),
                    found,
                )
                continue
            if event.data.strip() == "[DONE]":
                self.done = True
                continue
            self._chunk(event.data, found)
        return found

    def _chunk(self, data: str, found: list[str]) -> None:
        position = self._chunks
        self._chunks += 1
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            self._failed(
                "stream_chunks_match_schema",
                _fail(
                    f"stream event {position} is not JSON: {data[:200]!r}",
                    "data: <ChatTextChunk JSON>",
                    f"data: {data[:200]}",
                ),
                found,
            )
            return
        errors = list(_chunk_validator().iter_errors(chunk))
        if errors:
            where = "/".join(str(p) for p in errors[0].instance_path) or "(root)"
            self._failed(
                "stream_chunks_match_schema",
                _fail(
                    f"stream chunk {position} does not match ChatTextChunk at {where}: "
                    f"{errors[0].message}",
                    "a ChatTextChunk document",
                    excerpt(chunk),
                ),
                found,
            )
        if not isinstance(chunk, dict):
            return
        first = self._first
        if first is None:
            self._first = first = chunk
        if str(chunk.get("id")) != str(first.get("id")):
            self._failed(
                "stream_chunks_share_id",
                _fail(
                    f"chunk {position} carries id {chunk.get('id')!r}, the first "
                    f"{first.get('id')!r}",
                    f"id == {first.get('id')!r} in every chunk",
                    f"id == {chunk.get('id')!r}",
                ),
                found,
            )
        if self._model is not None and chunk.get("model") != self._model:
            self._failed(
                "model_echoes_request",
                _fail(
                    f"the request named model {self._model!r} but chunk {position} says "
                    f"{chunk.get('model')!r}",
                    f"model == {self._model!r}",
                    f"model == {chunk.get('model')!r}",
                ),
                found,
            )
        if repr(chunk.get("created")) != repr(first.get("created")):
            self._failed(
                "created_is_unix_seconds",
                _fail(
                    f"chunk {position} has created {chunk.get('created')!r}, the first "
                    f"{first.get('created')!r}",
                    "the same created in every chunk",
                    f"created == {chunk.get('created')!r}",
                ),
                found,
            )
        if self._usage_at is not None:
            self._failed(
                "stream_usage_only_in_last_chunk",
                _fail(
                    f"chunk {self._usage_at} carries usage before the last chunk",
                    "usage: null in every chunk but the last",
                    f"usage in chunk {self._usage_at}, chunk {position} follows",
                ),
                found,
            )
        self._usage_at = position if chunk.get("usage") is not None else None
        raw = chunk.get("choices")
        for choice in raw if isinstance(raw, list) else []:
            if isinstance(choice, dict):
                self._choice(choice, position, found)

    def _choice(self, choice: dict[str, Any], position: int, found: list[str]) -> None:
        index = choice.get("index")
        if index in self._finished:
            self._failed(
                "stream_finish_reason_only_at_end",
                _fail(
                    f"choice {index} continues in chunk {position} after its finish_reason in "
                    f"chunk {self._finished[index]}",
                    "no chunk for a choice after its finish_reason",
                    excerpt(choice),
                ),
                found,
            )
        if choice.get("finish_reason") is not None:
            self._finished.setdefault(index, position)
        delta = choice.get("delta")
        role = delta.get("role") if isinstance(delta, dict) else None
        if index not in self._roles:
            self._roles.add(index)
            if role != "assistant":
                self._failed(
                    "stream_role_only_in_first_chunk",
                    _fail(
                        f"the first delta of choice {index} (chunk {position}) has role {role!r}",
                        "delta.role == 'assistant' in the first chunk of a choice",
                        excerpt(delta),
                    ),
                    found,
                )
        elif isinstance(delta, dict) and "role" in delta:
            self._failed(
                "stream_role_only_in_first_chunk",
                _fail(
                    f"chunk {position} repeats delta.role for choice {index}",
                    "role in the first chunk of a choice only",
                    excerpt(delta),
                ),
                found,
            )


# ---------------------------------------------------------------------------------------------
# One exchange, every rule


def judge_exchange(
    facts: RequestFacts,
    ex: Exchange,
    level: Level,
    *,
    watch: StreamWatch | None = None,
) -> dict[str, Outcome]:
    """Every rule of ``level`` one exchange can show, with its outcome.

    The per-response rules judge the body the proxy kept. Where it was cut short (the proxy's
    cap, the client or the upstream going away) the rules that need its end are inconclusive,
    and a failure the :class:`StreamWatch` saw on events past the cut still counts."""
    if not facts.on_operation:
        return {}
    outcome = single_exchange_rules(facts, ex, ex.context_length)
    if facts.is_call:
        outcome.update(checks.judge(ex, level, relayed=True))
    if watch is not None and ex.cut_short is not None:
        for rule, failure in watch.failures.items():
            if rule in outcome and not isinstance(outcome[rule], CheckFailed):
                outcome[rule] = failure
    return {
        rule: result for rule, result in outcome.items() if checks.runs_at(checks.get(rule), level)
    }


def warm_up(level: Level) -> None:
    """Compile every validator and load every module the judging needs, by judging the spec's
    own examples (a plain answer and a stream) once: so the first real exchange is not slowed
    by it."""
    import orjson

    operation = chat_text_spec.operation()
    request = orjson.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    )
    facts = classify_request(
        "POST", chat_text_spec.OPERATION_PATH, {"content-type": "application/json"}, request
    )
    content = chat_text_spec.resolve(operation["responses"]["200"]).get("content", {})
    for media, entry in content.items():
        for example in entry.get("examples", {}).values():
            value = chat_text_spec.resolve(example).get("value")
            body = value.encode() if isinstance(value, str) else orjson.dumps(value)
            exchange = Exchange(facts.document, 200, checks.media_type(media), body)
            judge_exchange(facts, exchange, level, watch=StreamWatch(facts.model))
            break
    from ..schemathesis_adapter import prompt_surely_fits

    prompt_surely_fits(facts.document, None)
