"""The one place where the suite meets schemathesis: the config, the spec as schemathesis must
read it, the hooks (model pinning, documented rejections), the per-response rules registered as
schemathesis checks, and the translation of engine events into
:class:`~chat_text_conformance.reporting.results.CheckResult` objects.

Run state lives in a :class:`SchemathesisRun` attached to the loaded schema (no module globals),
so runs can overlap. Used by the runner (:func:`run_schemathesis`) and by ``st run`` through
:mod:`chat_text_conformance.st_hooks`, so both apply the same rules.

Streams: schemathesis reads an event stream until it ends, :data:`STREAM_MAX_EVENTS` events or
the request timeout; a stream it cut is *inconclusive* for every rule that needs its end, never a
failure.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import pkgutil
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import StopReason, events, from_schema

import chat_text_spec

from .. import checks
from ..checks.builtins import DISABLED_BUILTINS, TRANSPORT
from ..reporting.reproducer import curl_command
from ..reporting.results import CheckResult, Failure, RequestRecord, redact_token
from .cost import Meter
from .pacing import Pacer
from .spec import adapt_spec, pin_model
from .target import Level, Target

__all__ = [
    "SENSITIVE_MARKERS",
    "STREAM_MAX_EVENTS",
    "SchemathesisOutcome",
    "SchemathesisRun",
    "adapt_spec",
    "attach",
    "build_config",
    "pin_model",
    "register_checks",
    "run_schemathesis",
]

SHARDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("positive", ("examples", "coverage")),
    ("negative", ("coverage",)),
    ("all", ("fuzzing",)),
)
"""The schemathesis part as three engines (generation mode, phases): together they send what
one ``mode = all`` engine sends. schemathesis parallelises across operations only and this API
has one, so with ``--workers`` > 1 the three run side by side; with 1, one after another (the
same requests either way)."""

STREAM_MAX_EVENTS = 100_000
"""The suite's cap on the events of one stream it reads in the schemathesis part (its time cap
is the request timeout). A stream cut there is inconclusive, never a failure."""

SENSITIVE_MARKERS = ["key", "secret", "password", "auth", "session", "passwd", "credential"]
"""schemathesis's default markers minus ``token``: that one hides ``max_tokens`` and every
``usage.*_tokens`` in reports. The Authorization header is still redacted (``auth``)."""

TRANSPORT_CHECK = TRANSPORT
"""Name under which network errors (timeouts, resets, refused connections) are reported."""


def build_config(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    workers: int = 1,
    fail_fast: bool = False,
) -> dict[str, Any]:
    """The schemathesis configuration (as the dict ``schemathesis.toml`` would hold);
    ``fail_fast`` stops it after the scenario of its first failed check."""
    # schemathesis's own built-ins are off: each is a rule of the catalogue, judged by our
    # registered check of it (which calls schemathesis's where it can, see checks/builtins.py)
    ours = {check_name(r): {"enabled": checks.runs_at(r, level)} for r in checks.PER_RESPONSE_RULES}
    config: dict[str, Any] = {
        "base-url": target.base_url,
        "auth": {"openapi": {"bearerAuth": {"bearer": target.token}}},
        "request-timeout": target.request_timeout,
        "request-retries": 0,
        "max-stream-events": STREAM_MAX_EVENTS,
        # Keep testing after a failure: a verdict lists every failing check, not the first.
        "continue-on-failure": True,
        "workers": workers,
        "generation": {"mode": "all", "max-examples": max_examples},
        "checks": {
            **{name: {"enabled": False} for name in (*_schema_rule_ids(), *DISABLED_BUILTINS)},
            **ours,
        },
        "output": {"sanitization": {"sensitive-markers": SENSITIVE_MARKERS}},
        "cache": {"enabled": False},
    }
    if seed is not None:
        config["seed"] = seed
        config["generation"]["deterministic"] = False
    if fail_fast:
        config["max-failures"] = 1
    return config


# ---------------------------------------------------------------------------------------------
# Per-run state and the per-response rules as schemathesis checks


@dataclass
class SchemathesisRun:
    """Everything one schemathesis run shares: the rules' context and their results."""

    context: checks.RunContext
    level: Level
    base_url: str = ""
    results: dict[str, CheckResult] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _judged: dict[tuple[int, str], bool] = field(default_factory=dict)
    _exchanges: OrderedDict[int, tuple[Any, checks.Exchange]] = field(default_factory=OrderedDict)

    def exchange(self, case: Any, response: Any) -> checks.Exchange:
        """``response`` as an :class:`~chat_text_conformance.checks.Exchange`, built once for
        every rule that judges it (so its body is parsed once): schemathesis runs the checks
        of one response one after another, so the last few are kept."""
        key = id(response)
        with self.lock:
            held = self._exchanges.get(key)
        if held is not None and held[0] is response:
            return held[1]
        exchange = exchange_from_schemathesis(case, response, self.context)
        with self.lock:
            self._exchanges[key] = (response, exchange)
            while len(self._exchanges) > _EXCHANGES_KEPT:
                self._exchanges.popitem(last=False)
        return exchange

    def result(self, name: str) -> CheckResult:
        if name not in self.results:
            group = checks.get(name).kind
            self.results[name] = CheckResult(name=name, group=group)
        return self.results[name]


