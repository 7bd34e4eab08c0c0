"""Targeted properties of a chat-text server: the LLM promises no schema can express.

Each property is one small function named for what it asserts. It drives a few purpose-built
requests (conversations, limits and field values chosen with hypothesis strategies or derived
from the spec), compares the answers *with each other* and records every example as a pass or a
:class:`~chat_text_conformance.results.Failure` in its
:class:`~chat_text_conformance.results.CheckResult`. Nothing here depends on a tokenizer: token
counts are only ever compared with counts the same server reported for other requests, e.g. a
truncated conversation must cost exactly what the server reports for the messages a correct
truncation keeps.

The properties, in the order they run (``semantic`` level unless marked):

* ``truncation_keeps_newest_turns``, ``prompt_tokens_count_every_message``: prompt_truncate_len
  and token accounting of the prompt;
* ``max_tokens_lowered_to_fit``, ``context_window_boundary``,
  ``prompt_too_long_when_kept_messages_overflow``: the context window (the last two and the
  near-window cases of the first need ``target.context_length``; without it they are skipped
  with a ``note``);
* ``finish_reason_matches_max_tokens``, ``null_and_omitted_mean_default``, ``ids_unique``;
* ``unauthorized_without_valid_token``, ``invalid_values_rejected``, ``boundary_values_accepted``:
  auth and validation, cases derived from the spec;
* ``stream_usage_in_last_chunk``; ``stream_matches_non_stream`` and
  ``temperature_zero_deterministic`` (they rely on the spec's "temperature 0 is deterministic":
  a couple of examples at the semantic level, the full budget at the strict level).

Entry point: :func:`run_properties`. It never raises for anything the server does (hangs,
resets, garbage): such things become failures. Requests time out after
``target.request_timeout`` seconds, and after a few transport failures in a row the server is
considered down and the remaining examples are skipped (one failure per property says so).
"""

from __future__ import annotations

import functools
import json
import math
import random
import secrets
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import jsonschema
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import chat_text_spec
from chat_text_conformance.results import CheckResult, Failure
from chat_text_conformance.target import Level, Target

__all__ = ["PROPERTIES", "Property", "PropertyResult", "run_properties"]

GROUP = "property"

# How many transport failures (timeouts, resets, refused connections) in a row mean "down".
_DOWN_AFTER = 3
# A response larger than this is garbage for our purposes: stop reading it.
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# Reproducers longer than this show a preview of the body instead of all of it.
_MAX_REPRODUCER_BODY = 6000

_WORDS: tuple[str, ...] = (
    "river", "mountain", "lighthouse", "keeper", "harbour", "island", "forest", "winter",
    "summer", "morning", "evening", "garden", "window", "letter", "story", "question",
    "answer", "travel", "village", "bridge", "market", "silver", "golden", "quiet",
    "bright", "ancient", "gentle", "storm", "cloud", "thunder", "valley", "meadow",
    "please", "explain", "describe", "remember", "compare", "history", "science", "music",
)  # fmt: skip
# Drawn conversations also use these: non-ASCII text, punctuation and quotes that a server
# must count, echo and stream (JSON escaping, UTF-8 split across chunks) like any other.
_OTHER_WORDS: tuple[str, ...] = (
    "café", "Zürich", "naïve", "東京", "🌊", "don't", '"quoted"', "a\\b", "x<y>", "tab\tbed",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Talking to the server


class _TransportError(Exception):
    """The request got no HTTP response (timeout, reset, refused, unparsable HTTP)."""


class _ServerDown(Exception):
    """Several transport failures in a row: stop sending requests."""


class _OutOfTime(Exception):
    """The run's time budget is spent."""


class Violation(Exception):
    """A property does not hold for one example; becomes a :class:`Failure`."""

    def __init__(
        self, message: str, *, expected: str = "", actual: str = "", reply: Reply | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.reply = reply


class _Skip(Exception):
    """This example cannot be evaluated against this server (not a failure)."""


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange as the properties see it."""

    status: int
    headers: httpx.Headers
    body: bytes
    request_body: bytes
    request_headers: Mapping[str, str]
    url: str

    @functools.cached_property
    def media_type(self) -> str:
        value: str = self.headers.get("content-type", "")
        return value.split(";")[0].strip().lower()

    @functools.cached_property
    def json(self) -> Any:
        """The decoded JSON body; raises :class:`Violation` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise Violation(
                "the response body is not JSON",
                expected="a JSON document",
                actual=_preview(self.body),
                reply=self,
            ) from None

    def text(self) -> str:
        text: str = self.body.decode("utf-8", errors="replace")
        return text


def _preview(data: bytes | str, limit: int = 240) -> str:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class _Session:
    """An httpx client with a per-request deadline, a size cap and a circuit breaker."""

    def __init__(self, target: Target, deadline: float | None) -> None:
        self.target = target
        self.url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
        timeout = httpx.Timeout(target.request_timeout)
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
        self.deadline = deadline
        self.transport_failures_in_a_row = 0
        self.down_reason = ""

    def close(self) -> None:
        self.client.close()

    def post(
        self,
        body: Any = None,
        *,
        auth: str | None = "default",
        content: bytes | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        """POST ``body`` (JSON) or raw ``content`` with ``Authorization: auth``.

        ``auth="default"`` sends the target's token; ``None`` sends no header.
        """
        if self.down_reason:
            raise _ServerDown(self.down_reason)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _OutOfTime
        payload = content if content is not None else _encode(body)
        headers = {"Content-Type": content_type, "Accept": "application/json, text/event-stream"}
        if auth == "default":
            headers["Authorization"] = f"Bearer {self.target.token}"
        elif auth is not None:
            headers["Authorization"] = auth
        limit = time.monotonic() + self.target.request_timeout
        try:
            with self.client.stream("POST", self.url, content=payload, headers=headers) as resp:
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > _MAX_RESPONSE_BYTES:
                        raise _TransportError(f"response larger than {_MAX_RESPONSE_BYTES} bytes")
                    if time.monotonic() > limit:
                        raise _TransportError(
                            f"response not complete after {self.target.request_timeout} s"
                        )
                reply = Reply(
                    status=resp.status_code,
                    headers=resp.headers,
                    body=b"".join(chunks),
                    request_body=payload,
                    request_headers=headers,
                    url=self.url,
                )
        except (httpx.HTTPError, _TransportError) as exc:
            self.transport_failures_in_a_row += 1
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self.transport_failures_in_a_row >= _DOWN_AFTER:
                self.down_reason = (
                    f"{self.transport_failures_in_a_row} requests in a row got no HTTP response "
                    f"(last: {reason})"
                )
            raise Violation(
                "no HTTP response",
                expected=f"a response within {self.target.request_timeout} s",
                actual=reason,
                reply=Reply(0, httpx.Headers(), b"", payload, headers, self.url),
            ) from None
        self.transport_failures_in_a_row = 0
        return reply


def _reproducer(reply: Reply, token: str) -> str:
    """A curl command reproducing the request, with the target's token redacted."""
    parts = ["curl", "-sS", "-N", "-X", "POST", shlex.quote(reply.url)]
    for name, value in reply.request_headers.items():
        if name == "Accept":
            continue
        if name == "Authorization" and token and token in value:
            value = value.replace(token, "$CHAT_TEXT_TOKEN")
            parts += ["-H", f'"{name}: {value}"']
            continue
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = reply.request_body.decode("utf-8", errors="replace")
    if len(body) > _MAX_REPRODUCER_BODY:
        parts += ["--data-binary", "@body.json"]
        return " ".join(parts) + f"  # body.json: {len(body)} bytes, starting {_preview(body)}"
    parts += ["--data-binary", shlex.quote(body)]
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Reading answers


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    spec = chat_text_spec.load_spec()
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _schema_errors(name: str, instance: Any) -> str:
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.path))
    if not errors:
        return ""
    first = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path) or "(root)"
    return f"{where}: {first.message[:200]}"


