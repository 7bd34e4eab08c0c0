"""How the suite drives schemathesis: the config, the spec as schemathesis should read it, the
hooks (model pinning, documented rejections) and the translation of engine events into
:class:`~chat_text_conformance.results.CheckResult` objects.

Shared by the runner (:func:`chat_text_conformance.run`) and by ``st run`` through
:mod:`chat_text_conformance.st_hooks`, so both apply the same rules.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES

import chat_text_spec

from . import response_checks
from .results import CheckResult, Failure
from .target import Level, Target

__all__ = [
    "SENSITIVE_MARKERS",
    "SchemathesisOutcome",
    "adapt_spec",
    "build_config",
    "is_documented_rejection",
    "pin_model",
    "run_schemathesis",
]

SENSITIVE_MARKERS = ["key", "secret", "password", "auth", "session", "passwd", "credential"]
"""schemathesis's default markers minus ``token``: that one hides ``max_tokens`` and every
``usage.*_tokens`` in reports. The Authorization header is still redacted (``auth``)."""

TRANSPORT_CHECK = "server_answers_every_request"
"""Name under which network errors (timeouts, resets, refused connections) are reported."""


def adapt_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as schemathesis 4.32 must read it to validate streams.

    For OpenAPI < 3.2, schemathesis takes a ``text/event-stream`` media type's ``schema`` as the
    schema of *each event* (an object ``{data, event, id?, retry?}``), so the spec's whole-stream
    ``{type: string, contentSchema: ChatTextChunk}`` fails every streamed answer. This rewrites it
    in memory into the per-event form (``data`` is ``[DONE]`` or a JSON ``ChatTextChunk``), so
    the built-in schema check validates every chunk. ``openapi.yaml`` itself is not changed.
    """
    adapted = copy.deepcopy(spec)
    for path_item in adapted.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                media = response.get("content", {}).get("text/event-stream")
                if not isinstance(media, dict):
                    continue
                schema = media.get("schema", {})
                chunk_schema = schema.get("contentSchema")
                if chunk_schema is None:
                    continue
                media["schema"] = {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "anyOf": [
                                {"const": "[DONE]"},
                                {
                                    "type": "string",
                                    "contentMediaType": "application/json",
                                    "contentSchema": chunk_schema,
                                },
                            ]
                        }
                    },
                }
                media.pop("examples", None)
    return adapted


def _model_bounds() -> tuple[int, int]:
    bounds = chat_text_spec.field_bounds("model")
    return int(bounds.get("minLength", 0)), int(bounds.get("maxLength", 1 << 30))


def pin_model(body: Any, model: str) -> Any:
    """Put ``model`` into a generated body, unless the body's model is the invalid part.

    A negative case may carry an invalid ``model`` (wrong type, too long): leaving it keeps the
    case negative. A valid generated model name is replaced, so positive cases reach a model the
    server has instead of being answered ``404``.
    """
    if not isinstance(body, dict) or "model" not in body:
        return body
    current = body["model"]
    low, high = _model_bounds()
    if isinstance(current, str) and low <= len(current) <= high:
        body["model"] = model
    return body


MAX_TOKENS_PER_MESSAGE_OVERHEAD = 8
"""Tokens a chat template may add per message (role markers, separators) on top of its text."""


def prompt_surely_fits(body: Any, context_length: int | None) -> bool:
    """Whether the whole conversation certainly fits the context window, for any tokenizer.

    A tokenizer never makes more tokens than the UTF-8 bytes of the text (byte-level BPE is the
    worst case); templates add a few tokens per message. When even that bound is below the
    window, ``prompt_too_long`` is wrong: the prompt fits and at least one token of room is left.
    """
    if context_length is None or not isinstance(body, dict):
        return False
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    bound = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            return False
        bound += len(content.encode("utf-8")) + MAX_TOKENS_PER_MESSAGE_OVERHEAD
    return bound < context_length


