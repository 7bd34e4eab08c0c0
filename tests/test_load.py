"""``chat-text-conformance load``: its flags, its figures and SLOs, and real runs on Locust —
a master and two worker processes on loopback against the reference server (nothing violated)
and against a planted bug (caught, the rule named, with a reproducer), a local run behind a rate
limiter (busy answers waited out and judged by no rule; an SLO missed exits 1).

The runs are short (seconds) and bounded: the command stops its engine by itself, and every
process a test starts is waited for with a timeout and killed if it outlives it. The heavier
runs (a worker killed mid-run) need ``CHAT_TEXT_LOAD_FULL=1`` (``tox -e load``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_text_conformance.checks.request import classify_request
from chat_text_conformance.load.cli import main
from chat_text_conformance.load.figures import Figures, Histogram, Sample
from chat_text_conformance.load.slo import SLOError, judge_slos, parse_slos, within
from chat_text_conformance.load.traffic import Traffic
from chat_text_testkit.deployments import RateLimiter
from chat_text_testkit.mutations import MUTATIONS, mutation_server

import chat_text_spec

FULL = os.environ.get("CHAT_TEXT_LOAD_FULL") == "1"
WORKER_TIMEOUT = 90.0
MAX_RATE = 40
"""Requests per second the real runs send at most (--max-rate): enough answers of every kind
to judge, without a worker spinning a core for the whole run."""


# --- flags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--users", "0"], "--users"),
        (["--run-time", "soon"], "--run-time"),
        (["--max-rate", "0"], "--max-rate"),
        (["--spawn-rate", "-1"], "--spawn-rate"),
        (["--slo", "ttft_p95=2"], "ttft_p95"),
        (["--slo", "speed=1"], "speed"),
        (["--slo", "error_rate=1"], "error_rate"),
        (["--master", "--worker"], "--worker"),
        (["--worker", "--users", "3"], "--users"),
        (["--worker", "--max-rate", "3"], "--max-rate"),
        (["--expect-workers", "2"], "--master"),
        (["--master-port", "5557"], "--worker"),
        (["--base-url", "ftp://example.org", "--model", "m"], "--base-url"),
        (["--base-url", "http://127.0.0.1:9"], "--model"),
        (["--context-length", "100"], "--context-length"),
        (["--master-bind-port", "70000", "--master"], "--master-bind-port"),
    ],
)
def test_a_bad_flag_exits_2_naming_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "Traceback" not in err


def test_a_base_url_without_a_token_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHAT_TEXT_API_KEY", raising=False)
    monkeypatch.delenv("CHAT_TEXT_TOKEN", raising=False)
    assert main(["--base-url", "http://127.0.0.1:9", "--model", "m"]) == 2
    assert "CHAT_TEXT_API_KEY" in capsys.readouterr().err


def test_an_unreachable_target_is_a_setup_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("CHAT_TEXT_API_KEY", "some-token")
    assert main(["--base-url", f"http://127.0.0.1:{port}", "--model", "m"]) == 2
    assert "pre-flight" in capsys.readouterr().err


def test_the_suite_lists_the_load_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from chat_text_conformance.cli import main as suite_main

    with pytest.raises(SystemExit):
        suite_main(["--help"])
    assert "load" in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--users", "--spawn-rate", "--run-time", "--slo", "--master", "--worker"):
        assert flag in out


# --- figures, SLOs, traffic ----------------------------------------------------------------------


def test_histogram_percentiles_are_within_one_percent_of_the_exact_ones() -> None:
    values = [0.5 + (i * 7919 % 1000) * 1.37 for i in range(1000)]
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    ordered = sorted(values)
    for q in (50, 95, 99):
        exact = ordered[max(0, -(-q * len(values) // 100) - 1)]
        found = histogram.percentile(q)
        assert found is not None and abs(found - exact) <= exact * 0.011
    assert histogram.percentile(100) == max(values)
    assert Histogram().percentile(50) is None


def test_figures_merged_across_workers_equal_one_process_figures() -> None:
    samples = [
        Sample(1000.0 + i / 10, "short", 200, 5.0 + i, ttft_ms=1.0 + i, gaps_ms=[0.5] * (i % 3))
        for i in range(40)
    ]
    whole, left, right = Figures(), Figures(), Figures()
    for i, sample in enumerate(samples):
        whole.observe(sample)
        (left if i % 2 else right).observe(sample)
    merged = Figures.from_wire(json.loads(json.dumps(left.to_wire())))
    merged.merge(Figures.from_wire(json.loads(json.dumps(right.to_wire()))))
    for name in ("ttft", "latency", "itl"):
        assert getattr(merged.total, name).summary() == getattr(whole.total, name).summary()
    assert merged.total.requests == whole.total.requests == len(samples)
    assert sorted(merged.seconds) == sorted(whole.seconds)


def test_slos_parse_and_judge() -> None:
    slos = parse_slos("ttft_p95=2s, error_rate=1%,goodput=90%,latency_p50=250ms,rps=5")
    assert [s.name for s in slos] == ["ttft_p95", "error_rate", "goodput", "latency_p50", "rps"]
    assert slos[0].bound == 2000.0 and slos[1].bound == 0.01 and slos[3].bound == 250.0
    for bad in ("ttft_p95=2", "ttft_p0=1s", "nope=1", "error_rate=2", "ttft_p95=1s,ttft_p95=2s"):
        with pytest.raises(SLOError):
            parse_slos(bad)
    figures = Figures()
    fast = Sample(1.0, "short", 200, 100.0, ttft_ms=50.0)
    slow = Sample(1.0, "short", 200, 900.0, ttft_ms=800.0)
    objectives = parse_slos("ttft_p50=100ms,latency_p99=500ms")
    assert within(fast, objectives) and not within(slow, objectives)
    for sample in (fast, fast, slow):
        figures.observe(sample)
    verdicts = {v.slo.name: v for v in judge_slos(objectives, figures, 1.0)}
    assert verdicts["ttft_p50"].met and not verdicts["latency_p99"].met
    unmeasured = judge_slos(parse_slos("itl_p95=1s"), Figures(), 1.0)
    assert not unmeasured[0].met and "not measured" in unmeasured[0].detail


def test_the_traffic_mix_is_seeded_and_its_invalid_requests_are_invalid() -> None:
    def plans(seed: str) -> list[bytes]:
        traffic = Traffic(seed, "chat-text-mini", 512)
        out = []
        for _ in range(300):
            plan = traffic.next()
            traffic.answered(plan, "an answer")
            out.append(plan.body)
        return out

    assert plans("1:0:1") == plans("1:0:1")
    assert plans("1:0:1") != plans("1:0:2")
    traffic = Traffic("7", "chat-text-mini", 512)
    kinds = set()
    streamed = 0
    headers = {"Content-Type": "application/json"}
    for _ in range(400):
        plan = traffic.next()
        traffic.answered(plan, "an answer")
        kinds.add(plan.kind)
        streamed += plan.stream
        facts = classify_request("POST", chat_text_spec.OPERATION_PATH, headers, plan.body)
        assert (facts.problem is not None) == plan.invalid, plan.body
    assert kinds == {"short", "long", "turn", "invalid"}
    assert 100 < streamed < 300
    turns = [p for p in (traffic.next() for _ in range(50)) if p.kind == "turn"]
    assert any(len(p.document["messages"]) > 2 for p in turns)  # conversations go on


# --- the judge process ----------------------------------------------------------------------------

# Judging in a child process of the test: gevent's child watcher reaps children, which must never
# touch the test process's own (their exit codes would read 0).
_JUDGING = """
import json, os, pickle, signal, sys, time
import gevent, gevent.event
from chat_text_conformance.load import judging
from chat_text_conformance.load.figures import Figures, Sample
from chat_text_conformance.load.options import LoadSettings

