"""What the proxy keeps of its run: each rule's result over every exchange, one
:class:`~chat_text_conformance.reporting.results.ExchangeRecord` per exchange, the cost,
the spec coverage, and the :class:`~chat_text_conformance.reporting.results.RunReport`
built from them.

Tokens are kept in memory only, to redact them: every text the ledger records (messages,
expected and actual values, paths) has every token seen so far replaced by
``$CHAT_TEXT_API_KEY``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from .. import checks
from ..catalogue import catalogue
from ..checks import CheckFailed, Outcome
from ..checks.builtins import PREFLIGHT
from ..engine.cost import Meter
from ..engine.pacing import PacingStats, is_busy, retry_delay
from ..engine.target import Level
from ..reporting.coverage import SpecCoverage
from ..reporting.reproducer import curl_command
from ..reporting.results import (
    CheckResult,
    ExchangeRecord,
    Failure,
    RequestRecord,
    RunReport,
    redact_token,
)
from .judging import TRANSPORT_RULE

__all__ = ["MULTI_CALL_REASON", "Ledger"]

MULTI_CALL_REASON = (
    "cannot apply on single exchanges: it compares several calls the suite makes itself "
    "(run chat-text-conformance)"
)
PREFLIGHT_REASON = "cannot apply on single exchanges: the suite's pre-flight request"
PHASE = "proxy"
"""The cost phase every relayed request is counted under."""


class Ledger:
    """Results of a proxy run (thread-safe: the proxy's loop records, anyone reads)."""

    def __init__(
        self,
        *,
        upstream: str,
        level: Level,
        context_length: int | None,
        max_records: int,
        say: Callable[[str], None] | None = None,
        on_violation: Callable[[], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.level = level
        self.context_length = context_length
        self.max_records = max_records
        self._say = say
        self._on_violation = on_violation
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._begun = 0
        self._ended = 0
        self._results: dict[str, CheckResult] = {}
        self._records: list[ExchangeRecord] = []
        self._outcomes: Counter[str] = Counter()
        self._invalid_requests = 0
        self._models: Counter[str] = Counter()
        self._busy_answers: Counter[int] = Counter()
        self._busy_without_header = 0
        self._tokens: set[str] = set()
        self.meter = Meter()
        self.coverage = SpecCoverage()
        """What of the spec the relayed calls exercised (``POST`` on the operation)."""
        self.started = time.time()
        self._clock = time.monotonic()
        self.listen_url = ""

    # -- redaction

    def remember_token(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._tokens.add(token)

    def tokens(self) -> list[str]:
        """Every token seen, longest first (so that a token inside another is not cut)."""
        with self._lock:
            return sorted(self._tokens, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for token in self.tokens():
            text = redact_token(text, token)
        return text

    # -- recording

    def begin(self) -> None:
        """An exchange started (:meth:`settle` waits for it to be recorded)."""
        with self._lock:
            self._begun += 1

    def settle(self, timeout: float) -> bool:
        """Wait until every exchange begun so far is recorded (at most ``timeout`` seconds)."""
        with self._settled:
            return self._settled.wait_for(lambda: self._ended >= self._begun, timeout)

    def _result(self, rule_id: str) -> CheckResult:
        result = self._results.get(rule_id)
        if result is None:
            kind = checks.get(rule_id).kind
            result = self._results[rule_id] = CheckResult(rule_id, kind)
        return result

    def record(
        self,
        *,
        number: int,
        method: str,
        path: str,
        model: str | None,
        exchange: checks.Exchange | None,
        outcome: Mapping[str, Outcome],
        request: RequestRecord | None,
        request_bytes: int,
        request_problem: str | None,
        upstream_error: str | None,
        judged: bool,
        stream: bool,
        call: bool = True,
        events: int | None,
        started: float,
        duration_ms: float,
        first_byte_ms: float | None,
        note: str | None,
    ) -> ExchangeRecord:
        """Account one exchange; returns its record (and says its line). ``judged``: the
        rules applied (the operation's path); ``call``: it was ``POST`` on the operation (what
        the spec coverage counts)."""
        path = self.redact(path)
        failed = [(rule, r) for rule, r in outcome.items() if isinstance(r, CheckFailed)]
        reproducer = curl_command(self.upstream, request) if request is not None else ""
        with self._lock:
            self._judge(outcome, upstream_error, judged, f"{method} {path}", reproducer, request)
            label = self._tally(failed, upstream_error, judged, exchange, request_problem, model)
            record = ExchangeRecord(
                number=number,
                method=method,
                path=path,
                status=exchange.status if exchange is not None else None,
                outcome=label,
                violated=tuple(rule for rule, _ in failed),
                messages=tuple(self._redacted(f"{rule}: {r.message}") for rule, r in failed),
                stream=stream,
                events=events,
                started=started,
                duration_ms=duration_ms,
                first_byte_ms=first_byte_ms,
                request_problem=self._redacted(request_problem) if request_problem else None,
                upstream_error=self._redacted(upstream_error) if upstream_error else None,
                note=self._redacted(note) if note else None,
                request=request if (failed or upstream_error is not None) else None,
            )
            if len(self._records) < self.max_records:
                self._records.append(record)
            self._ended += 1
            self._settled.notify_all()
        self._meter_exchange(exchange, request_bytes=request_bytes, judged=judged, call=call)
        if self._say is not None:
            self._say(line(record))
        if (failed or upstream_error is not None) and self._on_violation is not None:
            self._on_violation()
        return record

    def _judge(
        self,
        outcome: Mapping[str, Outcome],
        upstream_error: str | None,
        judged: bool,
        where: str,
        reproducer: str,
        request: RequestRecord | None,
    ) -> None:
        """Count each rule's outcome of one exchange, and the transport rule's (a failure when
        the upstream did not answer, a pass when the rules applied); ``where`` is the exchange's
        ``method path``. The lock held."""

        def failure(rule_id: str) -> Callable[[CheckFailed], Failure]:
            return lambda failed: Failure(
                check=rule_id,
                message=self._redacted(f"{where}: {failed.message}"),
                expected=self._redacted(failed.expected),
                actual=self._redacted(failed.actual),
                reproducer=reproducer,
                request=request,
            )

        for rule_id, result in outcome.items():
            checks.record(self._result(rule_id), result, failure(rule_id))
        if upstream_error is not None:
            self._result(TRANSPORT_RULE).record_failure(
                Failure(
                    check=TRANSPORT_RULE,
                    message=self._redacted(f"{where}: {upstream_error}"),
                    expected="a complete HTTP response within --request-timeout",
                    actual=self._redacted(upstream_error),
                    reproducer=reproducer,
                    request=request,
                )
            )
        elif judged:
            self._result(TRANSPORT_RULE).record_pass()

    def _tally(
        self,
        failed: list[tuple[str, CheckFailed]],
        upstream_error: str | None,
        judged: bool,
        exchange: checks.Exchange | None,
        request_problem: str | None,
        model: str | None,
    ) -> str:
        """Count one exchange in the run's tallies (its outcome, a busy answer, an invalid
        request, its model); returns its outcome's label. The lock held."""
        if failed:
            label = "violation"
        elif upstream_error is not None:
            label = "upstream error"
        elif not judged:
            label = "not judged"
        elif exchange is not None and is_busy(exchange.status):
            label = "rate-limited"
            self._busy_answers[exchange.status] += 1
            self._busy_without_header += retry_delay(exchange.headers) is None
        else:
            label = "pass"
        self._outcomes[label] += 1
        if request_problem is not None:
            self._invalid_requests += 1
        if model is not None:
            self._models[model] += 1
        return label

    def _meter_exchange(
        self, exchange: checks.Exchange | None, *, request_bytes: int, judged: bool, call: bool
    ) -> None:
        """Count one exchange's cost (a call without an answer counts as a call only) and,
        when it was ``POST`` on the operation and judged, what of the spec it exercised."""
        if exchange is not None:
            # the tokens from the answer the rules already parsed, not from a parse of its own
            self.meter.record(
                request_bytes=request_bytes,
                status=exchange.status,
                content_type=exchange.content_type,
                body=b"",
                phase=PHASE,
            )
            answer = exchange.answer if exchange.status == 200 and judged else None
            counts = answer.usage_counts() if answer is not None else None
            if counts is not None and exchange.cut_short is None:
                with self._lock:
                    self.meter.cost.prompt_tokens += counts[0]
                    self.meter.cost.completion_tokens += counts[1]
            if judged and call:
                self.coverage.observe(exchange)
        else:
            self.meter.add(PHASE, 1)

    def _redacted(self, text: str) -> str:
        for token in sorted(self._tokens, key=len, reverse=True):
            text = redact_token(text, token)
        return text

    # -- reading

    @property
    def exchanges(self) -> int:
        with self._lock:
            return sum(self._outcomes.values())

    def outcomes(self) -> Counter[str]:
        with self._lock:
            return Counter(self._outcomes)

    def records(self) -> list[ExchangeRecord]:
        with self._lock:
            return list(self._records)

    @property
    def violated(self) -> bool:
        """Whether any exchange broke a rule (an upstream error included)."""
        with self._lock:
            return any(not result.ok for result in self._results.values())

    def report(self) -> RunReport:
        """The run so far, as the suite's report (every rule of the level, in catalogue order)."""
        with self._lock:
            results: list[CheckResult] = []
            for rule in catalogue(level=self.level):
                if rule.kind == "client":
                    continue
                if rule.id in self._results:
                    results.append(_copy(self._results[rule.id]))
                    continue
                result = CheckResult(rule.id, rule.kind)
                if rule.kind == "property":
                    result.record_not_exercised(MULTI_CALL_REASON)
                elif rule.id == PREFLIGHT:
                    result.record_not_exercised(PREFLIGHT_REASON)
                else:
                    result.record_not_exercised("no exchange it applies to was relayed")
                results.append(result)
            outcomes = dict(self._outcomes)
            records = list(self._records)
            invalid = self._invalid_requests
            model = self._models.most_common(1)[0][0] if self._models else ""
            pacing = PacingStats(
                busy_answers=Counter(self._busy_answers),
                without_retry_after=self._busy_without_header,
                relayed=True,
            )
        total = sum(outcomes.values())
        notes = [
            f"proxy: {total} exchange(s) relayed to {self.upstream}"
            + (
                ": " + ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items()))
                if outcomes
                else ""
            )
        ]
        if invalid:
            notes.append(
                f"proxy: {invalid} request(s) from the client(s) are invalid against the spec "
                "(see request_problem in report.json); the server's answers to them are judged "
                "by negative_data_rejection"
            )
        if total > len(records):
            notes.append(
                f"proxy: the report lists the first {len(records)} of {total} exchanges "
                "(every exchange is counted in the rules' results)"
            )
        notes.append(
            "proxy: rules that compare several calls (properties) and the suite's pre-flight "
            "cannot apply on single exchanges; client rules: chat-text-conformance --client"
        )
        through = f"through the proxy at {self.listen_url}" if self.listen_url else "proxied"
        report = RunReport(
            target=f"{self.upstream} ({through})",
            level=self.level.value,
            seed=None,
            max_examples=0,
            results=results,
            duration=time.monotonic() - self._clock,
            notes=notes,
            base_url=self.upstream,
            model=model,
            context_length=self.context_length,
            cost=self.meter.cost,
            exchanges=records,
        )
        report.coverage = self.coverage
        report.pacing = pacing
        # one exchange shows no rule of the strict level (they compare several calls): the proxy
        # claims the levels below it only
        report.claims = tuple(level for level in report.claimed_levels if level != "strict")
        return report


def _copy(result: CheckResult) -> CheckResult:
    copy = CheckResult(result.name, result.group)
    copy.merge(result)
    return copy


def line(record: ExchangeRecord) -> str:
    """The live line of one exchange."""
    status = "-" if record.status is None else str(record.status)
    kind = ""
    if record.status is not None:
        kind = f" stream {record.events or 0} event(s)" if record.stream else ""
    head = (
        f"#{record.number} {record.method} {record.path} {status}{kind} {record.duration_ms:.1f} ms"
    )
    if record.outcome == "violation":
        verdict = "VIOLATION " + ", ".join(record.violated)
    elif record.outcome == "upstream error":
        verdict = f"UPSTREAM ERROR {record.upstream_error}"
    else:
        verdict = record.outcome
    extras = []
    if record.outcome == "violation" and record.upstream_error:
        extras.append(f"upstream error: {record.upstream_error}")
    if record.request_problem:
        extras.append(f"request invalid: {record.request_problem}")
    if record.note:
        extras.append(record.note)
    return f"{head}: {verdict}" + "".join(f" [{extra}]" for extra in extras)
