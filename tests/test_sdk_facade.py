"""The SDK facade's behaviour through ``httpx.MockTransport``: configuration, what is sent,
how answers are parsed, the SSE decoder and the retry-header rules."""

from __future__ import annotations

import email.utils
import gc
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from chat_text_client.models import ChatTextChunk, ChatTextResponse, ErrorResponse

import chat_text
import chat_text_spec
from chat_text import AsyncChatText, ChatText, RetryPolicy
from chat_text._retries import is_retryable_status, parse_retry_after
from chat_text_server import engine
from chat_text_server.testing import TEST_TOKEN, running_server

TOKEN = "sk-facade-SECRET-9876"
JSON = "application/json"
SSE = "text/event-stream"
MESSAGES = [{"role": "user", "content": "Hello"}]
COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "created": 1764086400,
    "model": "chat-text-base",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}

Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler, **kwargs: Any) -> ChatText:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    kwargs.setdefault("api_key", TOKEN)
    kwargs.setdefault("base_url", "http://testserver")
    kwargs.setdefault("sleep", lambda _s: None)
    return ChatText(http_client=http, **kwargs)


def json_response() -> httpx.Response:
    return httpx.Response(200, json=COMPLETION)


class Capture:
    """A handler that records requests and answers with a fixed response."""

    def __init__(self, response: Callable[[], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._response = response or (lambda: httpx.Response(200, json=COMPLETION))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._response()

    def body(self, n: int = -1) -> Any:
        return json.loads(self.requests[n].content)


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(chat_text.API_KEY_ENV, raising=False)
    with pytest.raises(chat_text.MissingAPIKeyError, match="CHAT_TEXT_API_KEY"):
        ChatText()
    with pytest.raises(chat_text.MissingAPIKeyError):
        AsyncChatText(api_key="")


def test_env_vars_supply_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_TEXT_API_KEY", TOKEN)
    monkeypatch.setenv("CHAT_TEXT_BASE_URL", "http://example.invalid:9999/")
    capture = Capture()
    client = ChatText(http_client=httpx.Client(transport=httpx.MockTransport(capture)))
    client.chat_text(model="m", messages=MESSAGES)
    request = capture.requests[0]
    assert str(request.url) == "http://example.invalid:9999/inference/chat_text"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"


def test_base_url_defaults_to_the_spec_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAT_TEXT_BASE_URL", raising=False)
    with ChatText(api_key=TOKEN) as client:
        assert client.base_url == chat_text_spec.server_url().rstrip("/")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        ChatText(api_key=TOKEN, base_url="not a url")
    with pytest.raises(ValueError, match="timeout"):
        ChatText(api_key=TOKEN, timeout=-1)
    with pytest.raises(ValueError, match="max_retries"):
        ChatText(api_key=TOKEN, max_retries=-1)
    with pytest.raises(TypeError, match="AsyncChatText"):
        ChatText(api_key=TOKEN, http_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2)


def test_default_timeout_is_finite_and_per_call_override_reaches_the_request() -> None:
    capture = Capture()
    client = mock_client(capture)
    assert client.timeout == chat_text.DEFAULT_TIMEOUT
    assert all(v is not None for v in client.timeout.as_dict().values())
    client.chat_text(model="m", messages=MESSAGES)
    client.chat_text(model="m", messages=MESSAGES, timeout=1.5)
    client.chat_text(model="m", messages=MESSAGES, timeout=httpx.Timeout(3.0, connect=0.5))
    timeouts = [r.extensions["timeout"] for r in capture.requests]
    assert timeouts[0] == chat_text.DEFAULT_TIMEOUT.as_dict()
    assert timeouts[1] == httpx.Timeout(1.5).as_dict()
    assert timeouts[2] == httpx.Timeout(3.0, connect=0.5).as_dict()
    assert client.with_options(timeout=7).timeout == httpx.Timeout(7.0)


def test_token_not_in_repr() -> None:
    client = mock_client(Capture())
    assert TOKEN not in repr(client)
    assert "***" in repr(client)
    assert TOKEN not in repr(client.with_options(max_retries=0))


def test_context_manager_closes_only_what_it_opened() -> None:
    given = httpx.Client(transport=httpx.MockTransport(Capture()))
    with ChatText(api_key=TOKEN, http_client=given):
        pass
    assert not given.is_closed
    given.close()
    with ChatText(api_key=TOKEN) as own:
        pass
    assert own._http.is_closed


async def test_async_context_manager_closes_what_it_opened() -> None:
    async with AsyncChatText(api_key=TOKEN) as client:
        pass
    assert client._http.is_closed


# --------------------------------------------------------------------------------------------
# what is sent
# --------------------------------------------------------------------------------------------
def test_unset_arguments_are_not_sent_and_none_is_null() -> None:
    capture = Capture()
    client = mock_client(capture)
    client.chat_text(model="m", messages=MESSAGES)
    assert capture.body() == {"model": "m", "messages": MESSAGES}
    client.chat_text(model="m", messages=MESSAGES, max_tokens=None, temperature=0)
    assert capture.body() == {
        "model": "m",
        "messages": MESSAGES,
        "max_tokens": None,
        "temperature": 0,
    }
    client.chat_text(model="m", messages=MESSAGES, prompt_truncate_len=10, stream=False)
    assert capture.body() == {
        "model": "m",
        "messages": MESSAGES,
        "prompt_truncate_len": 10,
        "stream": False,
    }
    assert capture.requests[-1].headers["accept"] == "application/json"


def test_message_models_and_mappings_are_accepted() -> None:
    capture = Capture()
    client = mock_client(capture)
    system = chat_text.Message(role=chat_text.Role.SYSTEM, content="Be terse.")
    client.chat_text(model="m", messages=(system, {"role": "user", "content": "Hi"}))
    assert capture.body()["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
    ]


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        ([{"role": "robot", "content": "x"}], ValueError, r"messages\[0\]\.role: 'robot'"),
        ([{"role": "user"}], ValueError, r"missing: \['content'\]"),
        ([{"role": "user", "content": "x", "name": "a"}], ValueError, r"unknown: \['name'\]"),
        (["hello"], TypeError, r"messages\[0\] must be a Message"),
        ("hello", TypeError, "not a single string"),
    ],
)
def test_bad_messages_are_clear_errors(messages: Any, error: type[Exception], match: str) -> None:
    capture = Capture()
    with pytest.raises(error, match=match):
        mock_client(capture).chat_text(model="m", messages=messages)
    assert capture.requests == []


