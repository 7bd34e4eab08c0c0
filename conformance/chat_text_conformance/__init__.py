"""chat-text conformance suite: checks any server of ``POST /inference/chat_text`` (and the
client) against ``openapi.yaml`` and the LLM promises no schema can express.

Public face::

    from chat_text_conformance import Level, Target, run, embedded

    with embedded() as target:
        report = run(target, Level.SEMANTIC, max_examples=20, seed=1)
    assert report.ok
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .engine.embedded import embedded
    from .engine.runner import run
    from .engine.target import Level, Target
    from .reporting.results import CheckResult, Failure, RunReport

__all__ = ["CheckResult", "Failure", "Level", "RunReport", "Target", "embedded", "run"]

# Imported on first use (cheap start for the commands and drivers that need one part).
__getattr__ = lazy_exports(
    __name__,
    {
        "embedded": ".engine.embedded",
        "CheckResult": ".reporting.results",
        "Failure": ".reporting.results",
        "RunReport": ".reporting.results",
        "run": ".engine.runner",
        "Level": ".engine.target",
        "Target": ".engine.target",
    },
)
