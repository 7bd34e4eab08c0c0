"""chat-text conformance suite: checks any server of ``POST /inference/chat_text`` (and the
client) against ``openapi.yaml`` and the LLM promises no schema can express.

Public face::

    from chat_text_conformance import Level, Target, run, embedded

    with embedded() as target:
        report = run(target, Level.SEMANTIC, max_examples=20, seed=1)
    assert report.ok
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .embedded import embedded
    from .results import CheckResult, Failure, RunReport
    from .runner import run
    from .target import Level, Target

__all__ = ["CheckResult", "Failure", "Level", "RunReport", "Target", "embedded", "run"]

# Imported on first use: a command or a driver that needs one part of the package (the
# cross-language drivers, the proxy, --help) does not pay for schemathesis and hypothesis.
_LAZY = {
    "embedded": ".embedded",
    "CheckResult": ".results",
    "Failure": ".results",
    "RunReport": ".results",
    "run": ".runner",
    "Level": ".target",
    "Target": ".target",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