scenario, path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    records = pickle.load(f)
settings = LoadSettings(base_url="http://127.0.0.1:9", model="chat-text-mini")
figures, reports = Figures(), []
for record in records:
    figures.observe(Sample(record[8], "short", record[4], 1.0, judged=True, good=True))

def report(message):
    reports.append(message)
    for second, good, error_free in message["violating"]:
        figures.violated(second, good=good, error_free=error_free)

job = judging.Judging(settings, os.environ["CHAT_TEXT_API_KEY"], report)
blocked = False
if scenario == "dies":
    job.process.kill()
    job.process.wait()
if scenario == "held":
    judging.BACKLOG_BYTES = 1
    os.kill(job.process.pid, signal.SIGSTOP)
    submitter = gevent.spawn(lambda: [job.submit(r) for r in records])
    deadline = time.monotonic() + 30
    # the pipe is full and the buffer over its bound: the users wait for room
    while not (job._queued_bytes > 1 and not job._room.is_set() and job._writer_blocked):
        assert time.monotonic() < deadline, "the buffer never filled"
        gevent.sleep(0.01)
    blocked = not submitter.dead
    os.kill(job.process.pid, signal.SIGCONT)
    submitter.join(timeout=60)
else:
    for record in records:
        job.submit(record)
interrupt = None
if scenario == "interrupt":  # the judge cannot go on (stopped); Ctrl-C during the drain
    os.kill(job.process.pid, signal.SIGSTOP)
    interrupt = gevent.event.Event()
    gevent.spawn_later(0.2, interrupt.set)
