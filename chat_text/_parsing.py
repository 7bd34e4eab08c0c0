"""Turn response bytes into the generated models, or raise ``ResponseValidationError``.

Every body is checked against its schema in ``openapi.yaml`` (``ChatTextResponse``,
``ChatTextChunk``, ``ErrorResponse``) before the generated ``from_dict`` sees it: the generated
parsers do not check types and raise bare ``KeyError``/``TypeError``/``ValueError`` on wrong
shapes. Unknown enum values (a ``finish_reason`` the spec does not list) are a schema violation
too. Fields the spec does not name are allowed by the response schemas and are kept by the
generated models in ``additional_properties`` (and returned again by ``to_dict()``).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from chat_text_client.models import ChatTextChunk, ChatTextResponse, ErrorResponse

import chat_text_spec

from ._errors import ResponseValidationError

__all__ = ["decode_json", "parse_chunk", "parse_completion", "parse_error", "validator"]

_MAX_EXCERPT = 200


M = TypeVar("M", ChatTextResponse, ChatTextChunk, ErrorResponse)


validator = chat_text_spec.schema_validator
"""``validator(name)``: the compiled validator of ``#/components/schemas/<name>``, the spec
package's (the server and the suite judge with the same one)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _excerpt(raw: bytes | str) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= _MAX_EXCERPT else text[:_MAX_EXCERPT] + "..."


def decode_json(raw: bytes | str, what: str) -> Any:
    """Strict JSON (no NaN/Infinity), or ``ResponseValidationError``."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ResponseValidationError(
            f"{what} is not valid JSON ({exc}): {_excerpt(raw)!r}",
            body=raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace"),
        ) from None


def _to_model(model: type[M], schema_name: str, data: Any, raw: bytes | str, what: str) -> M:
    check = validator(schema_name)
    if not check.is_valid(data):
        problems = "; ".join(
            f"{'/'.join(map(str, err.instance_path)) or '(root)'}: {err.message}"
            for err in list(check.iter_errors(data))[:3]
        )
        raise ResponseValidationError(
            f"{what} does not match the {schema_name} schema: {_excerpt(problems)}",
            body=raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace"),
        )
    try:
        return model.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # pragma: no cover - guard
        raise ResponseValidationError(
            f"{what} could not be read as {schema_name}: {exc!r}",
            body=raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace"),
        ) from None


def parse_completion(raw: bytes) -> ChatTextResponse:
    """A ``200 application/json`` body."""
    what = "the response body"
    return _to_model(ChatTextResponse, "ChatTextResponse", decode_json(raw, what), raw, what)


def parse_chunk(data: str) -> ChatTextChunk:
    """The ``data`` of one server-sent event."""
    what = "a stream event"
    return _to_model(ChatTextChunk, "ChatTextChunk", decode_json(data, what), data, what)


def parse_error(raw: bytes) -> ErrorResponse | None:
    """An error body, or ``None`` when it does not match ``ErrorResponse``."""
    try:
        return _to_model(ErrorResponse, "ErrorResponse", decode_json(raw, "x"), raw, "x")
    except ResponseValidationError:
        return None
