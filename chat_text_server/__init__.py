"""chat-text reference server: ``POST /inference/chat_text`` as ``openapi.yaml`` defines it.

* :func:`create_app` — the ASGI app factory (tests, the conformance suite, ``uvicorn``).
* :mod:`chat_text_server.engine` — the deterministic tokenizer and "model".
* :func:`chat_text_server.testing.running_server` — a real server on a free port.
* ``chat-text-server`` — the command line (:mod:`chat_text_server.cli`).
"""

from .app import create_app
from .engine import MODELS, PromptTooLong
from .errors import ApiError

__all__ = ["MODELS", "ApiError", "PromptTooLong", "create_app"]
