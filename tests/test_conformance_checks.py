"""Each per-response rule: holds on a correct answer (every legal choice the documents leave
open), fails (saying expected vs got) on the bug it is named for, and does not apply where it has
nothing to say."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from chat_text_conformance import checks
from chat_text_conformance.checks import answer as ans
from chat_text_conformance.checks import builtins as blt
from chat_text_conformance.checks import streaming as stm
from chat_text_conformance.checks import usage as use
from chat_text_conformance.checks.exchange import (
    CheckFailed,
    Exchange,
    Inconclusive,
    NotApplicable,
    RunContext,
    parse_event_stream,
)


class _Rules:
    """Every rule function by name, as the old module exposed them."""

    def __getattr__(self, name: str) -> Any:
        for module in (use, ans, stm, blt):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


rc = _Rules()


def applies(check: Any, exchange: Exchange) -> bool:
    """True when the rule held, False when it did not apply (or was inconclusive)."""
    try:
        return bool(check(exchange))
    except (NotApplicable, Inconclusive):
        return False


NOW = time.time()
REQUEST: dict[str, Any] = {
    "model": "chat-text-mini",
    "messages": [{"role": "user", "content": "hi"}],
}
SENT = (("content-type", "application/json"), ("authorization", "Bearer test-token-0000"))
"""The headers the exchanges' requests were sent with (the request rules read them)."""