@dataclass(frozen=True)
class Usage:
    prompt: int
    completion: int
    total: int


@dataclass(frozen=True)
class Answer:
    """A successful answer, non-streamed or streamed (then folded)."""

    id: str
    model: str
    content: str
    finish_reason: str
    usage: Usage
    reply: Reply
    chunks: int = 0


def _usage(value: Any, reply: Reply, where: str) -> Usage:
    if not isinstance(value, dict):
        raise Violation(
            f"{where} has no usage object, so token accounting cannot be checked",
            expected="usage {prompt_tokens, completion_tokens, total_tokens}",
            actual=_preview(json.dumps(value)),
            reply=reply,
        )
    usage = Usage(value["prompt_tokens"], value["completion_tokens"], value["total_tokens"])
    if usage.total != usage.prompt + usage.completion:
        raise Violation(
            f"{where}: usage.total_tokens is not prompt_tokens + completion_tokens",
            expected=f"total_tokens == {usage.prompt} + {usage.completion}",
            actual=f"total_tokens == {usage.total}",
            reply=reply,
        )
    return usage


def _expect_status(reply: Reply, status: int, what: str) -> None:
    if reply.status != status:
        raise Violation(
            f"{what}: expected HTTP {status}, got {reply.status}",
            expected=f"HTTP {status}",
            actual=f"HTTP {reply.status}: {_preview(reply.body)}",
            reply=reply,
        )


def _answer(reply: Reply, what: str = "the answer") -> Answer:
    """Parse a non-streamed 200 answer; anything else is a :class:`Violation`."""
    _expect_status(reply, 200, what)
    if reply.media_type != "application/json":
        raise Violation(
            f"{what}: a non-streaming request was not answered with application/json",
            expected="Content-Type: application/json",
            actual=f"Content-Type: {reply.headers.get('content-type', '(none)')}",
            reply=reply,
        )
    doc = reply.json
    problem = _schema_errors("ChatTextResponse", doc)
    if problem:
        raise Violation(
            f"{what} does not match the ChatTextResponse schema",
            expected="a ChatTextResponse",
            actual=problem,
            reply=reply,
        )
    if len(doc["choices"]) != 1:
        raise Violation(
            f"{what}: expected exactly one choice",
            expected="1 choice",
            actual=f"{len(doc['choices'])} choices",
            reply=reply,
        )
    choice = doc["choices"][0]
    return Answer(
        id=doc["id"],
        model=doc["model"],
        content=choice["message"]["content"],
        finish_reason=choice["finish_reason"],
        usage=_usage(doc.get("usage"), reply, what),
        reply=reply,
    )


def _stream_answer(reply: Reply, what: str = "the stream") -> Answer:
    """Parse a streamed 200 answer, checking the event-stream framing the spec promises."""
    _expect_status(reply, 200, what)
    if reply.media_type != "text/event-stream":
        raise Violation(
            f"{what}: a stream: true request was not answered with text/event-stream",
            expected="Content-Type: text/event-stream",
            actual=f"Content-Type: {reply.headers.get('content-type', '(none)')}",
            reply=reply,
        )
    text = reply.text().replace("\r\n", "\n").replace("\r", "\n")
    payloads = []
    for block in text.split("\n\n"):
        data = [ln[5:].removeprefix(" ") for ln in block.split("\n") if ln.startswith("data:")]
        if data:
            payloads.append("\n".join(data))
    if not payloads or payloads[-1].strip() != "[DONE]":
        raise Violation(
            f"{what} does not end with data: [DONE]",
            expected="last event: data: [DONE]",
            actual=f"last event: {_preview(payloads[-1]) if payloads else '(no events)'}",
            reply=reply,
        )
    payloads.pop()
    if not payloads:
        raise Violation(f"{what} has no chunks before [DONE]", reply=reply)
    chunks: list[dict[str, Any]] = []
    for i, payload in enumerate(payloads):
        try:
            chunk = json.loads(payload)
        except (ValueError, RecursionError):
            raise Violation(
                f"{what}: event {i} is not JSON",
                expected="data: <ChatTextChunk JSON>",
                actual=_preview(payload),
                reply=reply,
            ) from None
        problem = _schema_errors("ChatTextChunk", chunk)
        if problem:
            raise Violation(
                f"{what}: chunk {i} does not match the ChatTextChunk schema",
                expected="a ChatTextChunk",
                actual=problem,
                reply=reply,
            )
        chunks.append(chunk)
    first, last = chunks[0], chunks[-1]
    for i, chunk in enumerate(chunks):
        for key in ("id", "created", "model"):
            if chunk[key] != first[key]:
                raise Violation(
                    f"{what}: chunk {i} has a different {key} from the first chunk",
                    expected=f"{key} == {first[key]!r} in every chunk",
                    actual=f"{key} == {chunk[key]!r}",
                    reply=reply,
                )
        if i < len(chunks) - 1 and chunk.get("usage") is not None:
            raise Violation(
                f"{what}: chunk {i} of {len(chunks)} carries usage; only the last chunk may",
                expected="usage: null in every chunk but the last",
                actual=f"usage: {json.dumps(chunk['usage'])}",
                reply=reply,
            )
        if len(chunk["choices"]) > 1 or any(c["index"] != 0 for c in chunk["choices"]):
            raise Violation(
                f"{what}: chunk {i} advances a choice other than index 0",
                actual=_preview(json.dumps(chunk["choices"])),
                reply=reply,
            )
        if i < len(chunks) - 1 and any(c["finish_reason"] is not None for c in chunk["choices"]):
            raise Violation(
                f"{what}: chunk {i} of {len(chunks)} has a finish_reason before the last chunk",
                expected="finish_reason: null until the last chunk",
                actual=_preview(json.dumps(chunk["choices"])),
                reply=reply,
            )
    if not first["choices"] or first["choices"][0]["delta"].get("role") != "assistant":
        raise Violation(
            f"{what}: the first chunk's delta does not carry role: assistant",
            expected='delta.role == "assistant" in the first chunk',
            actual=_preview(json.dumps(first["choices"])),
            reply=reply,
        )
    for i, chunk in enumerate(chunks[1:], start=1):
        if any("role" in c["delta"] for c in chunk["choices"]):
            raise Violation(
                f"{what}: chunk {i} repeats delta.role; only the first chunk carries it",
                expected="delta.role in the first chunk only",
                actual=_preview(json.dumps(chunk["choices"])),
                reply=reply,
            )
    if not last["choices"] or last["choices"][0]["finish_reason"] is None:
        raise Violation(
            f"{what}: the last chunk has no finish_reason",
            expected="finish_reason stop or length in the last chunk",
            actual=_preview(json.dumps(last["choices"])),
            reply=reply,
        )
    content = "".join(c["delta"].get("content", "") for chunk in chunks for c in chunk["choices"])
    return Answer(
        id=first["id"],
        model=first["model"],
        content=content,
        finish_reason=last["choices"][0]["finish_reason"],
        usage=_usage(last.get("usage"), reply, f"{what} (last chunk)"),
        reply=reply,
        chunks=len(chunks),
    )


