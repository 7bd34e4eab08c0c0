"""One process's verdicts: each rule's result over the exchanges it judged (recorded with
:func:`~chat_text_conformance.checks.record`, as every front end records), the failures kept
with their request and curl reproducer, in a form a worker can send the master
(:meth:`Book.take`) and the master can add up (:meth:`Book.merge`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from .. import checks
from ..checks import CheckFailed, Outcome
from ..reporting.reproducer import curl_command
from ..reporting.results import CheckResult, Failure, RequestRecord

__all__ = ["Book", "result_from_wire", "result_to_wire"]

KEEP = 5
"""Failures kept per rule (every failure is counted)."""


def _failure_to_wire(failure: Failure) -> dict[str, Any]:
    return {
        "check": failure.check,
        "message": failure.message,
        "expected": failure.expected,
        "actual": failure.actual,
        "reproducer": failure.reproducer,
        "request": None if failure.request is None else failure.request.to_json(),
    }


def _failure_from_wire(data: dict[str, Any]) -> Failure:
    request = data.get("request")
    return Failure(
        check=str(data["check"]),
        message=str(data["message"]),
        expected=str(data["expected"]),
        actual=str(data["actual"]),
        reproducer=str(data["reproducer"]),
        request=None if request is None else RequestRecord.from_json(request),
    )


def result_to_wire(result: CheckResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "group": result.group,
        "passed": result.passed,
        "failed": result.failed,
        "inconclusive": result.inconclusive,
        "failures": [_failure_to_wire(f) for f in result.failures],
        "not_exercised": dict(result.not_exercised),
        "inconclusive_reasons": dict(result.inconclusive_reasons),
        "note": result.note,
    }


def result_from_wire(data: dict[str, Any]) -> CheckResult:
    return CheckResult(
        name=str(data["name"]),
        group=str(data["group"]),
        passed=int(data["passed"]),
        failed=int(data["failed"]),
        inconclusive=int(data["inconclusive"]),
        failures=[_failure_from_wire(f) for f in data["failures"]],
        not_exercised=Counter({str(k): int(v) for k, v in data["not_exercised"].items()}),
        inconclusive_reasons=Counter(
            {str(k): int(v) for k, v in data["inconclusive_reasons"].items()}
        ),
        note=str(data["note"]),
    )


def _unused(failed: CheckFailed) -> Failure:  # pragma: no cover - no rule failed
    raise AssertionError("no failure to keep")


class Book:
    """Rule results by rule id (not thread-safe: one process's greenlets share one, and
    gevent switches only where they wait on I/O)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.results: dict[str, CheckResult] = {}

    def _result(self, rule_id: str) -> CheckResult:
        result = self.results.get(rule_id)
        if result is None:
            result = self.results[rule_id] = CheckResult(rule_id, checks.get(rule_id).kind)
        return result

    def record(
        self,
        outcome: Mapping[str, Outcome],
        request: RequestRecord | Callable[[], RequestRecord],
        where: str,
    ) -> list[str]:
        """Count one exchange's outcomes; the ids of the rules it broke. ``request``: the
        request as sent, or what makes it (called only when a rule failed); ``where``: what
        the failure message starts with (the request's kind and number)."""
        broken = [rule_id for rule_id, r in outcome.items() if isinstance(r, CheckFailed)]
        if not broken:  # what nearly every exchange is: ~30 rules each, so no call to spare
            results, count = self.results, checks.record
            for rule_id, result in outcome.items():
                kept = results.get(rule_id)
                count(self._result(rule_id) if kept is None else kept, result, _unused)
            return broken
        record = request if isinstance(request, RequestRecord) else request()
        reproducer = curl_command(self.base_url, record)
        for rule_id, result in outcome.items():

            def failure(failed: CheckFailed, rule_id: str = rule_id) -> Failure:
                return Failure(
                    check=rule_id,
                    message=f"{where}: {failed.message}",
                    expected=failed.expected,
                    actual=failed.actual,
                    reproducer=reproducer,
                    request=record,
                )

            checks.record(self._result(rule_id), result, failure)
        return broken

    def record_failure(self, rule_id: str, failure: Failure) -> None:
        self._result(rule_id).record_failure(failure, keep=KEEP)

    def record_pass(self, rule_id: str) -> None:
        self._result(rule_id).record_pass()

    def merge(self, other: Book) -> None:
        for rule_id, result in other.results.items():
            mine = self.results.get(rule_id)
            if mine is None:
                mine = self.results[rule_id] = CheckResult(result.name, result.group)
            mine.merge(result)

    def take(self) -> dict[str, Any]:
        """What was recorded since the last take, in wire form; the book starts empty again."""
        taken = [result_to_wire(result) for result in self.results.values()]
        self.results = {}
        return {"results": taken}

    @classmethod
    def from_wire(cls, data: dict[str, Any], base_url: str = "") -> Book:
        book = cls(base_url)
        for item in data["results"]:
            result = result_from_wire(item)
            book.results[result.name] = result
        return book

    @property
    def violated(self) -> bool:
        return any(not result.ok for result in self.results.values())