def answer(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "chatcmpl-1",
        "created": int(NOW),
        "model": "chat-text-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "a b c"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    doc.update(overrides)
    return doc


def json_exchange(doc: Any, request: Any = None, *, context_length: int | None = None) -> Exchange:
    return Exchange(
        request=copy.deepcopy(REQUEST) if request is None else request,
        status=200,
        content_type="application/json",
        body=json.dumps(doc).encode(),
        context=RunContext(context_length=context_length),
        received_at=NOW,
        headers=(("content-type", "application/json"),),
        request_headers=SENT,
    )


def chunk(
    content: str | None = None,
    *,
    role: bool = False,
    finish: str | None = None,
    usage: Any = None,
    **overrides: Any,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    doc = {
        "id": "chatcmpl-s",
        "created": int(NOW),
        "model": "chat-text-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": usage,
    }
    doc.update(overrides)
    return doc


GOOD_STREAM = [
    chunk("", role=True),
    chunk("a b"),
    chunk(
        " c", finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    ),
]


def stream_exchange(
    chunks: list[Any],
    *,
    done: bool = True,
    extra: str = "",
    cut: str | None = None,
    context_length: int | None = None,
) -> Exchange:
    parts = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    if done:
        parts.append("data: [DONE]\n\n")
    return Exchange(
        request={**REQUEST, "stream": True},
        status=200,
        content_type="text/event-stream",
        body=("".join(parts) + extra).encode(),
        context=RunContext(context_length=context_length),
        received_at=NOW,
        cut_short=cut,
        headers=(("content-type", "text/event-stream"),),
        request_headers=SENT,
    )


def failure_of(check: Any, exchange: Exchange) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(exchange)
    assert info.value.expected
    assert info.value.actual
    return info.value


def test_every_check_holds_or_does_not_apply_on_correct_answers() -> None:
    for exchange in (json_exchange(answer(), context_length=512), stream_exchange(GOOD_STREAM)):
        outcome = checks.judge(exchange)
        assert not [name for name, value in outcome.items() if isinstance(value, CheckFailed)]
        assert any(value is True for value in outcome.values())


def test_checks_do_not_apply_to_error_responses() -> None:
    error = Exchange(
        {**REQUEST, "messages": []},  # invalid: the 400 is right
        400,
        "application/json",
        b'{"error": {"code": "x", "message": "m", "field": null}}',
        headers=(("content-type", "application/json"),),
        request_headers=SENT,
    )
    outcome = checks.judge(error)
    held = [name for name, value in outcome.items() if value is True]
    # what an error answer shows is the schema rules'; the answer rules do not apply to it
    assert set(held) <= {r.id for r in checks.PER_RESPONSE_RULES if r.kind == "schema"}
    assert {"response_schema_conformance", "negative_data_rejection"} <= set(held)
    assert all(
        isinstance(value, NotApplicable) for name, value in outcome.items() if name not in held
    )


def test_usage_total_is_sum() -> None:
    doc = answer(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 9})
    failure = failure_of(rc.usage_total_is_sum, json_exchange(doc))
    assert "9" in failure.message
    assert not applies(rc.usage_total_is_sum, json_exchange(answer(usage=None)))


def test_completion_within_requested_and_default_max_tokens() -> None:
    doc = answer(usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
    failure_of(rc.completion_within_max_tokens, json_exchange(doc, {**REQUEST, "max_tokens": 6}))
    assert applies(
        rc.completion_within_max_tokens, json_exchange(doc, {**REQUEST, "max_tokens": 7})
    )
    # JSON Schema counts 7.0 as an integer
    assert applies(
        rc.completion_within_max_tokens, json_exchange(doc, {**REQUEST, "max_tokens": 7.0})
    )
    # omitted or null max_tokens means the spec default (200)
    over_default = answer(usage={"prompt_tokens": 5, "completion_tokens": 201, "total_tokens": 206})
    failure = failure_of(rc.completion_within_max_tokens, json_exchange(over_default))
    assert "200" in failure.expected
    failure_of(
        rc.completion_within_max_tokens,
        json_exchange(over_default, {**REQUEST, "max_tokens": None}),
    )


def test_usage_within_context_window_needs_the_window() -> None:
    doc = answer(usage={"prompt_tokens": 500, "completion_tokens": 20, "total_tokens": 520})
    assert not applies(rc.usage_within_context_window, json_exchange(doc))
    failure_of(rc.usage_within_context_window, json_exchange(doc, context_length=512))


def test_finish_reason_matches_usage() -> None:
    # stopped early but says length (window known: nothing was lowered)
    length = answer(
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "a"},
                "finish_reason": "length",
            }
        ]
    )
    failure = failure_of(rc.finish_reason_matches_usage, json_exchange(length, context_length=512))
    assert "'stop'" in failure.expected
    # lowered max_tokens: prompt 500 + 12 completion fills a 512 window -> length is right
    lowered = answer(
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "a"},
                "finish_reason": "length",
            }
        ],
        usage={"prompt_tokens": 500, "completion_tokens": 12, "total_tokens": 512},
    )
    assert applies(rc.finish_reason_matches_usage, json_exchange(lowered, context_length=512))
    # without the window a short "length" may be a lowered max_tokens: not judged
    with pytest.raises(NotApplicable, match="window is unknown"):
        rc.finish_reason_matches_usage(json_exchange(length))


@pytest.mark.parametrize("reason", ["stop", "length"])
def test_either_finish_reason_at_exactly_max_tokens(reason: str) -> None:
    """An answer that ends naturally at exactly max_tokens may say stop or length."""
    doc = answer()
    doc["choices"][0]["finish_reason"] = reason
    limited = {**REQUEST, "max_tokens": 3}
    for window in (None, 512):
        exchange = json_exchange(doc, limited, context_length=window)
        assert applies(rc.finish_reason_matches_usage, exchange)
        assert applies(rc.completion_within_max_tokens, exchange)


