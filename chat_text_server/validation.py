"""Request validation compiled from the spec's request schema.

Nothing here knows a field name, default or bound: the schema, the defaults and the body
size limit are read from ``openapi.yaml`` through :mod:`chat_text_spec`, once, when a
:class:`RequestValidator` is built. The first validation error is turned into a 400 whose
``field`` is a path like ``messages[2].role`` and whose message names that field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema_rs
import orjson

import chat_text_spec

from .errors import ApiError

__all__ = ["RequestValidator", "field_path", "parse_json"]

_MAX_SHOWN = 60


def field_path(parts: Sequence[str | int]) -> str | None:
    """``["messages", 2, "role"]`` → ``"messages[2].role"``; ``[]`` → ``None``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def _shown(value: Any) -> str:
    """A short JSON rendering of a value for an error message."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def _json_type(value: Any) -> str:
    for cls, name in _JSON_TYPES:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _describe(error: Any) -> str:
    """A short sentence for one jsonschema_rs error (without the field prefix)."""
    kind = error.kind
    name = type(kind).__name__
    value = error.instance
    if name == "Type":
        types = " or ".join(str(t) for t in kind.types)
        return f"expected {types}, got {_json_type(value)} {_shown(value)}"
    if name == "Enum":
        options = ", ".join(_shown(o) for o in kind.options)
        return f"{_shown(value)} is not one of {options}"
    if name == "Minimum":
        return f"{_shown(value)} is less than the minimum of {kind.limit}"
    if name == "ExclusiveMinimum":
        return f"{_shown(value)} is not greater than {kind.limit} (the exclusive minimum)"
    if name == "Maximum":
        return f"{_shown(value)} is greater than the maximum of {kind.limit}"
    if name == "ExclusiveMaximum":
        return f"{_shown(value)} is not less than {kind.limit} (the exclusive maximum)"
    if name == "MinLength":
        return f"must be at least {kind.limit} characters long, got {len(value)}"
    if name == "MaxLength":
        return f"must be at most {kind.limit} characters long, got {len(value)}"
    if name == "MinItems":
        return f"must have at least {kind.limit} items, got {len(value)}"
    if name == "MaxItems":
        return f"must have at most {kind.limit} items, got {len(value)}"
    message: str = error.message
    return message if len(message) <= 2 * _MAX_SHOWN else message[: 2 * _MAX_SHOWN] + "..."


def _is_null_branch(branch: Sequence[Any]) -> bool:
    return any(type(e.kind).__name__ == "Type" and list(e.kind.types) == ["null"] for e in branch)


def _to_api_error(error: Any) -> ApiError:
    """The 400 for one jsonschema_rs error, naming the field at fault."""
    kind = error.kind
    name = type(kind).__name__
    path = list(error.instance_path)
    if name == "AdditionalProperties":
        unexpected = sorted(str(u) for u in kind.unexpected)
        field = field_path([*path, unexpected[0]])
        return ApiError.invalid(f"{field}: unknown field (the spec allows no other fields)", field)
    if name == "Required":
        field = field_path([*path, str(kind.property)])
        return ApiError.invalid(f"{field}: required field is missing", field)
    if name == "AnyOf":
        # The spec writes optional fields as anyOf [<value schema>, null]: explain the
        # value branch, which is what the caller got wrong.
        branches = [b for b in kind.context if b and not _is_null_branch(b)]
        if branches:
            inner = branches[0][0]
            field = field_path(list(inner.instance_path)) or field_path(path)
            detail = _describe(inner)
            if type(inner.kind).__name__ == "Type":
                detail = detail.replace("expected ", "expected null or ", 1)
            return ApiError.invalid(f"{field}: {detail}", field)
    field = field_path(path)
    return ApiError.invalid(f"{field or 'request body'}: {_describe(error)}", field)


def parse_json(body: bytes) -> Any:
    """Parse a request body, or raise a 400 that says what is wrong with it.

    orjson refuses what the spec's JSON cannot be: invalid UTF-8, lone surrogates, NaN and
    Infinity literals, numbers that overflow a double (``1e400``) and nesting deeper than
    1024 levels. Integers beyond 64 bits become floats and are judged by the schema.
    """
    if not body.strip():
        raise ApiError.invalid("The request body is empty; expected a JSON object.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError.invalid(f"The request body is not valid JSON: {exc}") from None


class RequestValidator:
    """The spec's request schema, compiled once, plus its server-applied defaults."""

    def __init__(self) -> None:
        spec = chat_text_spec.load_spec()
        schema = dict(chat_text_spec.request_schema())
        # Local $refs (#/components/schemas/...) resolve against this document's root.
        schema["components"] = {"schemas": spec["components"]["schemas"]}
        self._validator = jsonschema_rs.validator_for(schema)
        self.defaults: dict[str, Any] = chat_text_spec.request_defaults()
        # JSON Schema counts 5.0 as an integer; the engine wants a Python int.
        self.integer_fields = frozenset(
            name
            for name, prop in schema["properties"].items()
            if _allows_integer(chat_text_spec.resolve(prop, spec))
        )
        self.max_body_bytes: int = chat_text_spec.max_body_bytes()

    def validate(self, document: Any) -> dict[str, Any]:
        """Check ``document`` against the schema and return it with defaults applied."""
        if not isinstance(document, dict):
            raise ApiError.invalid(
                f"The request body must be a JSON object, got {_json_type(document)}."
            )
        if not self._validator.is_valid(document):
            first = next(iter(self._validator.iter_errors(document)))
            raise _to_api_error(first)
        request = self.defaults | document  # omitted fields take their defaults
        if None in request.values():  # so do null ones
            for name, default in self.defaults.items():
                if request.get(name) is None:
                    request[name] = default
        for name in self.integer_fields:
            value = request.get(name)
            if isinstance(value, float):
                request[name] = int(value)
        return request


def _allows_integer(schema: dict[str, Any]) -> bool:
    """Whether a (resolved) property schema is ``integer`` or ``anyOf`` with an integer."""
    if schema.get("type") == "integer":
        return True
    return any(alt.get("type") == "integer" for alt in schema.get("anyOf", []))
