"""``run()``: one conformance run against one target, at one level."""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from .. import checks
from ..checks.builtins import PREFLIGHT
from ..properties import PropertyOutcome, run_properties
from ..reporting.coverage import SpecCoverage
from ..reporting.results import CheckResult, RunReport
from .cost import SCHEMATHESIS_SHARE, Meter
from .pacing import AUTO_CEILING, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_WAIT, Pacer
from .probe import auth_probes, base_url_of, preflight
from .schemathesis_adapter import SchemathesisOutcome, prepare_schemathesis, run_schemathesis
from .target import Level, Target

__all__ = ["PREFLIGHT_CHECK", "Workers", "preflight", "run"]

PREFLIGHT_CHECK = PREFLIGHT
"""Name of the first check: one valid request, answered 2xx with the given token and model."""

Workers = int | Literal["auto"]
"""Requests in flight: a number (at most that many), or ``"auto"``: adaptive, starting at
:data:`~chat_text_conformance.engine.pacing.DEFAULT_MAX_IN_FLIGHT`, halved on busy answers, grown by
one per round answered without one up to :data:`~chat_text_conformance.engine.pacing.AUTO_CEILING`
(one at a time against a target called in-process, where nothing waits to overlap)."""


def pacer_for(
    workers: Workers,
    *,
    in_process: bool = False,
    max_rate: float | None = None,
    max_wait: float = DEFAULT_MAX_WAIT,
    deadline: float | None = None,
) -> Pacer:
    """The run's pacer for ``workers`` (see :data:`Workers`)."""
    start = None
    if workers == "auto":
        ceiling, adaptive = (1, False) if in_process else (AUTO_CEILING, True)
        start = None if in_process else DEFAULT_MAX_IN_FLIGHT
    else:
        ceiling, adaptive = max(1, int(workers)), False
    return Pacer(
        max_in_flight=ceiling,
        start_in_flight=start,
        adaptive=adaptive,
        max_rate=max_rate,
        max_wait=max_wait,
        deadline=deadline,
    )


def _ordered(results: dict[str, CheckResult], level: Level) -> list[CheckResult]:
    """Every rule of ``level`` in catalogue order (rules that never ran: not exercised), then
    anything else that was reported (``after_run``)."""
    ordered: list[CheckResult] = []
    for rule in checks.catalogue(level=level):
        if rule.kind in ("client", "property") or rule.id == PREFLIGHT_CHECK:
            continue
        group = "response" if rule.kind == "response" else "schema"
        entry = results.pop(rule.id, None) or CheckResult(rule.id, group)
        ordered.append(entry)
    ordered.extend(sorted(results.values(), key=lambda r: r.name))
    return ordered


