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

    @property
    def ok(self) -> bool:
        return self.setup_error is None and all(result.ok for result in self.results)

    @property
    def passed(self) -> int:
        """Checks (by name) that had no failure."""
        return sum(1 for result in self.results if result.ok)

    @property
    def failed(self) -> int:
        """Checks (by name) that failed at least once."""
        return sum(1 for result in self.results if not result.ok)

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
