"""What the conformance suite runs against: a server URL, a token and a model."""

from __future__ import annotations

import functools
import os
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

TOKEN_ENV = "CHAT_TEXT_API_KEY"  # noqa: S105 - the name of an env var, not a token
"""The one environment variable every part reads the bearer token from (the SDK, the suite, the
pytest plugin, ``replay``, the proxy's report, the Action)."""
TOKEN_ENV_ALIAS = "CHAT_TEXT_TOKEN"  # noqa: S105 - the name of an env var, not a token
"""Its older name, still read (with a one-line notice) when the first is not set."""


def token_from_env(
    environ: Mapping[str, str] | None = None,
    notice: Callable[[str], None] | None = None,
) -> str | None:
    """The token from ``$CHAT_TEXT_API_KEY``, else from ``$CHAT_TEXT_TOKEN`` (saying so on
    ``notice``, by default stderr); ``None`` when neither is set."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV)
    if token:
        return token
    token = env.get(TOKEN_ENV_ALIAS)
    if token:
        say = notice or (lambda line: print(line, file=sys.stderr, flush=True))
        say(f"note: the token is read from ${TOKEN_ENV_ALIAS}, the old name of ${TOKEN_ENV}")
        return token
    return None


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
