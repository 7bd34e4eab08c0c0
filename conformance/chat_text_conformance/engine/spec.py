"""The spec as schemathesis reads it: :func:`adapt_spec` (the event stream's per-event schema,
request examples pinned to the model) and :func:`pin_model` for drawn bodies. Reads only the
spec package: the schemathesis adapter, the ``st run`` hooks and ``_internals`` (the built-in
checks on recorded exchanges) share it without importing each other.
"""

from __future__ import annotations

import copy
from typing import Any

import chat_text_spec

__all__ = ["ADAPTED_MARK", "adapt_spec", "pin_model"]

ADAPTED_MARK = "x-chat-text-conformance-adapted"
"""Set on a spec :func:`adapt_spec` made (the ``st run`` hooks then leave it alone)."""


def adapt_spec(spec: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """The spec as schemathesis 4.32 must read it, in memory (``openapi.yaml`` is not changed).

    * For OpenAPI < 3.2, schemathesis takes a ``text/event-stream`` media type's ``schema`` as
      the schema of *each event* (an object ``{data, event, id?, retry?}``), so the spec's
      whole-stream ``{type: string, contentSchema: ChatTextChunk}`` fails every streamed answer.
      It is rewritten into the per-event form (``data`` is ``[DONE]`` or a JSON
      ``ChatTextChunk``), so the built-in schema check validates every chunk.
    * With ``model``, every request example names that model: the examples phase sends the
      spec's examples as they are (no ``map_case``), and a server without the example's model
      rightly answers ``404``.
    """
    adapted = copy.deepcopy(spec)
    adapted[ADAPTED_MARK] = True
    for path, path_item in adapted.get("paths", {}).items():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            if model is not None and path == chat_text_spec.OPERATION_PATH:
                _pin_examples(operation, adapted, model)
            for response in operation.get("responses", {}).values():
                media = response.get("content", {}).get("text/event-stream")
                if not isinstance(media, dict):
                    continue
                schema = media.get("schema", {})
                chunk_schema = schema.get("contentSchema")
                if chunk_schema is None:
                    continue
                media["schema"] = {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "anyOf": [
                                {"const": "[DONE]"},
                                {
                                    "type": "string",
                                    "contentMediaType": "application/json",
                                    "contentSchema": chunk_schema,
                                },
                            ]
                        }
                    },
                }
                media.pop("examples", None)
    return adapted


def _pin_examples(operation: dict[str, Any], document: dict[str, Any], model: str) -> None:
    body = operation.get("requestBody")
    if not isinstance(body, dict):
        return
    body = chat_text_spec.resolve(body, document)
    for media in body.get("content", {}).values():
        for example in media.get("examples", {}).values():
            value = chat_text_spec.resolve(example, document).get("value")
            pin_model(value, model)
        if isinstance(media.get("example"), dict):
            pin_model(media["example"], model)


def _model_bounds() -> tuple[int, int]:
    bounds = chat_text_spec.field_bounds("model")
    return int(bounds.get("minLength", 0)), int(bounds.get("maxLength", 1 << 30))


def pin_model(body: Any, model: str) -> Any:
    """Put ``model`` into a generated body, unless the body's model is the invalid part.

    A negative case may carry an invalid ``model`` (wrong type, too long): leaving it keeps the
    case negative. A valid generated model name is replaced, so positive cases reach a model the
    server has instead of being answered ``404``.
    """
    if not isinstance(body, dict) or "model" not in body:
        return body
    current = body["model"]
    low, high = _model_bounds()
    if isinstance(current, str) and low <= len(current) <= high:
        body["model"] = model
    return body