_EXCHANGES_KEPT = 64
_RUN_ATTRIBUTE = "_chat_text_conformance_run"
_REGISTERED: set[str] = set()
_REGISTER_LOCK = threading.Lock()


def attach(schema: Any, run: SchemathesisRun) -> None:
    """Make ``run`` the state the registered checks use for operations of ``schema``."""
    setattr(schema, _RUN_ATTRIBUTE, run)


def _run_for(case: Any, fallback: Callable[[], SchemathesisRun] | None) -> SchemathesisRun | None:
    schema = getattr(getattr(case, "operation", None), "schema", None)
    run: SchemathesisRun | None = getattr(schema, _RUN_ATTRIBUTE, None)
    if run is None and fallback is not None and schema is not None:
        with _REGISTER_LOCK:
            run = getattr(schema, _RUN_ATTRIBUTE, None)
            if run is None:
                run = fallback()
                setattr(schema, _RUN_ATTRIBUTE, run)
    return run


def _header(headers: Any, name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list | tuple) and value else value)
    return ""


def exchange_from_schemathesis(
    case: Any, response: Any, context: checks.RunContext
) -> checks.Exchange:
    """Build an :class:`~chat_text_conformance.checks.Exchange` from a schemathesis case and
    response."""
    request = getattr(response, "request", None)
    authorization = _header(getattr(request, "headers", {}) or {}, "authorization")
    token = None
    if authorization.lower().startswith("bearer "):
        token = authorization[len("bearer ") :].strip()
    headers = tuple(
        (str(k).lower(), str(v[0] if isinstance(v, list | tuple) and v else v))
        for k, v in response.headers.items()
    )
    cut = None
    if getattr(response, "stream_cut_short", False):
        cut = (
            f"the suite stopped reading the stream (its cap: {STREAM_MAX_EVENTS} events or the "
            "request timeout); not a server failure"
        )
    body = case.body
    sent = getattr(request, "body", None)
    return checks.Exchange(
        request=body if isinstance(body, dict) else None,
        status=int(response.status_code),
        content_type=checks.media_type(_header(response.headers, "content-type")),
        body=bytes(response.content or b""),
        context=context,
        headers=headers,
        token=token,
        cut_short=cut,
        key=id(response),
        method=str(getattr(request, "method", None) or case.method).upper(),
        path=urlsplit(str(getattr(request, "url", "") or "")).path or case.path,
        request_headers=tuple(
            (str(k).lower(), str(v)) for k, v in (getattr(request, "headers", None) or {}).items()
        ),
        request_body=sent.encode("utf-8") if isinstance(sent, str) else sent,
    )


