"""``run()``: one conformance run against one target, at one level."""

from __future__ import annotations

import importlib
import json
import shlex
import time
from collections.abc import Callable
from typing import Any

import httpx

import chat_text_spec

from . import response_checks
from .results import CheckResult, Failure, RunReport
from .st_integration import run_schemathesis
from .target import Level, Target

__all__ = ["PREFLIGHT_CHECK", "preflight", "run"]

PREFLIGHT_CHECK = "server_accepts_the_target"
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


def curl_for(target: Target, body: Any) -> str:
    """A curl command reproducing a JSON request, token redacted."""
    url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
    payload = json.dumps(body, separators=(",", ":"))
    return (
        f"curl -sS -X POST {shlex.quote(url)} -H 'Authorization: Bearer ***' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(payload)}"
    )


def preflight(target: Target) -> tuple[CheckResult, str | None]:
    """Send one valid request; a set-up problem (unreachable, token or model refused) is returned
    as a message so the run stops early instead of reporting hundreds of identical failures."""
    result = CheckResult(name=PREFLIGHT_CHECK, group="schema")
    body = _minimal_body(target.model)
    url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
    reproducer = curl_for(target, body)

    def fail(message: str, expected: str, actual: str) -> tuple[CheckResult, str]:
        result.record_failure(
            Failure(
                PREFLIGHT_CHECK, message, expected=expected, actual=actual, reproducer=reproducer
            )
        )
        return result, message

    try:
        response = httpx.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {target.token}"},
            timeout=target.request_timeout,
        )
    except httpx.TimeoutException:
        return fail(
            f"{url} did not answer within {target.request_timeout:g}s",
            "an HTTP response",
            "timeout",
        )
    except httpx.HTTPError as exc:
        reason = str(exc).replace(target.token, "***") or type(exc).__name__
        return fail(f"cannot reach {url}: {reason}", "an HTTP response", type(exc).__name__)
    status = response.status_code
    text = response.text[:300].replace(target.token, "***") if target.token else response.text[:300]
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
            )
        )
        return result, None
    result.record_pass()
    return result, None


def _run_properties(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    notes: list[str],
    time_budget: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    try:
        properties = importlib.import_module(f"{__package__}.properties")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.properties":
            raise
        notes.append(
            "targeted properties skipped: chat_text_conformance.properties is not installed"
        )
        return []
    run_properties: Callable[..., list[CheckResult]] | None = getattr(
        properties, "run_properties", None
    )
    if run_properties is None:
        notes.append("targeted properties skipped: properties.run_properties is not there yet")
        return []
    kwargs: dict[str, Any] = {}
    if time_budget is not None:
        kwargs["time_budget"] = time_budget
    if progress is not None:

        def on_result(result: CheckResult) -> None:
            verdict = "ok" if result.ok else "FAILED"
            progress(f"property {result.name}: {verdict} ({result.passed} passed)")

        kwargs["on_result"] = on_result
    return run_properties(target, level, max_examples=max_examples, seed=seed, **kwargs)


def run(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    progress: Callable[[str], None] | None = None,
    max_time: float | None = None,
    app: Any = None,
) -> RunReport:
    """Run the conformance suite against ``target``.

    * every level: one pre-flight request, then schemathesis (examples, coverage and fuzzing
      phases, positive and negative data, all built-in checks, model pinned to
      ``target.model``);
    * ``semantic`` and ``strict``: the per-response LLM checks on every response schemathesis
      gets (:mod:`chat_text_conformance.response_checks`), then the targeted properties of
      :mod:`chat_text_conformance.properties` (``strict`` adds the deterministic ones).

    ``max_time`` bounds the schemathesis part and, separately, the properties, in seconds;
    ``app`` (an ASGI app; default ``target.app``) sends the schemathesis part in-process
    instead of over HTTP.
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
    )
    say(f"pre-flight: one valid request to {target.base_url} (model {target.model})")
    result, setup_error = preflight(target)
    report.results.append(result)
    if setup_error is not None:
        report.setup_error = setup_error
        report.duration = time.monotonic() - started
        say(f"pre-flight failed: {setup_error}")
        return report

    say(f"schemathesis: all phases, max {max_examples} example(s) per phase, seed {seed}")
    importlib.import_module("schemathesis")  # its import is start-up, not test time
    schemathesis_started = time.monotonic()
    outcome = run_schemathesis(
        target,
        level,
        max_examples=max_examples,
        seed=seed,
        max_time=max_time,
        app=app if app is not None else target.app,
        progress=progress,
    )
    report.schemathesis_seconds = time.monotonic() - schemathesis_started
    report.cases = outcome.cases
    report.notes.extend(outcome.notes)
    order = list(response_checks.CHECKS)
    schema_results = sorted(
        (r for r in outcome.results.values() if r.group != "response"), key=lambda r: r.name
    )
    response_results = sorted(
        (r for r in outcome.results.values() if r.group == "response"),
        key=lambda r: order.index(r.name),
    )
    report.results.extend(schema_results)
    report.results.extend(response_results)

    if level is not Level.SCHEMA:
        say(f"properties: targeted hypothesis properties ({level.value} level)")
        report.results.extend(
            _run_properties(
                target,
                level,
                max_examples=max_examples,
                seed=seed,
                notes=report.notes,
                time_budget=max_time,
                progress=progress,
            )
        )
    report.duration = time.monotonic() - started
    say(
        f"done in {report.duration:.1f}s: {report.cases} schemathesis request(s), "
        f"{report.passed} check(s) passed, {report.failed} failed"
    )
    return report
