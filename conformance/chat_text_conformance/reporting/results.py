"""Outcomes of conformance checks, shared by the server checks, the client checks, the CLI,
the pytest plugin, the reports and ``replay``.

A rule's outcome on one response or example is one of four:

* **passed**: it applied and held;
* **failed**: the server's answer contradicts the rule (a :class:`Failure`, replayable);
* **not exercised**: it did not apply, or the suite could not build the input it needs
  (a reason is kept, e.g. "the server sent usage: null");
* **inconclusive**: the suite stopped reading before it could judge (its own cap on stream
  events, bytes or time was hit). Never a failure.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.cost import Cost
    from ..engine.pacing import PacingStats
    from .coverage import SpecCoverage

TOKEN_PLACEHOLDER = "$CHAT_TEXT_API_KEY"  # noqa: S105 - the shell variable reproducers use
"""What reproducers and reports show in place of the bearer token."""

TOKEN_FORMS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ('$(printf %s "$CHAT_TEXT_API_KEY" | tr a-zA-Z A-Za-z)', str.swapcase),
    ("${CHAT_TEXT_API_KEY%?}", lambda token: token[:-1]),
    (TOKEN_PLACEHOLDER, lambda token: token),
)
"""Shell expressions standing for the token and for values derived from it that requests carry
(the token in swapped case, the token without its last character): reproducers and reports show
these, never the token or most of it. ``RequestRecord.headers_for`` turns them back."""

_OLD_TOKEN_FORMS: tuple[tuple[str, Callable[[str], str]], ...] = tuple(
    (form.replace("CHAT_TEXT_API_KEY", "CHAT_TEXT_TOKEN"), derive) for form, derive in TOKEN_FORMS
)
"""The same forms under the variable's old name, in reports written before it changed: replay
still turns them back."""

LEVELS = ("schema", "semantic", "strict")
"""The levels, lowest first (a run at one level claims every level below it too)."""

_MIN_DERIVED = 6
"""Derived values shorter than this are left alone (too short to give the token away)."""


_SHORT_TOKEN = 8


def redact_token(text: str, token: str | None) -> str:
    """``text`` with the token, and the values :data:`TOKEN_FORMS` derive from it, replaced by
    their shell expressions."""
    if not token:
        return text
    if len(token) < _SHORT_TOKEN:
        # a short token also occurs inside ordinary words ("tok" in "max_tokens"): replace it
        # only where it stands alone
        pattern = rf"(?<![\w.~+/-]){re.escape(token)}(?![\w.~+/-])"
        return re.sub(pattern, TOKEN_PLACEHOLDER, text)
    text = text.replace(token, TOKEN_PLACEHOLDER)
    for form, derive in TOKEN_FORMS[:-1]:
        value = derive(token)
        if len(value) >= _MIN_DERIVED and value != token and value in text:
            text = text.replace(value, form)
    return text


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request exactly as sent, minus the token: enough to send it again."""

    method: str
    path: str
    """The path (and query) below the target's base URL, e.g. ``/inference/chat_text``."""
    headers: tuple[tuple[str, str], ...]
    """Header name/value pairs; the token is replaced with ``$CHAT_TEXT_API_KEY``."""
    body: bytes | None = None

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        headers: Any,
        body: bytes | None,
        token: str | None,
    ) -> RequestRecord:
        pairs: list[tuple[str, str]] = []
        items = headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            if isinstance(value, list | tuple):
                value = value[0] if value else ""
            name, value = str(name), str(value)
            if name.lower() in {"content-length", "host", "user-agent", "accept-encoding"}:
                continue
            if name.lower() == "connection" or name.lower().startswith("x-schemathesis"):
                continue
            pairs.append((name, redact_token(value, token)))
        return cls(method.upper(), path, tuple(pairs), body)

    def headers_for(self, token: str) -> dict[str, str]:
        """The headers to send again, with the token (and what was derived from it) put back."""
        headers: dict[str, str] = {}
        for name, value in self.headers:
            for form, derive in (*TOKEN_FORMS, *_OLD_TOKEN_FORMS):
                value = value.replace(form, derive(token))
            headers[name] = value
        return headers

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "headers": [list(pair) for pair in self.headers],
        }
        if self.body is not None:
            try:
                data["body"] = self.body.decode("utf-8")
            except UnicodeDecodeError:
                data["body_base64"] = base64.b64encode(self.body).decode()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        body: bytes | None = None
        if "body" in data:
            body = str(data["body"]).encode("utf-8")
        elif "body_base64" in data:
            body = base64.b64decode(data["body_base64"])
        headers = tuple((str(k), str(v)) for k, v in data.get("headers", []))
        return cls(str(data["method"]), str(data["path"]), headers, body)