def is_documented_rejection(
    response: Any, body: Any = None, context_length: int | None = None
) -> bool:
    """A valid request refused for a reason the spec documents: ``400 prompt_too_long`` (the
    conversation cannot fit the model) unless the prompt surely fits the known context window,
    or ``413`` (body over ``x-max-body-bytes``)."""
    status = int(getattr(response, "status_code", 0))
    if status == 413:
        return True
    if status != 400:
        return False
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if not isinstance(error, dict) or error.get("code") != "prompt_too_long":
        return False
    return not prompt_surely_fits(body, context_length)


def build_config(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    workers: int = 1,
) -> dict[str, Any]:
    """The schemathesis configuration (as the dict ``schemathesis.toml`` would hold)."""
    custom = {name: {"enabled": level is not Level.SCHEMA} for name in response_checks.CHECKS}
    config: dict[str, Any] = {
        "base-url": target.base_url,
        "auth": {"openapi": {"bearerAuth": {"bearer": target.token}}},
        "request-timeout": target.request_timeout,
        "request-retries": 0,
        # Keep testing after a failure: a verdict lists every failing check, not the first.
        "continue-on-failure": True,
        "workers": workers,
        "generation": {"mode": "all", "max-examples": max_examples},
        # Without these a rejected token gives a green run: 401 is an "accepted" status for
        # positive data by default. ``warnings`` only matter to ``st run``; the runner
        # relies on the expected statuses and its own pre-flight request.
        "warnings": {"fail-on": ["missing_auth"]},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "429", "503"]},
            # 413: a generated body over ``x-max-body-bytes`` is rejected before validation.
            "negative_data_rejection": {
                "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
            },
            **custom,
        },
        "output": {"sanitization": {"sensitive-markers": SENSITIVE_MARKERS}},
        "cache": {"enabled": False},
    }
    if seed is not None:
        config["seed"] = seed
        config["generation"]["deterministic"] = False
    return config


@dataclass
class SchemathesisOutcome:
    results: dict[str, CheckResult] = field(default_factory=dict)
    cases: int = 0
    notes: list[str] = field(default_factory=list)

    def result(self, name: str) -> CheckResult:
        if name not in self.results:
            group = "response" if name in response_checks.CHECKS else "schema"
            self.results[name] = CheckResult(name=name, group=group)
        return self.results[name]


_TESTING_PHASES = {"examples", "coverage", "fuzzing", "stateful"}
_EXPECTED_GOT = re.compile(
    r"^(?P<message>.*) \(expected (?P<expected>.*); got (?P<actual>.*)\)$", re.S
)


def _failure_from_node(name: str, info: Any, redact: Callable[[str], str]) -> Failure:
    failure = info.failure
    text = str(failure.message or "").strip()
    expected = actual = ""
    match = _EXPECTED_GOT.match(text)
    if match:
        text, expected, actual = match["message"], match["expected"], match["actual"]
    title = str(failure.title or "")
    message = text if not title or title == "Custom check failed" else f"{title}: {text}"
    return Failure(
        check=name,
        message=redact(message),
        expected=redact(expected),
        actual=redact(actual),
        reproducer=redact(str(info.code_sample or "")),
    )


