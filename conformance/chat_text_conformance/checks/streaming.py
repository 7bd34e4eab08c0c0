"""Rules on streamed answers (``stream: true``): media type, chunk schema and framing.

Framing the SSE standard allows is accepted everywhere (a leading byte-order mark, LF, CRLF or CR
line ends, comments, ``event:``/``id:``/``retry:`` fields, ``data:`` with or without the space);
where ``finish_reason`` and usage travel is judged only as the spec states it: ``finish_reason``
once per choice, in its last chunk (a content chunk, or a chunk with an empty delta), usage in
the stream's last chunk (which may carry no choices at all). A stream the suite stopped reading
(its own cap on events, bytes or time) is inconclusive for every rule that needs its end.

Each rule that reads a stream chunk by chunk is written once, as a chunk watch (:mod:`.watch`):
the same code judges a whole stream and a stream as it arrives.
"""

from __future__ import annotations

from typing import Any

import chat_text_spec

from ..engine.target import Level
from .exchange import CheckFailed, Exchange, NotApplicable, ParsedStream, excerpt
from .registry import OPERATION, rule, spec, vendor
from .watch import UNSET, ChunkWatch, choices, fold, watched

__all__ = [
    "stream_answered_as_event_stream",
    "stream_chunks_match_schema",
    "stream_chunks_share_id",
    "stream_ends_with_done",
    "stream_finish_reason_only_at_end",
    "stream_role_only_in_first_chunk",
    "stream_usage_only_in_last_chunk",
]

_STREAM_200 = f"{OPERATION}/responses/200/description"
_CHUNK = "/components/schemas/ChatTextChunk"


@rule(
    "stream: true is answered text/event-stream; stream false, null or omitted application/json",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/ChatTextRequest/properties/stream/description")],
)
def stream_answered_as_event_stream(ex: Exchange) -> bool:
    if not ex.ok or not isinstance(ex.request, dict):
        raise NotApplicable("not a successful answer to a JSON object request")
    wanted = "text/event-stream" if ex.asked_to_stream else "application/json"
    if ex.content_type != wanted:
        flag = ex.request_fields.get("stream", "omitted")
        raise CheckFailed(
            f"request with stream={excerpt(flag)} was answered with "
            f"{ex.content_type or 'no Content-Type'}",
            expected=f"Content-Type {wanted}",
            actual=f"Content-Type {ex.content_type or '(none)'}",
        )
    return True


@watched("stream_chunks_match_schema")
class _MatchesSchema(ChunkWatch):
    def chunk(self, position: int, chunk: Any) -> None:
        if isinstance(chunk, str):
            raise CheckFailed(
                f"stream event {position} is not JSON: {chunk[:200]!r}",
                expected="data: <ChatTextChunk JSON>",
                actual=f"data: {chunk[:200]}",
            )
        validator = chat_text_spec.schema_validator("ChatTextChunk")
        if validator.is_valid(chunk):  # what nearly every chunk is: no errors to list
            return
        errors = list(validator.iter_errors(chunk))
        if errors:
            error = errors[0]
            path = "/".join(str(p) for p in error.instance_path) or "(root)"
            raise CheckFailed(
                f"stream chunk {position} does not match ChatTextChunk at {path}: {error.message}",
                expected="a ChatTextChunk document",
                actual=excerpt(chunk),
            )

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        if stream.not_utf8:
            raise CheckFailed(
                "the event stream is not valid UTF-8",
                expected="UTF-8 text/event-stream",
                actual="undecodable bytes",
            )
        if not self.chunks:
            ex.require_whole_stream()
            raise CheckFailed(
                "the event stream has no chunk before [DONE]",
                expected="at least one ChatTextChunk event",
                actual="no chunk",
            )
        return True


@rule(
    "every data event before [DONE] is a JSON ChatTextChunk",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(_CHUNK), spec(_STREAM_200)],
)
def stream_chunks_match_schema(ex: Exchange) -> bool:
    return fold(ex, _MatchesSchema)


@watched("stream_chunks_share_id")
class _SharesId(ChunkWatch):
    first: Any = UNSET

    def chunk(self, position: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if self.first is UNSET:
            self.first = chunk.get("id")
        elif str(chunk.get("id")) != str(self.first):
            raise CheckFailed(
                f"chunk {position} carries id {chunk.get('id')!r}, the first {self.first!r}",
                expected=f"id == {self.first!r} in every chunk",
                actual=f"id == {chunk.get('id')!r}",
            )

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        if self.first is UNSET:
            raise NotApplicable("no chunk")
        return True


@rule(
    "every chunk of one stream carries the same id",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(f"{_CHUNK}/description"), spec(f"{_CHUNK}/properties/id/description")],
)
def stream_chunks_share_id(ex: Exchange) -> bool:
    return fold(ex, _SharesId)


