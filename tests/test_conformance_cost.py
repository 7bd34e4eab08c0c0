"""What a run spends: counted for every part, reported everywhere, held to a budget."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_text_conformance import Level, Target, embedded, run
from chat_text_conformance.catalogue import catalogue
from chat_text_conformance.cli import main
from chat_text_conformance.engine.cost import SCHEMATHESIS_SHARE, Meter, estimate, window_bound
from chat_text_conformance.properties import run_properties
from chat_text_conformance.reporting.results import RunReport
from chat_text_testkit.mutations import MUTATIONS, REFERENCE, Mutation, mutation_server

from chat_text_server import create_app
from chat_text_server.testing import PromptCounter, Received, running_server

SEED = 1
TOKEN = "cost-test-token-5f1a"
# The window rules and the per-response rule that judges their answers' usage
WINDOW_PROPERTIES = (
    "max_tokens_lowered_to_fit",
    "context_window_boundary",
    "prompt_too_long_when_kept_messages_overflow",
)
WINDOW_RULES = frozenset({*WINDOW_PROPERTIES, "usage_within_context_window"})
PROPERTY_RULES = {rule.id for rule in catalogue(kind="property")}
# The fault catalogue's window faults: their rules are window rules, or they break truncation
# (which decides what is kept near the window)
WINDOW_FAULTS = [m for m in MUTATIONS if m.rules & WINDOW_RULES or m.name.startswith("truncation_")]
MAX_BYTES_AT_128K = 4_000_000
full_only = pytest.mark.skipif(
    not os.environ.get("CHAT_TEXT_CONFORMANCE_FULL"),
    reason="set CHAT_TEXT_CONFORMANCE_FULL=1 (tox -e conformance-full)",
)


@pytest.fixture(scope="module")
def base() -> Iterator[Target]:
    with embedded("chat-text-base", in_process=False) as target:  # an 8,192-token window
        yield target


def test_every_request_is_counted_by_phase(base: Target) -> None:
    report = run(base, Level.SEMANTIC, max_examples=3, seed=SEED)
    assert report.ok
    cost = report.cost
    assert cost is not None
    phases = set(cost.requests)
    assert "pre-flight" in phases
    assert {p for p in phases if p.startswith("schemathesis ")} >= {
        "schemathesis examples+coverage (positive)",
        "schemathesis coverage (negative)",
        "schemathesis fuzzing",
    }
    assert any(p.startswith("property truncation_keeps_newest_turns") for p in phases)
    schemathesis = sum(n for p, n in cost.requests.items() if p.startswith("schemathesis"))
    assert schemathesis == report.cases
    assert 0 < cost.answers_200 < cost.total_requests
    assert cost.prompt_tokens > cost.completion_tokens > 0
    assert cost.request_bytes > cost.total_requests * 20


def test_the_default_level_stays_within_its_published_cost(base: Target) -> None:
    """The published figures (docs/conformance.md): <= 400 requests, <= 150,000 prompt tokens."""
    report = run(base, Level.SEMANTIC, max_examples=25, seed=SEED)
    assert report.ok
    assert report.cost is not None
    assert report.cost.total_requests <= 400
    assert report.cost.prompt_tokens <= 150_000


@pytest.mark.parametrize("workers", [1, 4])
def test_a_request_budget_is_never_exceeded_beyond_requests_in_flight(
    base: Target, workers: int
) -> None:
    budget = 120
    report = run(
        base, Level.SEMANTIC, max_examples=25, seed=SEED, max_requests=budget, workers=workers
    )
    assert report.cost is not None
    # schemathesis stops its engines after the requests in flight (one each): three, as a
    # budgeted run does not split the coverage shards whatever the workers
    engines = 3
    assert report.cost.total_requests <= budget + engines
    schemathesis = sum(n for p, n in report.cost.requests.items() if p.startswith("schemathesis"))
    assert schemathesis <= int(budget * SCHEMATHESIS_SHARE) + engines
    assert any("budget" in note for note in report.notes)
    starved = [r for r in report.results if r.verdict == "not exercised" and "budget" in r.why_not]
    assert starved, "a check whose share ran out says so"
    assert report.ok  # running out of budget is never a failure


def test_a_token_budget_is_honoured(base: Target) -> None:
    budget = 20_000
    report = run(base, Level.SEMANTIC, max_examples=25, seed=SEED, max_tokens=budget)
    assert report.cost is not None
    spent = report.cost.total_tokens
    # each request is admitted only while tokens are left; one answer can overshoot the last
    # admission by at most one prompt near the window (8,192) plus its answer
    assert spent <= budget + 8_192 + 4_096
    assert report.ok


def test_meter_refuses_when_a_share_is_spent() -> None:
    meter = Meter(max_requests=10)
    meter.limit("part", 3, None)
    assert [meter.admit("p", "part") for _ in range(3)] == [None, None, None]
    refused = meter.admit("p", "part")
    assert refused is not None and "share of 3 requests" in refused
    for _ in range(7):
        assert meter.admit("q") is None
    assert "budget of 10 requests" in (meter.admit("q") or "")
    assert meter.cost.total_requests == 10


def test_cost_is_in_the_summary_json_and_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--max-examples",
            "2",
            "--seed",
            "1",
            "-q",
            "--max-requests",
            "150",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "cost: " in out and "(budget: max 150 requests)" in out
    data = json.loads((tmp_path / "report.json").read_text())
    cost = data["cost"]
    assert cost["requests"] == sum(cost["requests_by_phase"].values()) <= 150 + 3
    assert {"answers_200", "prompt_tokens", "completion_tokens", "request_bytes"} <= set(cost)
    assert cost["wall_seconds"] > 0
    suite = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own report
    names = {p.get("name") for p in suite.iter("property")}
    assert {
        "cost.requests",
        "cost.prompt_tokens",
        "cost.max_requests",
        "cost.wall_seconds",
    } <= names
    assert any(name and name.startswith("cost.requests.property ") for name in names)


def test_budget_flags_reject_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--max-requests", "0"])
    assert exit_info.value.code == 2
    assert "--max-requests" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Cost bounded by the window: counted by the server, from what it receives


def _counted_run(window: int, **options: object) -> tuple[RunReport, Received]:
    """A default-level run against the reference server serving one model with ``window``,
    and what the server received (every request's prompt tokens by its own tokenizer)."""
    counter = PromptCounter(create_app([TOKEN], models={"chat-text-w": window}))
    with running_server(counter, tokens=[TOKEN]) as url:
        target = Target(url, TOKEN, "chat-text-w", context_length=window)
        report = run(target, Level.SEMANTIC, max_examples=25, seed=SEED, **options)  # type: ignore[arg-type]
    return report, counter.received


def _assert_bounded_and_exercised(window: int) -> Received:
    report, received = _counted_run(window)
    assert report.ok
    assert received.prompt_tokens <= window_bound(window), received
    by_name = {r.name: r for r in report.results}
    for name in WINDOW_PROPERTIES:
        result = by_name[name]
        assert result.verdict == "passed" and not result.not_exercised, (name, result)
    # the near-window prompts were sent: at least one of W-1 and one of W tokens
    assert received.prompt_tokens >= 2 * window - 1
    return received


@pytest.mark.parametrize("window", [512, 8_192])
def test_a_default_run_sends_at_most_three_windows_of_prompt_tokens(window: int) -> None:
    _assert_bounded_and_exercised(window)


@full_only
@pytest.mark.parametrize("window", [32_768, 131_072])
def test_a_default_run_at_large_windows_sends_at_most_three_windows(window: int) -> None:
    received = _assert_bounded_and_exercised(window)
    if window == 131_072:
        assert received.request_bytes <= MAX_BYTES_AT_128K


def _caught(server_window: int, mutation: Mutation) -> set[str]:
    with mutation_server(REFERENCE, window=server_window) as server:
        target = Target(
            server.base_url, server.token, server.model, context_length=server.context_length
        )
        with server.mutated(mutation):
            outcome = run_properties(
                target,
                Level.SEMANTIC,
                max_examples=3,
                seed=SEED,
                only=sorted({*WINDOW_PROPERTIES, *(mutation.rules & PROPERTY_RULES)}),
            )
    failed = {r.name for r in outcome.properties if not r.ok}
    return failed | {name for name, r in outcome.responses.items() if not r.ok}


def _assert_window_faults_caught(window: int) -> None:
    assert {m.name for m in WINDOW_FAULTS} >= {
        "max_tokens_not_lowered",
        "max_tokens_lowered_one_too_far",
        "one_token_of_room_refused",
        "full_window_accepted",
        "truncation_evicts_system",
    }
    missed = [m.name for m in WINDOW_FAULTS if not _caught(window, m) & m.rules]
    assert not missed, f"window faults missed at a {window}-token window: {missed}"


def test_window_faults_are_caught_with_the_shared_edge() -> None:
    _assert_window_faults_caught(8_192)


@full_only
def test_window_faults_are_caught_at_a_131072_token_window() -> None:
    _assert_window_faults_caught(131_072)


def test_dry_run_prints_the_cost_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    counter = PromptCounter(create_app([TOKEN], models={"chat-text-w": 131_072}))
    with running_server(counter, tokens=[TOKEN]) as url:
        argv = ["--base-url", url, "--token", TOKEN, "--model", "chat-text-w"]
        code = main([*argv, "--context-length", "131072", "--dry-run"])
        out = capsys.readouterr().out
        assert main([*argv, "--estimate", "--level", "schema"]) == 0
        schema_out = capsys.readouterr().out
    assert code == 0
    assert counter.received.requests == 0
    expected = estimate("semantic", 25, 131_072)
    assert f"{expected.requests:,} requests" in out
    assert f"{expected.prompt_tokens:,} prompt tokens" in out
    assert "MB of request bodies" in out
    assert f"{window_bound(131_072):,} prompt tokens" in out
    assert expected.window_prompt_tokens >= 2 * 131_072
    assert expected.prompt_tokens <= window_bound(131_072)
    assert "near the window" not in schema_out


@pytest.mark.parametrize("flag", [["--client"], ["--fail-fast"], ["--report-json", "r.json"]])
def test_dry_run_refuses_what_it_cannot_act_on(
    flag: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--dry-run", *flag]) == 2
    err = capsys.readouterr().err
    assert "--dry-run" in err and flag[0] in err


def test_the_estimate_matches_what_the_server_counts() -> None:
    window = 8_192
    report, received = _counted_run(window)
    expected = estimate("semantic", 25, window)
    assert abs(received.requests - expected.requests) <= 0.15 * expected.requests
    assert expected.prompt_tokens / 2 <= received.prompt_tokens <= 2 * expected.prompt_tokens
    assert expected.request_bytes / 2 <= received.request_bytes <= 2 * expected.request_bytes
    assert report.ok


def test_a_token_budget_names_the_rules_it_left_unexercised(tmp_path: Path) -> None:
    window, budget = 131_072, 60_000
    counter = PromptCounter(create_app([TOKEN], models={"chat-text-w": window}))
    with running_server(counter, tokens=[TOKEN]) as url:
        code = main(
            [
                *("--base-url", url, "--token", TOKEN, "--model", "chat-text-w"),
                *("--context-length", str(window), "--max-tokens", str(budget)),
                *("--seed", str(SEED), "-q", "--report-json", str(tmp_path / "r.json")),
            ]
        )
    assert code in (0, 1)  # a starved rule may leave the run NOT JUDGED, never failed
    data = json.loads((tmp_path / "r.json").read_text())
    left = data["cost"]["unexercised_by_budget"]
    # no near-window prompt fits the window rules' share: they are named, not sent
    assert {"context_window_boundary", "prompt_too_long_when_kept_messages_overflow"} <= set(left)
    assert counter.received.prompt_tokens < window
    assert data["cost"]["prompt_tokens"] + data["cost"]["completion_tokens"] <= budget
    assert all(r["failed"] == 0 for r in data["results"])