def run_schemathesis(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    max_time: float | None = None,
    app: Any = None,
    progress: Callable[[str], None] | None = None,
) -> SchemathesisOutcome:
    """All schemathesis phases (examples, coverage, fuzzing; positive and negative data) with
    every built-in check, plus the per-response checks at semantic and strict levels."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import from_schema
    from schemathesis.openapi.checks import RejectedPositiveData

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    def redact(text: str) -> str:
        return text.replace(target.token, "***") if target.token else text

    response_checks.register_with_schemathesis()
    response_checks.set_context_length(target.context_length)
    response_checks.reset_applied()
    config = SchemathesisConfig.from_dict(
        build_config(target, level, max_examples=max_examples, seed=seed)
    )
    schema = schemathesis.openapi.from_dict(adapt_spec(chat_text_spec.load_spec()), config=config)
    if app is not None:
        schema.app = app

    @schema.hook("map_case")
    def map_case(context: Any, case: Any) -> Any:
        case.body = pin_model(case.body, target.model)
        return case

    @schema.hook("filter_failure")
    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        return not (
            isinstance(failure, RejectedPositiveData)
            and is_documented_rejection(response, case.body, target.context_length)
        )

    outcome = SchemathesisOutcome()
    started = time.monotonic()
    stream = from_schema(schema).execute()
    # schemathesis's own ``max-time`` is a budget it fills (fuzzing repeats until it is spent);
    # this is a cap instead: past the deadline the engine is told to stop after the requests in
    # flight (each bounded by the request timeout).
    watchdog = None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        stream.stop()

    if max_time is not None:
        watchdog = threading.Timer(max_time, expire)
        watchdog.daemon = True
        watchdog.start()
    try:
        _consume(stream, outcome, say, redact, started)
    finally:
        if watchdog is not None:
            watchdog.cancel()
            watchdog.join()
    if expired.is_set():
        outcome.notes.append(f"schemathesis stopped at its time budget ({max_time:g}s)")
    for name, applied in response_checks.applied_counts().items():
        if name in outcome.results:
            outcome.results[name].passed = applied
    if outcome.cases and TRANSPORT_CHECK in outcome.results:
        outcome.results[TRANSPORT_CHECK].passed = max(
            0, outcome.cases - outcome.results[TRANSPORT_CHECK].failed
        )
    return outcome


def _consume(
    stream: Any,
    outcome: SchemathesisOutcome,
    say: Callable[[str], None],
    redact: Callable[[str], str],
    started: float,
) -> None:
    from schemathesis.engine import StopReason, events

    phase_cases = 0
    phase_failures = 0
    for event in stream:
        if isinstance(event, events.PhaseStarted) and event.phase.is_enabled:
            if event.phase.name.value not in _TESTING_PHASES:
                continue
            phase_cases = phase_failures = 0
            say(f"schemathesis: {event.phase.name.value} phase ...")
        elif (
            isinstance(event, events.PhaseFinished)
            and event.phase.is_enabled
            and event.phase.name.value in _TESTING_PHASES
        ):
            say(
                f"schemathesis: {event.phase.name.value} phase done: {phase_cases} request(s), "
                f"{phase_failures} failed check(s), {time.monotonic() - started:.1f}s elapsed"
            )
        elif isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            phase_cases += len(recorder.interactions)
            outcome.cases += len(recorder.interactions)
            for nodes in recorder.checks.values():
                for node in nodes:
                    result = outcome.result(node.name)
                    if node.status.value == "success":
                        result.record_pass()
                    elif node.failure_info is not None:
                        phase_failures += 1
                        result.record_failure(
                            _failure_from_node(node.name, node.failure_info, redact)
                        )
        elif isinstance(event, events.NonFatalError):
            message = redact(str(event.info.message or event.value)).strip()
            title = redact(str(getattr(event.info, "title", "") or "error"))
            sample = redact(str(getattr(event.info, "code_sample", "") or ""))
            outcome.result(TRANSPORT_CHECK).record_failure(
                Failure(
                    check=TRANSPORT_CHECK,
                    message=f"{title}: {message.splitlines()[0] if message else ''}",
                    expected="an HTTP response within the request timeout",
                    actual=message[:500],
                    reproducer=sample,
                )
            )
        elif isinstance(event, events.FatalError):
            outcome.result(TRANSPORT_CHECK).record_failure(
                Failure(
                    check=TRANSPORT_CHECK,
                    message=f"schemathesis stopped: {redact(str(event.exception))}",
                    expected="a complete run",
                    actual=type(event.exception).__name__,
                )
            )
        elif isinstance(event, events.EngineFinished):
            if event.stop_reason == StopReason.SERVER_UNAVAILABLE:
                outcome.result(TRANSPORT_CHECK).record_failure(
                    Failure(
                        check=TRANSPORT_CHECK,
                        message="the server stopped responding during the run",
                        expected="a server that keeps answering",
                        actual="server unavailable",
                    )
                )
            for failure in event.failures:
                outcome.result("after_run").record_failure(
                    Failure(check="after_run", message=redact(str(failure.message)))
                )
