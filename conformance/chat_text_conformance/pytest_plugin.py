"""pytest plugin: the conformance suite as pytest tests, one test per check.

Installed with the package (entry point ``pytest11``), so it is loaded by every pytest run in an
environment that has ``chat-text`` installed. It does nothing unless enabled by an option::

    pytest --chat-text-base-url https://llm.example.com --chat-text-model my-model \\
           --chat-text-token "$TOKEN"            # or CHAT_TEXT_API_KEY in the environment
    pytest --chat-text-embedded                  # the reference server, for a smoke test

When enabled, the suite runs once at the end of collection and adds one test item per check
(``chat-text-conformance::<check>``), failing with what was expected and a curl reproducer.
Fixtures for a team's own tests: ``chat_text_target`` (a :class:`~chat_text_conformance.Target`)
and ``chat_text_report`` (the :class:`~chat_text_conformance.RunReport` of the run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._argtypes import workers as workers_type
from .engine.pacing import DEFAULT_MAX_WAIT
from .engine.target import Level, Target, token_from_env
from .reporting.summary import citation, verdict_text

if TYPE_CHECKING:
    from .reporting.results import CheckResult, RunReport

_TOKEN_ENV = "CHAT_TEXT_API_KEY"  # noqa: S105 - the name of an env var, not a token
_REPORT_KEY = pytest.StashKey["RunReport | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chat-text", "chat-text conformance suite")
    group.addoption(
        "--chat-text-base-url", help="run the conformance checks against this server base URL"
    )
    group.addoption(
        "--chat-text-embedded",
        action="store_true",
        help="run the conformance checks against the embedded reference server",
    )
    group.addoption("--chat-text-token", help=f"bearer token (default: ${_TOKEN_ENV})")
    group.addoption("--chat-text-model", help="model every request is pinned to")
    group.addoption("--chat-text-context-length", type=int, help="the model's context window")
    group.addoption(
        "--chat-text-level",
        choices=["schema", "semantic", "strict"],
        default="semantic",
        help="conformance level (default semantic)",
    )
    group.addoption("--chat-text-max-examples", type=int, default=25, help="budget per phase")
    group.addoption("--chat-text-seed", type=int, default=0, help="seed (default 0)")
    group.addoption("--chat-text-request-timeout", type=float, default=10.0)
    group.addoption(
        "--chat-text-workers",
        type=workers_type,
        default="auto",
        help="requests in flight: auto (default; adaptive, from 8) or a number",
    )
    group.addoption(
        "--chat-text-max-rate", type=float, help="at most this many requests per second"
    )
    group.addoption(
        "--chat-text-max-wait",
        type=float,
        default=DEFAULT_MAX_WAIT,
        help=f"seconds to spend waiting out 429/503 answers, in all (default {DEFAULT_MAX_WAIT:g})",
    )


def _enabled(config: pytest.Config) -> bool:
    return bool(
        config.getoption("--chat-text-base-url") or config.getoption("--chat-text-embedded")
    )


@contextlib.contextmanager
def _target(config: pytest.Config) -> Iterator[Target]:
    # lazy: pytest loads this plugin in every session (autoload); the reference server (~0.2 s)
    # and the suite's engines (~0.7 s) are imported only by a session that runs conformance
    from .engine.embedded import DEFAULT_MODEL, embedded

    timeout = float(config.getoption("--chat-text-request-timeout"))
    base_url = config.getoption("--chat-text-base-url")
    model = config.getoption("--chat-text-model")
    if not base_url:
        with embedded(model or DEFAULT_MODEL, request_timeout=timeout) as target:
            yield target
        return
    token = config.getoption("--chat-text-token") or token_from_env()
    if not token:
        raise pytest.UsageError(f"--chat-text-base-url needs --chat-text-token or ${_TOKEN_ENV}")
    if not model:
        raise pytest.UsageError("--chat-text-base-url needs --chat-text-model")
    yield Target(
        base_url=str(base_url).rstrip("/"),
        token=token,
        model=model,
        context_length=config.getoption("--chat-text-context-length"),
        request_timeout=timeout,
    )


class ConformanceCheckFailed(AssertionError):
    pass


class ConformanceCheckItem(pytest.Item):
    """One conformance check, already run; the item reports its outcome."""

    def __init__(self, *, result: CheckResult | None, setup_error: str | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.result = result
        self.setup_error = setup_error

    def runtest(self) -> None:
        if self.setup_error is not None:
            raise ConformanceCheckFailed(self.setup_error)
        assert self.result is not None
        if not self.result.ok:
            raise ConformanceCheckFailed(self._describe(self.result))
        if self.result.verdict != "passed":  # never shown as passed: it did not run
            pytest.skip(verdict_text(self.result))

    @staticmethod
    def _describe(result: CheckResult) -> str:
        lines = [f"{result.name}: failed {result.failed} time(s), passed {result.passed}"]
        lines += citation(result.name)
        for failure in result.failures:
            lines.append(f"- {failure.message}")
            if failure.expected:
                lines.append(f"  expected: {failure.expected}")
            if failure.actual:
                lines.append(f"  got: {failure.actual[:500]}")
            if failure.reproducer:
                lines.append("  reproduce: " + failure.reproducer[:1500])
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceCheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "chat-text-conformance", None, f"chat-text-conformance::{self.name}"


def _run_suite(config: pytest.Config) -> RunReport:
    from .engine.runner import run  # lazy: see _target

    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def progress(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[chat-text-conformance] {line}")

    with _target(config) as target:
        return run(
            target,
            Level(config.getoption("--chat-text-level")),
            max_examples=int(config.getoption("--chat-text-max-examples")),
            seed=config.getoption("--chat-text-seed"),
            progress=progress,
            workers=config.getoption("--chat-text-workers"),
            max_rate=config.getoption("--chat-text-max-rate"),
            max_wait=float(config.getoption("--chat-text-max-wait")),
        )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _enabled(config):
        return
    report = _run_suite(config)
    config.stash[_REPORT_KEY] = report
    if report.setup_error is not None:
        items.append(
            ConformanceCheckItem.from_parent(
                session,
                name="chat-text-conformance::setup",
                result=None,
                setup_error=f"set-up error: {report.setup_error}",
            )
        )
    elif report.unjudged_levels():
        items.append(
            ConformanceCheckItem.from_parent(
                session,
                name="chat-text-conformance::judged",
                result=None,
                setup_error=(
                    f"no rule of the {', '.join(report.unjudged_levels())} level(s) passed: "
                    "a run that judged nothing there cannot pass (see the skipped rules' reasons)"
                ),
            )
        )
    for result in report.results:
        items.append(
            ConformanceCheckItem.from_parent(
                session,
                name=f"chat-text-conformance::{result.group}::{result.name}",
                result=result,
                setup_error=None,
            )
        )


@pytest.fixture(scope="session")
def chat_text_target(pytestconfig: pytest.Config) -> Iterator[Target]:
    """The server under test (the embedded reference server unless a base URL is given)."""
    with _target(pytestconfig) as target:
        yield target


@pytest.fixture(scope="session")
def chat_text_report(pytestconfig: pytest.Config) -> RunReport:
    """The report of the conformance run (runs it now if the plugin was not enabled)."""
    report = pytestconfig.stash.get(_REPORT_KEY, None)
    if report is None:
        report = _run_suite(pytestconfig)
        pytestconfig.stash[_REPORT_KEY] = report
    return report