def test_non_finite_temperature_is_refused_before_sending() -> None:
    capture = Capture()
    with pytest.raises(ValueError, match="finite"):
        mock_client(capture).chat_text(model="m", messages=MESSAGES, temperature=float("nan"))
    assert capture.requests == []


def test_top_p_is_sent_only_when_given_on_every_call() -> None:
    capture = Capture()
    client = mock_client(capture)
    client.chat_text(model="m", messages=MESSAGES)
    assert "top_p" not in capture.body()
    client.chat_text(model="m", messages=MESSAGES, top_p=0.3)
    assert capture.body() == {"model": "m", "messages": MESSAGES, "top_p": 0.3}
    client.chat_text(model="m", messages=MESSAGES, top_p=None)
    assert capture.body() == {"model": "m", "messages": MESSAGES, "top_p": None}
    events = Capture(sse_response(sse_body(chunk("a", USAGE))))
    with mock_client(events).chat_text(
        model="m", messages=MESSAGES, top_p=0.9, stream=True
    ) as stream:
        assert [c.to_dict() for c in stream] == [chunk("a", USAGE)]
    assert events.body() == {"model": "m", "messages": MESSAGES, "top_p": 0.9, "stream": True}
    with mock_client(events).chat_text(model="m", messages=MESSAGES, stream=True) as stream:
        list(stream)
    assert "top_p" not in events.body()


