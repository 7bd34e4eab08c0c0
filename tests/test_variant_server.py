"""The variant server (chat_text_testkit.variant_server): each variant makes its choice, and every
variant keeps what the documents fix (auth, errors, defaults, truncation, max_tokens, streams).

Every variant runs in a real uvicorn (one per variant, module scope) and is driven with httpx.
Streams are decoded here with a small, standard SSE reader (any line end, comments, fields).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from chat_text_testkit.variant_server import (
    FAULTS,
    VARIANTS,
    PromptTooLong,
    Variant,
    completion_budget,
    count_tokens,
    fit_prompt,
    generate,
    running_variant,
    running_variants,
)

import chat_text_spec

TOKEN = "variant-test-token-5d1c"
PATH = chat_text_spec.OPERATION_PATH
DEFAULTS = chat_text_spec.request_defaults()
MAX_BODY = chat_text_spec.max_body_bytes()
_SPEC = chat_text_spec.load_spec()

Messages = list[dict[str, str]]


def _schema_validator(name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": _SPEC["components"]}
    return jsonschema.Draft202012Validator(schema)


ANSWER_SCHEMA = _schema_validator("ChatTextResponse")
CHUNK_SCHEMA = _schema_validator("ChatTextChunk")
ERROR_SCHEMA = _schema_validator("ErrorResponse")


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Served:
    variant: Variant
    client: httpx.Client
    model: str

    @property
    def context(self) -> int:
        return self.variant.models[self.model]

    def post(self, body: object, **kwargs: Any) -> httpx.Response:
        return self.client.post(PATH, json=body, **kwargs)

    def body(self, messages: Messages, **fields: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, **fields}


EXTRA = {"long-token": Variant(name="long-token", long_answers=True, chunking="token")}
"""Variants used by one test only, on top of VARIANTS."""


class Pool:
    """Every variant's server, started once for the module (all at once, stopped together)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls

    @contextlib.contextmanager
    def serve(self, name: str) -> Iterator[Served]:
        variant = EXTRA.get(name) or VARIANTS[name]
        with httpx.Client(
            base_url=self.urls[name], timeout=30.0, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client:
            yield Served(variant, client, next(iter(variant.models)))


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    everything = {**VARIANTS, **EXTRA}
    with running_variants(list(everything.values()), TOKEN) as urls:
        yield Pool(dict(zip(everything, urls, strict=True)))


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def served(request: pytest.FixtureRequest, pool: Pool) -> Iterator[Served]:
    with pool.serve(request.param) as s:
        yield s


def user(text: str) -> Messages:
    return [{"role": "user", "content": text}]


def prompt_tokens(variant: Variant, messages: Messages) -> int:
    return variant.reply_overhead + sum(
        variant.message_overhead + count_tokens(m["content"], variant.tokenizer) for m in messages
    )


def text_of(variant: Variant, tokens: int) -> str:
    """A content of exactly ``tokens`` tokens under the variant's tokenizer."""
    return "a" * tokens if variant.tokenizer == "bytes" else " ".join(["a"] * tokens)


def sse_data(raw: bytes) -> list[str]:
    """The ``data`` of each dispatched event (the SSE standard's parsing: one leading BOM
    dropped, any line end)."""
    events: list[str] = []
    data: list[str] | None = None
    for line in re.split(r"\r\n|\r|\n", raw.decode("utf-8").removeprefix("\ufeff")):
        if not line:
            if data is not None:
                events.append("\n".join(data))
            data = None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data = [*(data or []), value.removeprefix(" ")]
    return events


def check_error(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    ERROR_SCHEMA.validate(body)
    assert body["error"]["code"] == code
    assert body["error"]["field"] == field
    assert body["error"]["message"]
    if field is not None:
        assert field in body["error"]["message"]  # "names the offending field"
    assert TOKEN not in response.text


def answer(s: Served, body: dict[str, Any]) -> dict[str, Any]:
    """A non-stream answer, checked against the spec and the variant's tokenizer."""
    response = s.post(body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    ANSWER_SCHEMA.validate(document)
    assert document["model"] == body["model"]
    [choice] = document["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    usage = document["usage"]
    assert (usage is None) == s.variant.usage_null
    if usage is not None:
        content = choice["message"]["content"]
        assert usage["completion_tokens"] == count_tokens(content, s.variant.tokenizer)
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    return document


@dataclass
class Stream:
    raw: bytes
    chunks: list[dict[str, Any]]
    content: str
    finish: str
    usage: dict[str, Any]


def stream(s: Served, body: dict[str, Any]) -> Stream:
    """A streamed answer, checked against the spec's stream rules."""
    response = s.post({**body, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    datas = sse_data(response.content)
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert chunks
    for chunk in chunks:
        CHUNK_SCHEMA.validate(chunk)
        assert (chunk["id"], chunk["created"], chunk["model"]) == (
            chunks[0]["id"],
            chunks[0]["created"],
            body["model"],
        )
    carrying = [c for c in chunks if c["choices"]]
    deltas = [c["choices"][0]["delta"] for c in carrying]
    assert deltas[0]["role"] == "assistant"
    assert all("role" not in d for d in deltas[1:])
    reasons = [c["choices"][0]["finish_reason"] for c in carrying]
    assert reasons[-1] in {"stop", "length"}
    assert all(r is None for r in reasons[:-1])
    assert all(c["usage"] is None for c in chunks[:-1])
    usage = chunks[-1]["usage"]
    assert usage is not None
    content = "".join(d.get("content", "") for d in deltas)
    assert usage["completion_tokens"] == count_tokens(content, s.variant.tokenizer)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    return Stream(response.content, chunks, content, reasons[-1], usage)


def usage_of(s: Served, body: dict[str, Any]) -> dict[str, Any]:
    """The usage of a request (from its stream when non-stream answers carry none)."""
    if s.variant.usage_null:
        return stream(s, body).usage
    usage: dict[str, Any] = answer(s, body)["usage"]
    return usage


# -- every variant: what the documents fix -----------------------------------------------------


def test_auth_errors(served: Served) -> None:
    body = served.body(user("Hi"))
    for headers in (
        {"Authorization": ""},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-the-token"},
    ):
        response = served.post(body, headers=headers)
        check_error(response, 401, "unauthorized", None)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "not-the-token" not in response.text
    assert served.post(body, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_request_errors(served: Served) -> None:
    s = served
    ok = s.body(user("Hi"))
    post = s.client.post
    json_type = {"content-type": "application/json"}
    check_error(post(PATH, content=json.dumps(ok), headers={"content-type": "text/plain"}),
                415, "unsupported_media_type", None)  # fmt: skip
    too_big = b'{"model": "x", "messages": [], "pad": "' + b"x" * MAX_BODY + b'"}'
    check_error(post(PATH, content=too_big, headers=json_type), 413, "request_too_large", None)
    for raw in (b"{not json", b"", b"[1, 2]", b'{"model": "x", "temperature": NaN}'):
        check_error(post(PATH, content=raw, headers=json_type), 400, "invalid_request", None)
    for bad, field in (
        ({**ok, "foo": 1}, "foo"),
        ({**ok, "temperature": 3}, "temperature"),
        ({**ok, "max_tokens": 0}, "max_tokens"),
        ({**ok, "prompt_truncate_len": "long"}, "prompt_truncate_len"),
        ({**ok, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({**ok, "messages": [{"role": "user"}]}, "messages[0].content"),
        ({**ok, "messages": []}, "messages"),
        ({"messages": ok["messages"]}, "model"),
    ):
        check_error(s.post(bad), 400, "invalid_request", field)
    check_error(s.post({**ok, "model": "no-such-model"}), 404, "model_not_found", "model")
    # Integral floats are integers to JSON Schema.
    assert s.post({**ok, "max_tokens": 5.0}).status_code == 200


def test_answer_and_usage(served: Served) -> None:
    s = served
    messages = [{"role": "system", "content": "Be brief."}, *user("Hello, world!")]
    document = answer(s, s.body(messages, temperature=0, max_tokens=300))
    usage = usage_of(s, s.body(messages, temperature=0, max_tokens=300))
    assert usage["prompt_tokens"] == prompt_tokens(s.variant, messages)
    assert isinstance(document["created"], int | float)
    assert document["created"] > 1.6e9


def test_stream_matches_answer(served: Served) -> None:
    s = served
    body = s.body(user("Tell me about the sea."), temperature=0, max_tokens=40)
    streamed = stream(s, body)
    if s.variant.usage_null:
        assert answer(s, body)["usage"] is None
    document = answer(s, body)
    content = document["choices"][0]["message"]["content"]
    if not s.variant.nondeterministic:
        assert streamed.content == content
        assert streamed.finish == document["choices"][0]["finish_reason"]
    assert streamed.usage["prompt_tokens"] == prompt_tokens(s.variant, body["messages"])
    completion = streamed.usage["completion_tokens"]
    assert 1 <= completion <= 40
    assert completion == 40 if streamed.finish == "length" else completion <= 40


def test_ids_unique(served: Served) -> None:
    s = served
    body = s.body(user("Same question."), temperature=0, max_tokens=5)
    ids = {answer(s, body)["id"] for _ in range(3)}
    ids |= {stream(s, body).chunks[0]["id"] for _ in range(2)}
    assert len(ids) == 5
    assert all(isinstance(i, str) and i for i in ids)


def test_truncation_keeps_system_and_newest(served: Served) -> None:
    s = served
    v = s.variant
    system = {"role": "system", "content": "You are a terse assistant."}
    old = [
        {"role": "user", "content": "Tell me a long story about a keeper and the sea. " * 3},
        {"role": "assistant", "content": "Once upon a time a keeper watched the waves. " * 3},
    ]
    newer = {"role": "user", "content": "What happened next, in two words?"}
    recent = {"role": "assistant", "content": "The storm."}
    last = {"role": "user", "content": "Now say goodbye."}
    conversation = [system, *old, newer, recent, last]
    kept = [system, newer, recent, last]
    body = s.body(conversation, temperature=0, prompt_truncate_len=prompt_tokens(v, kept))
    usage = usage_of(s, body)
    assert usage["prompt_tokens"] == prompt_tokens(v, kept)
    if not v.nondeterministic:  # the answer is the answer to the kept messages
        assert answer(s, body)["choices"] == answer(s, s.body(kept, temperature=0))["choices"]
    # A length of 1: only what may never be evicted is kept (it may exceed the length).
    usage = usage_of(s, s.body(conversation, prompt_truncate_len=1))
    assert usage["prompt_tokens"] == prompt_tokens(v, [system, last])


def test_max_tokens_lowered_and_prompt_too_long(served: Served) -> None:
    s = served
    v = s.variant
    fixed = v.reply_overhead + v.message_overhead
    for room, max_tokens in ((3, 100), (3, 2), (1, 200)):
        messages = user(text_of(v, s.context - room - fixed))
        usage = usage_of(s, s.body(messages, max_tokens=max_tokens))
        assert usage["prompt_tokens"] == s.context - room
        assert usage["completion_tokens"] == min(room, max_tokens)  # natural answers are longer
        assert usage["total_tokens"] <= s.context
    for over in (0, 5):
        messages = user(text_of(v, s.context + over - fixed))
        check_error(s.post(s.body(messages)), 400, "prompt_too_long", "messages")
    # System messages are never evicted either: together with the last message, too long.
    big = {"role": "system", "content": text_of(v, s.context)}
    check_error(
        s.post(s.body([big, *user("Hi")], prompt_truncate_len=1)),
        400,
        "prompt_too_long",
        "messages",
    )


def test_defaults_are_server_applied(served: Served) -> None:
    s = served
    v = s.variant
    messages = user("Write as much as you can about rivers.")
    nulls = {name: None for name in DEFAULTS}
    omitted = usage_of(s, s.body(messages))
    null = usage_of(s, s.body(messages, **nulls))
    assert omitted["prompt_tokens"] == null["prompt_tokens"] == prompt_tokens(v, messages)
    for usage in (omitted, null):
        if v.long_answers:  # natural answers are longer than the default max_tokens
            assert usage["completion_tokens"] == DEFAULTS["max_tokens"]
        else:
            assert usage["completion_tokens"] <= DEFAULTS["max_tokens"]
    # stream omitted or null: one JSON document
    assert (
        s.post(s.body(messages, stream=None)).headers["content-type"].startswith("application/json")
    )
    # The default prompt_truncate_len: the oldest turn goes when the conversation is longer.
    turn = DEFAULTS["prompt_truncate_len"] // 3
    conversation = [
        {"role": "user", "content": text_of(v, turn)},
        {"role": "assistant", "content": text_of(v, turn)},
        {"role": "user", "content": text_of(v, turn)},
        *user("Short question?"),
    ]
    kept = conversation[1:]
    assert prompt_tokens(v, conversation) > DEFAULTS["prompt_truncate_len"]
    assert prompt_tokens(v, kept) <= DEFAULTS["prompt_truncate_len"]
    if prompt_tokens(v, kept) >= s.context:
        check_error(s.post(s.body(conversation)), 400, "prompt_too_long", "messages")
    else:
        assert usage_of(s, s.body(conversation))["prompt_tokens"] == prompt_tokens(v, kept)


# -- each switch makes its choice --------------------------------------------------------------


def test_tokenizers_count_as_documented() -> None:
    assert count_tokens("Hello, world!", "regex") == 4
    assert count_tokens("Hello, world!", "chars4") == 4  # "Hello," and "world!": 2 + 2
    assert count_tokens("Hi there", "chars4") == 3
    assert count_tokens("Hello, world!", "bytes") == 13
    assert count_tokens("é", "bytes") == 2


@pytest.mark.parametrize("tokenizer", ["regex", "chars4", "bytes"])
def test_every_prefix_of_an_answer_has_its_token_count(tokenizer: Any) -> None:
    variant = Variant(tokenizer=tokenizer, long_answers=True)
    messages = user("Tell me everything.")
    full, finish = generate(variant, "m", messages, 5000, 0)
    assert finish == "stop"
    assert count_tokens("".join(full), tokenizer) == len(full) >= 1100
    for n in (*range(1, 25), 97, 500, len(full) - 1):
        pieces, finish = generate(variant, "m", messages, n, 0)
        assert pieces == full[:n]
        assert finish == "length"
        assert count_tokens("".join(pieces), tokenizer) == n


def test_prompt_overheads(pool: Pool) -> None:
    messages = [{"role": "system", "content": "Hi"}, *user("Hello, world!")]
    for name, expected in (
        ("default", 4 + 1 + 4 + 4),
        ("message_overhead", 0 + 1 + 0 + 4),
        ("reply_overhead", 3 + 4 + 1 + 4 + 4),
        ("tokenizer", 4 + 1 + 4 + 4),
        ("tokenizer=bytes", 4 + 2 + 4 + 13),
    ):
        with pool.serve(name) as s:
            assert usage_of(s, s.body(messages))["prompt_tokens"] == expected, name


def test_models(pool: Pool) -> None:
    with pool.serve("models") as s:
        for model in s.variant.models:
            assert answer(s, {"model": model, "messages": user("Hi")})["model"] == model
        check_error(
            s.post({"model": "acme-large", "messages": user("Hi")}),
            404,
            "model_not_found",
            "model",
        )


def test_chunking(pool: Pool) -> None:
    body_text = "Tell me a story about the harbour."
    for name in ("chunking", "default", "chunking=sentence", "chunking=single"):
        with pool.serve(name) as s:
            streamed = stream(s, s.body(user(body_text), temperature=0, max_tokens=60))
            pieces = [c["choices"][0]["delta"]["content"] for c in streamed.chunks]
            chunking = s.variant.chunking
            if chunking == "token":
                assert all(count_tokens(p, "regex") == 1 for p in pieces)
                assert len(pieces) == streamed.usage["completion_tokens"]
            elif chunking == "word":
                assert all(not p[0].isspace() for p in pieces[:1])
                assert all(p[0] == " " and " " not in p[1:] for p in pieces[1:])
            elif chunking == "sentence":
                assert len(pieces) >= 2
                assert all(p[-1] in ".!?" for p in pieces[:-1])
            else:
                assert len(pieces) == 1


def test_long_answers_stream_a_thousand_events(pool: Pool) -> None:
    with pool.serve("long-token") as s:
        streamed = stream(s, s.body(user("Go on."), temperature=0, max_tokens=3000))
        assert streamed.finish == "stop"
        assert len(streamed.chunks) == streamed.usage["completion_tokens"] >= 1000


def test_line_endings_and_sse_extras(pool: Pool) -> None:
    body: dict[str, Any] = {"messages": user("Hi there"), "max_tokens": 20, "stream": True}
    raws: dict[str, bytes] = {}
    for name in ("default", "line_ending", "line_ending=cr", "sse_extras"):
        with pool.serve(name) as s:
            raws[name] = stream(s, s.body(**body)).raw
    assert b"\r" not in raws["default"]
    assert raws["default"].startswith(b"data: {")
    assert b"\r\n\r\n" in raws["line_ending"]
    assert re.search(rb"[^\r]\n", raws["line_ending"]) is None
    assert b"\n" not in raws["line_ending=cr"]
    assert b"\r\r" in raws["line_ending=cr"]
    extras = raws["sse_extras"]
    for part in (b": keep-alive", b"retry: 3000", b"event: message\n", b"id: 1\n", b"data:{"):
        assert part in extras
    assert b"data: " not in extras
    assert b"data:[DONE]" in extras


BOM = b"\xef\xbb\xbf"
PING = re.compile(rb": ping - [^\r\n]+\r\n\r\n")


def _writes(s: Served, body: dict[str, Any]) -> list[bytes]:
    """A stream's body as the server wrote it: one piece per HTTP chunk."""
    with s.client.stream("POST", PATH, json=s.body(stream=True, **body)) as response:
        assert response.status_code == 200
        return [piece for piece in response.iter_raw() if piece]


def test_bom_and_pings(pool: Pool) -> None:
    body: dict[str, Any] = {"messages": user("Hi there"), "max_tokens": 20}
    raws: dict[str, bytes] = {}
    for name in ("default", "bom", "pings", "all"):
        with pool.serve(name) as s:
            raws[name] = stream(s, s.body(**body)).raw  # checked, read as the standard says
    assert BOM not in raws["default"] and b"ping" not in raws["default"]
    # bom: the stream's first write is the BOM alone; there is no other
    with pool.serve("bom") as s:
        writes = _writes(s, body)
    assert writes[0] == BOM
    assert writes[1].startswith(b"data: {")
    assert raws["bom"].startswith(BOM + b"data: {") and raws["bom"].count(BOM) == 1
    assert PING.search(raws["bom"]) is None
    # pings: a CRLF ping between every two events, nowhere else; the rest keeps its LF ends
    pings = raws["pings"]
    assert not pings.startswith(BOM)
    events = len(sse_data(pings))
    assert len(PING.findall(pings)) == events - 1 >= 2
    assert PING.sub(b"", pings).split(b"\n\n")[:-1] == [
        b"data: " + d.encode() for d in sse_data(pings)
    ]
    assert b"\r" not in PING.sub(b"", pings)
    # all: BOM first, then CR line ends mixed with the pings' CRLF
    mixed = raws["all"]
    assert mixed.startswith(BOM) and mixed.count(BOM) == 1
    assert PING.search(mixed) is not None
    assert b"\n" not in PING.sub(b"", mixed)


def test_response_details(pool: Pool) -> None:
    body: dict[str, Any] = {"messages": user("Hi"), "max_tokens": 10}
    with pool.serve("extra_fields") as s:
        document = answer(s, s.body(**body))
        assert document["object"] == "chat.completion"
        assert "system_fingerprint" in document
        assert "logprobs" in document["choices"][0]
        assert "cached_tokens" in document["usage"]
        last = stream(s, s.body(**body)).chunks[-1]
        assert last["object"] == "chat.completion.chunk"
        assert "cached_tokens" in last["usage"]
    with pool.serve("created_fractional") as s:
        assert isinstance(answer(s, s.body(**body))["created"], float)
        assert isinstance(stream(s, s.body(**body)).chunks[0]["created"], float)
    with pool.serve("default") as s:
        document = answer(s, s.body(**body))
        assert isinstance(document["created"], int)
        assert uuid.UUID(document["id"]).version == 4
        assert "object" not in document
    with pool.serve("id_style") as s:
        assert len(answer(s, s.body(**body))["id"]) == 100
    with pool.serve("id_style=counter") as s:
        assert re.fullmatch(r"resp-\d+", answer(s, s.body(**body))["id"])
    with pool.serve("content_type_params") as s:
        assert s.post(s.body(**body)).headers["content-type"] == "application/json; charset=utf-8"
        streamed = s.post(s.body(stream=True, **body))
        assert streamed.headers["content-type"] == "text/event-stream; charset=utf-8"
        error = s.post(s.body(**body), headers={"Authorization": ""})
        assert error.headers["content-type"] == "application/json; charset=utf-8"
    with pool.serve("usage_null") as s:
        assert answer(s, s.body(**body))["usage"] is None
        assert stream(s, s.body(**body)).usage["completion_tokens"] >= 1


def test_finish_reason_at_exactly_max_tokens(pool: Pool) -> None:
    for name, expected in (("default", "length"), ("stop_at_exact_max", "stop")):
        with pool.serve(name) as s:
            body = s.body(user("Count the waves."), temperature=0)
            natural = answer(s, {**body, "max_tokens": 1000})
            assert natural["choices"][0]["finish_reason"] == "stop"
            n = natural["usage"]["completion_tokens"]
            exact = answer(s, {**body, "max_tokens": n})
            assert exact["choices"][0]["finish_reason"] == expected
            assert exact["choices"][0]["message"] == natural["choices"][0]["message"]
            shorter = answer(s, {**body, "max_tokens": n - 1})
            assert shorter["choices"][0]["finish_reason"] == "length"
            assert shorter["usage"]["completion_tokens"] == n - 1


def test_stream_endings(pool: Pool) -> None:
    body: dict[str, Any] = {"messages": user("Hi"), "max_tokens": 10}
    with pool.serve("finish_in_separate_chunk") as s:
        chunks = stream(s, s.body(**body)).chunks
        assert chunks[-1]["choices"][0]["delta"] == {}
        assert chunks[-1]["choices"][0]["finish_reason"] is not None
        assert chunks[-1]["usage"] is not None
    with pool.serve("usage_only_final_chunk") as s:
        chunks = stream(s, s.body(**body)).chunks
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"] is not None
        assert chunks[-2]["usage"] is None
        assert chunks[-2]["choices"][0]["finish_reason"] is not None
    with pool.serve("all") as s:
        chunks = stream(s, s.body(**body)).chunks
        assert chunks[-1]["choices"] == []
        assert chunks[-2]["choices"][0]["delta"] == {}


def test_determinism_switch(pool: Pool) -> None:
    body: dict[str, Any] = {"messages": user("Say something."), "temperature": 0}
    with pool.serve("default") as s:
        contents = {answer(s, s.body(**body))["choices"][0]["message"]["content"] for _ in "ab"}
        assert len(contents) == 1
        warm = {
            answer(s, s.body(body["messages"], temperature=1))["choices"][0]["message"]["content"]
            for _ in "abc"
        }
        assert len(warm) > 1
    with pool.serve("nondeterministic") as s:
        contents = {answer(s, s.body(**body))["choices"][0]["message"]["content"] for _ in "ab"}
        assert len(contents) == 2


def test_error_wording(pool: Pool) -> None:
    bodies: Sequence[tuple[dict[str, Any], dict[str, str]]] = (
        ({"model": "acme-large", "messages": user("Hi"), "temperature": 5}, {}),
        ({"model": "nope", "messages": user("Hi")}, {}),
        ({"model": "acme-large", "messages": user("Hi")}, {"Authorization": "Bearer x"}),
    )
    messages: dict[str, list[dict[str, Any]]] = {}
    for name in ("default", "error_wording"):
        with pool.serve(name) as s:
            messages[name] = [s.post(b, headers=h).json()["error"] for b, h in bodies]
    for plain, worded in zip(messages["default"], messages["error_wording"], strict=True):
        assert (plain["code"], plain["field"]) == (worded["code"], worded["field"])
        assert plain["message"] != worded["message"]


def test_delays(pool: Pool) -> None:
    with pool.serve("stream_delay") as s:
        started = time.monotonic()
        streamed = stream(s, s.body(user("Hi"), max_tokens=30))
        events = len(streamed.chunks) + 1
        assert time.monotonic() - started >= s.variant.stream_delay * (events - 1)
    with pool.serve("latency") as s:
        started = time.monotonic()
        s.post(s.body(user("Hi")), headers={"Authorization": ""})
        assert time.monotonic() - started >= s.variant.latency


def test_variants_catalogue() -> None:
    default = Variant()
    switches = {f for f in Variant.__dataclass_fields__ if f not in ("name", "faults")}

    def changed(variant: Variant) -> set[str]:
        return {f for f in switches if getattr(variant, f) != getattr(default, f)}

    singles = [v for name, v in VARIANTS.items() if not name.startswith(("all", "default"))]
    assert all(len(changed(v)) == 1 for v in singles)
    assert set().union(*(changed(v) for v in singles)) == switches  # each switch alone
    assert changed(VARIANTS["default"]) == set()
    assert changed(VARIANTS["all"]) == switches
    assert changed(VARIANTS["all-with-usage"]) == switches - {"usage_null"}
    assert changed(VARIANTS["all-deterministic"]) == switches - {"usage_null", "nondeterministic"}
    assert all(variant.name == name for name, variant in VARIANTS.items())
    assert not any(variant.faults for variant in VARIANTS.values())  # every variant is legal
    assert len({hash(v) for v in VARIANTS.values()}) > 1  # usable as dict keys
    with pytest.raises(ValueError, match="tokenizer"):
        Variant(tokenizer="words")  # type: ignore[arg-type]


def test_running_variant_serves_then_stops() -> None:
    with running_variant(VARIANTS["default"], "solo-token") as url:
        response = httpx.post(
            url + PATH,
            json={"model": "acme-large", "messages": user("Hi")},
            headers={"Authorization": "Bearer solo-token"},
        )
        assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + PATH, json={}, timeout=2.0)


# -- fault switches (for chat_text_testkit.mutations) ---------------------------------------------


def _faulty(*faults: str) -> Variant:
    return Variant(message_overhead=0, faults=frozenset(faults))


def _conversation() -> list[dict[str, str]]:
    # one token per word with the regex tokenizer and no overhead: costs 2, 3, 3, 2
    return [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one two three"},
        {"role": "assistant", "content": "four five six"},
        {"role": "user", "content": "seven eight"},
    ]


def test_fault_switches_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        Variant(faults=frozenset({"no_such_bug"}))
    assert Variant().faults == frozenset()
    assert all(Variant(faults=frozenset({fault})).faults == {fault} for fault in FAULTS)


@pytest.mark.parametrize(
    ("fault", "kept_roles", "prompt_tokens"),
    [
        (None, ["system", "assistant", "user"], 7),  # correct: the oldest turn goes
        ("truncation_evicts_system", ["assistant", "user"], 5),
        ("truncation_newest_first", ["system", "user", "user"], 7),
        ("truncation_ignores_limit", ["system", "user", "assistant", "user"], 10),
        ("truncation_off_by_one", ["system", "user"], 4),  # 7 is not below 7: one more goes
        ("prompt_tokens_before_truncation", ["system", "assistant", "user"], 10),
        ("prompt_tokens_skip_last_message", ["system", "assistant", "user"], 5),
    ],
)
def test_truncation_faults(fault: str | None, kept_roles: list[str], prompt_tokens: int) -> None:
    variant = _faulty(fault) if fault else _faulty()
    kept, total = fit_prompt(variant, _conversation(), 7, 100)
    assert [m["role"] for m in kept] == kept_roles
    assert total == prompt_tokens


def test_truncation_evicts_last() -> None:
    kept, total = fit_prompt(_faulty(), _conversation(), 1, 100)
    assert ([m["role"] for m in kept], total) == (["system", "user"], 4)
    kept, total = fit_prompt(_faulty("truncation_evicts_last"), _conversation(), 1, 100)
    assert ([m["role"] for m in kept], total) == (["system"], 2)


def test_window_faults() -> None:
    messages = _conversation()[-1:]  # 2 tokens
    with pytest.raises(PromptTooLong):
        fit_prompt(_faulty(), messages, 100, 2)
    assert fit_prompt(_faulty("full_window_accepted"), messages, 100, 2)[1] == 2
    assert completion_budget(_faulty(), 8, 200, 10) == 2
    assert completion_budget(_faulty("max_tokens_off_by_one"), 8, 1, 10) == 2
    assert completion_budget(_faulty("max_tokens_lowered_one_too_far"), 8, 200, 10) == 3
    assert completion_budget(_faulty(), 9, 200, 10) == 1
    with pytest.raises(PromptTooLong):
        completion_budget(_faulty("one_token_of_room_refused"), 9, 200, 10)
    with pytest.raises(PromptTooLong):
        completion_budget(_faulty("max_tokens_not_lowered"), 8, 3, 10)
    assert completion_budget(_faulty("max_tokens_not_lowered"), 8, 2, 10) == 2


def test_generation_faults() -> None:
    messages = user("Tell me everything.")
    full, _ = generate(_faulty(), "m", messages, 5000, 0)
    assert generate(_faulty(), "m", messages, 3, 0) == (full[:3], "length")
    assert generate(_faulty("finish_reason_always_stop"), "m", messages, 3, 0) == (
        full[:3],
        "stop",
    )
    bugged = _faulty("nondeterministic_at_temperature_0")
    assert len({"".join(generate(bugged, "m", messages, 5000, 0)[0]) for _ in range(4)}) > 1
    assert generate(_faulty(), "m", user(""), 5, 0)[0]
    with pytest.raises(IndexError):
        generate(_faulty("empty_message_crashes"), "m", user(""), 5, 0)


def test_a_fault_is_served() -> None:
    """A faulty variant's app answers with the bug (an empty last message: 500)."""
    variant = Variant(name="crashes", faults=frozenset({"empty_message_crashes"}))
    with running_variant(variant, TOKEN) as url:
        response = httpx.post(
            url + chat_text_spec.OPERATION_PATH,
            json={"model": "acme-large", "messages": [{"role": "user", "content": ""}]},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
