"""The response schema rule, evaluated by the suite itself wherever schemathesis is not the one
sending (properties, proxy, replay). In the schemathesis part the built-in check of the same id
evaluates it."""

from __future__ import annotations

import functools
from typing import Any

import chat_text_spec

from ..target import Level
from .exchange import CheckFailed, Exchange, NotApplicable, excerpt
from .registry import OPERATION, rule, spec

__all__ = ["response_schema_conformance"]


@functools.cache
def _validator(component: str) -> Any:
    return chat_text_spec.schema_validator(component)


def _documented_statuses() -> set[str]:
    return set(chat_text_spec.operation()["responses"])


@rule(
    "every response body matches the schema documented for its status and media type "
    "(each stream event against ChatTextChunk)",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(f"{OPERATION}/responses"), spec("/components/schemas/ChatTextChunk")],
)
def response_schema_conformance(ex: Exchange) -> bool:
    status = str(ex.status)
    if status not in _documented_statuses():
        raise NotApplicable(f"HTTP {status} is not documented (status_code_conformance)")
    if ex.ok and ex.content_type == "text/event-stream":
        raise NotApplicable("streams: stream_chunks_match_schema")
    if ex.content_type != "application/json":
        raise CheckFailed(
            f"HTTP {status} answered with Content-Type {ex.content_type or '(none)'}",
            expected="application/json" + (" or text/event-stream" if ex.ok else ""),
            actual=ex.content_type or "(none)",
        )
    document = ex.document
    if document is None:
        raise CheckFailed(
            f"the HTTP {status} body is not a JSON object",
            expected="a JSON object",
            actual=ex.body[:200].decode("utf-8", errors="replace"),
        )
    component = "ChatTextResponse" if ex.ok else "ErrorResponse"
    errors = list(_validator(component).iter_errors(document))
    if errors:
        error = errors[0]
        path = "/".join(str(p) for p in error.instance_path) or "(root)"
        raise CheckFailed(
            f"the HTTP {status} body does not match {component} at {path}: {error.message}",
            expected=f"a {component} document",
            actual=excerpt(document),
        )
    return True
