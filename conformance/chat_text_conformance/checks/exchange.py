"""What a per-response rule looks at: one request and its response (:class:`Exchange`), the
state shared by all exchanges of one run (:class:`RunContext`), and the outcomes a rule can
raise besides passing (:class:`CheckFailed`, :class:`NotApplicable`, :class:`Inconclusive`).

Streams are framed by the project's one SSE decoder (:mod:`chat_text_spec.sse`) and folded into
one answer (:class:`Answer`), so that the usage and finish_reason rules read a stream and a JSON
answer the same way.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import chat_text_spec
from chat_text_spec.sse import SSEDecodeError, decode_events

from .request import RequestFacts, classify_request, media_type

__all__ = [
    "Answer",
    "CheckFailed",
    "Exchange",
    "Inconclusive",
    "NotApplicable",
    "ParsedStream",
    "RunContext",
    "media_type",
]


class CheckFailed(AssertionError):
    """The answer contradicts the rule. ``str()`` is a one-line explanation."""

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


class NotApplicable(Exception):
    """The rule does not apply to this exchange; the reason is shown when it never applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Inconclusive(Exception):
    """The suite cannot judge: it stopped reading the response itself (its own caps)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunContext:
    """State shared by every exchange of one run (no module globals: runs may overlap)."""

    context_length: int | None = None
    """The model's context window, when the caller gave it."""
    token: str | None = None
    """The bearer token the server accepts, when known (not to the proxy)."""
    model: str | None = None
    """The model the run pins its requests to, when known (not to the proxy)."""
    _seen_ids: dict[str, int] = field(default_factory=dict)
    _proven: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def first_use_of_id(self, answer_id: str, key: int) -> int:
        """Remember that the response ``key`` carried ``answer_id``; the key that used it first."""
        with self._lock:
            return self._seen_ids.setdefault(answer_id, key)

    def prove_window(self, model: str, tokens: int) -> int:
        """An answer of ``model`` held ``tokens`` (prompt + completion): its window is at least
        that. Returns the largest such bound seen so far for the model."""
        with self._lock:
            bound = max(self._proven.get(model, 0), tokens)
            self._proven[model] = bound
            return bound

    def window_at_least(self, model: str) -> int | None:
        """What the run's own answers prove of ``model``'s window: at least the largest
        prompt_tokens + completion_tokens one of them held (``None``: no answer yet)."""
        with self._lock:
            return self._proven.get(model)

    def contradictions(self) -> list[str]:
        """Where the run's answers contradict the given context length (one line per model)."""
        if self.context_length is None:
            return []
        with self._lock:
            proven = dict(self._proven)
        return [
            f"model {model!r} answered with prompt_tokens + completion_tokens = {bound}, more "
            f"than --context-length {self.context_length}: the window given is too small, or "
            "the server does not lower max_tokens (usage_within_context_window)"
            for model, bound in sorted(proven.items())
            if bound > self.context_length
        ]


@dataclass(frozen=True)
class ParsedStream:
    """A ``text/event-stream`` body split into its ``data`` payloads."""

    chunks: list[Any] = field(default_factory=list)
    """Each ``data`` payload before ``[DONE]``, JSON-decoded (undecodable ones as ``str``)."""
    undecodable: list[str] = field(default_factory=list)
    done: bool = False
    """Whether a ``data: [DONE]`` event was seen."""
    after_done: list[str] = field(default_factory=list)
    """The data of the events after ``[DONE]``."""
    events_after_done: int = 0
    unfinished_tail: bool = False
    """Bytes after the last complete event (an event without its blank line)."""
    not_utf8: bool = False

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [chunk for chunk in self.chunks if isinstance(chunk, dict)]