def request_record(request: Any, token: str | None) -> RequestRecord | None:
    """A schemathesis request (prepared or recorded) as a :class:`RequestRecord`."""
    if request is None:
        return None
    url = str(getattr(request, "url", None) or getattr(request, "uri", ""))
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = getattr(request, "body", None)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return RequestRecord.build(
        str(getattr(request, "method", "POST")),
        path or chat_text_spec.OPERATION_PATH,
        getattr(request, "headers", {}) or {},
        body,
        token,
    )


def check_name(rule: checks.Rule) -> str:
    """The name a rule is registered under with schemathesis: its id, but for the rules named
    like a schemathesis built-in (registering those names would replace the built-ins in the
    whole process, a user's own schemathesis runs included)."""
    return f"chat_text_{rule.id}" if rule.kind == "schema" else rule.id


def _schema_rule_ids() -> list[str]:
    return [r.id for r in checks.PER_RESPONSE_RULES if r.kind == "schema"]


def _as_schemathesis_check(
    rule: checks.Rule, fallback: Callable[[], SchemathesisRun] | None
) -> Callable[..., Any]:
    """``rule`` as a schemathesis check: the exchange judged by ``checks.judge`` (as every front
    end judges one), recorded once per response, a failure raised for schemathesis to count."""

    def check(ctx: Any, response: Any, case: Any) -> bool | None:
        run = _run_for(case, fallback)
        if run is None:
            return None
        exchange = run.exchange(case, response)
        with run.lock:
            if (exchange.key, rule.id) in run._judged:
                return None
            run._judged[(exchange.key, rule.id)] = True
        outcome = checks.judge(exchange, run.level, rules=[rule]).get(rule.id)
        if outcome is None:
            return None
        record = request_record(getattr(response, "request", None), run.context.token)
        with run.lock:
            failure = checks.record(
                run.result(rule.id),
                outcome,
                lambda failed: Failure(
                    check=rule.id,
                    message=failed.message,
                    expected=failed.expected,
                    actual=failed.actual,
                    reproducer=curl_command(run.base_url, record) if record else "",
                    request=record,
                ),
            )
        if failure is not None:
            detail = failure.message
            if failure.expected or failure.actual:
                detail += f" (expected {failure.expected}; got {failure.actual})"
            raise AssertionError(detail)
        return None

    check.__name__ = check_name(rule)
    check.__qualname__ = check_name(rule)
    check.__doc__ = rule.statement
    return check


def register_checks(
    fallback: Callable[[], SchemathesisRun] | None = None, *, builtins: bool = True
) -> list[str]:
    """Register the per-exchange rules as schemathesis checks (once per process); ``builtins``:
    with the rules named like schemathesis's built-ins (the suite's engines, which switch the
    built-ins off; ``st run`` keeps its own).

    ``fallback`` makes the state for a schema no run was attached to (``st run`` with the
    hooks). Returns the registered names.
    """
    wanted = [r for r in checks.PER_RESPONSE_RULES if builtins or r.kind == "response"]
    with _REGISTER_LOCK:
        for rule in wanted:
            if check_name(rule) not in _REGISTERED:
                schemathesis.check(_as_schemathesis_check(rule, fallback))
                _REGISTERED.add(check_name(rule))
    return [check_name(rule) for rule in wanted]


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class SchemathesisOutcome:
    results: dict[str, CheckResult] = field(default_factory=dict)
    cases: int = 0
    notes: list[str] = field(default_factory=list)