async def test_async_top_p_is_sent_only_when_given() -> None:
    sse = sse_response(sse_body(chunk("a", USAGE)))
    capture = Capture(
        lambda: sse() if b'"stream":true' in capture.requests[-1].content else json_response()
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(capture))
    async with AsyncChatText(api_key=TOKEN, base_url="http://t", http_client=http) as client:
        await client.chat_text(model="m", messages=MESSAGES)
        assert "top_p" not in capture.body()
        await client.chat_text(model="m", messages=MESSAGES, top_p=1, temperature=None)
        assert capture.body() == {
            "model": "m",
            "messages": MESSAGES,
            "temperature": None,
            "top_p": 1,
        }
        stream = await client.chat_text(model="m", messages=MESSAGES, top_p=0.5, stream=True)
        async with stream:
            assert [c.to_dict() async for c in stream] == [chunk("a", USAGE)]
        assert capture.body() == {"model": "m", "messages": MESSAGES, "top_p": 0.5, "stream": True}
        async with await client.chat_text(model="m", messages=MESSAGES, stream=True) as stream:
            assert [c.to_dict() async for c in stream] == [chunk("a", USAGE)]
        assert "top_p" not in capture.body()
    await http.aclose()


def test_non_finite_top_p_is_refused_before_sending() -> None:
    capture = Capture()
    with pytest.raises(ValueError, match="finite"):
        mock_client(capture).chat_text(model="m", messages=MESSAGES, top_p=float("inf"))
    assert capture.requests == []


# --------------------------------------------------------------------------------------------
# how answers are read
# --------------------------------------------------------------------------------------------
def test_completion_is_the_generated_model_with_extra_fields_kept() -> None:
    body = {**COMPLETION, "system_fingerprint": "fp-1"}
    reply = mock_client(Capture(lambda: httpx.Response(200, json=body))).chat_text(
        model="m", messages=MESSAGES
    )
    assert isinstance(reply, ChatTextResponse)
    assert reply.additional_properties == {"system_fingerprint": "fp-1"}
    assert reply.to_dict() == body


@pytest.mark.parametrize(
    "body",
    [
        {**COMPLETION, "created": "yesterday"},
        {k: v for k, v in COMPLETION.items() if k != "choices"},
        {**COMPLETION, "choices": [{**COMPLETION["choices"][0], "finish_reason": "filtered"}]},
        {**COMPLETION, "usage": {"prompt_tokens": 1}},
        [COMPLETION],
        None,
    ],
    ids=["wrong-type", "missing-field", "unknown-enum", "bad-usage", "array", "null"],
)
def test_schema_invalid_completion_is_a_validation_error(body: Any) -> None:
    raw = json.dumps(body).encode()
    client = mock_client(
        Capture(lambda: httpx.Response(200, content=raw, headers={"content-type": JSON}))
    )
    with pytest.raises(chat_text.ResponseValidationError) as info:
        client.chat_text(model="m", messages=MESSAGES)
    assert info.value.status_code == 200
    assert "ChatTextResponse" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"id": NaN}', b"\xff\xfe", b"<html>busy</html>"],
)
def test_malformed_json_is_a_validation_error(content: bytes) -> None:
    client = mock_client(
        Capture(
            lambda: httpx.Response(
                200, content=content, headers={"content-type": "application/json"}
            )
        )
    )
    with pytest.raises(chat_text.ResponseValidationError, match="not valid JSON"):
        client.chat_text(model="m", messages=MESSAGES)


def test_undecodable_content_encoding_is_a_validation_error_not_retried() -> None:
    capture = Capture(
        lambda: httpx.Response(
            200, content=b"not gzip", headers={"content-type": JSON, "content-encoding": "gzip"}
        )
    )
    with pytest.raises(chat_text.ResponseValidationError, match="decoded"):
        mock_client(capture).chat_text(model="m", messages=MESSAGES)
    assert len(capture.requests) == 1


