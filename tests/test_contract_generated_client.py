"""The generated client (chat_text_client) speaks the wire format the spec describes.

Driven through ``httpx.MockTransport``: it sends the documented method, path, bearer header and
JSON body (and nothing the caller did not set), and parses every documented response.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from chat_text_client import AuthenticatedClient
from chat_text_client.api.inference import chat_text
from chat_text_client.models import (
    ChatTextRequest,
    ChatTextResponse,
    ErrorResponse,
    FinishReason,
    Message,
    Role,
)
from chat_text_client.types import UNSET

import chat_text_spec

OPERATION = chat_text_spec.operation()
TOKEN = "sk-test-secret-token"


class Recorder:
    """A MockTransport handler that records requests and replies with a fixed response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body, headers=self.headers)


def make_client(handler: Recorder) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url="http://testserver",
        token=TOKEN,
        httpx_args={"transport": httpx.MockTransport(handler)},
    )


def example(status: str, name: str, media: str = "application/json") -> Any:
    return OPERATION["responses"][status]["content"][media]["examples"][name]["value"]


def request_example(name: str) -> Any:
    return OPERATION["requestBody"]["content"]["application/json"]["examples"][name]["value"]


def sent(handler: Recorder) -> tuple[httpx.Request, dict[str, Any]]:
    assert len(handler.requests) == 1
    request = handler.requests[0]
    return request, json.loads(request.content)


def test_sends_method_path_bearer_and_only_set_fields() -> None:
    handler = Recorder(200, example("200", "stopped"))
    body = ChatTextRequest(
        model="chat-text-base", messages=[Message(role=Role.USER, content="What is 2+2?")]
    )
    result = chat_text.sync(client=make_client(handler), body=body)

    request, payload = sent(handler)
    assert request.method == "POST"
    assert request.url.path == chat_text_spec.OPERATION_PATH
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    # Server-applied defaults: nothing the caller did not set goes on the wire.
    assert payload == {
        "model": "chat-text-base",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
    }
    assert isinstance(result, ChatTextResponse)


def test_unset_is_omitted_none_is_null_values_are_sent() -> None:
    handler = Recorder(200, example("200", "stopped"))
    body = ChatTextRequest(
        model="chat-text-base",
        messages=[Message(role=Role.SYSTEM, content="s"), Message(role=Role.USER, content="u")],
        max_tokens=None,
        prompt_truncate_len=64,
        temperature=0.0,
        stream=UNSET,
    )
    chat_text.sync(client=make_client(handler), body=body)
    _, payload = sent(handler)
    assert payload == {
        "model": "chat-text-base",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "max_tokens": None,
        "prompt_truncate_len": 64,
        "temperature": 0.0,
    }


@pytest.mark.parametrize("name", ["minimal", "all_fields", "null_means_default"])
def test_request_examples_are_sent_verbatim(name: str) -> None:
    handler = Recorder(200, example("200", "stopped"))
    value = request_example(name)
    chat_text.sync(client=make_client(handler), body=ChatTextRequest.from_dict(value))
    assert sent(handler)[1] == value


def test_parses_the_documented_200() -> None:
    value = example("200", "max_tokens_lowered")
    handler = Recorder(200, value)
    response = chat_text.sync_detailed(
        client=make_client(handler), body=ChatTextRequest.from_dict(request_example("minimal"))
    )
    assert response.status_code == 200
    parsed = response.parsed
    assert isinstance(parsed, ChatTextResponse)
    assert parsed.choices[0].finish_reason is FinishReason.LENGTH
    assert parsed.usage and parsed.usage.total_tokens == 512
    assert parsed.to_dict() == value


ERROR_CASES = [
    (status, name, value["value"], OPERATION["responses"][status].get("headers", {}))
    for status, response in OPERATION["responses"].items()
    if status != "200"
    for name, value in response["content"]["application/json"]["examples"].items()
]


@pytest.mark.parametrize(
    ("status", "name", "value", "headers"), ERROR_CASES, ids=[f"{c[0]}-{c[1]}" for c in ERROR_CASES]
)
def test_parses_every_documented_error(
    status: str, name: str, value: dict[str, Any], headers: dict[str, Any]
) -> None:
    header_values = {h: str(spec.get("example", "1")) for h, spec in headers.items()}
    handler = Recorder(int(status), value, header_values)
    response = chat_text.sync_detailed(
        client=make_client(handler), body=ChatTextRequest.from_dict(request_example("minimal"))
    )
    assert response.status_code == int(status)
    assert isinstance(response.parsed, ErrorResponse)
    assert response.parsed.error.code == value["error"]["code"]
    assert response.parsed.to_dict() == value
    for header in headers:
        assert response.headers[header] == header_values[header]


async def test_async_client_sends_the_same_request() -> None:
    handler = Recorder(200, example("200", "stopped"))
    client = make_client(handler)
    value = request_example("all_fields")
    result = await chat_text.asyncio(client=client, body=ChatTextRequest.from_dict(value))
    request, payload = sent(handler)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert payload == value
    assert isinstance(result, ChatTextResponse)
