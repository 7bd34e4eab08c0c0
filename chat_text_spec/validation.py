"""Validation from ``openapi.yaml``: one compiled validator per schema, and the request validator.

* :func:`schema_validator` — the compiled JSON Schema (Draft 2020-12, as OpenAPI 3.1 says)
  validator of ``#/components/schemas/<name>``, built once per name per process and shared by
  the SDK, the reference server, the conformance suite, the proxy and the cross-language matrix.
  ``jsonschema_rs`` validators are immutable once built: any thread may use one.
* :class:`RequestValidator`, :func:`parse_json`, :exc:`InvalidRequest` — what turns a request
  body into either the request with its server-applied defaults or the spec's ``400
  invalid_request`` error: a ``field`` path such as ``messages[2].role`` and a message that
  names it. The reference server answers with it; the suite and the proxy judge with it.

Nothing here knows a field name, default or bound: the schemas, the defaults and the body size
limit are read from the spec. ``jsonschema_rs`` is imported when the first validator is built.
``orjson`` comes with the ``server`` extra: without it (the SDK's own install) this module still
imports, and only the request validator's parsing and messages say that it is missing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import chat_text_spec

if TYPE_CHECKING:
    from jsonschema_rs import Validator

try:
    import orjson
except ImportError:  # pragma: no cover - an install without the server extra

    class _Missing:
        def __getattr__(self, name: str) -> Any:
            raise ModuleNotFoundError(
                "the request validator needs orjson: pip install 'chat-text[server]'"
            )

    orjson = _Missing()  # type: ignore[assignment]

__all__ = [
    "InvalidRequest",
    "RequestValidator",
    "field_path",
    "parse_json",
    "schema_validator",
]

_SCHEMAS = "#/components/schemas/"
_compile_lock = threading.Lock()


@functools.cache
def schema_validator(name: str) -> Validator:
    """The compiled validator of ``#/components/schemas/<name>`` (the same object on every call).

    Local ``$ref``s inside the schema resolve against the spec's ``components``. An unknown
    name raises ``KeyError``.
    """
    # two threads asking first for the same name still get one validator: the first compiles
    # it under the lock, the second finds it in _compile's cache
    with _compile_lock:
        return _compile(name)


@functools.cache
def _compile(name: str) -> Validator:
    import jsonschema_rs

    components = chat_text_spec.load_spec()["components"]
    if name not in components.get("schemas", {}):
        raise KeyError(f"openapi.yaml has no schema {_SCHEMAS}{name}")
    # the schema itself at the root (not a root {"$ref": ...}: the same verdicts, and the error
    # path, which the server's 400s take, costs less), its $refs resolving in the document's
    # components
    root = {**components["schemas"][name], "components": components}
    return jsonschema_rs.Draft202012Validator(root)


# ---------------------------------------------------------------------------------------------
# The request validator


class InvalidRequest(ValueError):
    """A request body the spec refuses: HTTP ``status``, the spec's ``code``, a ``message``
    that names the offending ``field`` (a path such as ``messages[2].role``, or ``None``)."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


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


def _to_invalid(error: Any) -> InvalidRequest:
    """The 400 for one jsonschema_rs error, naming the field at fault."""
    kind = error.kind
    name = type(kind).__name__
    path = list(error.instance_path)
    if name == "AdditionalProperties":
        unexpected = sorted(str(u) for u in kind.unexpected)
        field = field_path([*path, unexpected[0]])
        return InvalidRequest(f"{field}: unknown field (the spec allows no other fields)", field)
    if name == "Required":
        field = field_path([*path, str(kind.property)])
        return InvalidRequest(f"{field}: required field is missing", field)
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
            return InvalidRequest(f"{field}: {detail}", field)
    field = field_path(path)
    return InvalidRequest(f"{field or 'request body'}: {_describe(error)}", field)


def parse_json(body: bytes) -> Any:
    """Parse a request body, or raise :exc:`InvalidRequest` saying what is wrong with it.

    orjson refuses what the spec's JSON cannot be: invalid UTF-8, lone surrogates, NaN and
    Infinity literals, numbers that overflow a double (``1e400``) and nesting deeper than
    1024 levels. Integers beyond 64 bits become floats and are judged by the schema.
    """
    if not body.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None


def _request_schema_name() -> str:
    """The component the operation's request body refers to (``ChatTextRequest``)."""
    body = chat_text_spec.resolve(chat_text_spec.operation()["requestBody"])
    ref = body["content"]["application/json"]["schema"].get("$ref", "")
    if not ref.startswith(_SCHEMAS):
        raise ValueError(f"the request body schema must be a {_SCHEMAS}... reference, got {ref!r}")
    return str(ref[len(_SCHEMAS) :])


def _allows_integer(schema: dict[str, Any]) -> bool:
    """Whether a (resolved) property schema is ``integer`` or ``anyOf`` with an integer."""
    if schema.get("type") == "integer":
        return True
    return any(alt.get("type") == "integer" for alt in schema.get("anyOf", []))


class RequestValidator:
    """The spec's request schema (its shared compiled validator) and server-applied defaults."""

    def __init__(self) -> None:
        spec = chat_text_spec.load_spec()
        self.schema_name = _request_schema_name()
        self.validator: Validator = schema_validator(self.schema_name)
        """:func:`schema_validator` of the request body's schema."""
        self.defaults: dict[str, Any] = chat_text_spec.request_defaults()
        # JSON Schema counts 5.0 as an integer; the engine wants a Python int.
        self.integer_fields = frozenset(
            name
            for name, prop in chat_text_spec.request_schema()["properties"].items()
            if _allows_integer(chat_text_spec.resolve(prop, spec))
        )
        self.max_body_bytes: int = chat_text_spec.max_body_bytes()

    def validate(self, document: Any) -> dict[str, Any]:
        """Check ``document`` against the schema and return it with defaults applied, or raise
        :exc:`InvalidRequest` for the first error."""
        if not isinstance(document, dict):
            raise InvalidRequest(
                f"The request body must be a JSON object, got {_json_type(document)}."
            )
        if not self.validator.is_valid(document):
            first = next(iter(self.validator.iter_errors(document)))
            raise _to_invalid(first)
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