def test_wrong_content_type_is_a_validation_error() -> None:
    client = mock_client(
        Capture(lambda: httpx.Response(200, text="hi", headers={"content-type": "text/plain"}))
    )
    with pytest.raises(chat_text.ResponseValidationError, match="application/json"):
        client.chat_text(model="m", messages=MESSAGES)
    json_for_stream = mock_client(Capture(lambda: httpx.Response(200, json=COMPLETION)))
    with pytest.raises(chat_text.ResponseValidationError, match="text/event-stream"):
        json_for_stream.chat_text(model="m", messages=MESSAGES, stream=True)


def test_error_bodies_are_parsed_into_the_generated_model() -> None:
    body = {"error": {"code": "model_not_found", "message": "Unknown model: x", "field": "model"}}
    client = mock_client(Capture(lambda: httpx.Response(404, json=body)))
    with pytest.raises(chat_text.NotFoundError) as info:
        client.chat_text(model="x", messages=MESSAGES)
    err = info.value
    assert isinstance(err.error, ErrorResponse)
    assert err.error.to_dict() == body
    assert err.code == "model_not_found"
    assert "Unknown model: x" in str(err)
    assert isinstance(err, chat_text.APIStatusError)
    assert isinstance(err, chat_text.ChatTextError)


def test_error_body_that_is_not_an_error_response() -> None:
    client = mock_client(Capture(lambda: httpx.Response(502, text="<html>bad gateway</html>")))
    with pytest.raises(chat_text.InternalServerError) as info:
        client.chat_text(model="m", messages=MESSAGES, max_retries=0)
    assert info.value.status_code == 502
    assert info.value.error is None
    assert info.value.code is None


def test_unexpected_success_status_is_a_validation_error() -> None:
    client = mock_client(Capture(lambda: httpx.Response(204)))
    with pytest.raises(chat_text.ResponseValidationError, match="204"):
        client.chat_text(model="m", messages=MESSAGES)


# --------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------
def sse_body(*events: dict[str, Any], done: bool = True, sep: str = "\n") -> bytes:
    text = "".join(f"data: {json.dumps(e)}{sep}{sep}" for e in events)
    return (text + (f"data: [DONE]{sep}{sep}" if done else "")).encode()


def chunk(content: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": content}, "finish_reason": "stop" if usage else None}
        ],
        "usage": usage,
    }


USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def sse_response(content: bytes) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(
        200, content=content, headers={"content-type": "text/event-stream"}
    )


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r"])
def test_stream_yields_generated_chunks_and_usage(sep: str) -> None:
    capture = Capture(sse_response(sse_body(chunk("a"), chunk("b", USAGE), sep=sep)))
    with mock_client(capture).chat_text(model="m", messages=MESSAGES, stream=True) as stream:
        assert stream.usage is None
        chunks = list(stream)
    assert all(isinstance(c, ChatTextChunk) for c in chunks)
    assert [c.to_dict() for c in chunks] == [chunk("a"), chunk("b", USAGE)]
    assert stream.usage is not None
    assert stream.usage.to_dict() == USAGE
    assert capture.body()["stream"] is True
    assert capture.requests[0].headers["accept"] == "text/event-stream"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (sse_body(chunk("a"), done=False), chat_text.IncompleteStreamError),
        (b"data: {not json}\n\ndata: [DONE]\n\n", chat_text.ResponseValidationError),
        (b'data: {"id": "c"}\n\ndata: [DONE]\n\n', chat_text.ResponseValidationError),
        (b"data: \xff\n\n", chat_text.ResponseValidationError),
        (sse_body(chunk("a"))[:-3], chat_text.IncompleteStreamError),
    ],
    ids=["no-done", "bad-json", "bad-shape", "bad-utf8", "cut-mid-event"],
)
def test_malformed_streams_are_validation_errors(
    content: bytes, error: type[chat_text.ResponseValidationError]
) -> None:
    stream = mock_client(Capture(sse_response(content))).chat_text(
        model="m", messages=MESSAGES, stream=True
    )
    with pytest.raises(error):
        list(stream)
    assert stream.response.is_closed


