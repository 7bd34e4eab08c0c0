"""What a request was, as the rules need to know it: the facts of one recorded request (method,
path, how it was authorised, whether it is valid against the spec and why not), read from the
request exactly as it was sent, the same way by every front end (the suite, the proxy,
``replay``, the load generator).

Validity is the spec's: ``POST`` on the operation, sent as ``application/json`` (any legal label
of it), within ``x-max-body-bytes``, JSON, and valid against the request schema
(``chat_text_spec.RequestValidator``, the one the reference server uses). The first problem is
kept.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import chat_text_spec

__all__ = ["Authorization", "RequestFacts", "classify_request", "media_type"]

Authorization = Literal["missing", "malformed", "bearer"]


def media_type(content_type: str | None) -> str:
    """``'application/json; charset=utf-8'`` -> ``'application/json'``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class RequestFacts:
    """What the rules know of one request before its answer."""

    method: str
    path: str
    """The path, without the query."""
    document: Any
    """The JSON body (``None`` when there is none or it is not JSON)."""
    problem: str | None
    """Why the request is invalid against the spec (``None``: valid, or not the operation)."""
    authorization: Authorization
    token: str | None
    """The bearer token, when the header is well-formed."""
    size: int = 0
    """The body's size in bytes."""

    @property
    def on_operation(self) -> bool:
        """Whether the path is the one ``openapi.yaml`` documents."""
        return self.path == chat_text_spec.OPERATION_PATH

    @property
    def is_call(self) -> bool:
        """``POST`` on the operation's path: a call the spec describes."""
        return self.on_operation and self.method == "POST"

    @property
    def asked_to_stream(self) -> bool:
        return isinstance(self.document, dict) and self.document.get("stream") is True

    @property
    def model(self) -> str | None:
        model = self.document.get("model") if isinstance(self.document, dict) else None
        return model if isinstance(model, str) else None


@functools.cache
def _validator() -> chat_text_spec.RequestValidator:
    return chat_text_spec.RequestValidator()


def _authorization(value: str | None) -> tuple[Authorization, str | None]:
    if value is None:
        return "missing", None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token or token != token.strip() or " " in token:
        return "malformed", None
    return "bearer", token


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def classify_request(
    method: str,
    path: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | None,
) -> RequestFacts:
    """The facts of one request as sent: ``path`` without the query, ``headers`` as a mapping
    or as pairs (names in any case)."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    authorization, token = _authorization(_header(pairs, "authorization"))
    method = method.upper()
    raw = body or b""
    if path != chat_text_spec.OPERATION_PATH or method != "POST":
        return RequestFacts(method, path, None, None, authorization, token, len(raw))
    document: Any = None
    problem: str | None = None
    media = media_type(_header(pairs, "content-type"))
    limit = chat_text_spec.max_body_bytes()
    try:
        document = chat_text_spec.parse_json(raw)
    except chat_text_spec.InvalidRequest as error:
        problem = error.message
    if media != "application/json":
        problem = f"the body is sent as {media or 'no Content-Type'}, not application/json"
    elif len(raw) > limit:
        problem = f"the body is {len(raw)} bytes, over x-max-body-bytes ({limit})"
    elif problem is None:
        try:
            _validator().validate(document)
        except chat_text_spec.InvalidRequest as error:
            problem = error.message
    return RequestFacts(method, path, document, problem, authorization, token, len(raw))
