"""Every private name of schemathesis and hypothesis the suite uses: imported here and only here,
each with why. ``tests/test_internals.py`` imports each one and fails, naming it, when a pinned
release moves or changes it (schemathesis 4.32.5, the hypothesis it pins).

Importing this module imports schemathesis (about a second): the built-in rules load it when they
first judge an exchange, so the proxy and ``replay`` start without it.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import requests
import schemathesis
from requests.structures import CaseInsensitiveDict

# The registry of schemathesis's checks, to call a built-in by its name on an exchange
# (``schemathesis.checks`` documents ``CHECKS`` only as where ``@schemathesis.check`` registers).
from schemathesis.checks import CHECKS, CheckContext, load_all_checks
from schemathesis.config import SchemathesisConfig

# "no body" for a case (the public Case() takes it as its default, without naming it)
from schemathesis.core import NOT_SET

# A failed check raises one of these (a group when several things are wrong).
from schemathesis.core.failures import Failure as StFailure
from schemathesis.core.failures import FailureGroup

# What a check takes: the response object schemathesis builds from its transports; a recorded
# exchange becomes one directly (``Response.from_any`` needs a live client's response object).
from schemathesis.core.transport import Response as StResponse

# The failure schemathesis's own positive_data_acceptance raises (``st run`` keeps that check;
# its hooks let the spec's documented refusals through).
from schemathesis.openapi.checks import RejectedPositiveData

import chat_text_spec

from .engine.spec import adapt_spec

if TYPE_CHECKING:
    from .checks.exchange import Exchange

__all__ = [
    "IMPORTED_WHILE_RUNNING",
    "CheckFailure",
    "RejectedPositiveData",
    "run_builtin_check",
    "without_local_constants",
]

IMPORTED_WHILE_RUNNING = (
    "schemathesis.engine.run.unit",
    "schemathesis.engine.run.stateful",
    "schemathesis.engine.run.probes",
    "schemathesis.engine.run.analysis",
    "schemathesis.engine.run.auth_bootstrap",
    "schemathesis.engine._baseline",
    "schemathesis.engine._rate_limit_retry",
    "schemathesis.engine._validate",
    "schemathesis.generation.hypothesis.builder",
    "schemathesis.generation.drivers",
    "schemathesis.generation.body_overrides",
    "schemathesis.specs.openapi.coverage._operation",
    "schemathesis.specs.openapi.auth_inference",
    "schemathesis.specs.openapi.auth_flow.detection",
    "schemathesis.specs.openapi._ordering",
    "schemathesis.python.asgi",
    "schemathesis.transport.asgi",
    "schemathesis.transport.wsgi",
    "hypothesis.strategies._internal.flatmapped",
    "hypothesis.strategies._internal.random",
    "httpcore",
    "pyrate_limiter",
)
"""Modules a schemathesis run imports lazily from its threads, imported before any thread starts:
CPython 3.11 can fail with "AST constructor recursion depth mismatch" when two threads compile at
once (pytest's assertion rewriting compiles on import). Private module names, so they are here."""


@dataclass(frozen=True)
class CheckFailure:
    """What a schemathesis check said when it failed."""

    message: str
    expected: str
    actual: str


@functools.cache
def _operation() -> Any:
    """The operation, loaded once from the spec as the suite's engines read it (the stream's
    per-event schema), with a config of its own (no ``schemathesis.toml`` from the folder)."""
    schema = schemathesis.openapi.from_dict(
        adapt_spec(chat_text_spec.load_spec()), config=SchemathesisConfig.from_dict({})
    )
    return schema[chat_text_spec.OPERATION_PATH]["POST"]


@functools.cache
def _checks() -> tuple[Any, dict[str, Any]]:
    """The check context and the built-in check functions, by name (built once)."""
    load_all_checks()
    operation = _operation()
    config = operation.schema.config.checks_config_for(operation=operation, phase=None)
    # CheckContext's constructor is "undocumented on purpose: built-in checks only"
    context = CheckContext(
        override=None,
        auth=None,
        headers=None,
        config=config,
        transport_kwargs=None,
        response_checks=None,
    )
    functions = {getattr(check, "__name__", ""): check for check in CHECKS.get_all()}
    return context, functions


_LOCK = threading.Lock()


_REQUEST_UNREAD = frozenset(
    {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    }
)
"""The checks that read nothing of the request (4.32.5): not the case's method, headers or
body (only its operation, and its generation metadata: none on a recorded exchange), not the
response's request (``response_schema_conformance`` hands it on, unread, to the stream events
it deserializes). They get the exchange's response carrying one request made once, and one case
made once (:func:`_unread`); another check gets the request as it was sent."""


def _pair(ex: Exchange, name: str) -> tuple[Any, Any]:
    """The exchange as schemathesis's response and case for the check ``name``, built once per
    exchange: the built-in checks read the same pair (as in a schemathesis run, where every
    check gets the one response)."""
    if name in _REQUEST_UNREAD:
        response = ex.__dict__.get("_schemathesis_response")
        if response is None:
            response = ex.__dict__["_schemathesis_response"] = _response(ex, _unread()[0])
        return response, _unread()[1]
    pair: tuple[Any, Any] | None = ex.__dict__.get("_schemathesis_pair")
    if pair is None:
        pair = ex.__dict__["_schemathesis_pair"] = (_response(ex, _request(ex)), _case(ex))
    return pair


@functools.cache
def _unread() -> tuple[Any, Any]:
    """The request and the case of the checks that read neither (:data:`_REQUEST_UNREAD`):
    building the exchange's own case costs a tenth of judging it."""
    request = requests.PreparedRequest()
    request.method = "POST"
    request.url = "http://target" + chat_text_spec.OPERATION_PATH
    request.headers = CaseInsensitiveDict()
    return request, _operation().Case(method="POST")


def _request(ex: Exchange) -> Any:
    # the request as sent, set field by field: ``Request.prepare()`` (URL parsing, cookies,
    # hooks, body encoding) costs a quarter of judging an exchange, and the checks only read it
    request = requests.PreparedRequest()
    request.method = ex.method
    request.url = "http://target" + ex.path
    request.headers = CaseInsensitiveDict(ex.request_headers)
    request.body = ex.request_body
    return request


def _response(ex: Exchange, request: Any) -> Any:
    headers: dict[str, list[str]] = {}
    for name, value in ex.headers:
        headers.setdefault(name.lower(), []).append(value)
    return StResponse(
        status_code=ex.status,
        headers=headers,
        content=ex.body,
        request=request,
        elapsed=datetime.timedelta(0).total_seconds(),
        verify=True,
    )


def _case(ex: Exchange) -> Any:
    facts = ex.facts
    body = facts.document if facts.document is not None else NOT_SET
    return _operation().Case(
        method=ex.method,
        headers=dict(ex.request_headers),
        body=body,
        media_type="application/json" if facts.document is not None else None,
    )


def _failure(failures: Iterable[Any]) -> CheckFailure:
    first = next(iter(failures))
    title = str(getattr(first, "title", "") or "")
    text = " ".join(str(getattr(first, "message", "") or "").split())
    message = f"{title}: {text}" if title and text else (title or text or "the check failed")
    return CheckFailure(message=message, expected=title, actual=text[:500])


def _first(ex: Exchange, name: str) -> str | None:
    """The first value of the response header ``name`` (lower-case), as schemathesis reads it."""
    for key, value in ex.headers:
        if key.lower() == name:
            return value
    return None


@functools.cache
def _documented_headers(status: int) -> tuple[str, ...]:
    """The lower-case names of the headers the operation documents for ``status``."""
    definition = _operation().responses.find_by_status_code(status)
    headers = definition.headers if definition is not None else None
    return tuple(name.lower() for name, _ in headers.items()) if headers else ()


_READS: dict[str, Callable[[Exchange], Hashable]] = {
    "not_a_server_error": lambda ex: ex.status,
    "status_code_conformance": lambda ex: ex.status,
    "content_type_conformance": lambda ex: (ex.status, _first(ex, "content-type")),
    "response_headers_conformance": lambda ex: (
        ex.status,
        tuple(_first(ex, name) for name in _documented_headers(ex.status)),
    ),
}
"""What each of these schemathesis checks (4.32.5) reads of an exchange, all it reads besides
the operation, the check context (both built once) and the case's generation metadata (none on
a recorded exchange): ``not_a_server_error`` and ``status_code_conformance`` the status;
``content_type_conformance`` the status and the first Content-Type;
``response_headers_conformance`` the status and the first value of each header documented for
it. Each is a function of that, so its verdict is kept by it (:data:`_MEMO`) and a second
exchange alike in it is not rebuilt and re-checked. ``response_schema_conformance`` reads the
body: not kept. (``tests/test_internals.py`` holds every kept verdict to the check's own.)"""

_MEMO: dict[tuple[str, Hashable], CheckFailure | None] = {}
_MEMO_SIZE = 4096
"""Verdicts kept at most (a proxy sees any Content-Type a server sends): emptied when full."""
_NOT_KEPT = object()


def run_builtin_check(name: str, ex: Exchange) -> CheckFailure | None:
    """schemathesis's built-in check ``name`` on one recorded exchange: ``None`` when it holds,
    else what it said (for a check that reads little of the exchange, what it said of the
    last one alike in what it reads)."""
    reads = _READS.get(name)
    if reads is None:
        return _run(name, ex)
    key = (name, reads(ex))
    # one lookup, not "in" then "[]": another thread may empty the memo between the two
    kept = _MEMO.get(key, _NOT_KEPT)
    if kept is not _NOT_KEPT:
        return cast("CheckFailure | None", kept)
    verdict = _run(name, ex)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = verdict
    return verdict


def _run(name: str, ex: Exchange) -> CheckFailure | None:
    with _LOCK:  # built once, by one thread
        context, functions = _checks()
    # schemathesis's event-stream validator is cached per operation and is handed each call's
    # payload deserializer through an attribute it sets and resets around the call
    # (SseValidator.with_deserializer): two threads judging streams at once would see each
    # other's reset (its keyword then fails on a valid event). Schema checks go one at a time.
    serial = _SCHEMA_LOCK if name == "response_schema_conformance" else contextlib.nullcontext()
    check = functions.get(name)
    if check is None:  # only on an upgrade that renamed it (tests/test_internals.py says so)
        raise LookupError(f"schemathesis has no check named {name!r}")
    response, case = _pair(ex, name)
    try:
        with serial:
            check(context, response, case)
    except FailureGroup as group:
        return _failure(group.exceptions)
    except StFailure as failure:
        return _failure([failure])
    except AssertionError as error:
        return CheckFailure(message=str(error), expected="", actual="")
    return None


_SCHEMA_LOCK = threading.Lock()
_CONSTANTS_LOCK = threading.Lock()
_CONSTANTS_USERS = [0]
_CONSTANTS_ORIGINAL: list[Any] = []


@contextlib.contextmanager
def without_local_constants() -> Iterator[None]:
    """Hypothesis (>= 6.131) also draws string and number literals found in the *local* source
    modules loaded in ``sys.modules`` (this repository's, with an editable install): what a seed
    draws would change with every edit to any of them, and with what a process happened to
    import. Draws made inside this block are made without them. (Hypothesis has no setting for
    this: its provider's hook is replaced, and its constants cache emptied around it.) Blocks
    may nest and overlap across threads: the hook is restored when the last one ends."""
    # hypothesis's provider hook and constants cache: no public setting turns them off (lazy:
    # hypothesis, ~0.2 s of imports, only when something draws; the proxy and replay do not)
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    with _CONSTANTS_LOCK:
        if _CONSTANTS_USERS[0] == 0:
            _CONSTANTS_ORIGINAL[:] = [providers._get_local_constants]
            providers.CONSTANTS_CACHE.cache.clear()
            providers._get_local_constants = Constants
        _CONSTANTS_USERS[0] += 1
    try:
        yield
    finally:
        with _CONSTANTS_LOCK:
            _CONSTANTS_USERS[0] -= 1
            if _CONSTANTS_USERS[0] == 0:
                providers._get_local_constants = _CONSTANTS_ORIGINAL[0]
                providers.CONSTANTS_CACHE.cache.clear()
