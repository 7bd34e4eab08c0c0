"""The reference server's successful behaviour over HTTP: defaults, usage, truncation,
max_tokens lowering, determinism, streaming."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

import chat_text_spec
from chat_text_server import MODELS, create_app, engine
from chat_text_server.testing import TEST_TOKEN, running_server

PATH = "/inference/chat_text"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        running_server() as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=10
        ) as http,
    ):
        yield http


def _schema_validator(name: str) -> Any:
    spec = chat_text_spec.load_spec()
    schema = dict(spec["components"]["schemas"][name])
    schema["components"] = {"schemas": spec["components"]["schemas"]}
    return jsonschema_rs.validator_for(schema)


RESPONSE = _schema_validator("ChatTextResponse")
CHUNK = _schema_validator("ChatTextChunk")


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def chat(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    RESPONSE.validate(document)
    return document


def stream(client: httpx.Client, **body: Any) -> tuple[list[dict[str, Any]], httpx.Response]:
    with client.stream("POST", PATH, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    events = [line for line in lines if line]
    assert all(line.startswith("data: ") for line in events), events
    assert events[-1] == "data: [DONE]"
    chunks = [httpx.Response(200, content=line[len("data: ") :]).json() for line in events[:-1]]
    for chunk in chunks:
        CHUNK.validate(chunk)
    return chunks, response


def test_a_minimal_request_gets_a_complete_answer(client: httpx.Client) -> None:
    before = int(time.time())
    doc = chat(client, model="chat-text-base", messages=user("What is the capital of France?"))
    after = int(time.time())
    assert doc["model"] == "chat-text-base"
    assert before <= doc["created"] <= after
    (choice,) = doc["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    usage = doc["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == len(engine.tokenize(choice["message"]["content"]))
    assert usage["prompt_tokens"] == engine.count_prompt_tokens(
        user("What is the capital of France?")
    )


def test_ids_are_unique(client: httpx.Client) -> None:
    ids = {chat(client, model="chat-text-mini", messages=user("hi"))["id"] for _ in range(20)}
    assert len(ids) == 20


def test_nulls_and_omitted_fields_take_the_spec_defaults(client: httpx.Client) -> None:
    defaults = chat_text_spec.request_defaults()
    base = {"model": "chat-text-base", "messages": user("word " * 150), "temperature": 0}
    omitted = chat(client, **base)
    nulls = chat(client, **base, max_tokens=None, prompt_truncate_len=None, stream=None)
    explicit = chat(client, **base, max_tokens=defaults["max_tokens"])
    assert omitted["choices"] == nulls["choices"] == explicit["choices"]
    assert omitted["usage"]["completion_tokens"] == defaults["max_tokens"] == 200
    assert omitted["choices"][0]["finish_reason"] == "length"


def test_an_integer_written_as_a_float_is_accepted(client: httpx.Client) -> None:
    doc = chat(client, model="chat-text-mini", messages=user("hello there"), max_tokens=5.0)
    assert doc["usage"]["completion_tokens"] == 5
    assert doc["choices"][0]["finish_reason"] == "length"


def test_max_tokens_caps_the_answer_with_finish_reason_length(client: httpx.Client) -> None:
    doc = chat(client, model="chat-text-base", messages=user("Tell me everything"), max_tokens=1)
    assert doc["usage"]["completion_tokens"] == 1
    assert doc["choices"][0]["finish_reason"] == "length"


def test_max_tokens_is_lowered_to_the_context_window_of_the_small_model(
    client: httpx.Client,
) -> None:
    context = MODELS["chat-text-mini"]
    doc = chat(
        client,
        model="chat-text-mini",
        messages=user("Write as much as you can about rivers " * 30),
        max_tokens=4096,
        temperature=0,
    )
    usage = doc["usage"]
    assert usage["total_tokens"] == context
    assert usage["completion_tokens"] < 4096
    assert doc["choices"][0]["finish_reason"] == "length"


def test_truncation_evicts_early_turns_and_is_visible_in_prompt_tokens(
    client: httpx.Client,
) -> None:
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Tell me a long story about a lighthouse keeper and the sea."},
        {"role": "assistant", "content": "Once upon a time a keeper watched the waves."},
        {"role": "user", "content": "Now just say goodbye."},
    ]
    full = chat(client, model="chat-text-mini", messages=messages, temperature=0)
    kept = [messages[0], messages[-1]]
    truncated = chat(
        client,
        model="chat-text-mini",
        messages=messages,
        prompt_truncate_len=engine.count_prompt_tokens(kept),
        temperature=0,
    )
    only_kept = chat(client, model="chat-text-mini", messages=kept, temperature=0)
    assert full["usage"]["prompt_tokens"] == engine.count_prompt_tokens(messages)
    assert truncated["usage"]["prompt_tokens"] == engine.count_prompt_tokens(kept)
    assert truncated["choices"] == only_kept["choices"]


def test_a_long_conversation_is_truncated_to_fit_the_small_model(client: httpx.Client) -> None:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x " * 40}
        for i in range(40)
    ]
    doc = chat(client, model="chat-text-mini", messages=turns, prompt_truncate_len=300)
    assert doc["usage"]["prompt_tokens"] <= 300
    assert doc["usage"]["total_tokens"] <= MODELS["chat-text-mini"]


def test_a_last_message_too_long_for_the_window_is_prompt_too_long(client: httpx.Client) -> None:
    response = client.post(
        PATH,
        json={"model": "chat-text-mini", "messages": user("word " * 600), "prompt_truncate_len": 5},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "prompt_too_long"
    assert error["field"] == "messages"
    assert "chat-text-mini" in error["message"]


def test_temperature_zero_is_deterministic_over_http(client: httpx.Client) -> None:
    body = {"model": "chat-text-base", "messages": user("Name three colours"), "temperature": 0}
    first, second = chat(client, **body), chat(client, **body)
    assert first["choices"] == second["choices"]
    assert first["usage"] == second["usage"]
    assert first["id"] != second["id"]


def test_the_stream_carries_role_first_usage_last_and_matches_the_json_answer(
    client: httpx.Client,
) -> None:
    body = {"model": "chat-text-base", "messages": user("Count to three " * 4), "temperature": 0}
    whole = chat(client, **body)
    chunks, _ = stream(client, **body)
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert all(c["usage"] is None for c in chunks[:-1])
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["usage"] == whole["usage"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert len(chunks) > 2


def test_a_stream_cut_by_max_tokens_ends_with_length(client: httpx.Client) -> None:
    chunks, _ = stream(client, model="chat-text-mini", messages=user("go on " * 20), max_tokens=3)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_custom_models_replace_the_built_in_ones() -> None:
    app = create_app(["t"], models={"tiny": 40})
    with running_server(app) as base_url:
        headers = {"Authorization": "Bearer t"}
        ok = httpx.post(
            base_url + PATH, json={"model": "tiny", "messages": user("hi")}, headers=headers
        )
        assert ok.status_code == 200
        assert ok.json()["usage"]["total_tokens"] <= 40
        gone = httpx.post(
            base_url + PATH, json={"model": "chat-text-base", "messages": user("hi")},
            headers=headers,
        )  # fmt: skip
        assert gone.status_code == 404


@pytest.mark.parametrize("tokens", [[], [""], "token"])
def test_create_app_refuses_to_run_without_a_token(tokens: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        create_app(tokens)


def test_top_p_null_omitted_and_the_spec_default_give_the_same_answer(
    client: httpx.Client,
) -> None:
    default = chat_text_spec.request_defaults()["top_p"]
    assert default == 1
    body = {
        "model": "chat-text-base",
        "messages": user("Describe the sea at night"),
        "temperature": 0,
    }
    omitted = chat(client, **body)
    assert chat(client, **body, top_p=None)["choices"] == omitted["choices"]
    assert chat(client, **body, top_p=default)["choices"] == omitted["choices"]


def test_top_p_narrows_the_words_over_http_json_and_stream(client: httpx.Client) -> None:
    question = "Describe the sea at night"
    own = {w.lower() for w in engine.tokenize(question)}
    body = {"model": "chat-text-base", "messages": user(question), "temperature": 0}
    whole = chat(client, **body)
    narrowed = chat(client, **body, top_p=0.05)
    text = narrowed["choices"][0]["message"]["content"]
    words = {t.lower() for t in engine.tokenize(text) if t.isalnum()}
    assert words <= own  # only the most likely words: the question's own
    assert text != whole["choices"][0]["message"]["content"]
    assert narrowed["usage"] == whole["usage"]  # top_p picks words, not how many
    chunks, _ = stream(client, **body, top_p=0.05)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text
    assert chunks[-1]["usage"] == narrowed["usage"]
