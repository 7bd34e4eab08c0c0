"""The chat-text OpenAPI document, loaded once and shared by every package.

``openapi.yaml`` is the single source of truth for fields, defaults, bounds, statuses and
error shapes. The reference server, the SDK and the conformance suite read those facts from
here instead of writing them down a second time; they validate with the validators of
:mod:`chat_text_spec.validation` (one compiled validator per schema, and the request validator).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from .validation import InvalidRequest, RequestValidator, parse_json, schema_validator

__all__ = [
    "OPERATION_PATH",
    "InvalidRequest",
    "RequestValidator",
    "api_version",
    "documented_response",
    "field_bounds",
    "load_spec",
    "max_body_bytes",
    "operation",
    "parse_json",
    "request_defaults",
    "request_schema",
    "resolve",
    "schema_validator",
    "server_url",
    "spec_path",
]

OPERATION_PATH = "/inference/chat_text"


def spec_path() -> Path:
    """Where ``openapi.yaml`` is: package data when installed, the repository root otherwise."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "openapi.yaml", here.parent / "openapi.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"openapi.yaml not found next to {here} or in {here.parent}")


@functools.cache
def _load() -> dict[str, Any]:
    with spec_path().open("rb") as fh:
        # libyaml's safe loader when PyYAML has it (a tenth of the pure-Python one's time, the
        # same document): every process that reads the spec pays this once
        loaded = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    if not isinstance(loaded, dict):
        raise ValueError(f"{spec_path()} is not an OpenAPI document")
    return loaded


def load_spec() -> dict[str, Any]:
    """A fresh deep copy of the parsed spec (callers may mutate it)."""
    return copy.deepcopy(_load())


def resolve(node: Any, spec: dict[str, Any] | None = None) -> Any:
    """Follow a local ``$ref`` (``#/...``) until a non-reference node is reached."""
    root = _load() if spec is None else spec
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operation() -> dict[str, Any]:
    """The ``POST /inference/chat_text`` operation object."""
    op: dict[str, Any] = _load()["paths"][OPERATION_PATH]["post"]
    return op


def documented_response(status: int) -> dict[str, Any] | None:
    """The response object the operation documents for ``status`` (its own entry, else its
    ``4XX``-style range, else ``default``), resolved; ``None`` when none applies."""
    responses = operation()["responses"]
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            found: dict[str, Any] = resolve(responses[key])
            return found
    return None


def request_schema() -> dict[str, Any]:
    """The (resolved) JSON schema of the request body."""
    body = resolve(operation()["requestBody"])
    schema: dict[str, Any] = resolve(body["content"]["application/json"]["schema"])
    return schema


def max_body_bytes() -> int:
    """The documented request body size limit (``x-max-body-bytes``)."""
    limit = resolve(operation()["requestBody"])["x-max-body-bytes"]
    if not isinstance(limit, int) or limit <= 0:
        raise ValueError("x-max-body-bytes must be a positive integer")
    return limit


def _value_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of an ``anyOf: [<value>, {type: 'null'}]`` property."""
    prop = resolve(prop)
    for alt in prop.get("anyOf", []):
        alt = resolve(alt)
        if alt.get("type") != "null":
            return dict(alt)
    return dict(prop)


def request_defaults() -> dict[str, Any]:
    """Server-applied defaults of the optional request fields, e.g. ``{"max_tokens": 200}``.

    By the spec's convention the default sits inside the non-null alternative of each field.
    """
    schema = request_schema()
    required = set(schema.get("required", []))
    defaults: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if name in required:
            continue
        value = _value_schema(prop)
        if "default" in value:
            defaults[name] = value["default"]
    return defaults


def field_bounds(name: str) -> dict[str, Any]:
    """Bounds (minimum, maximum, minLength, ...) of a request field's value schema."""
    return {
        k: v
        for k, v in _value_schema(request_schema()["properties"][name]).items()
        if k in {"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"}
    }


def api_version() -> str:
    """``info.version``: the API version, also the version of the generated client."""
    version: str = _load()["info"]["version"]
    return version


def server_url() -> str:
    """The first server URL the spec lists."""
    url: str = _load()["servers"][0]["url"]
    return url