@dataclass(frozen=True)
class Failure:
    """One failed check on one request (or one generated body, for client checks)."""

    check: str
    """Id of the rule, e.g. ``usage_total_is_sum``."""
    message: str
    """What went wrong, in one sentence."""
    expected: str = ""
    """What the rule expected."""
    actual: str = ""
    """What came back (status, error body or the offending field)."""
    reproducer: str = ""
    """A ready-to-paste reproducer (curl with ``$CHAT_TEXT_API_KEY``, or a Python snippet)."""
    request: RequestRecord | None = None
    """The request that got the answer, for ``replay`` (``None`` for client checks)."""
    requests: tuple[RequestRecord, ...] = ()
    """Earlier requests the rule compared this answer with (a property's other calls)."""


@dataclass
class CheckResult:
    """How one rule fared over a run."""

    name: str
    group: str
    """``schema`` (schemathesis built-ins), ``response`` (per-response rules), ``property``
    (targeted properties) or ``client``."""
    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    failures: list[Failure] = field(default_factory=list)
    not_exercised: Counter[str] = field(default_factory=Counter)
    """Why the rule did not apply, with how often (shown when it never applied)."""
    inconclusive_reasons: Counter[str] = field(default_factory=Counter)
    note: str = ""

    def record_pass(self) -> None:
        self.passed += 1

    def record_failure(self, failure: Failure, keep: int = 5) -> None:
        self.failed += 1
        if len(self.failures) < keep:
            self.failures.append(failure)

    def record_not_exercised(self, reason: str) -> None:
        self.not_exercised[reason] += 1

    def record_inconclusive(self, reason: str) -> None:
        self.inconclusive += 1
        self.inconclusive_reasons[reason] += 1

    def merge(self, other: CheckResult) -> None:
        self.passed += other.passed
        self.inconclusive += other.inconclusive
        self.not_exercised.update(other.not_exercised)
        self.inconclusive_reasons.update(other.inconclusive_reasons)
        for failure in other.failures:
            self.record_failure(failure)
        self.failed += other.failed - len(other.failures)
        if other.note and not self.note:
            self.note = other.note

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def verdict(self) -> str:
        """``failed``, ``passed``, ``inconclusive`` or ``not exercised``."""
        if self.failed:
            return "failed"
        if self.passed:
            return "passed"
        if self.inconclusive:
            return "inconclusive"
        return "not exercised"

    @property
    def why_not(self) -> str:
        """The most frequent reason for not exercising / inconclusive outcomes."""
        reasons = self.inconclusive_reasons if self.inconclusive else self.not_exercised
        if self.note:
            return self.note
        return reasons.most_common(1)[0][0] if reasons else ""


@dataclass(frozen=True)
class ExchangeRecord:
    """One request the validation proxy (``chat-text-conformance proxy``) relayed, and its
    verdict."""

    number: int
    """Position in the proxy's run, from 1."""
    method: str
    path: str
    """Path and query as the client sent them (the token, if any, redacted)."""
    status: int | None
    """The upstream's status (``None``: no answer came)."""
    outcome: str
    """``pass``, ``violation`` (rules failed), ``upstream error`` (no complete answer: refused,
    reset or timed out; a failure of ``server_answers_every_request``) or ``not judged`` (a path
    the spec does not document, or a request the proxy did not relay)."""
    violated: tuple[str, ...] = ()
    """Ids of the rules the exchange broke."""
    messages: tuple[str, ...] = ()
    """One line per broken rule (``rule: what``), redacted."""
    stream: bool = False
    """Whether the answer was an event stream."""
    events: int | None = None
    """Data events of a streamed answer."""
    started: float = 0.0
    """Unix time the request arrived."""
    duration_ms: float = 0.0
    first_byte_ms: float | None = None
    """Milliseconds from the request's arrival to the first body byte relayed."""
    request_problem: str | None = None
    """Why the request itself is invalid against the spec (``None``: valid or not judged)."""
    upstream_error: str | None = None
    """What went wrong on the way to or from the upstream."""
    note: str | None = None
    """Anything else: what ``--enforce`` did, a client that went away, a body past the cap."""
    request: RequestRecord | None = None
    """The request (token redacted), kept for exchanges that broke a rule: the reproducer."""

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "outcome": self.outcome,
            "violated": list(self.violated),
            "messages": list(self.messages),
            "stream": self.stream,
            "events": self.events,
            "started": round(self.started, 3),
            "duration_ms": round(self.duration_ms, 3),
            "first_byte_ms": None if self.first_byte_ms is None else round(self.first_byte_ms, 3),
            "request_problem": self.request_problem,
            "upstream_error": self.upstream_error,
            "note": self.note,
        }


