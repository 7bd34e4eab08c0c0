"""schemathesis hooks for ``scripts/fuzz_server.py`` (loaded by module name, not by pytest;
test support: installed with ``testkit/``, never shipped).

``map_case`` pins the generated ``model`` to a model the reference server has, alternating
between ``$FUZZ_SERVER_MODELS`` (comma-separated; default: every built-in model), so that
positive cases reach the engine instead of being answered 404. A model value that is itself
the invalid part of a negative case (not a string, or outside the spec's length bounds) is
left alone, so the case stays negative. (The coverage phase ignores ``map_body``: only
``map_case`` sees every case.)
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import schemathesis

import chat_text_spec
from chat_text_server.engine import MODELS

_BOUNDS = chat_text_spec.field_bounds("model")
_MODELS = [m.strip() for m in os.environ.get("FUZZ_SERVER_MODELS", "").split(",") if m.strip()]
_CYCLE = itertools.cycle(_MODELS or list(MODELS))


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    body = case.body
    if isinstance(body, dict) and "model" in body:
        model = body["model"]
        low, high = _BOUNDS.get("minLength", 0), _BOUNDS.get("maxLength", len(str(model)))
        if isinstance(model, str) and low <= len(model) <= high:
            body["model"] = next(_CYCLE)
    return case


_STATS = os.environ.get("FUZZ_SERVER_STATS")


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Append each status code to ``$FUZZ_SERVER_STATS`` (one per line), when set."""
    if _STATS:
        with open(_STATS, "a", encoding="ascii") as fh:
            fh.write(f"{response.status_code}\n")