@watched("stream_usage_only_in_last_chunk")
class _UsageLast(ChunkWatch):
    usage_at: int | None = None
    last: Any = None

    def chunk(self, position: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if self.usage_at is not None:
            raise CheckFailed(
                f"chunk {self.usage_at} carries usage before the last chunk (chunk {position} "
                "follows)",
                expected="usage: null in every chunk but the last",
                actual=excerpt(self.last),
            )
        self.usage_at = position if chunk.get("usage") is not None else None
        self.last = chunk.get("usage")

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        objects = stream.objects
        if not objects:
            raise NotApplicable("no chunk")
        ex.require_whole_stream()
        if not isinstance(objects[-1].get("usage"), dict):
            raise CheckFailed(
                f"the last chunk of the stream (chunk {len(objects) - 1}) has no usage",
                expected="usage {prompt_tokens, completion_tokens, total_tokens} in the last chunk",
                actual=excerpt(objects[-1].get("usage")),
            )
        return True


@rule(
    "usage is null in every chunk but the last, and the last chunk carries it",
    level=Level.SEMANTIC,
    kind="response",
    sources=[
        spec(f"{_CHUNK}/description"),
        vendor(
            "For streaming responses, usage field is included in the very last response "
            "chunk returned."
        ),
    ],
)
def stream_usage_only_in_last_chunk(ex: Exchange) -> bool:
    return fold(ex, _UsageLast)


@watched("stream_finish_reason_only_at_end")
class _FinishAtEnd(ChunkWatch):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request)
        self.finished: dict[Any, int] = {}
        self.seen: set[Any] = set()

    def chunk(self, position: int, chunk: Any) -> None:
        for choice in choices(chunk):
            index = choice.get("index")
            if index in self.finished:
                raise CheckFailed(
                    f"choice {index} continues in chunk {position} after its finish_reason in "
                    f"chunk {self.finished[index]}",
                    expected="no chunk for a choice after its finish_reason",
                    actual=excerpt(chunk),
                )
            self.seen.add(index)
            if choice.get("finish_reason") is not None:
                self.finished[index] = position

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        if not stream.objects:
            raise NotApplicable("no chunk")
        ex.require_whole_stream()
        unfinished = sorted(str(i) for i in self.seen - set(self.finished))
        if unfinished:
            raise CheckFailed(
                f"choice(s) {', '.join(unfinished)} never got a finish_reason in "
                f"{len(stream.objects)} chunk(s)",
                expected="finish_reason 'stop' or 'length' in the last chunk of each choice",
                actual="finish_reason null throughout",
            )
        return bool(self.seen)


@rule(
    "each choice gets a finish_reason exactly once, in its last chunk",
    level=Level.SEMANTIC,
    kind="response",
    sources=[
        spec("/components/schemas/ChunkChoice/properties/finish_reason/description"),
        spec(_STREAM_200),
    ],
)
def stream_finish_reason_only_at_end(ex: Exchange) -> bool:
    return fold(ex, _FinishAtEnd)


@watched("stream_role_only_in_first_chunk")
class _RoleFirst(ChunkWatch):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request)
        self.seen: set[Any] = set()

    def chunk(self, position: int, chunk: Any) -> None:
        for choice in choices(chunk):
            index = choice.get("index")
            delta = choice.get("delta")
            role = delta.get("role") if isinstance(delta, dict) else None
            if index not in self.seen:
                self.seen.add(index)
                if role != "assistant":
                    raise CheckFailed(
                        f"the first delta of choice {index} (chunk {position}) has role {role!r}",
                        expected="delta.role == 'assistant' in the first chunk of a choice",
                        actual=excerpt(delta),
                    )
            elif isinstance(delta, dict) and "role" in delta:
                raise CheckFailed(
                    f"chunk {position} repeats delta.role for choice {index}",
                    expected="role in the first chunk of a choice only",
                    actual=excerpt(delta),
                )

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        if not self.seen:
            raise NotApplicable("no choice in any chunk")
        return True


@rule(
    "the first delta of each choice has role assistant; later deltas carry no role",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/ChunkDelta/description"), spec(_STREAM_200)],
)
def stream_role_only_in_first_chunk(ex: Exchange) -> bool:
    return fold(ex, _RoleFirst)


@watched("stream_ends_with_done")
class _EndsWithDone(ChunkWatch):
    def after_done(self, data: str) -> None:
        raise CheckFailed(
            "an event after data: [DONE]",
            expected="nothing after data: [DONE]",
            actual=f"data: {data[:200]}",
        )

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        ex.require_whole_stream()
        if not stream.done:
            tail = " (the last event has no blank line after it, so clients drop it)"
            raise CheckFailed(
                "the event stream ended without data: [DONE]"
                + (tail if stream.unfinished_tail else ""),
                expected="a final event data: [DONE] followed by a blank line",
                actual=f"{len(stream.chunks)} chunk(s), no complete [DONE] event",
            )
        return True


@rule(
    "the stream ends with the event data: [DONE], and nothing follows it",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(_STREAM_200)],
)
def stream_ends_with_done(ex: Exchange) -> bool:
    return fold(ex, _EndsWithDone)
