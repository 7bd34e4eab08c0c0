"""Targeted properties of a chat-text server: the LLM promises no single response shows.

Each property drives purpose-built requests (conversations, limits and field values drawn with
hypothesis or derived from the spec) and compares the answers *with each other*; every reply is
also judged by the per-response rules (see :mod:`..engine.harness`). Modules by theme:

* :mod:`.prompt`: truncation to prompt_truncate_len, prompt token counting;
* :mod:`.context`: max_tokens lowered to fit, the window's edge, prompt_too_long;
* :mod:`.fields`: null ≡ omitted ≡ default; (strict) finish_reason when max_tokens cuts;
* :mod:`.validation`: auth, invalid values, boundary values;
* :mod:`.streaming`: stream vs plain answer; (strict) determinism at temperature 0.

Entry point: :func:`run_properties`. It never raises for anything the server does (hangs,
resets, garbage): such things become failures. Requests time out after
``target.request_timeout`` seconds; after a few transport failures in a row the server is
considered down and the remaining examples are skipped (one failure per property says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import checks
from ..engine.cost import Meter
from ..engine.pacing import Pacer
from ..engine.target import Level, Target
from ..reporting.results import CheckResult, Failure

# isort: off
# importing a theme declares its properties, in report order
from . import prompt, context as window, fields, validation, streaming  # noqa: F401

# isort: on
from ..engine.harness import (
    GROUP,
    Inconclusive,
    Ledger,
    NotExercised,
    OutOfTime,
    Property,
    PropertyRun,
    ServerDown,
    Session,
    Violation,
    _Reported,
)

__all__ = ["Property", "PropertyOutcome", "run_properties"]


@dataclass
class PropertyOutcome:
    """The properties' results, and the per-response rules' results on their traffic."""

    properties: list[CheckResult] = field(default_factory=list)
    responses: dict[str, CheckResult] = field(default_factory=dict)
    requests: int = 0


def run_properties(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    time_budget: float | None = None,
    only: Sequence[str] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    fail_fast: bool = False,
    workers: int = 1,
    context: checks.RunContext | None = None,
    meter: Meter | None = None,
    pacer: Pacer | None = None,
) -> PropertyOutcome:
    """Run every property of ``level`` (none at the schema level) against ``target``.

    ``max_examples`` is the hypothesis budget of each property (some use a fraction of it,
    some add a fixed set of cases derived from the spec); ``seed`` makes the run reproducible.
    ``time_budget`` (seconds) stops sending requests once spent, reporting what was left
    unchecked as a failure. ``only`` restricts the run to the named properties. ``on_result``
    is called after each property (for progress output). ``fail_fast`` stops after the first
    property (or per-response rule) that fails. ``workers`` requests are sent at a time.
    ``context`` is the run's shared rule state (unique ids across the whole run); ``meter``
    counts what is spent and holds each property to its share of the budget (see
    :mod:`chat_text_conformance.engine.cost`); ``pacer`` paces what is sent (default: ``workers`` in
    flight, busy answers waited out).
    """
    outcome = PropertyOutcome()
    if level is Level.SCHEMA:
        return outcome
    if context is None:
        context = checks.RunContext(
            context_length=target.context_length, token=target.token, model=target.model
        )
    selected = _selected(level, only)
    deadline = None if time_budget is None else time.monotonic() + time_budget
    session = Session(target, deadline, workers=workers, meter=meter, pacer=pacer)
    ledger = Ledger(level, target.base_url)

    def start(item: Property) -> PropertyRun:
        run = PropertyRun(
            target, level, max(1, max_examples), seed, session, ledger, context, workers
        )
        run.result = CheckResult(item.name, GROUP)
        return run

    budgeted = meter is not None and meter.left() != (None, None)
    if workers > 1 and not fail_fast and not budgeted:
        # independent properties side by side: a slow server's waits overlap (what is in
        # flight stays within the pacer's limit; inputs they share are built once, locked)
        try:
            outcome.properties = _side_by_side(selected, start, on_result)
        finally:
            session.close()
        outcome.responses = ledger.results
        outcome.requests = session.sent
        return outcome
    try:
        outcome.properties = _one_after_another(
            selected, start, meter, on_result, ledger if fail_fast else None
        )
    finally:
        session.close()
    outcome.responses = ledger.results
    outcome.requests = session.sent
    return outcome


def _selected(level: Level, only: Sequence[str] | None) -> list[Property]:
    """The properties of ``level`` (or those of them named in ``only``), in catalogue order:
    each is its rule of the catalogue (kind ``property``) and the code the rule carries."""
    return [
        Property(rule.id, rule.level, rule.check, rule.statement)
        for rule in checks.catalogue(kind="property", level=level)
        if rule.check is not None and (only is None or rule.id in only)
    ]


def _one_after_another(
    selected: Sequence[Property],
    start: Callable[[Property], PropertyRun],
    meter: Meter | None,
    on_result: Callable[[CheckResult], None] | None,
    fail_fast: Ledger | None,
) -> list[CheckResult]:
    """Each property in turn, held to an equal part of what is left of the budget (a cheap
    property leaves more to the next); with ``fail_fast`` (the run's ledger), stop after the
    first property or per-response rule that fails."""
    results: list[CheckResult] = []
    for position, item in enumerate(selected):
        if meter is not None:
            requests, tokens = meter.left()
            still = len(selected) - position
            meter.limit(
                f"property {item.name}",
                None if requests is None else requests // still,
                None if tokens is None else tokens // still,
            )
        run = start(item)
        _run_one(run, item)
        results.append(run.result)
        if on_result is not None:
            on_result(run.result)
        if fail_fast is not None and (
            not run.result.ok or any(not r.ok for r in fail_fast.results.values())
        ):
            break
    return results


def _side_by_side(
    selected: Sequence[Property],
    start: Callable[[Property], PropertyRun],
    on_result: Callable[[CheckResult], None] | None,
) -> list[CheckResult]:
    """Run every property at once, each in its own thread; the results in catalogue order."""
    runs = [start(item) for item in selected]

    def one(pair: tuple[PropertyRun, Property]) -> None:
        run, item = pair
        _run_one(run, item)
        if on_result is not None:
            on_result(run.result)

    with ThreadPoolExecutor(max_workers=max(1, len(runs))) as pool:
        list(pool.map(one, zip(runs, selected, strict=True)))
    return [run.result for run in runs]


def _run_one(run: PropertyRun, item: Property) -> None:
    try:
        with run.batch():
            item.run(run)
    except Violation as violation:  # raised while measuring what every example shares
        run.fail(violation)
    except NotExercised as reason:  # raised while building what every example shares
        run.result.record_not_exercised(reason.reason)
    except Inconclusive as reason:
        run.result.record_inconclusive(reason.reason)
    except _Reported as blocked:
        run.result.record_not_exercised(blocked.reason)
    except ServerDown as exc:
        run.result.record_failure(
            Failure(
                check=item.name,
                message="the server stopped answering; the rest of this property was not checked",
                expected="an HTTP response to every request",
                actual=str(exc),
            )
        )
    except OutOfTime:
        run.result.note = "the time budget ran out; the rest of this property was not checked"
        run.result.record_inconclusive("the run's time budget (--max-time) ran out")
    except Exception as exc:  # a bug in a property must not hide the other results
        run.result.record_failure(
            Failure(
                check=item.name,
                message=f"the property could not be evaluated: {type(exc).__name__}: {exc}",
            )
        )
