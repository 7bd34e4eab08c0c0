"""Each per-response check: holds on a correct answer, fails (saying expected vs got) on the bug it
is named for, and does not apply where it has nothing to say."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from chat_text_conformance import response_checks as rc
from chat_text_conformance.response_checks import CheckFailed, Exchange

NOW = time.time()
REQUEST: dict[str, Any] = {
    "model": "chat-text-mini",
    "messages": [{"role": "user", "content": "hi"}],
}


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
        context_length=context_length,
        received_at=NOW,
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


def stream_exchange(chunks: list[Any], *, done: bool = True, extra: str = "") -> Exchange:
    parts = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    if done:
        parts.append("data: [DONE]\n\n")
    return Exchange(
        request={**REQUEST, "stream": True},
        status=200,
        content_type="text/event-stream",
        body=("".join(parts) + extra).encode(),
        received_at=NOW,
    )


def failure_of(check: Any, exchange: Exchange) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(exchange)
    assert info.value.expected
    assert info.value.actual
    return info.value


def test_every_check_holds_or_does_not_apply_on_correct_answers() -> None:
    for exchange in (json_exchange(answer(), context_length=512), stream_exchange(GOOD_STREAM)):
        outcome = rc.check_exchange(exchange)
        assert not [name for name, value in outcome.items() if isinstance(value, CheckFailed)]
        assert any(value is True for value in outcome.values())


def test_checks_do_not_apply_to_error_responses() -> None:
    error = Exchange(REQUEST, 400, "application/json", b'{"error": {"code": "x", "message": "m"}}')
    assert all(value is False for value in rc.check_exchange(error).values())


def test_usage_total_is_sum() -> None:
    doc = answer(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 9})
    failure = failure_of(rc.usage_total_is_sum, json_exchange(doc))
    assert "9" in failure.message
    assert rc.usage_total_is_sum(json_exchange(answer(usage=None))) is False


def test_completion_within_requested_and_default_max_tokens() -> None:
    doc = answer(usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
    failure_of(rc.completion_within_max_tokens, json_exchange(doc, {**REQUEST, "max_tokens": 6}))
    assert rc.completion_within_max_tokens(json_exchange(doc, {**REQUEST, "max_tokens": 7}))
    # JSON Schema counts 7.0 as an integer
    assert rc.completion_within_max_tokens(json_exchange(doc, {**REQUEST, "max_tokens": 7.0}))
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
    assert rc.usage_within_context_window(json_exchange(doc)) is False
    failure_of(rc.usage_within_context_window, json_exchange(doc, context_length=512))


def test_finish_reason_matches_usage() -> None:
    limited = {**REQUEST, "max_tokens": 3}
    # reached max_tokens but says stop
    failure = failure_of(rc.finish_reason_matches_usage, json_exchange(answer(), limited))
    assert "'length'" in failure.expected
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
    failure_of(rc.finish_reason_matches_usage, json_exchange(length, context_length=512))
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
    assert rc.finish_reason_matches_usage(json_exchange(lowered, context_length=512))
    # without the window a short "length" may be a lowered max_tokens: not a failure
    assert rc.finish_reason_matches_usage(json_exchange(length))


def test_completion_tokens_cover_content() -> None:
    doc = answer(usage={"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5})
    failure_of(rc.completion_tokens_cover_content, json_exchange(doc))


def test_model_echoes_request() -> None:
    failure = failure_of(rc.model_echoes_request, json_exchange(answer(model="chat-text-base")))
    assert "chat-text-mini" in failure.expected
    bad_chunk = [*GOOD_STREAM[:2], {**GOOD_STREAM[2], "model": "other"}]
    failure_of(rc.model_echoes_request, stream_exchange(bad_chunk))


@pytest.mark.parametrize("created", [0, 1000, int(NOW * 1000), NOW + 3 * 86_400])
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
    failure_of(rc.id_is_not_blank, stream_exchange(chunks))


def test_choices_indexed_from_zero() -> None:
    choice = answer()["choices"][0]
    failure_of(
        rc.choices_indexed_from_zero, json_exchange(answer(choices=[{**choice, "index": 1}]))
    )
    failure_of(rc.choices_indexed_from_zero, json_exchange(answer(choices=[])))
    two = [choice, {**choice, "index": 1}]
    assert rc.choices_indexed_from_zero(json_exchange(answer(choices=two)))


def test_stream_answered_as_event_stream() -> None:
    as_json = json_exchange(answer(), {**REQUEST, "stream": True})
    failure_of(rc.stream_answered_as_event_stream, as_json)
    as_stream = Exchange(REQUEST, 200, "text/event-stream", b"data: [DONE]\n\n")
    failure_of(rc.stream_answered_as_event_stream, as_stream)
    assert rc.stream_answered_as_event_stream(json_exchange(answer(), {**REQUEST, "stream": None}))


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
    failure_of(rc.stream_finish_reason_only_at_end, stream_exchange(no_role))
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
    parsed = rc.parse_event_stream(body)
    assert parsed.chunks == [{"a": 1}]
    assert parsed.done


def test_registered_as_schemathesis_checks() -> None:
    from schemathesis.checks import CHECKS as REGISTRY

    names = rc.register_with_schemathesis()
    assert names == list(rc.CHECKS)
    assert set(names) <= set(REGISTRY.get_all_names())
    assert rc.register_with_schemathesis() == names  # idempotent


def test_stream_role_only_in_first_chunk() -> None:
    repeated = [GOOD_STREAM[0], chunk("a b", role=True), GOOD_STREAM[2]]
    failure_of(rc.stream_role_only_in_first_chunk, stream_exchange(repeated))
    assert rc.stream_role_only_in_first_chunk(stream_exchange(GOOD_STREAM))


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
    assert rc.token_not_echoed(json_exchange(answer())) is False  # no token known
    short = Exchange(REQUEST, 200, "application/json", b'{"a": "x"}', token="x")
    assert rc.token_not_echoed(short) is False  # too short to search for


def test_id_not_repeated_within_a_run() -> None:
    rc.reset_applied()
    first, again = (
        json_exchange(answer(id="chatcmpl-dup")),
        json_exchange(answer(id="chatcmpl-dup")),
    )
    assert rc.id_not_repeated(first, response_key=1)
    assert rc.id_not_repeated(first, response_key=1)  # the same response checked twice
    failure_of(lambda ex: rc.id_not_repeated(ex, response_key=2), again)
    rc.reset_applied()
    assert rc.id_not_repeated(again, response_key=2)
