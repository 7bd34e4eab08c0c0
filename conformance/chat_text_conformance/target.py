"""What the conformance suite runs against: a server URL, a token and a model."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The default TLS context, built once per process: every httpx client the suite opens
    would otherwise load the CA bundle again (~20 ms of CPU each, per run)."""
    return ssl.create_default_context()


class Level(StrEnum):
    """How much the suite checks, from what any mock passes to what needs determinism."""

    SCHEMA = "schema"
    """Only what the spec alone guarantees (status codes, shapes, headers): a mock such as
    Prism can pass it."""
    SEMANTIC = "semantic"
    """Adds the LLM promises: token accounting, max_tokens, truncation, streaming, auth."""
    STRICT = "strict"
    """Adds properties that need deterministic temperature-0 output (determinism,
    stream == non-stream)."""


@dataclass(frozen=True)
class Target:
    base_url: str
    """Base URL of the server, without the operation path (e.g. ``http://127.0.0.1:8000``)."""
    token: str
    """Bearer token the server accepts. Never printed: reports show it redacted."""
    model: str
    """Model name every generated request is pinned to."""
    context_length: int | None = None
    """The model's context window in tokens, when known (needed by some properties)."""
    request_timeout: float = 10.0
    """Seconds to wait for any single response."""
    app: Any = field(default=None, compare=False)
    """The ASGI app behind ``base_url``, when it runs in this process (the embedded reference
    server): the schemathesis part then calls it in-process, which is faster; everything else
    still goes over HTTP."""

    def __repr__(self) -> str:  # never show the token
        return (
            f"Target(base_url={self.base_url!r}, token='***', model={self.model!r}, "
            f"context_length={self.context_length!r}, request_timeout={self.request_timeout!r})"
        )