def test_abandoned_stream_releases_its_response() -> None:
    parts = [sse_body(chunk("a"), done=False), sse_body(chunk("b", USAGE))]

    def piecewise() -> httpx.Response:  # arrives in two network reads
        return httpx.Response(200, content=iter(parts), headers={"content-type": SSE})

    stream = mock_client(Capture(piecewise)).chat_text(model="m", messages=MESSAGES, stream=True)
    response = stream.response
    for _ in stream:
        break  # stop early, without a with-block
    assert not response.is_closed
    del stream
    gc.collect()
    assert response.is_closed


async def test_async_stream_stopped_early_is_closed() -> None:
    content = sse_body(chunk("a"), chunk("b"), chunk("c", USAGE))
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _r: sse_response(content)()))
    async with AsyncChatText(api_key=TOKEN, base_url="http://t", http_client=http) as client:
        stream = await client.chat_text(model="m", messages=MESSAGES, stream=True)
        async with stream:
            first = await anext(stream)
        assert first.to_dict() == chunk("a")
        assert stream.response.is_closed
    await http.aclose()


def test_stream_with_a_bom_crlf_and_pings_cut_across_reads() -> None:
    """What a FastAPI server behind sse-starlette may send (CRLF line ends, ``: ping`` comments)
    after a byte-order mark, in small reads: no chunk is lost, the first (with the role) neither."""
    first = chunk("Hi")
    first["choices"][0]["delta"]["role"] = "assistant"
    ping = b": ping - 2026-11-02 10:00:15.000000+00:00\r\n\r\n"
    events = [json.dumps(first), json.dumps(chunk("!", USAGE)), "[DONE]"]
    content = ping.join(f"data: {e}\r\n\r\n".encode() for e in events)  # pings between events
    # the BOM in three reads (one empty), then 5 bytes a read (some CRLFs cut in two)
    parts = [b"\xef", b"", b"\xbb", b"\xbf"] + [
        content[i : i + 5] for i in range(0, len(content), 5)
    ]
    assert any(part.endswith(b"\r") for part in parts)

    def piecewise() -> httpx.Response:
        return httpx.Response(200, content=iter(parts), headers={"content-type": SSE})

    client = mock_client(Capture(piecewise))
    with client.chat_text(model="m", messages=MESSAGES, stream=True) as stream:
        chunks = [c.to_dict() for c in stream]
    assert chunks == [first, chunk("!", USAGE)]
    assert stream.usage is not None
    assert stream.usage.to_dict() == USAGE


def test_events_after_done_are_ignored() -> None:
    content = sse_body(chunk("a")) + b"data: garbage\n\n"
    stream = mock_client(Capture(sse_response(content))).chat_text(
        model="m", messages=MESSAGES, stream=True
    )
    assert [c.to_dict() for c in stream] == [chunk("a")]


async def test_async_stream_and_completion() -> None:
    responses = iter(
        [
            sse_response(sse_body(chunk("x"), chunk("y", USAGE)))(),
            httpx.Response(200, json=COMPLETION),
        ]
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _r: next(responses)))
    async with AsyncChatText(api_key=TOKEN, base_url="http://t", http_client=http) as client:
        stream = await client.chat_text(model="m", messages=MESSAGES, stream=True)
        async with stream:
            texts = [c.choices[0].delta.content async for c in stream]
        assert texts == ["x", "y"]
        assert stream.usage is not None
        assert stream.usage.total_tokens == 3
        reply = await client.chat_text(model="m", messages=MESSAGES)
        assert reply.to_dict() == COMPLETION
    await http.aclose()