def parse_event_stream(body: bytes) -> ParsedStream:
    try:
        events, tail = decode_events(body)
    except SSEDecodeError:
        return ParsedStream(not_utf8=True)
    chunks: list[Any] = []
    undecodable: list[str] = []
    done = False
    after: list[str] = []
    for event in events:
        if done:
            after.append(event.data)
            continue
        if event.data.strip() == "[DONE]":
            done = True
            continue
        try:
            chunks.append(json.loads(event.data))
        except (ValueError, RecursionError):
            undecodable.append(event.data[:200])
            chunks.append(event.data)
    return ParsedStream(chunks, undecodable, done, after, len(after), tail)


@dataclass(frozen=True)
class Answer:
    """A successful answer, non-streamed or a stream folded into one."""

    id: Any
    created: Any
    model: Any
    choices: list[dict[str, Any]]
    """``{"index": ..., "content": str, "finish_reason": ...}`` per choice."""
    usage: Any

    def usage_counts(self) -> tuple[int, int, int] | None:
        """(prompt, completion, total) when usage is an object of three integers (``12.0`` is
        the integer 12, as JSON Schema counts it), else ``None``."""
        usage = self.usage
        if not isinstance(usage, dict):
            return None
        prompt, completion, total = (
            as_int(usage.get("prompt_tokens")),
            as_int(usage.get("completion_tokens")),
            as_int(usage.get("total_tokens")),
        )
        if prompt is None or completion is None or total is None:
            return None
        return prompt, completion, total


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value: Any) -> int | None:
    """``value`` as an integer when JSON Schema would count it as one (``5`` and ``5.0``, not
    ``True`` nor ``5.5``), else ``None``."""
    if _is_int(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass(frozen=True)
class Exchange:
    """One request and its response, as the rules see them."""

    request: Any
    """The JSON request body that was sent (usually a dict; anything for negative tests)."""
    status: int
    content_type: str
    """The response's media type, lower-cased, without parameters."""
    body: bytes
    context: RunContext = field(default_factory=RunContext)
    headers: tuple[tuple[str, str], ...] = ()
    """Response headers (lower-case names)."""
    token: str | None = None
    """The bearer token the request carried, if any."""
    cut_short: str | None = None
    """Why the suite stopped reading the body before its end (its own cap), or ``None``."""
    key: int = 0
    """Identifies the response (the same response may be judged more than once)."""
    received_at: float = field(default_factory=time.time)
    method: str = "POST"
    """The request's method, as sent."""
    path: str = chat_text_spec.OPERATION_PATH
    """The request's path, as sent, without the query."""
    request_headers: tuple[tuple[str, str], ...] = ()
    """The request's headers as sent (empty: not recorded)."""
    request_body: bytes | None = None
    """The request's body as sent (``None``: not recorded; ``request`` is then re-encoded)."""
    known_facts: RequestFacts | None = field(default=None, repr=False, compare=False)
    """The request's facts when the caller classified it already (the proxy, before relaying)."""
    known_stream: ParsedStream | None = field(default=None, repr=False, compare=False)
    """The body's event stream when the caller parsed it already, as it arrived (the load
    generator's :class:`~.watch.StreamJudge`, fed exactly ``body``)."""
    _proof: int | None = field(default=None, repr=False, compare=False)
    """prompt + completion of the answer, once recorded in the context (once per answer)."""

    @property
    def context_length(self) -> int | None:
        return self.context.context_length

    @functools.cached_property
    def facts(self) -> RequestFacts:
        """What the request was: method, path, authorisation, validity (see
        :mod:`.request`), from the request as it was sent."""
        if self.known_facts is not None:
            return self.known_facts
        body = self.request_body
        if body is None and self.request is not None:
            body = json.dumps(self.request).encode()
        return classify_request(self.method, self.path, self.request_headers, body)

    @property
    def recorded(self) -> bool:
        """Whether the request's headers were recorded (what the request rules need)."""
        return bool(self.request_headers) or self.known_facts is not None

    @functools.cached_property
    def document(self) -> dict[str, Any] | None:
        """The JSON object of a non-streamed answer, or ``None``."""
        if self.content_type != "application/json":
            return None
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None

    @functools.cached_property
    def stream(self) -> ParsedStream | None:
        """The parsed event stream, when the response is one."""
        if self.content_type != "text/event-stream":
            return None
        if self.known_stream is not None:
            return self.known_stream
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

    def require_whole_stream(self) -> None:
        """Raise :class:`Inconclusive` when the suite did not read the body (a stream) to its
        end."""
        if self.cut_short is not None:
            raise Inconclusive(self.cut_short)

    @functools.cached_property
    def answer(self) -> Answer | None:
        """The answer of a successful exchange, non-streamed or streamed, or ``None``."""
        if not self.ok:
            return None
        doc = self.document
        if doc is not None:
            choices = []
            raw = doc.get("choices")
            for choice in raw if isinstance(raw, list) else []:
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
            return Answer(
                doc.get("id"), doc.get("created"), doc.get("model"), choices, doc.get("usage")
            )
        stream = self.stream
        if stream is None or not stream.objects:
            return None
        objects = stream.objects
        by_index: dict[Any, dict[str, Any]] = {}
        usage: Any = None
        for chunk in objects:
            if chunk.get("usage") is not None:
                usage = chunk.get("usage")
            raw = chunk.get("choices")
            for choice in raw if isinstance(raw, list) else []:
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
        return Answer(
            objects[0].get("id"),
            objects[0].get("created"),
            objects[0].get("model"),
            list(by_index.values()),
            usage,
        )

    def answer_with_usage(self) -> tuple[Answer, tuple[int, int, int]]:
        """The answer and its (prompt, completion, total) token counts.

        Raises :class:`NotApplicable` when there is no answer or no usage to read (usage is
        ``object | null``; malformed usage is the schema rules' business) and
        :class:`Inconclusive` when the suite cut the stream before its usage.
        """
        answer = self.answer
        if answer is None:
            raise NotApplicable("not a successful answer")
        if self.stream is not None:
            self.require_whole_stream()
        if answer.usage is None:
            raise NotApplicable("the server sent usage: null (allowed: usage is object | null)")
        counts = answer.usage_counts()
        if counts is None:
            judge = (
                "stream_chunks_match_schema"
                if self.stream is not None
                else ("response_schema_conformance")
            )
            raise NotApplicable(f"usage is not three integers: {judge} reports it")
        if self._proof is None:  # once per answer: what it proves of the window
            model = self.request_fields.get("model")
            object.__setattr__(self, "_proof", counts[0] + counts[1])
            if isinstance(model, str):
                self.context.prove_window(model, counts[0] + counts[1])
        return answer, counts

    def window_at_least(self) -> int | None:
        """What the run's answers prove of the asked model's window so far (this one included
        once its usage was read), or ``None``."""
        model = self.request_fields.get("model")
        return self.context.window_at_least(model) if isinstance(model, str) else None

    def requested_max_tokens(self) -> int | None:
        """The max_tokens the request asked for, or the spec's default when omitted or null."""
        requested = self.request_fields.get("max_tokens")
        if requested is None:
            return _default_max_tokens()
        if isinstance(requested, float) and requested.is_integer():
            return int(requested)  # JSON Schema counts 5.0 as an integer
        return requested if _is_int(requested) else None

    def effective_max_tokens(self, prompt_tokens: int) -> int | None:
        """max_tokens after lowering to the room left in the window (when the window is known)."""
        requested = self.requested_max_tokens()
        if requested is None:
            return None
        if self.context_length is None:
            return requested
        return max(0, min(requested, self.context_length - prompt_tokens))


@functools.cache
def _default_max_tokens() -> int | None:
    """The spec's default max_tokens (read once: the spec does not change while running)."""
    default = chat_text_spec.request_defaults().get("max_tokens")
    return default if _is_int(default) else None


def excerpt(value: Any, limit: int = 300) -> str:
    """A JSON rendering of ``value``, cut to ``limit`` characters."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
