"""The suite against what real deployments put in front of a server (chat_text_testkit.deployments):
rate limiters before and behind auth, busy storms, a wait budget that runs out, a target that
is not this API at all, a base URL with the path in it, and a server that refuses a legal
label of JSON. A busy answer (429, 503) is legal anywhere: waited out, never judged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_text_conformance import Level, RunReport, Target, run
from chat_text_conformance.cli import main
from chat_text_conformance.engine.probe import MAX_PROBES
from chat_text_testkit.deployments import (
    RateLimiter,
    RefuseCharset,
    _QuietHandler,
    html_app,
    not_found_app,
    serving_files,
)

from chat_text_server import create_app
from chat_text_server.engine import MODELS
from chat_text_server.testing import running_server
from chat_text_spec import OPERATION_PATH

TOKEN = "deployment-token-7c1e"
MODEL = "chat-text-mini"
SEED = 2
BUDGET = 2


def _target(url: str) -> Target:
    return Target(url, TOKEN, MODEL, context_length=MODELS[MODEL], request_timeout=20)


def _failures(report: RunReport) -> list[tuple[str, str]]:
    return [(f.check, f.message) for f in report.failures()]


@pytest.fixture(scope="module")
def limited() -> Iterator[dict[str, tuple[str, RateLimiter]]]:
    """The reference server behind a limiter in front of auth (every 7th request answered
    429), and behind one behind auth (every 7th authorised request), each asking for 10 ms."""
    front = RateLimiter(create_app([TOKEN]), every=7, rate=100, retry="ms")
    behind = RateLimiter(
        create_app([TOKEN]), every=7, rate=100, retry="ms", before_auth=False, tokens=[TOKEN]
    )
    with running_server(front) as front_url, running_server(behind) as behind_url:
        yield {"before-auth": (front_url, front), "behind-auth": (behind_url, behind)}


@pytest.mark.parametrize("where", ["before-auth", "behind-auth"])
@pytest.mark.parametrize("level", list(Level), ids=lambda level: level.value)
def test_a_rate_limiter_is_waited_out_at_every_level(
    limited: dict[str, tuple[str, RateLimiter]], where: str, level: Level
) -> None:
    url, limiter = limited[where]
    before, probes_before = limiter.busy, limiter.probe_busy
    report = run(_target(url), level, max_examples=BUDGET, seed=SEED, workers="auto")
    assert report.setup_error is None
    assert report.ok, _failures(report)
    assert report.pacing is not None
    busy = limiter.busy - before
    assert busy > 0, "the limiter never answered 429: the test proves nothing"
    # every busy answer counted, but those to schemathesis's own probes (not paced, judged by
    # nothing)
    assert report.pacing.busy == busy - (limiter.probe_busy - probes_before)
    assert report.pacing.gave_up == 0  # and every one waited out
    # the auth rules were judged on real 401s, not on the gateway's 429s
    missing = report.result("missing_required_header")
    assert missing is not None and missing.verdict == "passed"
    if level is not Level.SCHEMA:
        unauthorized = report.result("unauthorized_without_valid_token")
        assert unauthorized is not None and unauthorized.verdict == "passed"


def test_503_with_an_http_date_is_waited_out_too() -> None:
    limiter = RateLimiter(create_app([TOKEN]), every=60, status=503, retry="date")
    with running_server(limiter) as url:
        report = run(_target(url), Level.SCHEMA, max_examples=BUDGET, seed=SEED, workers=4)
    assert report.ok, _failures(report)
    assert report.pacing is not None and report.pacing.busy_answers[503] > 0
    assert report.pacing.gave_up == 0
    # schemathesis's own probes (a few per engine, judged by nothing) are not paced
    assert report.pacing.busy == limiter.busy - limiter.probe_busy


def test_busy_answers_past_the_wait_budget_are_inconclusive_never_failures() -> None:
    """A storm: every other answer busy, each asking for a tenth of a second; one second of
    waiting allowed. What rested only on busy answers is inconclusive, with that reason;
    nothing fails; the report says how many were busy and how long the run waited."""
    limiter = RateLimiter(create_app([TOKEN]), storm=0.5, rate=10, retry="ms", seed=4)
    with running_server(limiter) as url:
        report = run(
            _target(url), Level.SEMANTIC, max_examples=BUDGET, seed=SEED, workers=4, max_wait=1.0
        )
    assert report.setup_error is None
    assert not report.failures(), _failures(report)
    pacing = report.pacing
    assert pacing is not None and pacing.budget_spent and pacing.gave_up > 0
    assert pacing.busy == limiter.busy - limiter.probe_busy
    inconclusive = [r for r in report.results if r.inconclusive]
    assert inconclusive
    assert all("rate-limited" in reason for r in inconclusive for reason in r.inconclusive_reasons)
    summary = pacing.summary()
    assert f"rate-limited: {pacing.busy} answer(s)" in summary
    assert "the wait budget ran out" in summary


def test_a_server_that_only_answers_busy_is_a_set_up_error_within_ten_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    limiter = RateLimiter(create_app([TOKEN]), storm=1.0, retry="ms", rate=1000)
    with running_server(limiter) as url:
        code = main(["--base-url", url, "--token", TOKEN, "--model", MODEL, "-q"])
    assert code == 2
    assert limiter.busy == MAX_PROBES
    err = capsys.readouterr().out
    assert "answered only 429" in err and "--max-rate" in err


# --- targets that are not this API -------------------------------------------------------------


def _setup_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main([*argv, "--token", TOKEN, "--model", MODEL, "-q"])
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    found = re.search(r"SET-UP ERROR: (.*)", out.out)
    assert found, out.out
    return found.group(1)


def test_a_static_file_server_is_not_this_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _QuietHandler.requests = 0
    with serving_files(str(tmp_path)) as url:
        error = _setup_error(["--base-url", url], capsys)
    assert "does not take POST (HTTP 501)" in error and "--base-url" in error
    assert "--model" not in error
    assert 1 <= _QuietHandler.requests <= MAX_PROBES


def test_another_api_answering_404_is_about_the_url_not_the_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_server(not_found_app) as url:
        error = _setup_error(["--base-url", url], capsys)
    assert "HTTP 404 without the spec's error body" in error and "--base-url" in error
    assert "--model" not in error


def test_a_web_page_is_not_this_api(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(html_app) as url:
        error = _setup_error(["--base-url", url], capsys)
    assert "does not answer like this API" in error and "not a ChatTextResponse" in error


def test_an_unknown_model_is_still_about_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(create_app([TOKEN])) as url:
        code = main(["--base-url", url, "--token", TOKEN, "--model", "no-such-model", "-q"])
    out = capsys.readouterr().out
    assert code == 2 and "does not serve model 'no-such-model'" in out


def test_a_base_url_that_ends_in_the_path_is_taken_without_it() -> None:
    with running_server(create_app([TOKEN])) as url:
        report = run(_target(url + OPERATION_PATH + "/"), Level.SCHEMA, max_examples=1, seed=SEED)
    assert report.setup_error is None and report.ok, _failures(report)
    assert report.base_url == url
    assert any("ends in the operation's path" in note for note in report.notes)


# --- the legal labels of a JSON body -----------------------------------------------------------


def test_a_server_that_refuses_a_charset_parameter_fails_positive_data_acceptance() -> None:
    refusing = RefuseCharset(create_app([TOKEN]))
    with running_server(refusing) as url:
        report = run(_target(url), Level.SCHEMA, max_examples=BUDGET, seed=SEED)
    assert refusing.refused > 0
    failed = report.result("positive_data_acceptance")
    assert failed is not None and failed.verdict == "failed"
    shown = [f.reproducer for f in failed.failures]
    assert any(re.search(r"(?i)content-type: application/json ?;", text) for text in shown) or any(
        "Application/JSON" in text for text in shown
    ), shown
