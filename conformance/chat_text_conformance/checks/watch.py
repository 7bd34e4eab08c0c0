"""Judging a stream chunk by chunk, written once per rule (:class:`ChunkWatch`): a rule's check
folds its watch over the whole stream (:func:`fold`), and :class:`StreamJudge` feeds the same
watches the events as they arrive (the validation proxy, the load generator). So a stream gets the
same verdict whether it is judged whole or event by event.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from chat_text_spec.sse import SSEDecodeError, SSEDecoder

from ..engine.target import Level
from .exchange import CheckFailed, Exchange, Inconclusive, NotApplicable, ParsedStream
from .registry import get, runs_at

__all__ = ["UNSET", "ChunkWatch", "StreamJudge", "choices", "fold", "watched", "watches"]


class ChunkWatch:
    """What one rule checks of a stream, as it goes: :meth:`chunk` raises :class:`CheckFailed`
    at the first chunk that breaks the rule, :meth:`after_done` at an event after ``[DONE]``;
    :meth:`end` gives the verdict on the whole stream (it may raise :class:`NotApplicable` or,
    through ``ex.require_whole_stream()``, :class:`Inconclusive`)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        """The JSON request's fields (``{}`` when it was not an object)."""
        self.chunks = 0

    def chunk(self, position: int, chunk: Any) -> None:
        """A data event before ``[DONE]``: its JSON, or its text when it is not JSON."""

    def after_done(self, data: str) -> None:
        """A data event after ``[DONE]``."""

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        return self.chunks > 0


UNSET: Any = object()
"""A watch's "nothing seen yet" (a chunk's field may itself be ``None``)."""

W = TypeVar("W", bound=ChunkWatch)
_WATCHES: dict[str, type[ChunkWatch]] = {}


def watched(rule_id: str) -> Callable[[type[W]], type[W]]:
    """Class decorator: the watch of the rule ``rule_id`` (which folds it over whole streams)."""

    def register(cls: type[W]) -> type[W]:
        _WATCHES[rule_id] = cls
        return cls

    return register


def watches(level: Level) -> dict[str, type[ChunkWatch]]:
    """The chunk watches of the rules that run at ``level``, by rule id."""
    key = (Level(level), len(_WATCHES))  # a watch declared later makes a new entry
    found = _AT_LEVEL.get(key)
    if found is None:
        found = {rid: cls for rid, cls in _WATCHES.items() if runs_at(get(rid), level)}
        _AT_LEVEL[key] = found
    return dict(found)


_AT_LEVEL: dict[tuple[Level, int], dict[str, type[ChunkWatch]]] = {}


def _stream(ex: Exchange) -> ParsedStream:
    if not ex.ok:
        raise NotApplicable("not a successful answer")
    stream = ex.stream
    if stream is None:
        raise NotApplicable("not an event stream")
    return stream


def fold(ex: Exchange, watch: type[ChunkWatch]) -> bool:
    """Run ``watch`` over the whole stream of ``ex``: what the rule says of it."""
    stream = _stream(ex)
    state = watch(ex.request_fields)
    for position, chunk in enumerate(stream.chunks):
        state.chunks += 1
        state.chunk(position, chunk)
    for data in stream.after_done:
        state.after_done(data)
    return state.end(stream, ex)


def _outcome(verdict: Callable[[], bool]) -> Any:
    """``verdict()`` as ``checks.judge`` words it: ``True``, or the outcome raised."""
    try:
        return True if verdict() else NotApplicable("does not apply")
    except (CheckFailed, NotApplicable, Inconclusive) as outcome:
        return outcome


