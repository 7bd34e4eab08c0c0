"""``run()``: one conformance run against one target, at one level."""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from .. import checks
from .._internals import without_local_constants
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
    started = time.monotonic()
    base_url, url_note = base_url_of(target.base_url)
    if base_url != target.base_url:
        target = dataclasses.replace(target, base_url=base_url)
    app = app if app is not None else target.app
    pacer = pacer_for(
        workers,
        in_process=app is not None,
        max_rate=max_rate,
        max_wait=max_wait,
        deadline=None if max_time is None else started + 2 * max_time,
    )
    state = _Run(
        target, level, max_examples, seed, progress, max_time, app, fail_fast, pacer, started
    )
    state.open_report(workers, max_requests, max_tokens)
    if url_note is not None:
        state.report.notes.append(url_note)
        state.say(url_note)
    if not state.preflight():
        return state.report
    probed_auth = auth_probes(target, state.context, level, state.meter, pacer)
    state.prepare(max_requests, max_tokens)
    # every draw of the run (schemathesis's engines and the properties, in whatever threads)
    # without the string and number literals hypothesis finds in the process's *local* modules:
    # those depend on how the package is installed (editable or not) and on what the caller's
    # own files contain, and a hook switched on and off by one thread changed another's draws
    with without_local_constants():
        outcome, found = state.both_parts()
    state.collect(outcome, found, probed_auth)
    return state.report