def run(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    progress: Callable[[str], None] | None = None,
    max_time: float | None = None,
    app: Any = None,
    workers: Workers = 1,
    max_requests: int | None = None,
    max_tokens: int | None = None,
    fail_fast: bool = False,
    max_rate: float | None = None,
    max_wait: float = DEFAULT_MAX_WAIT,
) -> RunReport:
    """Run the conformance suite against ``target``.

    * every level: one pre-flight request, then schemathesis (examples, coverage and fuzzing
      phases, positive and negative data, all built-in checks, model pinned to
      ``target.model``, spec examples included);
    * ``semantic`` and ``strict``: the per-response rules on every response (schemathesis's
      and the properties'), then the targeted properties (``strict`` adds those that assume
      determinism at temperature 0).

    ``max_time`` bounds the schemathesis part and, separately, the properties, in seconds;
    ``app`` (an ASGI app; default ``target.app``) sends the schemathesis part in-process
    instead of over HTTP; ``workers`` requests are in flight at a time (:data:`Workers`;
    ``max_rate``: at most that many per second; busy answers are waited out within ``max_wait``
    seconds in all, see :mod:`chat_text_conformance.engine.pacing`). ``max_requests`` and
    ``max_tokens`` are budgets (see :mod:`chat_text_conformance.engine.cost` for how they are
    divided); the report's ``cost`` says what was spent. ``fail_fast`` stops the run at its first
    failed check: schemathesis first, then the properties only if it found nothing (one part
    after the other, whatever ``workers``); the report says what was not run.
    """
    level = Level(level)

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    started = time.monotonic()
    base_url, url_note = base_url_of(target.base_url)
    if base_url != target.base_url:
        target = dataclasses.replace(target, base_url=base_url)
    in_process = (app if app is not None else target.app) is not None
    pacer = pacer_for(
        workers,
        in_process=in_process,
        max_rate=max_rate,
        max_wait=max_wait,
        deadline=None if max_time is None else started + 2 * max_time,
    )
    threads = pacer.ceiling
    report = RunReport(
        target=f"{target.base_url} model={target.model}",
        level=level.value,
        seed=seed,
        max_examples=max_examples,
        base_url=target.base_url,
        model=target.model,
        workers=workers,
        context_length=target.context_length,
        started_at=time.time(),
    )
    report.pacing = pacer.stats
    if url_note is not None:
        report.notes.append(url_note)
        say(url_note)
    coverage = SpecCoverage()
    meter = Meter(max_requests, max_tokens, observers=(coverage.observe,))
    report.cost = meter.cost
    report.coverage = coverage
    say(f"pre-flight: one valid request to {target.base_url} (model {target.model})")
    probed = preflight(target, meter, pacer)
    report.results.append(probed.result)
    setup_error = probed.setup_error
    if setup_error is not None:
        report.setup_error = setup_error
        report.duration = time.monotonic() - started
        say(f"pre-flight failed: {setup_error}")
        return report

    context = checks.RunContext(
        context_length=target.context_length, token=target.token, model=target.model
    )
    probed_auth = auth_probes(target, context, level, meter, pacer)
    say(
        f"schemathesis: all phases, max {max_examples} example(s) per phase, seed {seed}, "
        f"{'adaptive, at most ' if pacer.adaptive else ''}{threads} request(s) in flight"
    )
    importlib.import_module("schemathesis")  # its import is start-up, not test time

    prepared = prepare_schemathesis(
        target,
        level,
        max_examples=max_examples,
        seed=seed,
        context=context,
        app=app if app is not None else target.app,
        meter=meter,
        fail_fast=fail_fast,
        pacer=pacer,
        workers=threads,
        split=max_requests is None and max_tokens is None,
    )
    if max_requests is not None or max_tokens is not None:
        meter.limit(
            "schemathesis",
            None if max_requests is None else int(max_requests * SCHEMATHESIS_SHARE),
            None if max_tokens is None else int(max_tokens * SCHEMATHESIS_SHARE),
        )

    def schemathesis_part() -> SchemathesisOutcome:
        began = time.monotonic()
        found = run_schemathesis(
            target,
            level,
            max_examples=max_examples,
            seed=seed,
            context=context,
            max_time=max_time,
            app=app if app is not None else target.app,
            workers=threads,
            progress=progress,
            prepared=prepared,
        )
        report.schemathesis_seconds = time.monotonic() - began
        return found

    def properties_part() -> PropertyOutcome:
        if level is Level.SCHEMA:
            return PropertyOutcome()
        say(f"properties: targeted hypothesis properties ({level.value} level)")

        def on_result(item: CheckResult) -> None:
            say(f"property {item.name}: {item.verdict} ({item.passed} passed)")

        return run_properties(
            target,
            level,
            max_examples=max_examples,
            seed=seed,
            time_budget=max_time,
            on_result=on_result,
            workers=threads,
            context=context,
            meter=meter,
            fail_fast=fail_fast,
            pacer=pacer,
        )

    if fail_fast:
        outcome = schemathesis_part()
        if any(result.failed for result in outcome.results.values()):
            found = PropertyOutcome()
            if level is not Level.SCHEMA:
                outcome.notes.append("fail fast: the properties were not run")
        else:
            found = properties_part()
            if any(not r.ok for r in found.properties) or any(
                not r.ok for r in found.responses.values()
            ):
                outcome.notes.append(
                    "fail fast: the properties stopped at the first that failed (those after "
                    "it were not run)"
                )
    elif threads > 1:
        # independent parts: a slow server's latency overlaps
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = pool.submit(schemathesis_part)
            found = properties_part()
            outcome = pending.result()
    else:
        outcome = schemathesis_part()
        found = properties_part()
    report.cases = outcome.cases
    report.notes.extend(outcome.notes)
    results = dict(outcome.results)
    properties = found.properties
    for name, extra in probed_auth.items():
        if name in results:
            results[name].merge(extra)
        else:
            results[name] = extra
    for name, extra in found.responses.items():
        if name in results:
            results[name].merge(extra)
        else:
            results[name] = extra
    if target.context_length is None and level is not Level.SCHEMA:
        report.notes.append(
            "the context length is unknown: the window-dependent rules were not exercised "
            "(give --context-length)"
        )
    report.results.extend(_ordered(results, level))
    report.results.extend(properties)
    report.notes.extend(context.contradictions())
    meter.cost.note_unexercised(
        report.results, any("budget was spent" in note for note in outcome.notes)
    )
    report.duration = time.monotonic() - started
    say(
        f"done in {report.duration:.1f}s: {report.cases} schemathesis request(s); rules: "
        f"{report.passed} passed, {report.failed} failed, {report.not_exercised} not exercised, "
        f"{report.inconclusive} inconclusive"
    )
    return report