stats = job.finish(timeout=60, interrupt=interrupt)
if scenario == "interrupt":
    assert job.process.poll() is not None  # killed, not waited for
failed = {}
for message in reports:
    for result in message["book"]["results"]:
        failed[result["name"]] = failed.get(result["name"], 0) + result["failed"]
final = reports[-1]["final"] if reports else None
print(json.dumps({
    "stats": stats, "failed": failed, "blocked": blocked, "final": final,
    "violations": figures.total.violations, "good": figures.total.good,
    "conformant": figures.total.conformant,
}))
"""


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Any]]:
    """Real answers of the reference server as a load engine hands them to its judge (a plain
    and a streamed one per request); the last one with a planted bug (usage's total is not the
    sum)."""
    import httpx
    from chat_text_conformance.load.judge import request_headers

    from chat_text_server.testing import running_server

    token = "judge-process-token-1"
    records: list[Any] = []
    traffic = Traffic("5", "chat-text-mini", None)
    with running_server(tokens=[token]) as base_url, httpx.Client(base_url=base_url) as client:
        while len(records) < 40:
            plan = traffic.next()
            response = client.post(
                chat_text_spec.OPERATION_PATH, content=plan.body, headers=request_headers(token)
            )
            headers = tuple((k.lower(), v) for k, v in response.headers.items())
            media = response.headers.get("content-type", "").split(";")[0]
            records.append(
                (len(records) + 1, plan.name, plan.body, plan.stream, response.status_code,
                 media, headers, response.content, time.time(), None, True, True)
            )  # fmt: skip
            traffic.answered(plan, "an answer")
    last = next(i for i, r in enumerate(records) if r[4] == 200 and r[5] == "application/json")
    answer = json.loads(records[last][7])
    answer["usage"]["total_tokens"] += 1
    records[last] = (*records[last][:7], json.dumps(answer).encode(), *records[last][8:])
    return token, records


def _judging(scenario: str, answers: tuple[str, list[Any]], tmp_path: Path) -> dict[str, Any]:
    import pickle

    token, records = answers
    path = tmp_path / "records.pickle"
    path.write_bytes(pickle.dumps(records))
    done = subprocess.run(
        [sys.executable, "-c", _JUDGING, scenario, str(path)],
        env={**os.environ, "CHAT_TEXT_API_KEY": token},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_judge_process_judges_every_answer_and_finds_the_planted_bug(
    answers: tuple[str, list[Any]], tmp_path: Path
) -> None:
    found = _judging("all", answers, tmp_path)
    stats = found["stats"]
    count = len(answers[1])
    assert stats["answers"] == stats["judged"] == count and stats["error"] is None
    assert stats["cpu_seconds"] > 0 and stats["processes"] == 1
    assert found["final"] is True
    assert found["failed"].pop("usage_total_is_sum") == 1  # the planted bug, and nothing else
    assert not any(found["failed"].values()), found["failed"]
    # the figures counted every answer good; the judge's report takes the violating one out
    assert found["violations"] == 1
    assert found["good"] == found["conformant"] == count - 1


def test_a_judge_process_that_dies_leaves_the_answers_unjudged_and_says_so(
    answers: tuple[str, list[Any]], tmp_path: Path
) -> None:
    found = _judging("dies", answers, tmp_path)
    stats = found["stats"]
    assert stats["judged"] == 0 and stats["answers"] == len(answers[1])
    assert "not judged" in stats["error"], stats


def test_ctrl_c_while_the_judge_drains_stops_it_and_counts_what_was_left(
    answers: tuple[str, list[Any]], tmp_path: Path
) -> None:
    found = _judging("interrupt", answers, tmp_path)
    stats = found["stats"]
    assert stats["judged"] < stats["answers"] == len(answers[1])
    assert stats["error"].startswith("interrupted while judging"), stats
    assert f"{stats['answers'] - stats['judged']} answer(s) not judged" in stats["error"]


def test_users_wait_for_the_judge_when_its_buffer_is_full(
    answers: tuple[str, list[Any]], tmp_path: Path
) -> None:
    """A stopped judge (SIGSTOP): the pipe fills, then the buffer's bound is reached, and the
    users wait (back-pressure) until it goes on; nothing is dropped."""
    found = _judging("held", answers, tmp_path)
    stats = found["stats"]
    assert found["blocked"] is True
    assert stats["held_seconds"] > 0
    assert stats["answers"] == stats["judged"] == len(answers[1]) and stats["error"] is None


def test_a_run_with_unjudged_answers_fails_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat_text_conformance.load.book import Book
    from chat_text_conformance.load.options import LoadSettings
    from chat_text_conformance.load.report import finish
    from chat_text_conformance.load.result import LoadResult

    settings = LoadSettings(base_url="http://127.0.0.1:9", model="m", report_dir=str(tmp_path))
    figures = Figures()
    figures.observe(Sample(1.0, "short", 200, 3.0, good=True))
    book = Book(settings.base_url)
    book.record_pass("usage_total_is_sum")
    judging = {
        "answers": 1, "judged": 0, "cpu_seconds": 0.0, "backlog_at_stop": 1,
        "drain_seconds": 0.1, "held_seconds": 0.0, "processes": 1,
        "error": "the judge process exited (code -9) before its last report: 1 answer(s) "
        "not judged",
    }  # fmt: skip
    result = LoadResult(settings, book, figures, 0.0, 1.0, judging=judging)
    assert finish(result, None) == 1
    assert "JUDGING INCOMPLETE" in capsys.readouterr().out
    report = _report(tmp_path)
    assert report["ok"] is False and report["load"]["judging"]["error"] == judging["error"]
    suite = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own file
    case = next(c for c in suite.iter("testcase") if c.get("name") == "judging")
    failure = case.find("failure")
    assert failure is not None and "not judged" in (failure.get("message") or "")


# --- real runs -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _report(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "report.json").read_text())
    return data


@contextlib.contextmanager
def _workers(port: int, count: int, env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes of a master on ``port``; each must exit by itself."""
    command = [sys.executable, "-m", "chat_text_conformance.cli", "load", "--worker", "-q"]
    command += ["--master-host", "127.0.0.1", "--master-port", str(port)]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
        for _ in range(count)
    ]
    try:
        yield processes
        for process in processes:
            assert process.wait(timeout=WORKER_TIMEOUT) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _distributed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], token: str | None = None
) -> tuple[int, Path]:
    port = _free_port()
    env = dict(os.environ)
    if token is not None:
        monkeypatch.setenv("CHAT_TEXT_API_KEY", token)
        env["CHAT_TEXT_API_KEY"] = token
    folder = tmp_path / "report"
    with _workers(port, 2, env):
        code = main(
            [
                "--master",
                "--expect-workers",
                "2",
                "--expect-workers-max-wait",
                "60",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--users",
                "4",
                "--spawn-rate",
                "8",
                "--run-time",
                "2s",
                "--max-rate",
                str(MAX_RATE),
                "--stop-timeout",
                "2",
                "--seed",
                "3",
                "-q",
                "--report-dir",
                str(folder),
                *extra,
            ]
        )
    return code, folder