@dataclass
class RunReport:
    """The outcome of one conformance run: every check's result plus run-wide facts."""

    target: str
    """Where the run went (base URL and model; never the token)."""
    level: str
    """``schema``, ``semantic`` or ``strict``."""
    seed: int | None
    max_examples: int
    results: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0
    """Wall time of the run in seconds."""
    cases: int = 0
    """Requests the schemathesis part sent (generated test cases, including shrinking)."""
    schemathesis_seconds: float = 0.0
    """Wall time of the schemathesis part alone."""
    setup_error: str | None = None
    """Set when the run could not start properly (unreachable server, rejected token): the
    suite then failed without testing anything else."""
    notes: list[str] = field(default_factory=list)
    """Things a reader should know (a part skipped, a budget reached)."""
    base_url: str = ""
    """The target's base URL (for ``replay``)."""
    model: str = ""
    workers: int | str = 1
    """Requests in flight the run was given: a number or ``"auto"`` (what the adaptive
    concurrency did is in ``pacing``)."""
    context_length: int | None = None
    """The model's context window the run was given (``replay`` re-runs properties with it)."""
    cost: Cost | None = None
    """What the run spent (requests by phase, 200 answers, tokens, request bytes)."""
    coverage: SpecCoverage | None = None
    """What of the spec the run exercised (set by the suite's runner and by the proxy)."""
    min_coverage: float | None = None
    """``--min-coverage``: the run fails when ``coverage.score`` is below it (percent)."""
    exchanges: list[ExchangeRecord] | None = None
    """The validation proxy's exchanges, one per relayed request (``None`` for suite runs)."""
    started_at: float | None = None
    """Unix time the run started (``None``: not recorded)."""
    pacing: PacingStats | None = None
    """Busy answers (429, 503) met, re-sent and waited out; the requests in flight."""
    claims: tuple[str, ...] | None = None
    """The levels the run can judge, when fewer than every level up to ``level`` (the proxy:
    no rule of the strict level can be shown by one exchange)."""

    @property
    def coverage_ok(self) -> bool:
        """False only when a minimum is set and the coverage is missing or below it."""
        if self.min_coverage is None:
            return True
        return self.coverage is not None and self.coverage.score >= self.min_coverage

    @property
    def claimed_levels(self) -> tuple[str, ...]:
        """The levels the run claims to have judged: every level up to its own (``claims``
        when the producer can judge fewer, e.g. the proxy; none for a client run)."""
        if self.claims is not None:
            return self.claims
        if self.level not in LEVELS:
            return ()
        return LEVELS[: LEVELS.index(self.level) + 1]

    def unjudged_levels(self) -> list[str]:
        """Claimed levels at which not one rule passed: nothing there was judged, so the run
        cannot be green (a rule not exercised or inconclusive is never a pass)."""
        # at call time: the checks package imports this module (CheckResult, Failure)
        from ..checks.registry import get

        judged: set[str] = set()
        for result in self.results:
            if result.verdict != "passed":
                continue
            try:
                judged.add(get(result.name).level.value)
            except KeyError:  # a row of the run itself (after_run), not a rule
                continue
        return [level for level in self.claimed_levels if level not in judged]

    @property
    def ok(self) -> bool:
        """Green: no set-up error, no failure, the coverage minimum met, and at least one rule
        passed at each level the run claims."""
        return (
            self.setup_error is None
            and all(result.ok for result in self.results)
            and self.coverage_ok
            and (self.passed > 0 if self.level == "client" else not self.unjudged_levels())
        )

    @property
    def verdict(self) -> str:
        """``passed``, ``failed``, ``set-up error`` or ``not judged`` (nothing failed, but a
        claimed level had no rule that passed)."""
        if self.setup_error is not None:
            return "set-up error"
        if self.failed or not self.coverage_ok:
            return "failed"
        return "passed" if self.ok else "not judged"

    @property
    def passed(self) -> int:
        """Rules that passed: applied and held at least once, never failed."""
        return sum(1 for result in self.results if result.verdict == "passed")

    @property
    def failed(self) -> int:
        """Rules that failed at least once."""
        return sum(1 for result in self.results if not result.ok)

    @property
    def not_exercised(self) -> int:
        """Rules that never applied, or whose input the suite could not build."""
        return sum(1 for result in self.results if result.verdict == "not exercised")

    @property
    def inconclusive(self) -> int:
        """Rules the suite could not judge (its own caps; only rate-limited answers)."""
        return sum(1 for result in self.results if result.verdict == "inconclusive")

    @property
    def cases_per_second(self) -> float:
        """Throughput of the schemathesis part."""
        seconds = self.schemathesis_seconds or self.duration
        return self.cases / seconds if seconds > 0 else 0.0

    def result(self, name: str) -> CheckResult | None:
        """The result of the check called ``name``, if it ran."""
        for result in self.results:
            if result.name == name:
                return result
        return None

    def failures(self) -> list[Failure]:
        return [failure for result in self.results for failure in result.failures]