def _error_body(reply: Reply, what: str) -> dict[str, Any]:
    """The ``error`` object of an error response; a :class:`Violation` if it is not one."""
    if reply.media_type != "application/json":
        raise Violation(
            f"{what}: the error response is not application/json",
            expected="an ErrorResponse JSON body",
            actual=f"Content-Type: {reply.headers.get('content-type', '(none)')}",
            reply=reply,
        )
    doc = reply.json
    problem = _schema_errors("ErrorResponse", doc)
    if problem:
        raise Violation(
            f"{what}: the error body does not match the ErrorResponse schema",
            expected='{"error": {"code": ..., "message": ..., "field": ...}}',
            actual=f"{problem}; body: {_preview(reply.body)}",
            reply=reply,
        )
    error: dict[str, Any] = doc["error"]
    return error


# ---------------------------------------------------------------------------------------------
# Strategies: conversations built for the purpose


def _words(count: int, draw: st.DrawFn) -> str:
    words = st.sampled_from(_WORDS + _OTHER_WORDS)
    return " ".join(draw(st.lists(words, min_size=count, max_size=count)))


@st.composite
def _conversations(
    draw: st.DrawFn, max_turns: int, max_words: int, min_turns: int = 1
) -> list[dict[str, str]]:
    """system + alternating user/assistant turns of distinct sizes + a last message.

    Distinct sizes make newest-first and oldest-first eviction cost different token counts.
    """
    turns = draw(st.integers(min(min_turns, max_turns), max_turns))
    sizes = draw(st.lists(st.integers(1, max_words), min_size=turns, max_size=turns, unique=True))
    messages = [{"role": "system", "content": _words(draw(st.integers(1, 6)), draw)}]
    mid_system = draw(st.integers(0, turns)) if turns > 1 and draw(st.booleans()) else -1
    for i, size in enumerate(sizes):
        if i == mid_system:
            messages.append({"role": "system", "content": _words(draw(st.integers(1, 4)), draw)})
        role = "user" if i % 2 == 0 else "assistant"
        messages.append({"role": role, "content": _words(size, draw)})
    last_role = draw(st.sampled_from(["user", "user", "assistant"]))
    messages.append({"role": last_role, "content": _words(draw(st.integers(1, 8)), draw)})
    return messages


_SEEDS = st.integers(0, 2**32 - 1)


def _question(words: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(_WORDS[i % len(_WORDS)] for i in range(words))}]


def _long_prompt(words: int) -> list[dict[str, str]]:
    """A ``words``-word prompt no truncation can shorten: system messages + the last message.

    Split so that no message is longer than the spec's maxLength for content.
    """
    text = _question(words)[0]["content"]
    size = _content_max_length()
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", 0, size)
        parts.append(text[:cut])
        text = text[cut + 1 :]
    return [{"role": "system", "content": p} for p in parts] + [{"role": "user", "content": text}]


# ---------------------------------------------------------------------------------------------
# The run: shared state of one call to run_properties


T = TypeVar("T")


@dataclass
class PropertyResult(CheckResult):
    """A :class:`CheckResult` with a note, e.g. why some cases were skipped."""

    note: str = ""


def _content_max_length() -> int:
    items = chat_text_spec.resolve(
        chat_text_spec.request_schema()["properties"]["messages"]["items"]
    )
    limit: int = chat_text_spec.resolve(items["properties"]["content"])["maxLength"]
    return limit


