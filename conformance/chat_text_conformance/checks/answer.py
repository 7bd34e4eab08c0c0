"""Rules on what identifies an answer: its id, model, created time and choices, and that no
response quotes the caller's token."""

from __future__ import annotations

import math
from typing import Any

from ..engine.target import Level
from .exchange import CheckFailed, Exchange, NotApplicable, ParsedStream, excerpt
from .registry import rule, spec, vendor
from .watch import UNSET, ChunkWatch, fold, watched

__all__ = [
    "choices_indexed_from_zero",
    "created_is_unix_seconds",
    "id_is_not_blank",
    "id_not_repeated",
    "model_echoes_request",
    "token_not_echoed",
]

# `created` is Unix time in seconds "when the response was generated": not before this instant
# (2020-01-01T00:00:00Z), which also rules out a small counter, and not far in the future,
# which rules out milliseconds. Remote servers get a day of clock skew either way.
EARLIEST_PLAUSIBLE_CREATED = 1_577_836_800
CLOCK_SKEW_SECONDS = 86_400
_RESPONSE = "/components/schemas/ChatTextResponse/properties"


@watched("model_echoes_request")
class _EchoesModel(ChunkWatch):
    def chunk(self, position: int, chunk: Any) -> None:
        asked = self.request.get("model")
        if isinstance(chunk, dict) and isinstance(asked, str) and chunk.get("model") != asked:
            got = chunk.get("model")
            raise CheckFailed(
                f"the request named model {asked!r} but chunk {position} says {got!r}",
                expected=f"model == {asked!r}",
                actual=f"model == {got!r}",
            )


@rule(
    "the answer's model (every chunk's, in a stream) is the model named in the request",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(f"{_RESPONSE}/model/description")],
)
def model_echoes_request(ex: Exchange) -> bool:
    if not ex.ok:
        raise NotApplicable("not a successful answer")
    asked = ex.request_fields.get("model")
    if not isinstance(asked, str):
        raise NotApplicable("the request has no model name")
    if ex.stream is not None:
        return fold(ex, _EchoesModel)
    if ex.document is None:
        raise NotApplicable("neither JSON nor an event stream")
    got = ex.document.get("model")
    if got != asked:
        raise CheckFailed(
            f"the request named model {asked!r} but the answer says {got!r}",
            expected=f"model == {asked!r}",
            actual=f"model == {got!r}",
        )
    return True


@watched("created_is_unix_seconds")
class _SameCreated(ChunkWatch):
    first: Any = UNSET

    def chunk(self, position: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if self.first is UNSET:
            self.first = chunk.get("created")
        elif repr(chunk.get("created")) != repr(self.first):
            raise CheckFailed(
                f"chunk {position} has created {chunk.get('created')!r}, the first {self.first!r}",
                expected="the same created in every chunk",
                actual=f"created == {chunk.get('created')!r}",
            )

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        return _plausible_created(ex)


@rule(
    "created is the Unix time in seconds (integral or fractional) when the answer was made; "
    "every chunk of a stream has the same one",
    level=Level.SEMANTIC,
    kind="response",
    sources=[
        spec(f"{_RESPONSE}/created/description"),
        spec("/components/schemas/ChatTextChunk/description"),
        vendor("The Unix time in seconds when the response was generated."),
    ],
)
def created_is_unix_seconds(ex: Exchange) -> bool:
    if ex.answer is None:
        raise NotApplicable("not a successful answer")
    if ex.stream is not None:
        return fold(ex, _SameCreated)
    return _plausible_created(ex)


def _plausible_created(ex: Exchange) -> bool:
    answer = ex.answer
    if answer is None:
        raise NotApplicable("not a successful answer")
    created = answer.created
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise NotApplicable("created is missing or not a number (a schema rule reports it)")
    latest = ex.received_at + CLOCK_SKEW_SECONDS
    if not math.isfinite(created) or not EARLIEST_PLAUSIBLE_CREATED <= created <= latest:
        hint = " (milliseconds?)" if created > latest and created / 1000 <= latest else ""
        raise CheckFailed(
            f"created is {created!r}{hint}, not a plausible Unix time in seconds",
            expected=f"{EARLIEST_PLAUSIBLE_CREATED} <= created <= now + 1 day ({latest:.0f})",
            actual=f"created == {created!r}",
        )
    return True


def _not_blank(value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CheckFailed(f"id is {value!r}", expected="a non-blank string", actual=excerpt(value))


@watched("id_is_not_blank")
class _IdNotBlank(ChunkWatch):
    def chunk(self, position: int, chunk: Any) -> None:
        if isinstance(chunk, dict):
            _not_blank(chunk.get("id"))

    def end(self, stream: ParsedStream, ex: Exchange) -> bool:
        return bool(stream.objects)


@rule(
    "id is a non-blank string (any format)",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(f"{_RESPONSE}/id"), vendor("A unique identifier of the response.")],
)
def id_is_not_blank(ex: Exchange) -> bool:
    if not ex.ok:
        raise NotApplicable("not a successful answer")
    if ex.stream is not None:
        return fold(ex, _IdNotBlank)
    if ex.document is None:
        raise NotApplicable("neither JSON nor an event stream")
    _not_blank(ex.document.get("id"))
    return True


@rule(
    "no two answers of one run share an id (a stream has one id)",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(f"{_RESPONSE}/id/description"), vendor("A unique identifier of the response.")],
)
def id_not_repeated(ex: Exchange) -> bool:
    answer = ex.answer
    if answer is None or not isinstance(answer.id, str) or not answer.id:
        raise NotApplicable("no answer with an id")
    first = ex.context.first_use_of_id(answer.id, ex.key or id(ex))
    if first != (ex.key or id(ex)):
        raise CheckFailed(
            f"id {answer.id!r} was already used by an earlier answer in this run",
            expected="a unique id per answer",
            actual=f"id {answer.id!r} repeated",
        )
    return True


@rule(
    "the choices of an answer are indexed 0..n-1 in order, and there is at least one",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/Choice/properties/index/description")],
)
def choices_indexed_from_zero(ex: Exchange) -> bool:
    if not ex.ok or ex.document is None:
        raise NotApplicable("not a JSON answer")
    choices = ex.document.get("choices")
    if not isinstance(choices, list):
        raise NotApplicable("choices is not a list (a schema rule reports it)")
    indices = [c.get("index") if isinstance(c, dict) else None for c in choices]
    expected = list(range(len(choices)))
    if not choices or indices != expected:
        raise CheckFailed(
            f"choices are indexed {indices}" if choices else "the answer has no choices",
            expected=f"indices {expected or [0]}",
            actual=f"indices {indices}",
        )
    return True


_MIN_TOKEN_LENGTH_TO_SEARCH = 8
"""Shorter tokens (schemathesis's own made-up ones) could match any body by chance."""


@rule(
    "no response (answer or error) quotes the caller's bearer token",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/ErrorDetail/properties/message/description")],
)
def token_not_echoed(ex: Exchange) -> bool:
    token = ex.token
    if not token or len(token) < _MIN_TOKEN_LENGTH_TO_SEARCH:
        raise NotApplicable("no bearer token long enough to search for")
    places = [name for name, value in ex.headers if token in value]
    if token.encode() in ex.body:
        places.append("body")
    if places:
        raise CheckFailed(
            f"the HTTP {ex.status} response contains the bearer token ({', '.join(places)})",
            expected="the token never sent back",
            actual=f"the token, verbatim, in the {', '.join(places)} (redacted here)",
        )
    return True
