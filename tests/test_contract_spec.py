"""openapi.yaml itself: structure the issue requires, and every example valid + round-tripping.

Examples are validated with jsonschema against the spec's own schemas ($refs resolved through a
registry holding the whole document), then pushed through the generated models:
``Model.from_dict(x).to_dict() == x``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from chat_text_client.models import (
    ChatTextChunk,
    ChatTextRequest,
    ChatTextResponse,
    ErrorResponse,
)
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import chat_text_spec

SPEC = chat_text_spec.load_spec()
OPERATION = SPEC["paths"]["/inference/chat_text"]["post"]
SPEC_URI = "urn:chat-text:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))

MODELS: dict[str, Any] = {
    "ChatTextRequest": ChatTextRequest,
    "ChatTextResponse": ChatTextResponse,
    "ChatTextChunk": ChatTextChunk,
    "ErrorResponse": ErrorResponse,
}


def validator_for(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for a schema node of the spec (its $refs resolve against the spec)."""
    if "$ref" in schema:
        schema = {"$ref": SPEC_URI + schema["$ref"]}
    return jsonschema.Draft202012Validator(schema, registry=REGISTRY)


def component(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def iter_examples() -> Iterator[tuple[str, str, dict[str, Any], Any]]:
    """(id, media type, schema node, example value) for every example of the operation."""
    body = OPERATION["requestBody"]["content"]["application/json"]
    for name, ex in body["examples"].items():
        yield f"request:{name}", "application/json", body["schema"], ex["value"]
    for status, response in OPERATION["responses"].items():
        for media, content in response.get("content", {}).items():
            for name, ex in content.get("examples", {}).items():
                yield f"{status}:{media}:{name}", media, content["schema"], ex["value"]


EXAMPLES = list(iter_examples())


def parse_sse(text: str) -> list[str]:
    """The data payloads of a text/event-stream document (one data line per event here)."""
    events = [block for block in text.split("\n\n") if block.strip()]
    payloads = []
    for block in events:
        lines = block.splitlines()
        assert all(line.startswith("data: ") for line in lines), block
        payloads.append("\n".join(line[len("data: ") :] for line in lines))
    return payloads


def test_operation_metadata() -> None:
    assert OPERATION["operationId"] == "chat_text"
    assert OPERATION["summary"] and OPERATION["description"] and OPERATION["tags"]
    # openapi-python-client ignores global security: it must be on the operation.
    assert OPERATION["security"] == [{"bearerAuth": []}]
    scheme = SPEC["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}


def test_request_fields_types_defaults_and_bounds() -> None:
    schema = chat_text_spec.request_schema()
    assert set(schema["required"]) == {"model", "messages"}
    assert chat_text_spec.request_defaults() == {
        "max_tokens": 200,
        "prompt_truncate_len": 1500,
        "temperature": 1,
        "top_p": 1,
        "stream": False,
    }
    assert chat_text_spec.field_bounds("temperature") == {"minimum": 0, "maximum": 2}
    # top_p is in (0, 1]: 0 itself is excluded (field_bounds lists inclusive bounds only).
    assert chat_text_spec.field_bounds("top_p") == {"maximum": 1}
    top_p = schema["properties"]["top_p"]["anyOf"]
    assert top_p == [
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1},
        {"type": "null"},
    ]
    assert chat_text_spec.field_bounds("max_tokens")["minimum"] == 1
    assert chat_text_spec.field_bounds("prompt_truncate_len")["minimum"] == 1
    # Every upper limit is documented, so huge values are not "valid".
    for name in ("max_tokens", "prompt_truncate_len"):
        assert isinstance(chat_text_spec.field_bounds(name)["maximum"], int)
    props = schema["properties"]
    assert props["model"]["minLength"] == 1 and "maxLength" in props["model"]
    assert props["messages"]["minItems"] == 1 and "maxItems" in props["messages"]
    message = chat_text_spec.resolve(props["messages"]["items"])
    assert "maxLength" in message["properties"]["content"]
    assert chat_text_spec.resolve(message["properties"]["role"])["enum"] == [
        "system",
        "user",
        "assistant",
    ]
    assert chat_text_spec.max_body_bytes() > 0


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, True),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": None}, True),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5.0}, True),
        ({"model": "m", "messages": []}, False),
        ({"model": "", "messages": [{"role": "user", "content": "hi"}]}, False),
        ({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}, False),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, False),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**100},
            False,
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 2.01},
            False,
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": -0.1},
            False,
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, False),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 0.5}, True),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 1}, True),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": None}, True),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 1e-9}, True),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 0}, False),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": -0.5}, False),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}, False),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": "0.5"}, False),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_k": 5}, False),
        ({"messages": [{"role": "user", "content": "hi"}]}, False),
    ],
)
def test_request_schema_accepts_and_rejects(value: dict[str, Any], valid: bool) -> None:
    validator = validator_for(component("ChatTextRequest"))
    assert validator.is_valid(value) is valid


def test_every_error_status_uses_the_error_schema() -> None:
    responses = OPERATION["responses"]
    assert set(responses) == {"200", "400", "401", "404", "413", "415", "429", "500", "503"}
    for status, response in responses.items():
        if status == "200":
            continue
        assert response["content"]["application/json"]["schema"] == component("ErrorResponse")
    assert "WWW-Authenticate" in responses["401"]["headers"]
    for status in ("429", "503"):
        assert "Retry-After" in responses[status]["headers"]
    detail = chat_text_spec.resolve(component("ErrorDetail"))
    assert set(detail["required"]) == {"code", "message"}
    assert "field" in detail["properties"]


def test_success_media_types() -> None:
    content = OPERATION["responses"]["200"]["content"]
    # JSON first: openapi-python-client only generates the first media type.
    assert list(content) == ["application/json", "text/event-stream"]
    stream_schema = content["text/event-stream"]["schema"]
    assert stream_schema["contentSchema"] == component("ChatTextChunk")


def test_examples_cover_the_seed_edge_cases() -> None:
    ids = {example_id for example_id, *_ in EXAMPLES}
    assert "request:long_conversation_truncated" in ids
    assert "request:max_tokens_lowered" in ids
    assert "200:application/json:max_tokens_lowered" in ids
    assert "request:nucleus_sampling" in ids
    statuses = {example_id.split(":")[0] for example_id in ids}
    assert statuses >= {"request", "200", "400", "401", "404", "413", "415", "429", "500", "503"}


@pytest.mark.parametrize(
    ("example_id", "media", "schema", "value"), EXAMPLES, ids=[e[0] for e in EXAMPLES]
)
def test_example_validates_and_round_trips(
    example_id: str, media: str, schema: dict[str, Any], value: Any
) -> None:
    if media == "text/event-stream":
        payloads = parse_sse(value)
        assert payloads[-1] == "[DONE]"
        chunks = [json.loads(p) for p in payloads[:-1]]
        validator = validator_for(schema["contentSchema"])
        for chunk in chunks:
            validator.validate(chunk)
            assert ChatTextChunk.from_dict(chunk).to_dict() == chunk
        assert all(c["usage"] is None for c in chunks[:-1]) and chunks[-1]["usage"]
        return
    validator_for(schema).validate(value)
    model = MODELS[schema["$ref"].rsplit("/", 1)[-1]]
    assert model.from_dict(value).to_dict() == value
