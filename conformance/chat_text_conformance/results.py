"""Outcomes of conformance checks, shared by the server checks, the client checks, the CLI,
the pytest plugin and the reports (JUnit XML, JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Failure:
    """One failed check on one request (or one generated body, for client checks)."""

    check: str
    """Name of the check, e.g. ``usage_sums``."""
    message: str
    """What went wrong, in one sentence."""
    expected: str = ""
    """What the check expected."""
    actual: str = ""
    """What came back."""
    reproducer: str = ""
    """A minimal way to reproduce: a curl command (token redacted) or a Python snippet."""


@dataclass
class CheckResult:
    """How one named check fared over a run."""

    name: str
    group: str
    """``schema`` (built-in schemathesis checks), ``response`` (per-response LLM checks),
    ``property`` (targeted hypothesis properties) or ``client``."""
    passed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)

    def record_pass(self) -> None:
        self.passed += 1

    def record_failure(self, failure: Failure, keep: int = 5) -> None:
        self.failed += 1
        if len(self.failures) < keep:
            self.failures.append(failure)

    @property
    def ok(self) -> bool:
        return self.failed == 0