@dataclass
class _Run:
    target: Target
    level: Level
    max_examples: int
    seed: int | None
    session: _Session
    result: PropertyResult = field(default_factory=lambda: PropertyResult("", GROUP))

    @property
    def model(self) -> str:
        return self.target.model

    @functools.cached_property
    def defaults(self) -> dict[str, Any]:
        return chat_text_spec.request_defaults()

    def bound(self, name: str, key: str) -> Any:
        return chat_text_spec.field_bounds(name)[key]

    @property
    def min_tokens(self) -> int:
        value: int = self.bound("max_tokens", "minimum")
        return value

    @property
    def cold(self) -> float:
        """The deterministic temperature: the lowest the spec allows (0)."""
        value: float = self.bound("temperature", "minimum")
        return value

    @property
    def max_ptl(self) -> int:
        value: int = self.bound("prompt_truncate_len", "maximum")
        return value

    def body(self, messages: Sequence[Mapping[str, str]], **fields: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": [dict(m) for m in messages], **fields}

    def complete(self, messages: Sequence[Mapping[str, str]], what: str, **fields: Any) -> Answer:
        return _answer(self.session.post(self.body(messages, **fields)), what)

    def stream(self, messages: Sequence[Mapping[str, str]], what: str, **fields: Any) -> Answer:
        return _stream_answer(self.session.post(self.body(messages, stream=True, **fields)), what)

    def prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        """What this server counts for ``messages`` with nothing evicted (ptl at its maximum)."""
        reply = self.session.post(
            self.body(messages, prompt_truncate_len=self.max_ptl, max_tokens=self.min_tokens)
        )
        if reply.status == 400 and _error_code(reply) == "prompt_too_long":
            raise _Skip  # too long for this model: not what this example is about
        return _answer(reply, "measuring prompt_tokens").usage.prompt

    def fail(self, violation: Violation) -> None:
        token = self.target.token
        reply = violation.reply
        self.result.record_failure(
            Failure(
                check=self.result.name,
                message=_redact(violation.message, token),
                expected=_redact(violation.expected, token),
                actual=_redact(violation.actual, token),
                reproducer=_reproducer(reply, token) if reply is not None else "",
            )
        )

    def examples(
        self, strategy: st.SearchStrategy[T], body: Callable[[T], None], budget: int | None = None
    ) -> None:
        """Run ``body`` on ``budget`` (default max_examples) examples drawn from ``strategy``.

        Every example records its own pass or failure; no exception leaves hypothesis, so
        there is no shrinking and the number of requests stays bounded.
        """
        count = max(1, self.max_examples if budget is None else budget)

        stopped: list[BaseException] = []

        def one(example: T) -> None:
            if stopped:
                return
            try:
                self.evaluate(lambda: body(example))
            except (_ServerDown, _OutOfTime) as exc:  # let hypothesis finish quietly
                stopped.append(exc)

        runner = settings(
            max_examples=count,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )(given(strategy)(one))
        if self.seed is not None:
            runner = hypothesis_seed(self.seed)(runner)
        runner()
        if stopped:
            raise stopped[0]

    def evaluate(self, body: Callable[[], None]) -> None:
        """Run one example: a pass, a failure or (for :class:`_Skip`) nothing."""
        try:
            body()
        except Violation as violation:
            self.fail(violation)
        except _Skip:
            return
        else:
            self.result.record_pass()


def _error_code(reply: Reply) -> str | None:
    try:
        doc = json.loads(reply.body)
        code = doc["error"]["code"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    return code if isinstance(code, str) else None


def _redact(text: str, token: str) -> str:
    return text.replace(token, "***") if len(token) >= 4 else text


# ---------------------------------------------------------------------------------------------
# The properties


@dataclass(frozen=True)
class Property:
    name: str
    level: Level
    """The lowest level that runs it."""
    run: Callable[[_Run], None]
    doc: str


PROPERTIES: list[Property] = []


def _property(
    name: str, level: Level = Level.SEMANTIC
) -> Callable[[Callable[[_Run], None]], Callable[[_Run], None]]:
    def register(fn: Callable[[_Run], None]) -> Callable[[_Run], None]:
        PROPERTIES.append(Property(name, level, fn, (fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return register


def _effective_cap(run: _Run, max_tokens: int, prompt: int) -> int:
    """max_tokens as a correct server applies it: lowered to the room left, when known."""
    if run.target.context_length is None:
        return max_tokens
    return min(max_tokens, run.target.context_length - prompt)


def _check_cap(run: _Run, answer: Answer, max_tokens: int, what: str) -> None:
    """completion_tokens within the (lowered) max_tokens, and finish_reason consistent with it."""
    usage = answer.usage
    cap = _effective_cap(run, max_tokens, usage.prompt)
    lowered = f" (max_tokens {max_tokens} lowered to the room left)" if cap != max_tokens else ""
    if usage.completion > cap:
        raise Violation(
            f"{what}: completion_tokens exceeds max_tokens{lowered}",
            expected=f"completion_tokens <= {cap}",
            actual=f"completion_tokens == {usage.completion}",
            reply=answer.reply,
        )
    if answer.finish_reason == "length" and usage.completion != cap:
        raise Violation(
            f"{what}: finish_reason is length but generation stopped before max_tokens{lowered}",
            expected=f"finish_reason stop when completion_tokens ({usage.completion}) < {cap}",
            actual="finish_reason length",
            reply=answer.reply,
        )
    ctx = run.target.context_length
    if ctx is not None and usage.prompt + usage.completion > ctx:
        raise Violation(
            f"{what}: prompt_tokens + completion_tokens exceeds the context window",
            expected=f"<= {ctx}",
            actual=f"{usage.prompt} + {usage.completion} = {usage.prompt + usage.completion}",
            reply=answer.reply,
        )


def _same(what: str, left: Answer, right: Answer, *, content: bool = True) -> None:
    """The two answers agree (usage, finish_reason and, optionally, content)."""
    pairs = [
        ("usage", left.usage, right.usage),
        ("finish_reason", left.finish_reason, right.finish_reason),
    ]
    if content:
        pairs.insert(0, ("content", left.content, right.content))
    for name, a, b in pairs:
        if a != b:
            raise Violation(
                f"{what}: {name} differs",
                expected=_preview(repr(a), 300),
                actual=_preview(repr(b), 300),
                reply=right.reply,
            )


def _conversation_budget(run: _Run) -> tuple[int, int]:
    """(max turns, max words per turn) that keep a whole conversation well inside the model."""
    ctx = run.target.context_length
    if ctx is None:
        return 6, 30
    words = max(2, min(30, ctx // 30))
    return 6, words


@_property("truncation_keeps_newest_turns")
def truncation_keeps_newest_turns(run: _Run) -> None:
    """A truncated prompt costs exactly what the messages a correct truncation keeps cost.

    For a conversation, the server itself reports ``p[j]``: prompt_tokens of the conversation
    with its ``j`` oldest user/assistant turns removed (nothing evicted, ptl at its maximum).
    A correct server given ``prompt_truncate_len = L`` keeps the smallest such suffix that fits:
    ``prompt_tokens == p[j*]``, ``j* = min{j : p[j] <= L}``, or only the system messages and the
    last message when none fits. Limits are chosen at and next to the ``p[j]`` so that an
    off-by-one at the limit, newest-first eviction, evicting a system or the last message and
    ignoring the limit all give a different count. Removing turns never raises prompt_tokens.
    """
    max_turns, max_words = _conversation_budget(run)
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")

    def example(drawn: tuple[list[dict[str, str]], int]) -> None:
        messages, pick_seed = drawn
        # Choices that depend on the server's answers come from a seeded random, not from
        # hypothesis: its draws must not depend on anything outside the strategy.
        pick = random.Random(pick_seed)  # noqa: S311
        evictable = [i for i, m in enumerate(messages[:-1]) if m["role"] != "system"]
        costs: list[int] = []
        for j in range(len(evictable) + 1):
            gone = set(evictable[:j])
            costs.append(run.prompt_tokens([m for i, m in enumerate(messages) if i not in gone]))
            if j and costs[j] > costs[j - 1]:
                raise Violation(
                    "removing an earlier turn increased prompt_tokens",
                    expected=f"prompt_tokens <= {costs[j - 1]} with {j} oldest turns removed",
                    actual=f"prompt_tokens == {costs[j]}",
                )
        kept_only = costs[-1]
        j = pick.randint(1, len(evictable))
        # at a boundary, just below it, below what the kept messages alone cost (only they
        # remain), and anywhere
        limits = [costs[j], costs[j] - 1, pick.randint(ptl_min, max(ptl_min, kept_only - 1))]
        limits.append(pick.randint(ptl_min, max(ptl_min, costs[0] + 5)))
        for limit in dict.fromkeys(x for x in limits if x >= ptl_min):
            fits = [k for k, cost in enumerate(costs) if cost <= limit]
            keep = fits[0] if fits else len(costs) - 1
            expected = costs[keep]
            answer = run.complete(
                messages,
                f"prompt_truncate_len={limit}",
                prompt_truncate_len=limit,
                max_tokens=run.min_tokens,
            )
            got = answer.usage.prompt
            if got == expected:
                continue
            if got < kept_only:
                why = "a message that must be kept (a system message or the last one) was evicted"
            elif got > expected and got > limit:
                why = "the prompt was not cut down to prompt_truncate_len (too few turns evicted)"
            elif got < expected:
                why = (
                    "more turns were evicted than needed (newest first, or off by one at the limit)"
                )
            else:
                why = "the kept turns are not the newest ones (evicted in the wrong order)"
            raise Violation(
                f"prompt_truncate_len={limit}: {why}",
                expected=(
                    f"prompt_tokens == {expected}: system messages, the last message and the "
                    f"{len(evictable) - keep} newest of {len(evictable)} user/assistant turns "
                    f"(the server's own counts with 0..{len(evictable)} oldest turns removed: "
                    f"{costs})"
                ),
                actual=f"prompt_tokens == {got}",
                reply=answer.reply,
            )

    conversation = _conversations(max_turns, max_words, min_turns=3)
    run.examples(st.tuples(conversation, _SEEDS), example)


@_property("prompt_tokens_count_every_message")
def prompt_tokens_count_every_message(run: _Run) -> None:
    """Every message counts: making any one message longer raises prompt_tokens.

    Nothing is evicted (prompt_truncate_len at its maximum). The first (system), a middle and
    the last message each get a few more words; each time prompt_tokens must grow. Catches a
    count that skips a role, the last message or the system prompt, or a constant count.
    """
    max_turns, max_words = _conversation_budget(run)

    def example(drawn: tuple[list[dict[str, str]], int]) -> None:
        messages, extra = drawn
        base = run.prompt_tokens(messages)
        more = " " + " ".join(_WORDS[-extra:])
        for i in sorted({0, len(messages) // 2, len(messages) - 1}):
            longer = [dict(m) for m in messages]
            longer[i]["content"] += more
            got = run.prompt_tokens(longer)
            if got <= base:
                raise Violation(
                    f"{extra} more words in message {i} ({messages[i]['role']}) did not raise "
                    "prompt_tokens",
                    expected=f"prompt_tokens > {base}",
                    actual=f"prompt_tokens == {got}",
                )

    strategy = st.tuples(_conversations(max_turns, max_words), st.integers(3, 12))
    run.examples(strategy, example, budget=max(1, run.max_examples // 2))


def _measure(run: _Run, messages: Sequence[Mapping[str, str]]) -> int | None:
    """prompt_tokens of ``messages`` alone, or ``None`` when they do not fit the model."""
    try:
        return run.prompt_tokens(messages)
    except _Skip:
        return None


def _calibrate(run: _Run) -> tuple[int, float] | None:
    """(prompt_tokens of a 10-word question, tokens per extra word) as this server counts."""
    small, large = _measure(run, _question(10)), _measure(run, _question(40))
    if small is None or large is None or large <= small:
        return None
    return small, (large - small) / 30


def _near_context(run: _Run, context: int, room: int) -> tuple[list[dict[str, str]], int] | None:
    """A one-message prompt leaving about ``room`` tokens of the context window, and its cost."""
    calibration = _calibrate(run)
    if calibration is None:
        return None
    small, per_word = calibration
    words = 10 + math.floor((context - room - small) / per_word)
    for _ in range(4):
        messages = _long_prompt(max(1, words))
        cost = _measure(run, messages)
        if cost is not None and cost < context:
            return messages, cost
        words -= max(1, math.ceil(room / per_word))
    return None


@_property("max_tokens_lowered_to_fit")
def max_tokens_lowered_to_fit(run: _Run) -> None:
    """max_tokens above the room left is lowered, never an error (needs the context length).

    A short prompt with max_tokens at the spec's maximum always succeeds. With a prompt that
    leaves ``room`` tokens of the window: 200, ``completion_tokens <= room``, the usage fits the
    window, and ``finish_reason`` is ``length`` only when it reached ``room``.
    """
    top: int = run.bound("max_tokens", "maximum")

    def short_prompt() -> None:
        answer = run.complete(
            _question(5), f"max_tokens={top}", max_tokens=top, temperature=run.cold
        )
        _check_cap(run, answer, top, f"max_tokens={top}")

    run.evaluate(short_prompt)
    context = run.target.context_length
    if context is None:
        run.result.note = "near-context cases skipped: the target's context length is unknown"
        return

    def example(drawn: tuple[int, int]) -> None:
        room, choice = drawn
        found = _near_context(run, context, room)
        if found is None:
            raise Violation(
                "could not build a prompt that fits the context window",
                expected=f"a prompt of fewer than {context} tokens is accepted",
                actual="every attempt was rejected or unmeasurable",
            )
        messages, cost = found
        left = context - cost
        ask = [left + 1, left + 7, context, top][choice]
        answer = run.complete(messages, f"max_tokens={ask}", max_tokens=ask, temperature=run.cold)
        if answer.usage.prompt != cost:
            raise Violation(
                "prompt_tokens changed with max_tokens",
                expected=f"prompt_tokens == {cost} (same messages)",
                actual=f"prompt_tokens == {answer.usage.prompt}",
                reply=answer.reply,
            )
        _check_cap(run, answer, ask, f"max_tokens={ask} with {left} tokens of room")
        streamed = run.stream(
            messages, f"max_tokens={ask}, streamed", max_tokens=ask, temperature=run.cold
        )
        _check_cap(run, streamed, ask, f"max_tokens={ask} with {left} tokens of room, streamed")

    strategy = st.tuples(st.integers(1, 40), st.integers(0, 3))
    run.examples(strategy, example, budget=max(1, run.max_examples // 2))


def _exact_prompt(run: _Run, target: int) -> tuple[list[dict[str, str]], str] | None:
    """A prompt this server counts as exactly ``target`` tokens, and a one-token pad.

    A long question is sized with the server's own counts and then padded with a piece that
    costs exactly one token (checked); ``None`` when the counts cannot land on ``target``.
    """
    calibration = _calibrate(run)
    if calibration is None:
        return None
    small, per_word = calibration
    words = 10 + math.floor((target - small) / per_word) - 2
    for _ in range(8):
        messages = _long_prompt(max(1, words))
        cost = _measure(run, messages)
        if cost is None:  # over the window: back off a little
            words -= max(1, math.ceil(max(5, target // 100) / per_word))
        elif cost > target:
            words -= max(1, math.ceil((cost - target) / per_word))
        elif target - cost > 64:
            words += max(1, math.floor((target - cost) / per_word) - 1)
        else:
            break
    else:
        return None
    missing = target - cost
    last = messages[-1]
    for pad in (" a", " .", " x", " abc", "abc"):  # a piece that costs one token, k times k
        one = _measure(run, [*messages[:-1], {**last, "content": last["content"] + pad}])
        if one != cost + 1:
            continue
        padded = [*messages[:-1], {**last, "content": last["content"] + pad * missing}]
        if _measure(run, padded) == target:
            return padded, pad
    return None


@_property("context_window_boundary")
def context_window_boundary(run: _Run) -> None:
    """One token of room is enough to answer; no room at all is ``prompt_too_long``.

    Needs the context length. A prompt the server counts as ``context - 1`` tokens with
    max_tokens at the spec's maximum → 200, max_tokens lowered to 1. The same prompt plus one
    token (``context``) → 400 ``prompt_too_long``. Catches off-by-ones at the window's edge.
    """
    context = run.target.context_length
    if context is None:
        run.result.note = "skipped: the target's context length is unknown"
        return
    top: int = run.bound("max_tokens", "maximum")

    def check() -> None:
        # Measured at context - 2 (room for the 1-token measurement); the pad costs one token
        # (checked while padding), so one more pad leaves 1 token of room and two leave none.
        found = _exact_prompt(run, context - 2)
        if found is None:
            run.result.note = (
                f"skipped: could not build a prompt of exactly {context - 2} tokens "
                "from this server's counts"
            )
            raise _Skip
        messages, pad = found

        def padded(times: int) -> list[dict[str, str]]:
            last = messages[-1]
            return [*messages[:-1], {**last, "content": last["content"] + pad * times}]

        what = f"a prompt of {context - 1} tokens (1 token of room), max_tokens={top}"
        reply = run.session.post(run.body(padded(1), max_tokens=top, temperature=run.cold))
        if reply.status == 400 and _error_code(reply) == "prompt_too_long":
            raise Violation(
                f"{what}: refused although one token of the window is left",
                expected="HTTP 200 with max_tokens lowered to 1",
                actual=f"HTTP 400: {_preview(reply.body)}",
                reply=reply,
            )
        answer = _answer(reply, what)
        if answer.usage.prompt != context - 1:
            run.result.note = "skipped: the pad token did not add up on this server"
            raise _Skip
        _check_cap(run, answer, top, what)
        reply = run.session.post(run.body(padded(2), max_tokens=run.min_tokens))
        what = f"a prompt of {context} tokens (no room left in a window of {context})"
        _expect_status(reply, 400, what)
        code = _error_body(reply, what).get("code")
        if code != "prompt_too_long":
            raise Violation(
                f"{what}: wrong error code",
                expected="error.code == prompt_too_long",
                actual=f"error.code == {code!r}",
                reply=reply,
            )

    run.evaluate(check)


@_property("prompt_too_long_when_kept_messages_overflow")
def prompt_too_long_when_kept_messages_overflow(run: _Run) -> None:
    """Messages that cannot be evicted and overflow the window → 400 ``prompt_too_long``.

    Needs the context length. The last message alone is made about twice the window (sized
    with the server's own counts), after an evictable turn and with the smallest
    prompt_truncate_len: no truncation can save it, so 200 (or a truncated last message) is a bug.
    """
    context = run.target.context_length
    if context is None:
        run.result.note = "skipped: the target's context length is unknown"
        return

    def check() -> None:
        calibration = _calibrate(run)
        if calibration is None:
            raise Violation("could not measure prompt_tokens of short questions")
        small, per_word = calibration
        words = 10 + math.ceil((2 * context - small) / max(per_word, 0.05))
        long = _long_prompt(words)
        messages = [*long[:-1], {"role": "user", "content": "hello"}, long[-1]]
        ptl_min: int = run.bound("prompt_truncate_len", "minimum")
        reply = run.session.post(run.body(messages, prompt_truncate_len=ptl_min))
        _expect_status(reply, 400, f"a last message of about {2 * context} tokens")
        code = _error_body(reply, "prompt too long").get("code")
        if code != "prompt_too_long":
            raise Violation(
                "the error code for an overflowing prompt is not prompt_too_long",
                expected="error.code == prompt_too_long",
                actual=f"error.code == {code!r}",
                reply=reply,
            )

    run.evaluate(check)


@_property("finish_reason_matches_max_tokens")
def finish_reason_matches_max_tokens(run: _Run) -> None:
    """completion_tokens <= max_tokens and finish_reason ``length`` exactly when it was reached.

    At temperature 0 a first answer shows how long the model's answer runs; asked again with a
    smaller max_tokens, an answer that is a prefix of the first one was cut by max_tokens, so it
    must be exactly max_tokens long and say ``length``.
    """

    def example(drawn: tuple[int, int, int]) -> None:
        words, first_cap, pick_seed = drawn
        messages = _question(words)
        pick = random.Random(pick_seed)  # noqa: S311
        first = run.complete(
            messages, f"max_tokens={first_cap}", max_tokens=first_cap, temperature=run.cold
        )
        _check_cap(run, first, first_cap, f"max_tokens={first_cap}")
        if first.usage.completion < 2:
            return
        cap = pick.randint(run.min_tokens, first.usage.completion - 1)
        second = run.complete(messages, f"max_tokens={cap}", max_tokens=cap, temperature=run.cold)
        _check_cap(run, second, cap, f"max_tokens={cap}")
        cut = second.content != first.content and first.content.startswith(second.content)
        if cut and (second.finish_reason != "length" or second.usage.completion != cap):
            raise Violation(
                f"max_tokens={cap}: the answer was cut short of the model's own answer "
                f"({first.usage.completion} tokens at max_tokens={first_cap}) but does not "
                "report reaching max_tokens",
                expected=f"finish_reason length and completion_tokens == {cap}",
                actual=(
                    f"finish_reason {second.finish_reason}, "
                    f"completion_tokens {second.usage.completion}"
                ),
                reply=second.reply,
            )

    run.examples(st.tuples(st.integers(1, 20), st.integers(run.min_tokens, 80), _SEEDS), example)


@_property("null_and_omitted_mean_default")
def null_and_omitted_mean_default(run: _Run) -> None:
    """For every optional field, omitted ≡ ``null`` ≡ the spec's default value.

    Defaults come from the spec. All three answers succeed as JSON (the default of ``stream``)
    and cost the same prompt_tokens. For max_tokens the question is long enough that a long
    answer may run past the default, and all three must respect it (``null`` read as "no
    limit" or as another number shows up there). At the strict level the answers at
    temperature 0 are identical.
    """
    defaults = run.defaults
    max_turns, max_words = _conversation_budget(run)
    default_cap = defaults.get("max_tokens")
    context = run.target.context_length
    room = 150 if context is None or not isinstance(default_cap, int) else context - default_cap
    long_question = max(5, min(150, room // 2))

    def example(drawn: tuple[list[dict[str, str]], int]) -> None:
        conversation, words = drawn
        for name, value in defaults.items():
            fixed = {} if name == "temperature" else {"temperature": run.cold}
            messages = _question(words) if name == "max_tokens" else conversation
            answers = []
            for label, extra in (
                ("omitted", {}),
                ("null", {name: None}),
                (f"{value!r}", {name: value}),
            ):
                what = f"{name} {label}"
                answer = run.complete(messages, what, **fixed, **extra)
                if isinstance(default_cap, int):
                    _check_cap(run, answer, default_cap, f"{what} (default max_tokens)")
                answers.append((what, answer))
            (base_what, base), *others = answers
            for what, other in others:
                if other.usage.prompt != base.usage.prompt:
                    raise Violation(
                        f"{what} and {base_what} count different prompt_tokens",
                        expected=f"prompt_tokens == {base.usage.prompt}",
                        actual=f"prompt_tokens == {other.usage.prompt}",
                        reply=other.reply,
                    )
                if run.level is Level.STRICT and name != "temperature":
                    _same(f"{what} vs {base_what} at temperature 0", base, other)

    strategy = st.tuples(
        _conversations(max_turns, max_words),
        st.integers(long_question * 3 // 4, long_question),
    )
    run.examples(strategy, example, budget=max(1, run.max_examples // 3))


@_property("ids_unique")
def ids_unique(run: _Run) -> None:
    """Every answer (and every stream) has its own id, even for identical requests."""
    seen: dict[str, int] = {}
    count = max(4, min(2 * run.max_examples, 30))
    for i in range(count):

        def one(i: int = i) -> None:
            messages = _question(3)
            if i % 4 == 3:
                answer = run.stream(messages, "a stream", max_tokens=4, temperature=run.cold)
            else:
                answer = run.complete(messages, "an answer", max_tokens=4, temperature=run.cold)
            if answer.id in seen:
                raise Violation(
                    f"request {i} got the same id as request {seen[answer.id]}",
                    expected="a new id for every response",
                    actual=f"id {answer.id!r} repeated",
                    reply=answer.reply,
                )
            seen[answer.id] = i

        run.evaluate(one)


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


@_property("unauthorized_without_valid_token")
def unauthorized_without_valid_token(run: _Run) -> None:
    """Missing, malformed or unknown tokens → 401 with ``WWW-Authenticate: Bearer``, no echo.

    Neither the credential that was sent nor the real token may appear in the body or in any
    response header. The real token itself is accepted (a positive control).
    """
    token = run.target.token

    def check(description: str, header: str | None, sent: str, stream: bool = False) -> None:
        body = run.body(_question(3), max_tokens=run.min_tokens)
        if stream:
            body["stream"] = True
        reply = run.session.post(body, auth=header)
        _expect_status(reply, 401, description)
        challenge = reply.headers.get("www-authenticate", "")
        if not challenge.lower().startswith("bearer"):
            raise Violation(
                f"{description}: 401 without a Bearer challenge",
                expected='WWW-Authenticate: Bearer realm="..."',
                actual=f"WWW-Authenticate: {challenge or '(missing)'}",
                reply=reply,
            )
        _error_body(reply, description)
        _no_echo(reply, description, [s for s in (sent, token) if len(s) >= 6])

    for description, header, sent in _auth_cases(token):
        run.evaluate(functools.partial(check, description, header, sent))
    # the streaming path must be guarded just the same
    for description, header, sent in _auth_cases(token)[:2]:
        run.evaluate(functools.partial(check, f"{description}, stream: true", header, sent, True))

    def random_token(drawn: str) -> None:
        sent = "ct-" + drawn
        if sent == token:
            raise _Skip
        check("a random token", f"Bearer {sent}", sent)

    tokens = st.text(_TOKEN_CHARS, min_size=8, max_size=40)
    run.examples(tokens, random_token, budget=max(1, run.max_examples // 2))

    def accepted() -> None:
        reply = run.session.post(run.body(_question(3), max_tokens=run.min_tokens))
        if reply.status == 401:
            raise Violation(
                "the target's own token is rejected",
                expected="HTTP 200",
                actual=f"HTTP 401: {_preview(reply.body)}",
                reply=reply,
            )
        _answer(reply, "with the valid token")
        _no_echo(reply, "with the valid token", [token] if len(token) >= 6 else [])

    run.evaluate(accepted)


def _no_echo(reply: Reply, what: str, secrets_sent: Sequence[str]) -> None:
    for secret in secrets_sent:
        places = [f"header {k}" for k, v in reply.headers.items() if secret in v]
        if secret.encode() in reply.body:
            places.append("body")
        if places:
            raise Violation(
                f"{what}: the credential sent is echoed back in the {', '.join(places)}",
                expected="the token never appears in a response",
                actual=f"found in {', '.join(places)} (value redacted)",
                reply=reply,
            )


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


@_property("invalid_values_rejected")
def invalid_values_rejected(run: _Run) -> None:
    """Wrong-typed, out-of-range, missing and unknown fields → 400 naming the field.

    The cases are derived from the request schema (every property, its type, bounds, enum,
    required and additionalProperties, recursively into ``messages[0]``); a few more draw random
    values outside the numeric bounds. Also: an unknown model → 404 naming ``model``, a body that
    is not JSON → 400, a body over ``x-max-body-bytes`` → 413, a non-JSON media type → 415.
    Every error is an ErrorResponse with a documented status, and never echoes the token.
    """
    valid = run.body(_question(3), max_tokens=run.min_tokens)
    token = run.target.token

    def rejected(reply: Reply, what: str, status: int, path: str | None) -> None:
        # An invalid model name may also be reported as an unknown model (both documented).
        also = {404} if status == 400 and path == "model" else set()
        if reply.status != status and reply.status not in also:
            hint = " (the invalid value was accepted)" if reply.status < 300 else ""
            raise Violation(
                f"{what}: expected HTTP {status}{hint}",
                expected=f"HTTP {status} with an ErrorResponse"
                + (f" naming {path!r}" if path else ""),
                actual=f"HTTP {reply.status}: {_preview(reply.body)}",
                reply=reply,
            )
        error = _error_body(reply, what)
        if path is not None and not _names_field(error, path):
            top = path.split("[")[0].split(".")[0]
            message = _preview(str(error.get("message")))
            raise Violation(
                f"{what}: the error does not name the field",
                expected=f"error.field (or error.message) naming {top!r}",
                actual=f"field={error.get('field')!r}, message={message!r}",
                reply=reply,
            )
        _no_echo(reply, what, [token] if len(token) >= 6 else [])

    def post_rejected(body: Any, what: str, status: int, path: str | None) -> None:
        rejected(run.session.post(body), what, status, path)

    def raw_rejected(raw: bytes, what: str, status: int) -> None:
        rejected(run.session.post(content=raw), what, status, None)

    for path, description, corrupt in _object_cases(chat_text_spec.request_schema(), valid, ""):
        body = corrupt(json.loads(json.dumps(valid)))
        run.evaluate(functools.partial(post_rejected, body, description, 400, path))
        bound = "minimum" in description or "maximum" in description or "unknown" in description
        if bound and isinstance(body, dict) and not path.startswith("stream"):
            # the streaming path must validate just the same
            streamed = {**body, "stream": True}
            what = f"{description}, stream: true"
            run.evaluate(functools.partial(post_rejected, streamed, what, 400, path))

    unknown = "no-such-model-" + secrets.token_hex(4)
    run.evaluate(
        lambda: rejected(
            run.session.post({**valid, "model": unknown}),
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
        lambda: rejected(
            run.session.post(content=json.dumps(valid).encode(), content_type="text/plain"),
            "a text/plain body",
            415,
            None,
        )
    )
    limit = chat_text_spec.max_body_bytes()
    big = json.dumps({**valid, "messages": [{"role": "user", "content": "x" * (limit + 1)}]})
    run.evaluate(
        lambda: rejected(
            run.session.post(content=big.encode()), f"a body over {limit} bytes", 413, None
        )
    )

    numeric = [
        (name, alt)
        for name, prop in chat_text_spec.request_schema()["properties"].items()
        for alt in _alternatives(prop)
        if alt.get("type") in ("integer", "number") and ("minimum" in alt or "maximum" in alt)
    ]

    def outside(alt: Mapping[str, Any]) -> st.SearchStrategy[Any]:
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

    def random_out_of_range(drawn: tuple[str, Any]) -> None:
        name, value = drawn
        reply = run.session.post({**valid, name: value})
        rejected(reply, f"{name}={value!r} (out of range)", 400, name)

    if numeric:
        strategy = st.sampled_from(numeric).flatmap(
            lambda pair: st.tuples(st.just(pair[0]), outside(pair[1]))
        )
        run.examples(strategy, random_out_of_range)


@_property("boundary_values_accepted")
def boundary_values_accepted(run: _Run) -> None:
    """Values exactly at each documented bound are valid: 200, never 400.

    Also an integral float (``5.0``) where the spec says integer (JSON Schema counts it as an
    integer) and ``messages`` at maxItems with the smallest prompt_truncate_len. Limits on
    sizes are checked at their exact value too, where the only acceptable refusal is
    ``prompt_too_long`` (a long text may not fit the model): content of maxLength multi-byte
    characters (maxLength counts characters, not bytes), a body of exactly x-max-body-bytes
    (not 413), and a model name of maxLength characters (an unknown model: 404, not 400).
    """
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
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")
    if "maxItems" in messages_bounds:
        count = messages_bounds["maxItems"]
        many = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": _WORDS[i % len(_WORDS)]}
            for i in range(count - 1)
        ] + [{"role": "user", "content": "hello"}]
        cases.append(
            (f"{count} messages (maxItems)", {"messages": many, "prompt_truncate_len": ptl_min})
        )

    for description, fields in cases:

        def one(d: str = description, f: dict[str, Any] = fields) -> None:
            body = {**run.body(_question(3), max_tokens=8), **f}
            _answer(run.session.post(body), d)

        run.evaluate(one)

    # Unusual but valid conversations: no server may fail on them.
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

    def not_refused(body: dict[str, Any], what: str) -> None:
        reply = run.session.post(body)
        if reply.status == 400 and _error_code(reply) == "prompt_too_long":
            return
        _answer(reply, what)

    size = _content_max_length()
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
            reply = run.session.post({**run.body(_question(3)), "model": "m" * model_max})
            _expect_status(reply, 404, f"an unknown model name of maxLength {model_max}")
            _error_body(reply, "unknown model")

        run.evaluate(long_model)


def _encode(body: Any) -> bytes:
    """How the properties send JSON: compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _body_of_size(run: _Run, size: int) -> dict[str, Any]:
    """A valid request whose JSON encoding (:func:`_encode`) is exactly ``size`` bytes."""
    per_message = _content_max_length()
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")
    body = run.body([], max_tokens=8, prompt_truncate_len=ptl_min)
    base = len(_encode(body))
    empty = {"role": "user", "content": ""}
    first = len(_encode({**body, "messages": [empty]})) - base  # one empty message
    each = first + 1  # every further message also costs a comma
    target = size - base + 1  # = count * each - 1 + characters
    count = -(-target // (each + per_message))
    characters = target - count * each
    for _ in range(count):
        take = min(per_message, characters)
        body["messages"].append({"role": "user", "content": "x" * take})
        characters -= take
    return body


# --- streaming and determinism ----------------------------------------------------------------


StreamCase = tuple[list[dict[str, str]], int, int | None]


def _stream_cases(run: _Run) -> st.SearchStrategy[StreamCase]:
    """A conversation, max_tokens and (sometimes) a small prompt_truncate_len."""
    max_turns, max_words = _conversation_budget(run)
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")
    return st.tuples(
        _conversations(max_turns, max_words),
        st.integers(run.min_tokens, 60),
        st.none() | st.integers(ptl_min, 80),
    )


def _stream_case(run: _Run, drawn: StreamCase) -> tuple[list[dict[str, str]], dict[str, Any]]:
    messages, max_tokens, ptl = drawn
    fields: dict[str, Any] = {"max_tokens": max_tokens, "temperature": run.cold}
    if ptl is not None:
        fields["prompt_truncate_len"] = ptl
    return messages, fields


@_property("stream_usage_in_last_chunk")
def stream_usage_in_last_chunk(run: _Run) -> None:
    """A stream is well framed and accounts tokens like a non-streamed answer.

    ``data:`` chunks valid against ChatTextChunk with one id, role in the first delta,
    ``usage`` and ``finish_reason`` only in the last chunk, then ``data: [DONE]``; its usage sums,
    respects max_tokens, and its prompt_tokens equal the non-streamed answer's.
    """

    def example(drawn: StreamCase) -> None:
        messages, fields = _stream_case(run, drawn)
        streamed = run.stream(messages, "the stream", **fields)
        _check_cap(run, streamed, fields["max_tokens"], "the stream")
        plain = run.complete(messages, "the same request without stream", **fields)
        if plain.usage.prompt != streamed.usage.prompt:
            raise Violation(
                "the stream counts different prompt_tokens from the same request unstreamed",
                expected=f"prompt_tokens == {plain.usage.prompt}",
                actual=f"prompt_tokens == {streamed.usage.prompt}",
                reply=streamed.reply,
            )

    run.examples(_stream_cases(run), example)


def _light_budget(run: _Run) -> int:
    """Determinism-based properties: a couple of examples by default, the full budget if strict."""
    return run.max_examples if run.level is Level.STRICT else min(2, run.max_examples)


@_property("stream_matches_non_stream")
def stream_matches_non_stream(run: _Run) -> None:
    """At temperature 0 the joined deltas, usage and finish_reason equal the plain answer's.

    Relies on the spec's promise that temperature 0 is deterministic; at the semantic level it
    runs a couple of examples, at the strict level the full budget.
    """

    def example(drawn: StreamCase) -> None:
        messages, fields = _stream_case(run, drawn)
        plain = run.complete(messages, "non-streamed", **fields)
        streamed = run.stream(messages, "streamed", **fields)
        _same("the stream vs the same request unstreamed (temperature 0)", plain, streamed)

    run.examples(_stream_cases(run), example, budget=_light_budget(run))


@_property("temperature_zero_deterministic")
def temperature_zero_deterministic(run: _Run) -> None:
    """The same request at temperature 0 gives the same content, usage and finish_reason.

    The spec says temperature 0 is deterministic. At the semantic level a couple of examples,
    at the strict level the full budget.
    """

    def example(drawn: StreamCase) -> None:
        messages, fields = _stream_case(run, drawn)
        first = run.complete(messages, "first", **fields)
        for attempt in range(2):
            again = run.complete(messages, f"repeat {attempt + 1}", **fields)
            _same("the same request again at temperature 0", first, again)

    run.examples(_stream_cases(run), example, budget=_light_budget(run))


# ---------------------------------------------------------------------------------------------
# Entry point


def run_properties(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    time_budget: float | None = None,
    only: Sequence[str] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    fail_fast: bool = False,
) -> list[CheckResult]:
    """Run every property of ``level`` (none at the schema level) against ``target``.

    ``max_examples`` is the hypothesis budget of each property (some use a fraction of it,
    some add a fixed set of cases derived from the spec); ``seed`` makes the run reproducible.
    ``time_budget`` (seconds) stops sending requests once spent, reporting what was left
    unchecked as a failure. ``only`` restricts the run to the named properties.
    ``on_result`` is called after each property (for progress output). ``fail_fast`` stops
    after the first property that fails (for mutation testing).

    Never raises because of the server: results are :class:`PropertyResult` objects (a
    :class:`CheckResult` with a ``note``, set when cases were skipped).
    """
    if level is Level.SCHEMA:
        return []
    order = {Level.SEMANTIC: 1, Level.STRICT: 2}
    selected = [
        p
        for p in PROPERTIES
        if order.get(p.level, 0) <= order[level] and (only is None or p.name in only)
    ]
    deadline = None if time_budget is None else time.monotonic() + time_budget
    session = _Session(target, deadline)
    results: list[CheckResult] = []
    try:
        for prop in selected:
            run = _Run(target, level, max(1, max_examples), seed, session)
            run.result = PropertyResult(prop.name, GROUP)
            _run_one(run, prop)
            results.append(run.result)
            if on_result is not None:
                on_result(run.result)
            if fail_fast and not run.result.ok:
                break
    finally:
        session.close()
    return results


def _run_one(run: _Run, prop: Property) -> None:
    try:
        prop.run(run)
    except _ServerDown as exc:
        run.result.record_failure(
            Failure(
                check=prop.name,
                message="the server stopped answering; the rest of this property was not checked",
                expected="an HTTP response to every request",
                actual=str(exc),
            )
        )
    except _OutOfTime:
        run.result.record_failure(
            Failure(
                check=prop.name,
                message="the time budget ran out; the rest of this property was not checked",
            )
        )
    except Exception as exc:  # a bug in a property must not hide the other results
        run.result.record_failure(
            Failure(
                check=prop.name,
                message=f"the property could not be evaluated: {type(exc).__name__}: {exc}",
            )
        )
