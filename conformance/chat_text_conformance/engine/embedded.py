"""The embedded target: the reference server on a free loopback port, with a random token."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from chat_text_server import create_app
from chat_text_server.engine import MODELS
from chat_text_server.testing import running_server

from .target import Target

__all__ = ["DEFAULT_MODEL", "embedded"]

DEFAULT_MODEL = "chat-text-mini"
"""The reference model the default run uses: its small window exercises max_tokens lowering
and prompt_too_long."""


@contextmanager
def embedded(
    model: str = DEFAULT_MODEL, *, request_timeout: float = 10.0, in_process: bool = True
) -> Iterator[Target]:
    """Start the reference server on ``127.0.0.1`` (free port) and yield a :class:`Target` for it.

    With ``in_process`` the target also carries the ASGI app, so the schemathesis part calls it
    directly (about twice as fast, see ``scripts/bench_conformance.py``); the pre-flight and
    the properties (streaming included) always go over the loopback port. The server stops
    when the block ends. Raises ``LookupError`` for a model the reference server does not serve.
    """
    if model not in MODELS:
        raise LookupError(f"the reference server has no model {model!r} (it has {sorted(MODELS)})")
    token = secrets.token_urlsafe(24)
    app = create_app([token])
    with running_server(app) as base_url:
        # Tests send deliberately malformed HTTP; uvicorn (which configures its loggers when
        # the server starts) would log a warning for each.
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        yield Target(
            base_url=base_url,
            token=token,
            model=model,
            context_length=_context_length(MODELS[model]),
            request_timeout=request_timeout,
            app=app if in_process else None,
        )


def _context_length(entry: object) -> int | None:
    if isinstance(entry, int):
        return entry
    value = getattr(entry, "context_length", None)
    return value if isinstance(value, int) else None