def test_a_master_and_two_workers_load_the_reference_server_without_a_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    code, folder = _distributed(tmp_path, monkeypatch, ["--slo", "error_rate=1%"])
    out = capfd.readouterr().out
    assert code == 0, out
    report = _report(folder)
    load = report["load"]
    assert isinstance(load, dict)
    assert report["checks_failed"] == 0 and report["verdict"] == "passed"
    assert load["mode"] == "master" and load["workers_lost"] == 0
    assert [w["final_report"] for w in load["workers"]] == [True, True]
    requests = load["requests"]
    assert requests["total"] > 0 and requests["violations"] == 0 and requests["errors"] == 0
    # paced: each user its share of --max-rate (unpaced, the same run sends thousands)
    assert requests["total"] <= MAX_RATE * 2 * 1.5
    # the seeded mix's kinds (how many of them a paced 2 s run reaches depends on the machine's
    # speed; the whole mix: test_the_traffic_mix_is_seeded_and_its_invalid_requests_are_invalid)
    assert set(requests["by_kind"]) <= {"short", "long", "turn", "invalid"}
    assert "short" in requests["by_kind"]
    # every answer judged: the transport rule counts each answered exchange once
    answered = next(r for r in report["results"] if r["name"] == "server_answers_every_request")
    assert answered["passed"] == requests["answered"]
    # each worker's judge process judged every answer its worker read
    judging = load["judging"]
    assert judging["processes"] == 2 and judging["error"] is None
    assert judging["judged"] == judging["answers"] == requests["answered"]
    assert load["ttft_ms"]["count"] == requests["streams"] > 0
    assert load["ttft_ms"]["p50"] <= load["ttft_ms"]["p95"] <= load["ttft_ms"]["p99"]
    assert load["slos_met"] is True
    assert load["over_time"]["buckets"]
    suite = ET.parse(folder / "junit.xml").getroot()  # noqa: S314 - our own file
    names = {case.get("name") for case in suite.iter("testcase")}
    assert {"error_rate", "workers", "judging", "usage_total_is_sum"} <= names
    assert "workers: 2, lost 0" in out


