"""Bad input against the reference server: a clear 4xx with the spec's error body, never a
5xx, and the server still answers afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import chat_text_spec
from chat_text_server import create_app, engine
from chat_text_server.testing import TEST_TOKEN, running_server

PATH = "/inference/chat_text"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
LIMIT = chat_text_spec.max_body_bytes()
VALID: dict[str, Any] = {
    "model": "chat-text-mini",
    "messages": [{"role": "user", "content": "hello"}],
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=15) as http:
        yield http


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["field"] == field, error
    if field is not None:
        assert field in error["message"], error


# -- the body is not a JSON object ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"model": "chat-text-mini", "messages": [', id="truncated"),
        pytest.param(b"{'model': 'x'}", id="single-quotes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n", id="whitespace"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"model": "x"} trailing', id="trailing-garbage"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-arrays-100k"),
        pytest.param(b'{"model": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="nested-100k"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="nested-objects-50k"),
        pytest.param(b'{"model": "x", "messages": [], "max_tokens": NaN}', id="NaN"),
        pytest.param(b'{"model": "x", "messages": [], "temperature": Infinity}', id="Infinity"),
        pytest.param(b'{"model": "x", "messages": [], "temperature": -Infinity}', id="-Infinity"),
        pytest.param(b'{"model": "x", "messages": [], "max_tokens": 1e400}', id="1e400"),
        pytest.param(b'{"model": "x", "messages": [], "temperature": -1e400}', id="-1e400"),
        pytest.param(b'{"model": "\xff\xfe", "messages": []}', id="invalid-utf8"),
        pytest.param(b'{"model": "\xed\xa0\x80", "messages": []}', id="utf8-surrogate"),
        pytest.param(b'{"model": "\\ud800", "messages": []}', id="lone-surrogate-escape"),
        pytest.param(b"\xef\xbb\xbf" + b'{"model": "x"}', id="bom"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(client: httpx.Client, body: bytes) -> None:
    assert_error(client.post(PATH, content=body, headers=JSON), 400, "invalid_request")


def test_huge_integers_are_a_400(client: httpx.Client) -> None:
    body = b'{"model": "chat-text-mini", "messages": [{"role": "user", "content": "x"}], '
    response = client.post(PATH, content=body + b'"max_tokens": ' + b"1" + b"0" * 100 + b"}",
                           headers=JSON)  # fmt: skip
    assert_error(response, 400, "invalid_request", "max_tokens")
    response = client.post(PATH, content=body + b'"temperature": -' + b"9" * 400 + b"}",
                           headers=JSON)  # fmt: skip
    assert_error(response, 400, "invalid_request")  # beyond a double: refused by the parser
    assert "number" in response.json()["error"]["message"]


# -- Content-Type and size ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1",
     "application/jsonx", "multipart/form-data; boundary=x"],
)  # fmt: skip
def test_a_body_not_sent_as_json_is_a_415(client: httpx.Client, content_type: str | None) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post(PATH, content=httpx.Request("POST", "/", json=VALID).content,
                           headers=headers)  # fmt: skip
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_variants_are_accepted(client: httpx.Client, content_type: str) -> None:
    response = client.post(PATH, json=VALID, headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == 200, response.text


def test_a_body_over_the_limit_is_a_413(client: httpx.Client) -> None:
    response = client.post(PATH, content=b" " * (LIMIT + 1), headers=JSON)
    assert_error(response, 413, "request_too_large")
    assert str(LIMIT) in response.json()["error"]["message"]


def test_a_chunked_body_over_the_limit_is_a_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 65536 + 2):
            yield b" " * 65536

    response = client.post(PATH, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "request_too_large")


def test_a_body_at_the_limit_is_read(client: httpx.Client) -> None:
    body = httpx.Request("POST", "/", json=VALID).content
    padded = body + b" " * (LIMIT - len(body))
    assert len(padded) == LIMIT
    assert client.post(PATH, content=padded, headers=JSON).status_code == 200


async def _call(app: Any, headers: list[tuple[bytes, bytes]], chunk: bytes, count: int | None
                ) -> tuple[int, int]:  # fmt: skip
    """Call the ASGI app directly; return (status, how many body chunks it pulled)."""
    pulled = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        more = count is None or pulled < count
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    return status, pulled


async def test_an_oversized_content_length_is_refused_before_reading_the_body() -> None:
    app = create_app([TEST_TOKEN])
    headers = [
        (b"authorization", f"Bearer {TEST_TOKEN}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(LIMIT * 1000).encode()),
    ]
    status, pulled = await _call(app, headers, b" " * 65536, None)
    assert (status, pulled) == (413, 0)


async def test_an_endless_body_is_read_only_up_to_the_limit() -> None:
    app = create_app([TEST_TOKEN])
    headers = [
        (b"authorization", f"Bearer {TEST_TOKEN}".encode()),
        (b"content-type", b"application/json"),
    ]
    status, pulled = await _call(app, headers, b" " * 65536, None)
    assert status == 413
    assert pulled == LIMIT // 65536 + 1


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3"])
async def test_a_malformed_content_length_is_a_400(value: bytes) -> None:
    app = create_app([TEST_TOKEN])
    headers = [
        (b"authorization", f"Bearer {TEST_TOKEN}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", value),
    ]
    status, pulled = await _call(app, headers, b"{}", 1)
    assert (status, pulled) == (400, 0)


# -- the schema: each field wrong ---------------------------------------------------------


def _bound(field: str, key: str) -> Any:
    return chat_text_spec.field_bounds(field)[key]


MISSING = object()


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("missing-model", {"model": MISSING}, "model"),
    ("missing-messages", {"messages": MISSING}, "messages"),
    ("model-int", {"model": 1}, "model"),
    ("model-null", {"model": None}, "model"),
    ("model-empty", {"model": ""}, "model"),
    ("model-too-long", {"model": "m" * (_bound("model", "maxLength") + 1)}, "model"),
    ("messages-string", {"messages": "hi"}, "messages"),
    ("messages-null", {"messages": None}, "messages"),
    ("messages-empty", {"messages": []}, "messages"),
    ("messages-too-many",
     {"messages": [{"role": "user", "content": "x"}] * (_bound("messages", "maxItems") + 1)},
     "messages"),
    ("message-not-object", {"messages": [VALID["messages"][0], 1]}, "messages[1]"),
    ("role-unknown", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ("role-missing", {"messages": [{"content": "x"}]}, "messages[0].role"),
    ("content-missing", {"messages": [{"role": "user"}]}, "messages[0].content"),
    ("content-int", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("content-null", {"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ("content-too-long", {"messages": [{"role": "user", "content": "x" * 32769}]},
     "messages[0].content"),
    ("message-unknown-field", {"messages": [{"role": "user", "content": "x", "name": "bob"}]},
     "messages[0].name"),
    ("unknown-top-level-field", {"top_k": 5}, "top_k"),
    ("max_tokens-zero", {"max_tokens": 0}, "max_tokens"),
    ("max_tokens-negative", {"max_tokens": -5}, "max_tokens"),
    ("max_tokens-over", {"max_tokens": _bound("max_tokens", "maximum") + 1}, "max_tokens"),
    ("max_tokens-fraction", {"max_tokens": 1.5}, "max_tokens"),
    ("max_tokens-string", {"max_tokens": "10"}, "max_tokens"),
    ("max_tokens-bool", {"max_tokens": True}, "max_tokens"),
    ("prompt_truncate_len-zero", {"prompt_truncate_len": 0}, "prompt_truncate_len"),
    ("prompt_truncate_len-over",
     {"prompt_truncate_len": _bound("prompt_truncate_len", "maximum") + 1}, "prompt_truncate_len"),
    ("prompt_truncate_len-list", {"prompt_truncate_len": [1]}, "prompt_truncate_len"),
    ("temperature-negative", {"temperature": -0.01}, "temperature"),
    ("temperature-over", {"temperature": 2.0001}, "temperature"),
    ("temperature-string", {"temperature": "hot"}, "temperature"),
    ("temperature-bool", {"temperature": False}, "temperature"),
    ("top_p-zero", {"top_p": 0}, "top_p"),
    ("top_p-negative", {"top_p": -0.5}, "top_p"),
    ("top_p-over", {"top_p": _bound("top_p", "maximum") + 0.5}, "top_p"),
    ("top_p-string", {"top_p": "0.5"}, "top_p"),
    ("top_p-bool", {"top_p": True}, "top_p"),
    ("top_p-list", {"top_p": [0.5]}, "top_p"),
    ("stream-string", {"stream": "yes"}, "stream"),
    ("stream-int", {"stream": 1}, "stream"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD_FIELDS])
def test_each_bad_field_is_a_400_naming_it(
    client: httpx.Client, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**VALID, **change}.items() if v is not MISSING}
    response = client.post(PATH, json=body, headers=AUTH)
    assert_error(response, 400, "invalid_request", field)


def test_the_out_of_range_message_names_the_bound(client: httpx.Client) -> None:
    response = client.post(PATH, json={**VALID, "temperature": 3.5}, headers=AUTH)
    assert_error(response, 400, "invalid_request", "temperature")
    assert response.json()["error"]["message"] == (
        "temperature: 3.5 is greater than the maximum of 2"
    )


def test_the_exclusive_minimum_message_says_the_bound_is_excluded(client: httpx.Client) -> None:
    response = client.post(PATH, json={**VALID, "top_p": 0}, headers=AUTH)
    assert_error(response, 400, "invalid_request", "top_p")
    assert response.json()["error"]["message"] == (
        "top_p: 0 is not greater than 0 (the exclusive minimum)"
    )


def test_top_p_in_range_is_accepted(client: httpx.Client) -> None:
    for top_p in (1e-9, 0.5, 1, 1.0, None):
        response = client.post(PATH, json={**VALID, "top_p": top_p}, headers=AUTH)
        assert response.status_code == 200, (top_p, response.text)


def test_an_unknown_model_is_a_404(client: httpx.Client) -> None:
    response = client.post(PATH, json={**VALID, "model": "no-such-model"}, headers=AUTH)
    assert_error(response, 404, "model_not_found", "model")


# -- Authorization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dGVzdDp0ZXN0", f"Token {TEST_TOKEN}",
     f"Bearer {TEST_TOKEN} extra", "Bearer wrong-token", f"Bearer {TEST_TOKEN}x",
     f"Bearer {TEST_TOKEN[:-1]}", f"{TEST_TOKEN}"],
)  # fmt: skip
def test_missing_malformed_or_wrong_authorization_is_a_401(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post(PATH, json=VALID, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert TEST_TOKEN not in response.text
    assert "wrong-token" not in response.text
    assert TEST_TOKEN not in response.headers["www-authenticate"]


def test_the_auth_scheme_is_case_insensitive(client: httpx.Client) -> None:
    response = client.post(PATH, json=VALID, headers={"Authorization": f"bearer {TEST_TOKEN}"})
    assert response.status_code == 200


def test_any_of_several_tokens_is_accepted() -> None:
    with running_server(tokens=("alpha", "beta")) as url:
        for token, status in [("alpha", 200), ("beta", 200), ("gamma", 401)]:
            response = httpx.post(url + PATH, json=VALID,
                                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert response.status_code == status


def test_auth_is_checked_before_the_body(client: httpx.Client) -> None:
    response = client.post(PATH, content=b"not json", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "unauthorized")


# -- routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_a_405_with_allow(client: httpx.Client, method: str) -> None:
    response = client.request(method, PATH, headers=AUTH)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/", "/inference", "/inference/chat_text/", "/v1/chat"])
def test_unknown_paths_are_a_404(client: httpx.Client, path: str) -> None:
    assert_error(client.post(path, json=VALID, headers=AUTH), 404, "not_found")


# -- never a traceback ---------------------------------------------------------------------


def test_an_unexpected_failure_is_the_specs_500_without_details_or_token(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(engine, "generate", broken)
    with caplog.at_level(logging.DEBUG):
        response = client.post(PATH, json=VALID, headers=AUTH)
    assert_error(response, 500, "internal_error")
    assert "exploded" not in response.text
    assert "engine exploded" in caplog.text  # logged for the operator...
    assert TEST_TOKEN not in caplog.text  # ...without the caller's token


def test_the_server_still_answers_after_the_matrix(client: httpx.Client) -> None:
    response = client.post(PATH, json=VALID, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["choices"][0]["finish_reason"] in {"stop", "length"}
