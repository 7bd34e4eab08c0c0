"""``run()``: one conformance run against one target, at one level."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

import chat_text_spec

from . import checks
from .checks.builtins import PREFLIGHT
from .cost import SCHEMATHESIS_SHARE, Meter
from .coverage import SpecCoverage
from .properties import PropertyOutcome, run_properties
from .reproducer import curl_command
from .results import CheckResult, Failure, RequestRecord, RunReport, redact_token
from .schemathesis_adapter import SchemathesisOutcome, prepare_schemathesis, run_schemathesis
from .target import Level, Target, tls_context

__all__ = ["PREFLIGHT_CHECK", "preflight", "run"]

PREFLIGHT_CHECK = PREFLIGHT
"""Name of the first check: one valid request, answered 2xx with the given token and model."""


def _minimal_body(model: str) -> dict[str, Any]:
    """The spec's first request example, pinned to ``model``."""
    body_spec = chat_text_spec.resolve(chat_text_spec.operation()["requestBody"])
    examples = body_spec["content"]["application/json"].get("examples", {})
    for example in examples.values():
        value = chat_text_spec.resolve(example).get("value")
        if isinstance(value, dict) and not value.get("stream"):
            return {**value, "model": model}
    raise ValueError("the spec has no non-streaming request example to use as a pre-flight")


def preflight(target: Target, meter: Meter | None = None) -> tuple[CheckResult, str | None]:
    """Send one valid request; a set-up problem (unreachable, token or model refused) is returned
    as a message so the run stops early instead of reporting hundreds of identical failures."""
    import json

    result = CheckResult(name=PREFLIGHT_CHECK, group="schema")
    body = _minimal_body(target.model)
    url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"}
    payload = json.dumps(body).encode()
    record = RequestRecord.build(
        "POST", chat_text_spec.OPERATION_PATH, headers, payload, target.token
    )
    reproducer = curl_command(target.base_url, record)

    def fail(message: str, expected: str, actual: str) -> tuple[CheckResult, str]:
        result.record_failure(
            Failure(
                PREFLIGHT_CHECK,
                message,
                expected=expected,
                actual=actual,
                reproducer=reproducer,
                request=record,
            )
        )
        return result, message

    try:
        response = httpx.post(
            url,
            content=payload,
            headers=headers,
            timeout=target.request_timeout,
            verify=tls_context(),
        )
    except httpx.TimeoutException:
        return fail(
            f"{url} did not answer within {target.request_timeout:g}s",
            "an HTTP response",
            "timeout",
        )
    except httpx.HTTPError as exc:
        reason = redact_token(str(exc), target.token) or type(exc).__name__
        return fail(f"cannot reach {url}: {reason}", "an HTTP response", type(exc).__name__)
    status = response.status_code
    if meter is not None:
        meter.record(
            request_bytes=len(payload),
            status=status,
            content_type=response.headers.get("content-type", ""),
            body=response.content,
            phase="pre-flight",
            request=body,
            headers=response.headers.items(),
        )
    text = redact_token(response.text[:300], target.token)
    if status in (401, 403):
        return fail(
            f"the server rejected the token (HTTP {status}); check --token / CHAT_TEXT_TOKEN",
            "HTTP 2xx for a valid request with the given token",
            f"HTTP {status}: {text}",
        )
    if status == 404:
        return fail(
            f"the server does not serve model {target.model!r} (HTTP 404); check --model",
            "HTTP 2xx for a valid request to the given model",
            f"HTTP 404: {text}",
        )
    if not 200 <= status < 300:
        result.record_failure(
            Failure(
                PREFLIGHT_CHECK,
                f"a minimal valid request was answered HTTP {status}",
                expected="HTTP 2xx",
                actual=f"HTTP {status}: {text}",
                reproducer=reproducer,
                request=record,
            )
        )
        return result, None
    result.record_pass()
    return result, None


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
    workers: int = 1,
    max_requests: int | None = None,
    max_tokens: int | None = None,
    fail_fast: bool = False,
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
    instead of over HTTP; ``workers`` requests are in flight at a time. ``max_requests`` and
    ``max_tokens`` are budgets (see :mod:`chat_text_conformance.cost` for how they are
    divided); the report's ``cost`` says what was spent. ``fail_fast`` stops the run at its first
    failed check: schemathesis first, then the properties only if it found nothing (one part
    after the other, whatever ``workers``); the report says what was not run.
    """
    level = Level(level)

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    started = time.monotonic()
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
    coverage = SpecCoverage()
    meter = Meter(max_requests, max_tokens, observers=(coverage.observe,))
    report.cost = meter.cost
    report.coverage = coverage
    say(f"pre-flight: one valid request to {target.base_url} (model {target.model})")
    result, setup_error = preflight(target, meter)
    report.results.append(result)
    if setup_error is not None:
        report.setup_error = setup_error
        report.duration = time.monotonic() - started
        say(f"pre-flight failed: {setup_error}")
        return report

    context = checks.RunContext(context_length=target.context_length, token=target.token)
    say(
        f"schemathesis: all phases, max {max_examples} example(s) per phase, seed {seed}, "
        f"{workers} worker(s)"
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
            workers=workers,
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
            workers=workers,
            context=context,
            meter=meter,
            fail_fast=fail_fast,
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
    elif workers > 1:
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
    report.duration = time.monotonic() - started
    say(
        f"done in {report.duration:.1f}s: {report.cases} schemathesis request(s), "
        f"{report.passed} check(s) passed, {report.failed} failed"
    )
    return report