class StreamJudge:
    """The stream rules of one level, fed a stream's bytes as they arrive: the rules each event
    breaks are known at once (``--enforce`` stops the stream before it reaches the client).
    The same watches the whole-body rules fold: the first failure of each is in
    :attr:`failures`.

    Fed a whole body, it has also parsed it (:meth:`parsed`, what ``Exchange.stream`` would
    parse) and folded every watch over it (:meth:`verdict`): ``checks.judge(..., stream=...)``
    then reads the stream rules' verdicts here instead of parsing and folding the body again.
    """

    def __init__(self, request: Any, level: Level) -> None:
        fields = request if isinstance(request, dict) else {}
        self._watches = {rid: cls(fields) for rid, cls in watches(level).items()}
        self._decoder = SSEDecoder()
        self.events = 0
        """Data events so far (``[DONE]`` and events after it included)."""
        self.done = False
        """Whether ``data: [DONE]`` has arrived."""
        self.failures: dict[str, CheckFailed] = {}
        self._chunks = 0
        self._broken = False
        self.chunks: list[Any] = []
        """Each data payload before ``[DONE]`` so far, JSON-decoded (else its text)."""
        self._undecodable: list[str] = []
        self.after: list[str] = []
        """The data of the events after ``[DONE]`` so far."""

    def feed(self, data: bytes) -> list[str]:
        """Feed the next bytes of the body; the rules newly broken by the events they end."""
        found: list[str] = []
        if self._broken:
            return found
        try:
            events = self._decoder.feed(data)
        except SSEDecodeError:
            self._broken = True
            failure = CheckFailed(
                "the event stream is not valid UTF-8",
                expected="UTF-8 text/event-stream",
                actual="undecodable bytes",
            )
            self._fail("stream_chunks_match_schema", failure, found)
            return found
        for event in events:
            self.events += 1
            if self.done:
                self.after.append(event.data)
                self._each(found, functools.partial(_after_done, data=event.data))
            elif event.data.strip() == "[DONE]":
                self.done = True
            else:
                position = self._chunks
                self._chunks += 1
                try:
                    chunk = json.loads(event.data)
                except (ValueError, RecursionError):
                    chunk = event.data
                    self._undecodable.append(event.data[:200])
                self.chunks.append(chunk)
                self._chunk(found, position, chunk)
        return found

    @property
    def not_utf8(self) -> bool:
        """Whether the bytes fed stopped being UTF-8 (nothing from there on was judged)."""
        return self._broken

    def _chunk(self, found: list[str], position: int, chunk: Any) -> None:
        """:meth:`_each` of a chunk, inlined: every event of every stream comes here."""
        failures = self.failures
        for rule_id, watch in self._watches.items():
            if rule_id in failures:
                continue
            try:
                watch.chunks += 1
                watch.chunk(position, chunk)
            except CheckFailed as failure:
                self._fail(rule_id, failure, found)

    def _each(self, found: list[str], step: Callable[[ChunkWatch], None]) -> None:
        for rule_id, watch in self._watches.items():
            if rule_id in self.failures:
                continue
            try:
                step(watch)
            except CheckFailed as failure:
                self._fail(rule_id, failure, found)

    def _fail(self, rule_id: str, failure: CheckFailed, found: list[str]) -> None:
        if rule_id in self._watches and rule_id not in self.failures:
            self.failures[rule_id] = failure
            found.append(rule_id)

    def parsed(self) -> ParsedStream:
        """The stream fed so far, as :func:`~.exchange.parse_event_stream` parses the same
        bytes whole."""
        if self._broken:
            return ParsedStream(not_utf8=True)
        return ParsedStream(
            self.chunks,
            self._undecodable,
            self.done,
            self.after,
            len(self.after),
            self._decoder.pending,
        )

    def verdict(self, rule_id: str, ex: Exchange) -> Any:
        """The rule's verdict on ``ex``, whose body is exactly the bytes fed (``None``: not a
        rule watched here): its first failure here, else what :func:`fold` says of the whole
        stream, from the watch already fed. When the bytes stopped being UTF-8 the body is
        folded whole (it has no chunks then), and a failure seen here before the bad bytes
        counts only where that fold does not fail."""
        watch = self._watches.get(rule_id)
        if watch is None:
            return None
        failure = self.failures.get(rule_id)
        if self._broken:
            whole = _outcome(functools.partial(fold, ex, type(watch)))
            return whole if failure is None or isinstance(whole, CheckFailed) else failure
        if failure is not None:
            return failure
        return _outcome(functools.partial(_end, watch, ex))


def _end(watch: ChunkWatch, ex: Exchange) -> bool:
    return watch.end(_stream(ex), ex)


def _after_done(watch: ChunkWatch, data: str) -> None:
    watch.after_done(data)


def choices(chunk: Any) -> list[dict[str, Any]]:
    raw = chunk.get("choices") if isinstance(chunk, dict) else None
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
