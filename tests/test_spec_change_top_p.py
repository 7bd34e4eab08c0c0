"""The first real spec change (1.1.0, ``top_p``), seen by the conformance suite.

No rule of the suite names ``top_p``: the cases come from the request schema of
``openapi.yaml`` (null ≡ omitted ≡ default, bounds accepted, values outside them refused).
Two servers that got the change wrong fail at the default level:

* one still on 1.0.1, which refuses ``top_p`` as an unknown field (schema-valid data rejected);
* one that accepts ``top_p: 1.5`` (it clamps out-of-range values to 1 instead of refusing).

Each is the reference server behind a small ASGI middleware that answers or edits the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chat_text_conformance import Level, RunReport, Target, run
from chat_text_conformance.checks import catalogue

import chat_text_spec
from chat_text_server import create_app
from chat_text_server.engine import MODELS
from chat_text_server.testing import running_server

SEED = 1
BUDGET = 3
TOKEN = "top-p-test-token-3c9d"
MODEL = "chat-text-mini"

# What a middleware does with a parsed request body: (new body, None) to pass it on, or
# (None, (status, error document)) to answer it itself.
Edit = Callable[[Any], tuple[Any, tuple[int, dict[str, Any]] | None]]


def _editing_requests(app: Any, edit: Edit) -> Any:
    """An ASGI app that hands ``app`` each JSON request body as ``edit`` rewrites it."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            raw.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = bytes(raw)
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            original = document
            document, answer = edit(document)
            if answer is not None:
                status, error = answer
                data = json.dumps(error).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": data})
                return
            if document is not original:  # re-encoding an unchanged body could change its size
                body = json.dumps(document).encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                message: dict[str, Any] = await receive()
                return message
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app({**scope, "headers": headers}, replay, send)

    return wrapped


def _unchanged(document: Any) -> tuple[Any, None]:
    return document, None


def _still_on_1_0_1(document: Any) -> tuple[Any, tuple[int, dict[str, Any]] | None]:
    """A server that never got the change: top_p is an unknown field, as in spec 1.0.1."""
    if "top_p" in document:
        error = {
            "error": {
                "code": "invalid_request",
                "message": "top_p: unknown field (the spec allows no other fields)",
                "field": "top_p",
            }
        }
        return None, (400, error)
    return document, None


def _clamps_top_p(document: Any) -> tuple[Any, None]:
    """A server that forgot top_p's upper bound: it clamps ``top_p: 1.5`` to 1 and answers.
    (Its lower bound still holds: 0 and below are refused.)"""
    value = document.get("top_p")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        document = {**document, "top_p": 1}
    return document, None


def _run(edit: Edit) -> RunReport:
    app = _editing_requests(create_app([TOKEN]), edit)
    with running_server(app) as url:
        target = Target(url, TOKEN, MODEL, context_length=MODELS[MODEL], request_timeout=5)
        return run(target, Level.SEMANTIC, max_examples=BUDGET, seed=SEED)


def _failures(report: RunReport, check: str) -> list[str]:
    result = report.result(check)
    assert result is not None, f"{check} did not run"
    return [f"{f.message} | expected {f.expected} | actual {f.actual}" for f in result.failures]


def test_no_rule_of_the_suite_is_written_for_top_p() -> None:
    assert "top_p" in chat_text_spec.request_schema()["properties"]
    for rule in catalogue():
        text = json.dumps(rule.to_json())
        assert "top_p" not in text, rule.id


def test_the_middleware_alone_changes_nothing() -> None:
    report = _run(_unchanged)
    assert report.ok, [(f.check, f.message) for f in report.failures()]


def test_a_server_that_rejects_top_p_fails_at_the_default_level() -> None:
    report = _run(_still_on_1_0_1)
    assert not report.ok
    # null and the spec's default (1) mean "omitted": refusing them is a failure
    nulls = _failures(report, "null_and_omitted_mean_default")
    assert any("top_p" in f and "400" in f for f in nulls), nulls
    # top_p exactly at its documented maximum is valid
    bounds = _failures(report, "boundary_values_accepted")
    assert any("top_p=1 (maximum)" in f for f in bounds), bounds
    # schemathesis: schema-valid bodies with top_p were refused
    positive = _failures(report, "positive_data_acceptance")
    assert positive and all("top_p: unknown field" in f for f in positive), positive
    # and nothing else: every failure is about top_p
    assert all("top_p" in f.actual for f in report.failures())


def test_a_server_that_accepts_top_p_1_5_fails_at_the_default_level() -> None:
    maximum = chat_text_spec.request_schema()["properties"]["top_p"]["anyOf"][0]["maximum"]
    report = _run(_clamps_top_p)
    assert not report.ok
    invalid = _failures(report, "invalid_values_rejected")
    # the case derived from the spec's maximum: maximum + 0.5 = 1.5, accepted
    above = [f for f in invalid if f"top_p above the maximum {maximum}" in f]
    assert above, invalid
    assert all("(the invalid value was accepted)" in f and "HTTP 200" in f for f in above)
    # only the broken bound is reported: the exclusive minimum still holds
    assert not [f for f in invalid if "exclusive minimum" in f], invalid
    failed = {f.check for f in report.failures()}
    assert failed <= {"invalid_values_rejected", "negative_data_rejection"}, failed
