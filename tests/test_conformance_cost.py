"""What a run spends: counted for every part, reported everywhere, held to a budget."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_text_conformance import Level, Target, embedded, run
from chat_text_conformance.cli import main
from chat_text_conformance.engine.cost import SCHEMATHESIS_SHARE, Meter

SEED = 1


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