@dataclasses.dataclass
class _Run:
    """One run's settings and what it has gathered, step by step (:func:`run`)."""

    target: Target
    level: Level
    max_examples: int
    seed: int | None
    progress: Callable[[str], None] | None
    max_time: float | None
    app: Any
    fail_fast: bool
    pacer: Pacer
    started: float
    report: RunReport = dataclasses.field(init=False)
    meter: Meter = dataclasses.field(init=False)
    context: checks.RunContext = dataclasses.field(init=False)
    prepared: Any = None

    @property
    def threads(self) -> int:
        return self.pacer.ceiling

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def open_report(
        self, workers: Workers, max_requests: int | None, max_tokens: int | None
    ) -> None:
        """The report, the meter (budgets) and the spec coverage the run fills."""
        target = self.target
        self.report = RunReport(
            target=f"{target.base_url} model={target.model}",
            level=self.level.value,
            seed=self.seed,
            max_examples=self.max_examples,
            base_url=target.base_url,
            model=target.model,
            workers=workers,
            context_length=target.context_length,
            started_at=time.time(),
        )
        self.report.pacing = self.pacer.stats
        coverage = SpecCoverage()
        self.meter = Meter(max_requests, max_tokens, observers=(coverage.observe,))
        self.report.cost = self.meter.cost
        self.report.coverage = coverage
        self.context = checks.RunContext(
            context_length=target.context_length, token=target.token, model=target.model
        )

    def preflight(self) -> bool:
        """One valid request first: ``False`` (the report says why) when the target is not one
        the suite can judge."""
        target = self.target
        self.say(f"pre-flight: one valid request to {target.base_url} (model {target.model})")
        probed = preflight(target, self.meter, self.pacer)
        self.report.results.append(probed.result)
        if probed.setup_error is None:
            return True
        self.report.setup_error = probed.setup_error
        self.report.duration = time.monotonic() - self.started
        self.say(f"pre-flight failed: {probed.setup_error}")
        return False

    def prepare(self, max_requests: int | None, max_tokens: int | None) -> None:
        """schemathesis's engines built (its import is start-up, not test time) and its share
        of the budgets set."""
        self.say(
            f"schemathesis: all phases, max {self.max_examples} example(s) per phase, seed "
            f"{self.seed}, {'adaptive, at most ' if self.pacer.adaptive else ''}{self.threads} "
            "request(s) in flight"
        )
        importlib.import_module("schemathesis")
        budgeted = max_requests is not None or max_tokens is not None
        self.prepared = prepare_schemathesis(
            self.target,
            self.level,
            max_examples=self.max_examples,
            seed=self.seed,
            context=self.context,
            app=self.app,
            meter=self.meter,
            fail_fast=self.fail_fast,
            pacer=self.pacer,
            workers=self.threads,
            split=not budgeted,
        )
        if budgeted:
            self.meter.limit(
                "schemathesis",
                None if max_requests is None else int(max_requests * SCHEMATHESIS_SHARE),
                None if max_tokens is None else int(max_tokens * SCHEMATHESIS_SHARE),
            )

    def schemathesis_part(self) -> SchemathesisOutcome:
        began = time.monotonic()
        found = run_schemathesis(
            self.target,
            self.level,
            max_examples=self.max_examples,
            seed=self.seed,
            context=self.context,
            max_time=self.max_time,
            app=self.app,
            workers=self.threads,
            progress=self.progress,
            prepared=self.prepared,
        )
        self.report.schemathesis_seconds = time.monotonic() - began
        return found

    def properties_part(self) -> PropertyOutcome:
        if self.level is Level.SCHEMA:
            return PropertyOutcome()
        self.say(f"properties: targeted hypothesis properties ({self.level.value} level)")

        def on_result(item: CheckResult) -> None:
            self.say(f"property {item.name}: {item.verdict} ({item.passed} passed)")

        return run_properties(
            self.target,
            self.level,
            max_examples=self.max_examples,
            seed=self.seed,
            time_budget=self.max_time,
            on_result=on_result,
            workers=self.threads,
            context=self.context,
            meter=self.meter,
            fail_fast=self.fail_fast,
            pacer=self.pacer,
        )

    def both_parts(self) -> tuple[SchemathesisOutcome, PropertyOutcome]:
        """schemathesis and the properties: one after the other (fail fast: the properties
        only if schemathesis found nothing), or side by side when requests may overlap (a slow
        server's latency overlaps)."""
        if self.fail_fast:
            return self._fail_fast()
        if self.threads > 1:
            with ThreadPoolExecutor(max_workers=2) as pool:
                pending = pool.submit(self.schemathesis_part)
                found = self.properties_part()
                return pending.result(), found
        outcome = self.schemathesis_part()
        return outcome, self.properties_part()

    def _fail_fast(self) -> tuple[SchemathesisOutcome, PropertyOutcome]:
        outcome = self.schemathesis_part()
        if any(result.failed for result in outcome.results.values()):
            if self.level is not Level.SCHEMA:
                outcome.notes.append("fail fast: the properties were not run")
            return outcome, PropertyOutcome()
        found = self.properties_part()
        if any(not r.ok for r in found.properties) or any(
            not r.ok for r in found.responses.values()
        ):
            outcome.notes.append(
                "fail fast: the properties stopped at the first that failed (those after "
                "it were not run)"
            )
        return outcome, found

    def collect(
        self,
        outcome: SchemathesisOutcome,
        found: PropertyOutcome,
        probed_auth: dict[str, CheckResult],
    ) -> None:
        """Every rule's result in catalogue order, the notes, the cost's unexercised rules."""
        report = self.report
        report.cases = outcome.cases
        report.notes.extend(outcome.notes)
        results = dict(outcome.results)
        for extra in (probed_auth, found.responses):
            for name, result in extra.items():
                if name in results:
                    results[name].merge(result)
                else:
                    results[name] = result
        if self.target.context_length is None and self.level is not Level.SCHEMA:
            report.notes.append(
                "the context length is unknown: the window-dependent rules were not exercised "
                "(give --context-length)"
            )
        report.results.extend(_ordered(results, self.level))
        report.results.extend(found.properties)
        report.notes.extend(self.context.contradictions())
        self.meter.cost.note_unexercised(
            report.results, any("budget was spent" in note for note in outcome.notes)
        )
        report.duration = time.monotonic() - self.started
        self.say(
            f"done in {report.duration:.1f}s: {report.cases} schemathesis request(s); rules: "
            f"{report.passed} passed, {report.failed} failed, {report.not_exercised} not "
            f"exercised, {report.inconclusive} inconclusive"
        )