def test_a_master_and_two_workers_catch_a_planted_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    mutation = next(m for m in MUTATIONS if m.name == "usage_total_not_sum")
    with mutation_server() as server, server.mutated(mutation):
        code, folder = _distributed(
            tmp_path,
            monkeypatch,
            ["--base-url", server.base_url, "--model", server.model],
            token=server.token,
        )
    out = capfd.readouterr().out
    assert code == 1
    report = _report(folder)
    failed = {r["name"]: r for r in report["results"] if r["verdict"] == "failed"}
    assert set(failed) & mutation.rules, failed
    rule = failed["usage_total_is_sum"]
    assert rule["failed"] > 0
    assert "curl" in rule["failures"][0]["reproducer"]
    assert "$CHAT_TEXT_API_KEY" in rule["failures"][0]["reproducer"]
    assert server.token not in (folder / "report.json").read_text()
    assert "FAILED usage_total_is_sum" in out
    load = report["load"]
    assert isinstance(load, dict) and load["requests"]["violations"] > 0
    assert load["goodput"]["good"] < load["requests"]["answered"]


def test_rate_limited_answers_are_waited_out_and_not_judged_and_a_missed_slo_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from chat_text_server import create_app
    from chat_text_server.testing import running_server

    token = "load-limited-token-1"
    limiter = RateLimiter(create_app([token]), every=4, rate=200.0, retry="ms")
    monkeypatch.setenv("CHAT_TEXT_API_KEY", token)
    folder = tmp_path / "report"
    with running_server(limiter, tokens=[token]) as base_url:
        code = main(
            [
                "--base-url",
                base_url,
                "--model",
                "chat-text-mini",
                "--users",
                "4",
                "--spawn-rate",
                "8",
                "--run-time",
                "2s",
                "--max-rate",
                str(MAX_RATE),
                "-q",
                "--report-dir",
                str(folder),
                # a bound no answer can meet: the SLO is missed, whatever the machine
                "--slo",
                "latency_p50=0.0001ms",
            ]
        )
    capfd.readouterr()
    assert code == 1
    report = _report(folder)
    load = report["load"]
    assert isinstance(load, dict)
    requests = load["requests"]
    assert limiter.busy > 0
    assert requests["rate_limited"] == limiter.busy  # the pre-flight, first, was not busy
    assert report["checks_failed"] == 0  # the run failed on its SLO, not on a rule
    for result in report["results"]:
        assert result["inconclusive"] == 0, result  # no rule saw a busy answer
    answered = next(r for r in report["results"] if r["name"] == "server_answers_every_request")
    assert (
        answered["passed"] == requests["answered"] == requests["total"] - requests["rate_limited"]
    )
    assert load["slos"][0]["met"] is False
    suite = ET.parse(folder / "junit.xml").getroot()  # noqa: S314 - our own file
    case = next(c for c in suite.iter("testcase") if c.get("name") == "latency_p50")
    assert case.find("failure") is not None


@pytest.mark.skipif(not FULL, reason="heavier run: CHAT_TEXT_LOAD_FULL=1 (tox -e load)")
def test_a_worker_that_dies_is_reported_not_dropped(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    folder = tmp_path / "report"
    master = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chat_text_conformance.cli",
            "load",
            "--master",
            "--expect-workers",
            "2",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--users",
            "4",
            "--spawn-rate",
            "8",
            "--run-time",
            "12s",
            "--stop-timeout",
            "2",
            "--report-dir",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    command = [sys.executable, "-m", "chat_text_conformance.cli", "load", "--worker", "-q"]
    command += ["--master-host", "127.0.0.1", "--master-port", str(port)]
    workers = [subprocess.Popen(command, start_new_session=True) for _ in range(2)]
    try:
        assert master.stderr is not None
        for raw in master.stderr:  # the load has started over both workers
            if b"over 2 worker(s)" in raw:
                break
        # the victim dies mid-run (its first reports sent: the master reports every second)
        time.sleep(3)
        os.killpg(workers[0].pid, signal.SIGKILL)
        out, _ = master.communicate(timeout=120)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert master.returncode == 1
    assert b"WORKER LOST" in out
    load = _report(folder)["load"]
    assert isinstance(load, dict) and load["workers_lost"] == 1
    lost = [w for w in load["workers"] if w["lost"]]
    assert lost and lost[0]["reason"]