def test_completion_tokens_cover_content() -> None:
    doc = answer(usage={"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5})
    failure_of(rc.completion_tokens_cover_content, json_exchange(doc))


def test_model_echoes_request() -> None:
    failure = failure_of(rc.model_echoes_request, json_exchange(answer(model="chat-text-base")))
    assert "chat-text-mini" in failure.expected
    bad_chunk = [*GOOD_STREAM[:2], {**GOOD_STREAM[2], "model": "other"}]
    failure_of(rc.model_echoes_request, stream_exchange(bad_chunk))


@pytest.mark.parametrize(
    "created",
    [0, 1000, int(NOW * 1000), NOW + 3 * 86_400],
    ids=["zero", "small-counter", "milliseconds", "three-days-ahead"],
)
def test_created_is_unix_seconds(created: float) -> None:
    failure_of(rc.created_is_unix_seconds, json_exchange(answer(created=created)))


def test_stream_chunks_share_created() -> None:
    chunks = [GOOD_STREAM[0], {**GOOD_STREAM[1], "created": int(NOW) + 1}, GOOD_STREAM[2]]
    failure_of(rc.created_is_unix_seconds, stream_exchange(chunks))


def test_created_milliseconds_hint() -> None:
    failure = failure_of(rc.created_is_unix_seconds, json_exchange(answer(created=int(NOW * 1000))))
    assert "milliseconds" in failure.message


@pytest.mark.parametrize("bad_id", ["", "   "])
def test_id_is_not_blank(bad_id: str) -> None:
    failure_of(rc.id_is_not_blank, json_exchange(answer(id=bad_id)))


def test_stream_chunks_share_one_id() -> None:
    chunks = [GOOD_STREAM[0], {**GOOD_STREAM[1], "id": "other"}, GOOD_STREAM[2]]
    failure = failure_of(rc.stream_chunks_share_id, stream_exchange(chunks))
    assert "chunk 1 carries id 'other', the first 'chatcmpl-s'" in failure.message
    # reported under the rule that says so, not as a blank id
    assert applies(rc.id_is_not_blank, stream_exchange(chunks))


def test_choices_indexed_from_zero() -> None:
    choice = answer()["choices"][0]
    failure_of(
        rc.choices_indexed_from_zero, json_exchange(answer(choices=[{**choice, "index": 1}]))
    )
    failure_of(rc.choices_indexed_from_zero, json_exchange(answer(choices=[])))
    two = [choice, {**choice, "index": 1}]
    assert applies(rc.choices_indexed_from_zero, json_exchange(answer(choices=two)))


def test_stream_answered_as_event_stream() -> None:
    as_json = json_exchange(answer(), {**REQUEST, "stream": True})
    failure_of(rc.stream_answered_as_event_stream, as_json)
    as_stream = Exchange(REQUEST, 200, "text/event-stream", b"data: [DONE]\n\n")
    failure_of(rc.stream_answered_as_event_stream, as_stream)
    assert applies(
        rc.stream_answered_as_event_stream, json_exchange(answer(), {**REQUEST, "stream": None})
    )


def test_stream_chunks_match_schema() -> None:
    failure = failure_of(
        rc.stream_chunks_match_schema,
        stream_exchange([GOOD_STREAM[0], {"id": "x"}, GOOD_STREAM[2]]),
    )
    assert "chunk 1" in failure.message
    failure_of(rc.stream_chunks_match_schema, stream_exchange(["not json", *GOOD_STREAM]))
    failure_of(rc.stream_chunks_match_schema, stream_exchange([]))


def test_stream_usage_only_in_last_chunk() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    early = [GOOD_STREAM[0], {**GOOD_STREAM[1], "usage": usage}, GOOD_STREAM[2]]
    failure_of(rc.stream_usage_only_in_last_chunk, stream_exchange(early))
    missing = [*GOOD_STREAM[:2], {**GOOD_STREAM[2], "usage": None}]
    failure_of(rc.stream_usage_only_in_last_chunk, stream_exchange(missing))


def test_stream_finish_reason_only_at_end() -> None:
    after_finish = [GOOD_STREAM[0], chunk("a", finish="stop"), GOOD_STREAM[2]]
    failure_of(rc.stream_finish_reason_only_at_end, stream_exchange(after_finish))
    no_role = [chunk("a"), *GOOD_STREAM[1:]]
    failure_of(rc.stream_role_only_in_first_chunk, stream_exchange(no_role))
    never = [*GOOD_STREAM[:2], chunk(" c")]
    failure_of(rc.stream_finish_reason_only_at_end, stream_exchange(never))


def test_stream_ends_with_done() -> None:
    failure_of(rc.stream_ends_with_done, stream_exchange(GOOD_STREAM, done=False))
    failure_of(rc.stream_ends_with_done, stream_exchange(GOOD_STREAM, extra="data: {}\n\n"))


def test_stream_checks_use_the_folded_answer() -> None:
    bad_sum = [
        *GOOD_STREAM[:2],
        chunk(
            " c",
            finish="stop",
            usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 7},
        ),
    ]
    failure_of(rc.usage_total_is_sum, stream_exchange(bad_sum))


def test_parse_event_stream_handles_crlf_and_multiline_data() -> None:
    body = b'data: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\r\n\r\n'
    parsed = parse_event_stream(body)
    assert parsed.chunks == [{"a": 1}]
    assert parsed.done


def test_registered_as_schemathesis_checks() -> None:
    from chat_text_conformance.engine.schemathesis_adapter import register_checks
    from schemathesis.checks import CHECKS as REGISTRY

    names = register_checks()
    # every per-exchange rule; those named like a schemathesis built-in under a name of ours
    assert names == [
        f"chat_text_{rule.id}" if rule.kind == "schema" else rule.id
        for rule in checks.PER_RESPONSE_RULES
    ]
    assert set(names) <= set(REGISTRY.get_all_names())
    assert register_checks() == names  # idempotent


def test_stream_role_only_in_first_chunk() -> None:
    repeated = [GOOD_STREAM[0], chunk("a b", role=True), GOOD_STREAM[2]]
    failure_of(rc.stream_role_only_in_first_chunk, stream_exchange(repeated))
    assert applies(rc.stream_role_only_in_first_chunk, stream_exchange(GOOD_STREAM))


def test_token_not_echoed() -> None:
    token = "secret-token-123456"
    echo = Exchange(
        REQUEST,
        400,
        "application/json",
        json.dumps({"error": {"code": "x", "message": f"bad {token}"}}).encode(),
        token=token,
    )
    failure = failure_of(rc.token_not_echoed, echo)
    assert token not in failure.message + failure.actual
    assert not applies(rc.token_not_echoed, json_exchange(answer()))  # no token known
    short = Exchange(REQUEST, 200, "application/json", b'{"a": "x"}', token="x")
    assert not applies(rc.token_not_echoed, short)  # too short to search for


def test_id_not_repeated_within_a_run() -> None:
    context = RunContext()

    def exchange(key: int) -> Exchange:
        return Exchange(
            REQUEST,
            200,
            "application/json",
            json.dumps(answer(id="chatcmpl-dup")).encode(),
            context=context,
            key=key,
        )

    first, again = exchange(1), exchange(2)
    assert rc.id_not_repeated(first)
    assert rc.id_not_repeated(first)  # the same response judged twice
    failure_of(rc.id_not_repeated, again)
    assert rc.id_not_repeated(
        Exchange(REQUEST, 200, "application/json", first.body, context=RunContext(), key=2)
    )  # another run


def test_token_in_a_response_header_is_echoed() -> None:
    token = "secret-token-123456"
    echo = Exchange(
        REQUEST,
        401,
        "application/json",
        b'{"error": {"code": "unauthorized", "message": "no"}}',
        headers=(("www-authenticate", f'Bearer error="{token}"'),),
        token=token,
    )
    failure = failure_of(rc.token_not_echoed, echo)
    assert "www-authenticate" in failure.message


# --- every legal choice passes ----------------------------------------------------------------

USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def _no_failure(exchange: Exchange) -> dict[str, Any]:
    outcome = checks.judge(exchange)
    failed = {name: str(v) for name, v in outcome.items() if isinstance(v, CheckFailed)}
    assert failed == {}
    return outcome


def _framed(chunks: list[dict[str, Any]], eol: str, extras: bool) -> bytes:
    lines: list[str] = []
    for i, item in enumerate([*chunks, "[DONE]"]):
        data = item if isinstance(item, str) else json.dumps(item)
        if extras:
            lines += [": keep-alive", "event: message", f"id: {i}", "retry: 3000"]
        lines += [f"data:{data}" if extras else f"data: {data}", ""]
    return eol.join(lines).encode() + eol.encode()


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("extras", [False, True], ids=["plain", "comments-and-fields"])
def test_any_standard_sse_framing_passes(eol: str, extras: bool) -> None:
    exchange = Exchange(
        {**REQUEST, "stream": True}, 200, "text/event-stream", _framed(GOOD_STREAM, eol, extras)
    )
    outcome = _no_failure(exchange)
    assert outcome["stream_ends_with_done"] is True
    assert outcome["usage_total_is_sum"] is True


def test_finish_reason_in_an_empty_delta_chunk_and_a_usage_only_last_chunk_pass() -> None:
    chunks = [
        chunk("", role=True),
        chunk("a b"),
        chunk(" c"),
        chunk(finish="stop"),  # empty delta {}
        {**chunk(usage=USAGE), "choices": []},  # OpenAI-style usage-only chunk
    ]
    outcome = _no_failure(stream_exchange(chunks))
    for rule in (
        "stream_usage_only_in_last_chunk",
        "stream_finish_reason_only_at_end",
        "stream_role_only_in_first_chunk",
        "usage_total_is_sum",
        "finish_reason_matches_usage",
    ):
        assert outcome[rule] is True, rule


def test_a_thousand_one_token_events_pass() -> None:
    pieces = [chunk("", role=True)] + [chunk(" w") for _ in range(1200)]
    usage = {"prompt_tokens": 5, "completion_tokens": 1200, "total_tokens": 1205}
    pieces.append(chunk(finish="length", usage=usage))
    exchange = stream_exchange(pieces)
    exchange = Exchange(
        {**REQUEST, "stream": True, "max_tokens": 1200},
        200,
        "text/event-stream",
        exchange.body,
        context=RunContext(context_length=4096),
    )
    outcome = _no_failure(exchange)
    assert outcome["stream_ends_with_done"] is True
    assert outcome["completion_within_max_tokens"] is True


def test_usage_null_is_not_exercised_with_the_reason() -> None:
    outcome = _no_failure(json_exchange(answer(usage=None), context_length=512))
    for rule in (
        "usage_total_is_sum",
        "completion_within_max_tokens",
        "finish_reason_matches_usage",
    ):
        result = outcome[rule]
        assert isinstance(result, NotApplicable)
        assert "usage: null" in result.reason


def test_fractional_created_extra_fields_and_any_id_pass() -> None:
    doc = answer(created=NOW - 0.25, id="7c6f0e1e-3a4b-4c8d-9e0f-a1b2c3d4e5f6", object="chat")
    doc["choices"][0]["logprobs"] = None
    doc["usage"]["cached_tokens"] = 0
    outcome = _no_failure(json_exchange(doc, context_length=512))
    assert outcome["created_is_unix_seconds"] is True
    assert outcome["response_schema_conformance"] is True


def test_a_stream_the_suite_cut_is_inconclusive_not_failed() -> None:
    cut = stream_exchange(GOOD_STREAM[:2], done=False, cut="stopped at the suite's cap")
    outcome = _no_failure(cut)
    for rule in ("stream_ends_with_done", "stream_usage_only_in_last_chunk"):
        assert isinstance(outcome[rule], Inconclusive), rule
    # without the cut, the same bytes are a server failure
    assert isinstance(
        checks.judge(stream_exchange(GOOD_STREAM[:2], done=False))["stream_ends_with_done"],
        CheckFailed,
    )
