"""schemathesis hooks for ``st run openapi.yaml --url ...`` against a chat-text server.

Loaded by the repository's ``schemathesis.toml`` (``hooks = "chat_text_conformance.st_hooks"``).
It makes a plain ``st run`` apply the suite's rules:

* the per-response rules (:mod:`chat_text_conformance.checks`) are registered as
  custom checks, so they run on every response next to the built-in ones;
* every generated request is pinned to ``$CHAT_TEXT_MODEL`` (default: the model of the spec's
  first request example) through ``map_case`` (the coverage phase ignores ``map_body``);
* the stream response schema is read per event, and the spec's request examples name
  ``$CHAT_TEXT_MODEL`` (see :func:`engine.spec.adapt_spec`);
* a valid request refused for a documented reason (``400 prompt_too_long``, ``413``) is not a
  ``positive_data_acceptance`` failure;
* ``$CHAT_TEXT_API_KEY`` (or its old name ``$CHAT_TEXT_TOKEN``), when set, is sent as the
  bearer token (or pass
  ``-H "Authorization: Bearer ..."``); ``$CHAT_TEXT_CONTEXT_LENGTH`` enables the checks that need
  the model's context window.

The hooks step aside for a schema that has its own ``map_case`` hook (the suite's runner) and
for operations other than ``POST /inference/chat_text`` (this file is found by any schemathesis
loader started in the repository).
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

import chat_text_spec

from . import checks
from ._internals import RejectedPositiveData
from .checks.builtins import documented_refusal
from .engine.schemathesis_adapter import SchemathesisRun, register_checks
from .engine.spec import ADAPTED_MARK, adapt_spec, pin_model
from .engine.target import TOKEN_ENV, token_from_env

__all__ = ["MODEL_ENV", "TOKEN_ENV", "default_model"]

MODEL_ENV = "CHAT_TEXT_MODEL"
CONTEXT_LENGTH_ENV = "CHAT_TEXT_CONTEXT_LENGTH"


def default_model() -> str:
    """``$CHAT_TEXT_MODEL``, else the model of the spec's first request example."""
    configured = os.environ.get(MODEL_ENV)
    if configured:
        return configured
    body = chat_text_spec.resolve(chat_text_spec.operation()["requestBody"])
    for example in body["content"]["application/json"].get("examples", {}).values():
        value = chat_text_spec.resolve(example).get("value")
        if isinstance(value, dict) and isinstance(value.get("model"), str):
            return str(value["model"])
    raise LookupError(f"set ${MODEL_ENV}: the spec has no request example naming a model")


def _context_length() -> int | None:
    raw = os.environ.get(CONTEXT_LENGTH_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def _new_run() -> SchemathesisRun:
    """The rules' state for a schema loaded by ``st run`` (one per loaded schema)."""
    context = checks.RunContext(
        context_length=_context_length(), token=token_from_env(notice=lambda _: None)
    )
    return SchemathesisRun(context=context, level=checks.Level.SEMANTIC)


register_checks(fallback=_new_run, builtins=False)  # st run keeps its own built-ins


def _schema_has_own(context: Any, name: str) -> bool:
    operation = getattr(context, "operation", None)
    hooks = getattr(getattr(operation, "schema", None), "hooks", None)
    return bool(hooks is not None and hooks.defines(name))


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    if raw_schema.get(ADAPTED_MARK):
        return  # the suite's own runner adapted it already, for its own model
    adapted = adapt_spec(raw_schema, default_model())
    raw_schema.clear()
    raw_schema.update(adapted)


def _is_chat_text(context: Any) -> bool:
    """Only the real operation: other schemas loaded in the same process (the client checks'
    synthetic operations) are left alone."""
    operation = getattr(context, "operation", None)
    return getattr(operation, "path", None) == chat_text_spec.OPERATION_PATH


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if _is_chat_text(context) and not _schema_has_own(context, "map_case"):
        case.body = pin_model(case.body, default_model())
    return case


def _error_code(response: Any) -> str | None:
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    return code if isinstance(code, str) else None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """schemathesis's own positive_data_acceptance runs in ``st run``: a refusal the documents
    allow (the rule's own exceptions, ``checks.builtins.documented_refusal``) is not one."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    status = int(getattr(response, "status_code", 0))
    why = documented_refusal(status, _error_code(response), case.body, _context_length())
    return why is None


if token_from_env(notice=lambda _: None):

    @schemathesis.auth()
    class _EnvBearerToken:
        """Sends ``$CHAT_TEXT_API_KEY`` as ``Authorization: Bearer ...``."""

        def get(self, case: Any, context: Any) -> str:
            return token_from_env(notice=lambda _: None) or ""

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"
