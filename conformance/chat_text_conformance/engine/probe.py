"""The pre-flight: is the target this API, and does it take the token and the model?

One valid request (the spec's first example, pinned to the model) before anything else. What
comes back decides whether the run goes on:

* an answer of this API (a ``ChatTextResponse``, or the spec's ``ErrorResponse``): the run goes
  on; a refusal of the valid request is the first failed check, ``server_accepts_the_target``;
* a set-up problem ends the run with exit code 2 and one message saying what was found, instead
  of hundreds of failures that all say the same: no answer, the token refused, the model unknown,
  nothing served at the path (a 404 that is not the spec's error), the path not taking POST
  (405, 501), or a body that is neither of the spec's (an HTML page, another API's JSON);
* busy answers (429, 503) are waited out as they say, within :data:`MAX_PROBES` requests; a
  server that answers nothing else is a set-up problem too (nothing could be judged).

A base URL that already ends in the operation's path is taken without it (:func:`base_url_of`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

import chat_text_spec

from .. import checks
from ..checks.builtins import PREFLIGHT
from ..checks.exchange import RunContext, media_type
from ..reporting.reproducer import curl_command
from ..reporting.results import CheckResult, Failure, RequestRecord, redact_token
from .cost import Meter
from .pacing import Pacer, is_busy
from .target import Level, Target, tls_context

__all__ = [
    "MAX_PROBES",
    "Preflight",
    "auth_probes",
    "base_url_of",
    "minimal_body",
    "preflight",
]

MAX_PROBES = 10
"""Requests the pre-flight may send at most, busy answers' re-sends included."""

_EXCERPT = 300


def base_url_of(url: str) -> tuple[str, str | None]:
    """``url`` without a trailing ``/`` nor the operation's path, and a note when the path was
    there (``https://h/v1/inference/chat_text`` -> ``https://h/v1``)."""
    stripped = url.rstrip("/")
    path = chat_text_spec.OPERATION_PATH
    if stripped.lower().endswith(path.lower()):
        base = stripped[: -len(path)]
        return base, (
            f"the base URL {url} ends in the operation's path {path}: using {base or '/'} as "
            "the base URL (requests go to base URL + path)"
        )
    return stripped, None


def minimal_body(model: str) -> dict[str, Any]:
    """The spec's first non-streaming request example, pinned to ``model``."""
    body_spec = chat_text_spec.resolve(chat_text_spec.operation()["requestBody"])
    examples = body_spec["content"]["application/json"].get("examples", {})
    for example in examples.values():
        value = chat_text_spec.resolve(example).get("value")
        if isinstance(value, dict) and not value.get("stream"):
            return {**value, "model": model}
    raise ValueError("the spec has no non-streaming request example to use as a pre-flight")


@dataclass
class Preflight:
    """What the pre-flight found."""

    result: CheckResult
    """``server_accepts_the_target``: passed, or failed with the answer."""
    setup_error: str | None = None
    """Why the run cannot go on (exit 2), or ``None``."""
    requests: int = 0


def _document(response: httpx.Response) -> Any:
    if media_type(response.headers.get("content-type")) != "application/json":
        return None
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return None


def _is_error(document: Any) -> bool:
    """The spec's ``ErrorResponse`` shape, loosely: an ``error`` object (its exact schema is
    ``response_schema_conformance``'s to judge)."""
    return isinstance(document, dict) and isinstance(document.get("error"), dict)


def _is_answer(document: Any) -> bool:
    """A ``ChatTextResponse``, loosely: an object with a ``choices`` list."""
    return isinstance(document, dict) and isinstance(document.get("choices"), list)


def _what(response: httpx.Response, token: str) -> str:
    kind = response.headers.get("content-type") or "no Content-Type"
    text = response.content[:_EXCERPT].decode("utf-8", errors="replace").strip()
    text = " ".join(text.split())
    return redact_token(f"HTTP {response.status_code} ({kind}): {text or '(empty body)'}", token)


