"""Rules on streamed answers (``stream: true``): media type, chunk schema and framing.

Framing the SSE standard allows is accepted everywhere (LF, CRLF or CR line ends, comments,
``event:``/``id:``/``retry:`` fields, ``data:`` with or without the space); where
``finish_reason`` and usage travel is judged only as the spec states it: ``finish_reason``
once per choice, in its last chunk (a content chunk, or a chunk with an empty delta), usage
in the stream's last chunk (which may carry no choices at all). A stream the suite stopped
reading (its own cap on events, bytes or time) is inconclusive for every rule that needs its
end.
"""

from __future__ import annotations

import functools
from typing import Any

import chat_text_spec

from ..target import Level
from .exchange import CheckFailed, Exchange, NotApplicable, ParsedStream, excerpt
from .registry import OPERATION, rule, spec, vendor

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


def _stream(ex: Exchange) -> ParsedStream:
    if not ex.ok:
        raise NotApplicable("not a successful answer")
    stream = ex.stream
    if stream is None:
        raise NotApplicable("not an event stream")
    return stream


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


@functools.cache
def _chunk_validator() -> Any:
    return chat_text_spec.schema_validator("ChatTextChunk")


@rule(
    "every data event before [DONE] is a JSON ChatTextChunk",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(_CHUNK), spec(_STREAM_200)],
)
def stream_chunks_match_schema(ex: Exchange) -> bool:
    stream = _stream(ex)
    if stream.not_utf8:
        raise CheckFailed(
            "the event stream is not valid UTF-8",
            expected="UTF-8 text/event-stream",
            actual="undecodable bytes",
        )
    if stream.undecodable:
        raise CheckFailed(
            f"{len(stream.undecodable)} stream event(s) are not JSON, "
            f"e.g. {stream.undecodable[0]!r}",
            expected="data: <ChatTextChunk JSON>",
            actual=f"data: {stream.undecodable[0]}",
        )
    if not stream.chunks:
        ex.require_whole_stream()
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
                actual=excerpt(chunk),
            )
    return True


@rule(
    "every chunk of one stream carries the same id",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(f"{_CHUNK}/description"), spec(f"{_CHUNK}/properties/id/description")],
)
def stream_chunks_share_id(ex: Exchange) -> bool:
    ids = [c.get("id") for c in _stream(ex).objects]
    if not ids:
        raise NotApplicable("no chunk")
    distinct = list(dict.fromkeys(map(str, ids)))
    if len(distinct) > 1:
        raise CheckFailed(
            f"the chunks of one stream carry {len(distinct)} different ids, e.g. {distinct[:3]}",
            expected=f"id == {ids[0]!r} in every chunk",
            actual=f"{len(distinct)} different ids",
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
    objects = _stream(ex).objects
    if not objects:
        raise NotApplicable("no chunk")
    early = [i for i, c in enumerate(objects[:-1]) if c.get("usage") is not None]
    if early:
        raise CheckFailed(
            f"chunk {early[0]} of {len(objects)} carries usage before the last chunk",
            expected="usage: null in every chunk but the last",
            actual=excerpt(objects[early[0]].get("usage")),
        )
    ex.require_whole_stream()
    if not isinstance(objects[-1].get("usage"), dict):
        raise CheckFailed(
            f"the last chunk of the stream (chunk {len(objects) - 1}) has no usage",
            expected="usage {prompt_tokens, completion_tokens, total_tokens} in the last chunk",
            actual=excerpt(objects[-1].get("usage")),
        )
    return True


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
    objects = _stream(ex).objects
    if not objects:
        raise NotApplicable("no chunk")
    finished: dict[Any, int] = {}
    seen: set[Any] = set()
    for position, chunk in enumerate(objects):
        raw = chunk.get("choices")
        for choice in raw if isinstance(raw, list) else []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            if index in finished:
                raise CheckFailed(
                    f"choice {index} continues in chunk {position} after its finish_reason in "
                    f"chunk {finished[index]}",
                    expected="no chunk for a choice after its finish_reason",
                    actual=excerpt(chunk),
                )
            seen.add(index)
            if choice.get("finish_reason") is not None:
                finished[index] = position
    ex.require_whole_stream()
    unfinished = sorted(str(i) for i in seen - set(finished))
    if unfinished:
        raise CheckFailed(
            f"choice(s) {', '.join(unfinished)} never got a finish_reason in "
            f"{len(objects)} chunk(s)",
            expected="finish_reason 'stop' or 'length' in the last chunk of each choice",
            actual="finish_reason null throughout",
        )
    return bool(seen)


@rule(
    "the first delta of each choice has role assistant; later deltas carry no role",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/ChunkDelta/description"), spec(_STREAM_200)],
)
def stream_role_only_in_first_chunk(ex: Exchange) -> bool:
    seen: set[Any] = set()
    for position, chunk in enumerate(_stream(ex).objects):
        raw = chunk.get("choices")
        for choice in raw if isinstance(raw, list) else []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            delta = choice.get("delta")
            role = delta.get("role") if isinstance(delta, dict) else None
            if index not in seen:
                seen.add(index)
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
    if not seen:
        raise NotApplicable("no choice in any chunk")
    return True


@rule(
    "the stream ends with the event data: [DONE], and nothing follows it",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(_STREAM_200)],
)
def stream_ends_with_done(ex: Exchange) -> bool:
    stream = _stream(ex)
    ex.require_whole_stream()
    if not stream.done:
        tail = " (the last event has no blank line after it, so clients drop it)"
        raise CheckFailed(
            "the event stream ended without data: [DONE]"
            + (tail if stream.unfinished_tail else ""),
            expected="a final event data: [DONE] followed by a blank line",
            actual=f"{len(stream.chunks)} chunk(s), no complete [DONE] event",
        )
    if stream.events_after_done:
        raise CheckFailed(
            f"{stream.events_after_done} event(s) after data: [DONE]",
            expected="nothing after data: [DONE]",
            actual=f"{stream.events_after_done} more event(s)",
        )
    return True