_TESTING_PHASES = {"examples", "coverage", "fuzzing", "stateful"}
_WALKED_UNDER_PYTEST = (
    "schemathesis.engine",
    "schemathesis.specs.openapi",
    "schemathesis.generation",
    "schemathesis.transport",
    "schemathesis.openapi",
    "schemathesis.core",
    "hypothesis.strategies",
    "hypothesis.internal",
    "chat_text_conformance",
)
"""Under pytest's assertion rewriting (the suite's own tests, the pytest plugin), which covers
every package of a distribution with a pytest plugin (schemathesis, hypothesis, this one),
every module of these packages is imported ahead (~1 s, once per process): a list of the lazy
ones cannot keep up with new releases (``auth_flow.detection`` was missing from it)."""

_NEVER_AHEAD = ("chat_text_conformance.load",)
"""Not imported ahead: the load front end imports Locust, whose import monkey-patches the
standard library with gevent (it runs in a process of its own; imported in a threaded test
process, it deadlocks on the import locks)."""


@functools.cache
def _import_ahead() -> None:
    from .. import _internals  # the names are private: they live there, with why

    for name in (*_internals.IMPORTED_WHILE_RUNNING, "chat_text_conformance.clients.sdk"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    hooks = _rewriting_hooks()
    if not hooks:
        return  # imports compile without ast.parse: only the list above is needed
    for package in _WALKED_UNDER_PYTEST:
        if not _rewritten(hooks, package):
            continue
        module = importlib.import_module(package)
        for found in pkgutil.walk_packages(module.__path__, f"{package}.", onerror=_ignore):
            if found.name.endswith(".__main__") or found.name.startswith(_NEVER_AHEAD):
                continue  # a command (importing it runs it), or see _NEVER_AHEAD
            with contextlib.suppress(Exception):  # optional extras (e.g. a reporter's deps)
                importlib.import_module(found.name)


def _ignore(name: str) -> None:
    """A package walk_packages could not import: skipped, as any module that fails below."""


def _rewriting_hooks() -> list[Any]:
    """pytest's assertion-rewriting import hooks in this process (none outside pytest)."""
    return [f for f in sys.meta_path if type(f).__name__ == "AssertionRewritingHook"]


def _rewritten(hooks: list[Any], package: str) -> bool:
    """Whether pytest's assertion rewriting would rewrite ``package``'s modules: those of the
    distributions it marks (every one with a pytest plugin, unless plugin autoloading is off)."""
    for hook in hooks:
        marked = getattr(hook, "_must_rewrite", None)
        if not isinstance(marked, set):
            return True  # another pytest: assume it does
        if any(package == m or package.startswith(m + ".") for m in marked):
            return True
    return False


SHARD_NAMES = {
    "positive": "examples+coverage (positive)",
    "negative": "coverage (negative)",
    "all": "fuzzing",
}


def _record_response(meter: Meter, response: Any, phase: str, request: Any = None) -> None:
    """Count one schemathesis request and its answer in ``meter`` (``request``: the JSON body
    sent, when the caller has it)."""
    sent = getattr(getattr(response, "request", None), "body", None) or b""
    meter.record(
        request_bytes=len(sent.encode() if isinstance(sent, str) else sent),
        status=int(response.status_code),
        content_type=_header(response.headers, "content-type"),
        body=bytes(response.content or b""),
        part="schemathesis",
        phase=phase,
        request=request,
        headers=(
            (str(k), str(v[0] if isinstance(v, list | tuple) and v else v))
            for k, v in response.headers.items()
        ),
    )


def _meter_calls(schema: Any, meter: Meter, phase: str) -> None:
    def after_call(hook_context: Any, case: Any, response: Any) -> None:
        body = case.body if isinstance(case.body, dict) else None
        _record_response(meter, response, phase, request=body)

    schema.hook("after_call")(after_call)


class _PacedTransport:
    """schemathesis's transport for one schema, each send through the run's :class:`Pacer`:
    a busy answer (429, 503) is waited out and the same request sent again, so the engine and
    its checks see only the answer that came after (or, when waiting more is not allowed, the
    busy answer, which is then judged by no rule: see :func:`_consume`)."""

    def __init__(self, inner: Any, pacer: Pacer, on_busy: Callable[[Any], None]) -> None:
        self._inner = inner
        self._pacer = pacer
        self._on_busy = on_busy

    def send(self, case: Any, **kwargs: Any) -> Any:
        # ``send`` pops and fills its keyword arguments: every attempt gets a fresh copy
        return self._pacer.call(
            lambda: self._inner.send(case, **dict(kwargs)),
            lambda response: int(response.status_code),
            lambda response: response.headers,
            on_busy=self._on_busy,
            first=True,  # each engine sends one case after another
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _pace(schema: Any, pacer: Pacer, on_busy: Callable[[Any], None]) -> None:
    """Send every HTTP request of ``schema``'s engine through ``pacer``.

    schemathesis takes an operation's transport from its schema's ``transport`` property (for
    HTTP; an in-process app is called through the transport ``schemathesis.transport.get``
    gives, which is not paced: the embedded reference server is never busy), so the schema is
    given a subclass whose property wraps it."""
    base = type(schema)
    unpaced = base.transport.fget

    def transport(self: Any) -> _PacedTransport:
        return _PacedTransport(unpaced(self), pacer, on_busy)

    schema.__class__ = type(f"Paced{base.__name__}", (base,), {"transport": property(transport)})


@dataclass
class PreparedSchemathesis:
    """The schemathesis engines of one run, built (schemas loaded) but not started."""

    state: SchemathesisRun
    engines: list[tuple[str, Any]]
    meter: Meter | None = None
    fail_fast: bool = False


def partitions(workers: int) -> int:
    """Into how many engines each coverage shard is split for ``workers`` requests in flight.

    schemathesis sends one operation's cases one after another, and this API has one operation:
    a shard of 80 cases against a model that takes a second per answer would take 80 s whatever
    the workers. Split, each engine generates the same cases (the coverage phase is
    deterministic) and sends only its part (:func:`partition_of`)."""
    return 1 if workers < 4 else min(3, workers // 2)


def partition_of(case: Any, parts: int) -> int:
    """Which of ``parts`` engines sends ``case``: a hash of what the request carries (stable
    across processes and engines, unlike ``hash()``)."""
    headers = sorted((str(k).lower(), str(v)) for k, v in (case.headers or {}).items())
    text = json.dumps(
        [case.method, case.path, headers, case.query, case.body], sort_keys=True, default=repr
    )
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % parts


LEGAL_CONTENT_TYPES = (
    ("Content-Type", "application/json"),
    ("Content-Type", "application/json; charset=utf-8"),
    ("content-type", "application/json;charset=UTF-8"),
    ("Content-Type", "Application/JSON"),
    ("CONTENT-TYPE", 'application/json; charset="utf-8"'),
)
"""How a client may legally label a JSON body (RFC 9110: a media type's type and subtype are
case-insensitive, parameters may follow, with or without a space, the value quoted or not;
header names are case-insensitive; ``charset=utf-8`` is JSON's only encoding, RFC 8259): the
positive requests are sent with each, so a server that refuses any fails
``positive_data_acceptance``."""

_INTEGER_FIELDS = ("max_tokens", "prompt_truncate_len")


def vary_legal_encoding(case: Any) -> Any:
    """Send a positive case in one of the legal encodings of the same request, chosen by a hash
    of the case (the same choice in every run and engine): a Content-Type of
    :data:`LEGAL_CONTENT_TYPES`, and in a fifth of them the integer fields as integral floats
    (``64.0``: an integer to JSON Schema, so to the spec)."""
    if not isinstance(case.body, dict):
        return case
    text = json.dumps(case.body, sort_keys=True, default=repr)
    pick = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
    name, value = LEGAL_CONTENT_TYPES[pick % len(LEGAL_CONTENT_TYPES)]
    headers = dict(case.headers or {})
    if not any(key.lower() == "content-type" for key in headers):
        headers[name] = value
        case.headers = headers
    if pick % 5 == 0:
        for field_name in _INTEGER_FIELDS:
            number = case.body.get(field_name)
            if isinstance(number, int) and not isinstance(number, bool):
                case.body[field_name] = float(number)
    return case


def prepare_schemathesis(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    context: checks.RunContext | None = None,
    app: Any = None,
    meter: Meter | None = None,
    fail_fast: bool = False,
    pacer: Pacer | None = None,
    workers: int = 1,
    split: bool = True,
) -> PreparedSchemathesis:
    """Load the spec into the schemathesis engines of :data:`SHARDS` (the coverage shards
    split into :func:`partitions` engines for ``workers``). Done before any thread starts:
    loading imports modules lazily, and imports must not race. ``fail_fast``: the part stops
    after the scenario (examples, or one hypothesis test) of its first failed check, and the
    shards not started yet do not start. ``pacer``: every HTTP request is sent through it.
    ``split=False`` keeps one engine per shard whatever ``workers`` (a budgeted run: a small
    share spread over many engines would stop each before its first scenario is judged)."""

    _import_ahead()
    register_checks()
    if context is None:
        context = checks.RunContext(
            context_length=target.context_length, token=target.token, model=target.model
        )
    state = SchemathesisRun(context=context, level=level, base_url=target.base_url)
    streams: list[tuple[str, Any]] = []
    for mode, phases in SHARDS:
        parts = partitions(workers) if "coverage" in phases and split else 1
        for part in range(parts):
            config = build_config(
                target, level, max_examples=max_examples, seed=seed, fail_fast=fail_fast
            )
            config["generation"]["mode"] = mode
            # the examples phase is not split (filter_case does not apply to it): one part sends it
            enabled = [p for p in phases if p == "coverage" or part == 0]
            config["phases"] = {
                name: {"enabled": name in enabled}
                for name in ("examples", "coverage", "fuzzing", "stateful")
            }
            schema = schemathesis.openapi.from_dict(
                adapt_spec(chat_text_spec.load_spec(), target.model),
                config=SchemathesisConfig.from_dict(config),
            )
            attach(schema, state)
            if app is not None:
                schema.app = app
            _add_hooks(
                schema,
                target,
                positive=mode == "positive",
                part=part,
                parts=parts,
                oversized=level is Level.SCHEMA,
            )
            phase = f"schemathesis {SHARD_NAMES[mode]}"
            if meter is not None:
                _meter_calls(schema, meter, phase)
            if pacer is not None:
                _pace(schema, pacer, _busy_meter(meter, phase))
            label = mode if parts == 1 else f"{mode} {part + 1}/{parts}"
            streams.append((label, from_schema(schema)))

    return PreparedSchemathesis(state, streams, meter, fail_fast)


def _add_hooks(
    schema: schemathesis.BaseSchema,
    target: Target,
    *,
    positive: bool,
    part: int,
    parts: int,
    oversized: bool = True,
) -> None:
    """``oversized=False``: drawn bodies over ``x-max-body-bytes``, and drawn prompts over
    :data:`DRAWN_PROMPT_CHARS`, are not sent (see :func:`within_body_limit` and
    :func:`within_drawn_prompt_limit`)."""
    if parts > 1 or not oversized:

        @schema.hook("filter_case")
        def filter_case(hook_context: Any, case: Any) -> bool:
            if not oversized and not (
                within_body_limit(case.body) and within_drawn_prompt_limit(case.body)
            ):
                return False
            return parts == 1 or partition_of(case, parts) == part

    @schema.hook("map_case")
    def map_case(hook_context: Any, case: Any) -> Any:
        case.body = pin_model(case.body, target.model)
        return vary_legal_encoding(case) if positive else case


DRAWN_PROMPT_CHARS = 4096
"""Above the schema level, the most characters of message content one drawn case may carry.
A drawn content near the spec's maxLength (32,768 characters) is one more of the same string,
up to 32k prompt tokens in a single request, and whether the coverage phase draws one depends
on the draw: the validation properties send the maxLength cases themselves (exactly maxLength
accepted, one more refused), so the engines leave longer drawn prompts out and a run's cost
does not swing with the seed."""


def within_drawn_prompt_limit(body: Any) -> bool:
    """Whether the message contents of a drawn ``body`` total at most
    :data:`DRAWN_PROMPT_CHARS` characters (a body that is not a request always fits)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return True
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
    return total <= DRAWN_PROMPT_CHARS


def within_body_limit(body: Any) -> bool:
    """Whether ``body`` as JSON fits ``x-max-body-bytes``. A drawn body over it (the coverage
    phase builds some of megabytes) is answered 413 whatever else it holds, so it shows nothing
    its own rule needs; above the schema level the validation property sends one body just over
    the limit instead, and the engines leave these out (megabytes each)."""
    try:
        size = len(json.dumps(body).encode())
    except (TypeError, ValueError, RecursionError):
        return True
    return size <= chat_text_spec.max_body_bytes()


def _busy_meter(meter: Meter | None, phase: str) -> Callable[[Any], None]:
    """Counts a busy answer the pacer waited out (the engine sees only the answer after it)."""

    def count(response: Any) -> None:
        if meter is not None:
            _record_response(meter, response, phase)

    return count


def run_schemathesis(
    target: Target,
    level: Level,
    *,
    max_examples: int,
    seed: int | None,
    context: checks.RunContext | None = None,
    max_time: float | None = None,
    app: Any = None,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
    prepared: PreparedSchemathesis | None = None,
) -> SchemathesisOutcome:
    """All schemathesis phases (examples, coverage, fuzzing; positive and negative data) with
    every built-in check, plus the per-response rules at the semantic and strict levels."""
    if prepared is None:
        prepared = prepare_schemathesis(
            target, level, max_examples=max_examples, seed=seed, context=context, app=app
        )
    run = _EngineRun(target, prepared, progress)
    if prepared.meter is not None:
        prepared.meter.on_spent("schemathesis", run.budget_spent)
    # schemathesis's own ``max-time`` is a budget it fills (fuzzing repeats until it is spent);
    # this is a cap instead: past the deadline the engines are told to stop after the requests
    # in flight (each bounded by the request timeout).
    watchdog = None
    if max_time is not None:
        watchdog = threading.Timer(max_time, run.expire)
        watchdog.daemon = True
        watchdog.start()
    try:
        if workers > 1:
            with ThreadPoolExecutor(max_workers=len(prepared.engines)) as pool:
                list(pool.map(run.shard, prepared.engines))
        else:
            for engine in prepared.engines:
                run.shard(engine)
    finally:
        if watchdog is not None:
            watchdog.cancel()
            watchdog.join()
    return run.finish(max_time)


class _EngineRun:
    """The engines of one schemathesis part as they run: what is running (to stop it at the
    time cap, when the budget is spent, or on the first failure with fail-fast) and the
    outcome they fill."""

    def __init__(
        self,
        target: Target,
        prepared: PreparedSchemathesis,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.target = target
        self.prepared = prepared
        self.progress = progress
        self.outcome = SchemathesisOutcome()
        self.started = time.monotonic()
        self.running: list[Any] = []
        self.lock = threading.Lock()
        self.expired = threading.Event()

    def expire(self) -> None:
        self.expired.set()
        self._stop_all()

    def _stop_all(self) -> None:
        with self.lock:
            for stream in self.running:
                stream.stop()

    def budget_spent(self) -> None:
        if not self.expired.is_set():
            self.outcome.notes.append(
                "schemathesis stopped when its share of the budget was spent "
                "(after the requests in flight)"
            )
        self.expire()

    def failed(self) -> bool:
        state = self.prepared.state
        with state.lock:
            return any(result.failed for result in state.results.values())

    def shard(self, item: tuple[str, Any]) -> None:
        """Run one engine (its label: the data it generates) to its end."""
        label, engine = item
        fail_fast = self.prepared.fail_fast
        if self.expired.is_set() or (fail_fast and self.failed()):
            return
        stream = engine.execute()
        with self.lock:
            self.running.append(stream)

        def labelled(line: str) -> None:
            if self.progress is not None:
                self.progress(line.replace("schemathesis:", f"schemathesis ({label} data):", 1))

        def redact(text: str) -> str:
            return redact_token(text, self.target.token)

        _consume(
            stream, self.outcome, self.prepared.state, labelled, redact, self.started, self.target
        )
        if fail_fast and self.failed():
            self._stop_all()

    def finish(self, max_time: float | None) -> SchemathesisOutcome:
        """The outcome: why it stopped early (time, fail-fast), every rule's result, and the
        requests schemathesis sent outside a test case counted."""
        outcome, prepared = self.outcome, self.prepared
        if (
            self.expired.is_set()
            and max_time is not None
            and not any("budget was spent" in note for note in outcome.notes)
        ):
            outcome.notes.append(f"schemathesis stopped at its time budget ({max_time:g}s)")
        if prepared.fail_fast and self.failed():
            outcome.notes.append(
                "fail fast: schemathesis stopped after the test scenario of its first failed "
                "check (the requests it had not sent yet were not sent, nor their checks run)"
            )
        outcome.results.update(prepared.state.results)
        if prepared.meter is not None:
            # the few requests schemathesis sends outside a test case (its auth and media-type
            # probes) do not reach the after_call hook; they are counted from its own record
            seen = sum(
                count
                for phase, count in prepared.meter.cost.requests.items()
                if phase.startswith("schemathesis ")
            )
            prepared.meter.add("schemathesis probes", outcome.cases - seen)
        return outcome


def _consume(
    stream: Any,
    outcome: SchemathesisOutcome,
    state: SchemathesisRun,
    say: Callable[[str], None],
    redact: Callable[[str], str],
    started: float,
    target: Target,
) -> None:
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
            with state.lock:
                outcome.cases += len(recorder.interactions)
            for nodes in recorder.checks.values():
                # every check is a rule of ours, judged and recorded by the check itself
                phase_failures += sum(1 for node in nodes if node.failure_info is not None)
        elif isinstance(event, events.NonFatalError):
            message = redact(str(event.info.message or event.value)).strip()
            title = redact(str(getattr(event.info, "title", "") or "error"))
            with state.lock:
                state.result(TRANSPORT_CHECK).record_failure(
                    Failure(
                        check=TRANSPORT_CHECK,
                        message=f"{title}: {message.splitlines()[0] if message else ''}",
                        expected="an HTTP response within the request timeout",
                        actual=message[:500],
                        reproducer=redact(str(getattr(event.info, "code_sample", "") or "")),
                    )
                )
        elif isinstance(event, events.FatalError):
            with state.lock:
                state.result(TRANSPORT_CHECK).record_failure(
                    Failure(
                        check=TRANSPORT_CHECK,
                        message=f"schemathesis stopped: {redact(str(event.exception))}",
                        expected="a complete run",
                        actual=type(event.exception).__name__,
                    )
                )
        elif isinstance(event, events.EngineFinished):
            if event.stop_reason == StopReason.SERVER_UNAVAILABLE:
                with state.lock:
                    state.result(TRANSPORT_CHECK).record_failure(
                        Failure(
                            check=TRANSPORT_CHECK,
                            message="the server stopped responding during the run",
                            expected="a server that keeps answering",
                            actual="server unavailable",
                        )
                    )
            for failure in event.failures:
                with state.lock:
                    state.result("after_run").record_failure(
                        Failure(check="after_run", message=redact(str(failure.message)))
                    )