# --------------------------------------------------------------------------------------------
# the retry-header rules (the SSE decoder is tested in test_sse.py)
# --------------------------------------------------------------------------------------------
def test_retryable_statuses() -> None:
    assert [s for s in (400, 401, 404, 408, 409, 413, 415, 429) if is_retryable_status(s)] == [
        408,
        409,
        429,
    ]
    assert all(is_retryable_status(s) for s in (500, 502, 503, 504))


def test_parse_retry_after_forms() -> None:
    now = 1_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    past = email.utils.formatdate(now - 100, usegmt=True)
    hdr = httpx.Headers
    assert parse_retry_after(hdr({"Retry-After": "3"}), lambda: now) == 3.0
    assert parse_retry_after(hdr({"Retry-After": "0.5"}), lambda: now) == 0.5
    assert parse_retry_after(hdr({"Retry-After": date}), lambda: now) == 12.0
    assert parse_retry_after(hdr({"Retry-After": past}), lambda: now) == 0.0
    assert parse_retry_after(hdr({"retry-after-ms": "20", "Retry-After": "5"}), lambda: now) == 0.02
    assert parse_retry_after(hdr({"retry-after-ms": "x", "Retry-After": "5"}), lambda: now) == 5.0
    for bad in ("-1", "soon", "inf", "nan"):
        assert parse_retry_after(hdr({"Retry-After": bad}), lambda: now) is None
    assert parse_retry_after(hdr({}), lambda: now) is None


def test_policy_delay_respects_cap_and_envelope() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0, jitter=0.5, max_retry_after=10.0)
    assert policy.envelope(0) == (0.5, 1.0)
    assert policy.envelope(5) == (2.0, 4.0)
    assert policy.backoff(3, rand=lambda: 0.0) == 4.0
    assert policy.backoff(3, rand=lambda: 0.999) == pytest.approx(2.0, abs=0.01)
    assert policy.delay(0, httpx.Headers({"Retry-After": "10"})) == 10.0
    assert policy.delay(0, httpx.Headers({"Retry-After": "11"})) is None


# --------------------------------------------------------------------------------------------
# top_p end to end: the SDK against the reference server (which narrows its words by top_p)
# --------------------------------------------------------------------------------------------
QUESTION = "Describe the sea at night"


def _words(text: str) -> set[str]:
    return {w.lower() for w in engine.tokenize(text) if w.isalnum()}


async def test_top_p_reaches_the_reference_server_sync_async_and_stream() -> None:
    own = _words(QUESTION)
    question = [{"role": "user", "content": QUESTION}]
    with running_server() as base_url:
        with ChatText(api_key=TEST_TOKEN, base_url=base_url) as client:
            whole = client.chat_text(model="chat-text-base", messages=question, temperature=0)
            narrow = client.chat_text(
                model="chat-text-base", messages=question, temperature=0, top_p=0.05
            )
            default = client.chat_text(
                model="chat-text-base", messages=question, temperature=0, top_p=1
            )
            with client.chat_text(
                model="chat-text-base", messages=question, temperature=0, top_p=0.05, stream=True
            ) as stream:
                streamed = "".join(c.choices[0].delta.content or "" for c in stream)
        async with AsyncChatText(api_key=TEST_TOKEN, base_url=base_url) as aclient:
            anarrow = await aclient.chat_text(
                model="chat-text-base", messages=question, temperature=0, top_p=0.05
            )
            async with await aclient.chat_text(
                model="chat-text-base", messages=question, temperature=0, top_p=0.05, stream=True
            ) as astream:
                astreamed = "".join([c.choices[0].delta.content or "" async for c in astream])
    text = narrow.choices[0].message.content
    assert _words(text) <= own  # only the question's own words: top_p was applied
    assert _words(whole.choices[0].message.content) - own  # without it, vocabulary words too
    assert default.choices[0].message.content == whole.choices[0].message.content
    assert streamed == astreamed == anarrow.choices[0].message.content == text