def preflight(target: Target, meter: Meter | None = None, pacer: Pacer | None = None) -> Preflight:
    """Send the pre-flight request (busy answers waited out through ``pacer``) and judge what it
    says of the target (see the module's docstring)."""
    result = CheckResult(name=PREFLIGHT, group="schema")
    found = Preflight(result)
    body = minimal_body(target.model)
    url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"}
    payload = json.dumps(body).encode()
    record = RequestRecord.build(
        "POST", chat_text_spec.OPERATION_PATH, headers, payload, target.token
    )
    reproducer = curl_command(target.base_url, record)

    def fail(message: str, expected: str, actual: str, *, setup: bool = True) -> Preflight:
        result.record_failure(
            Failure(
                PREFLIGHT,
                message,
                expected=expected,
                actual=actual,
                reproducer=reproducer,
                request=record,
            )
        )
        if setup:
            found.setup_error = message
        return found

    def send() -> httpx.Response:
        found.requests += 1
        return _post(target, url, payload, headers, meter, body)

    if pacer is None:
        pacer = Pacer()
    try:
        response = pacer.call(
            send, lambda r: r.status_code, lambda r: r.headers, attempts=MAX_PROBES
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
    return _judge(response, target, url, fail, found)


def _judge(
    response: httpx.Response,
    target: Target,
    url: str,
    fail: Callable[..., Preflight],
    found: Preflight,
) -> Preflight:
    status = response.status_code
    what = _what(response, target.token)
    document = _document(response)
    if is_busy(status):
        return fail(
            f"the server answered only {status} (busy) to {found.requests} request(s), waiting "
            "as it said in between: nothing could be checked; try again later, or give "
            "--max-rate (requests per second) or a larger --max-wait",
            "an answer other than 429/503 within the run's waits",
            what,
        )
    if status in (401, 403):
        return fail(
            f"the server rejected the token (HTTP {status}); check --token / $CHAT_TEXT_API_KEY",
            "HTTP 2xx for a valid request with the given token",
            what,
        )
    if status == 404:
        if _is_error(document):
            return fail(
                f"the server does not serve model {target.model!r} (HTTP 404); check --model",
                "HTTP 2xx for a valid request to the given model",
                what,
            )
        return fail(
            f"nothing answers like this API at {url}: POST was answered HTTP 404 without the "
            "spec's error body; check --base-url (the server's base URL, to which "
            f"{chat_text_spec.OPERATION_PATH} is appended)",
            f"POST {chat_text_spec.OPERATION_PATH} served at the base URL",
            what,
        )
    if status in (405, 501):
        return fail(
            f"{url} does not take POST (HTTP {status}): this is not a chat-text server, or "
            "--base-url is not its base URL",
            f"POST {chat_text_spec.OPERATION_PATH} served at the base URL",
            what,
        )
    if 200 <= status < 300:
        if _is_answer(document):
            found.result.record_pass()
            return found
        return fail(
            f"the target does not answer like this API: a valid request got HTTP {status} with "
            "a body that is not a ChatTextResponse (JSON with choices)",
            "HTTP 2xx with a ChatTextResponse",
            what,
        )
    if _is_error(document):
        # this API, refusing a valid request: the first failed check; the run goes on
        return fail(
            f"a minimal valid request was answered HTTP {status}",
            "HTTP 2xx",
            what,
            setup=False,
        )
    return fail(
        f"the target does not answer like this API: a valid request got HTTP {status} with a "
        "body that is neither the spec's ErrorResponse nor a ChatTextResponse",
        "HTTP 2xx with a ChatTextResponse, or the spec's ErrorResponse",
        what,
    )


def wrong_token(token: str) -> str:
    """A token that is surely not the right one, of its shape (the right one with its first
    character changed)."""
    first = "x" if token[:1] != "x" else "y"
    return first + token[1:]


def auth_probes(
    target: Target,
    context: RunContext,
    level: Level,
    meter: Meter | None = None,
    pacer: Pacer | None = None,
) -> dict[str, CheckResult]:
    """The minimal valid request without ``Authorization`` and with a wrong bearer token, judged
    by every per-exchange rule (``missing_required_header``, ``ignored_auth`` among them): what
    a schema-level run needs to see that auth is enforced at all. Two requests (busy answers
    waited out)."""
    body = minimal_body(target.model)
    payload = json.dumps(body).encode()
    url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
    results: dict[str, CheckResult] = {}
    for auth in (None, f"Bearer {wrong_token(target.token)}"):
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        record = RequestRecord.build(
            "POST", chat_text_spec.OPERATION_PATH, headers, payload, target.token
        )

        def send(sent: dict[str, str] = headers) -> httpx.Response:
            return _post(target, url, payload, sent, meter, body)

        try:
            response = (pacer or Pacer()).call(send, lambda r: r.status_code, lambda r: r.headers)
        except httpx.HTTPError:
            continue  # the transport rule is the pre-flight's and the engines' to judge
        exchange = checks.Exchange(
            body,
            response.status_code,
            checks.media_type(response.headers.get("content-type")),
            response.content,
            context=context,
            headers=tuple((k.lower(), v) for k, v in response.headers.items()),
            request_headers=tuple((k.lower(), v) for k, v in headers.items()),
            request_body=payload,
        )
        for rule_id, outcome in checks.judge(exchange, level).items():
            result = results.setdefault(rule_id, CheckResult(rule_id, checks.get(rule_id).kind))
            checks.record(result, outcome, _failure(rule_id, target.base_url, record))
    return results


def _failure(
    rule_id: str, base_url: str, record: RequestRecord
) -> Callable[[checks.CheckFailed], Failure]:
    return lambda failed: Failure(
        rule_id,
        failed.message,
        expected=failed.expected,
        actual=failed.actual,
        reproducer=curl_command(base_url, record),
        request=record,
    )


def _post(
    target: Target,
    url: str,
    payload: bytes,
    headers: dict[str, str],
    meter: Meter | None,
    body: Any,
) -> httpx.Response:
    """One pre-flight request, counted by the run's meter (phase ``pre-flight``)."""
    response = httpx.post(
        url, content=payload, headers=headers, timeout=target.request_timeout, verify=tls_context()
    )
    if meter is not None:
        meter.record(
            request_bytes=len(payload),
            status=response.status_code,
            content_type=response.headers.get("content-type", ""),
            body=response.content,
            phase="pre-flight",
            request=body,
            headers=response.headers.items(),
        )
    return response
