"""The validation proxy (``chat-text-conformance proxy``): real clients through it to real
servers, every per-exchange rule applied to real traffic.

* the SDK's own client through the proxy to the reference server: every answer as direct, no
  violation; the same traffic to legal variant servers (any framing, chunking, extra fields):
  no violation either;
* faulty servers (``chat_text_testkit.mutations``): each fault a single exchange can show is
  recorded with the rule it breaks, and the client still gets the answer as the server sent it;
* streams of 1,000+ events, concurrent clients, an upstream that breaks off mid-stream, one
  that cannot be reached, one that never answers;
* the token in no report file and no line; ``--enforce`` (502 with the spec's error body, a
  stream ended before the offending event); ``--fail-fast``; properties listed as "cannot apply
  on single exchanges"; the CLI as a subprocess (SIGTERM/SIGINT write the report; exit 1 after
  a violation, 0 without); bad flags (exit 2 with a message naming the flag).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from chat_text_conformance.checks import CheckFailed, Exchange
from chat_text_conformance.checks.exchange import parse_event_stream
from chat_text_conformance.checks.watch import StreamJudge
from chat_text_conformance.cli import main as cli_main
from chat_text_conformance.engine.target import Level
from chat_text_conformance.proxy import (
    MULTI_CALL_REASON,
    NONCONFORMANT,
    UNAVAILABLE,
    ProxySettings,
    RunningProxy,
    judge_exchange,
    running_proxy,
)
from chat_text_conformance.proxy.judging import classify_request
from chat_text_conformance.reporting import files as reports
from chat_text_conformance.reporting.results import RunReport
from chat_text_testkit.mutations import MUTATIONS, Mutation, MutationServer, mutation_server
from chat_text_testkit.mutations import Exchange as MutationExchange
from chat_text_testkit.variant_server import VARIANTS, Variant, running_variant, running_variants

import chat_text_spec
from chat_text import ChatText, IncompleteStreamError
from chat_text_server.testing import TEST_TOKEN, running_server
from chat_text_spec import OPERATION_PATH

MODEL = "chat-text-mini"
QUESTION = [{"role": "user", "content": "Name three rivers of Europe."}]


def _error_validator() -> Any:
    spec = chat_text_spec.load_spec()
    return jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/ErrorResponse", "components": spec["components"]}
    )


def _violations(report: RunReport) -> dict[str, int]:
    return {r.name: r.failed for r in report.results if r.failed}


def _records_after(proxy: RunningProxy, first: int) -> list[Any]:
    return [r for r in proxy.proxy.ledger.records() if r.number > first]


@contextlib.contextmanager
def _proxy(upstream: str, **options: Any) -> Iterator[RunningProxy]:
    lines: list[str] = []
    settings = ProxySettings(upstream=upstream, **options)
    with running_proxy(settings, say=lines.append) as proxy:
        proxy.lines = lines  # type: ignore[attr-defined]
        yield proxy


def _traffic(base_url: str, token: str, model: str) -> None:
    """The same requests for every server: answers, streams, max_tokens, a wrong and a missing
    token, an invalid body (an unknown field), another method."""
    url = base_url + OPERATION_PATH
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30) as http:
        for extra in ({}, {"max_tokens": 3}, {"stream": True}, {"stream": True, "max_tokens": 3}):
            http.post(url, json={"model": model, "messages": QUESTION, **extra}, headers=auth)
        body = {"model": model, "messages": QUESTION}
        http.post(url, json=body, headers={"Authorization": "Bearer wrong-token-0123456789"})
        http.post(url, json=body)
        http.post(url, json={**body, "top_k": 5}, headers=auth)
        http.get(url, headers=auth)


# ---------------------------------------------------------------------------------------------
# Legal servers: the SDK's own client, no violation


def test_sdk_through_the_proxy_to_the_reference_server(tmp_path: Path) -> None:
    with running_server() as upstream, _proxy(upstream, context_length=512) as proxy:
        with ChatText(api_key=TEST_TOKEN, base_url=proxy.url, max_retries=0) as client:
            reply = client.chat_text(model=MODEL, messages=QUESTION, temperature=0)
            with client.chat_text(model=MODEL, messages=QUESTION, stream=True) as stream:
                chunks = list(stream)
            short = client.chat_text(model=MODEL, messages=QUESTION, max_tokens=2)
        with ChatText(api_key=TEST_TOKEN, base_url=upstream, max_retries=0) as direct:
            same = direct.chat_text(model=MODEL, messages=QUESTION, temperature=0)
        _traffic(proxy.url, TEST_TOKEN, MODEL)
        report = proxy.report()
        lines = list(proxy.lines)  # type: ignore[attr-defined]
    assert reply.choices[0].message.content == same.choices[0].message.content
    assert reply.usage == same.usage
    assert chunks and stream.usage is not None
    assert short.choices[0].finish_reason == "length"
    assert report.ok, _violations(report)
    assert report.exchanges is not None and len(report.exchanges) == 11
    assert {r.outcome for r in report.exchanges} == {"pass"}
    assert len(lines) == 11 and all(line.endswith("pass") or "[" in line for line in lines)
    judged = {r.name: r.verdict for r in report.results}
    for rule in (
        "usage_total_is_sum",
        "completion_within_max_tokens",
        "usage_within_context_window",
        "stream_ends_with_done",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "token_not_echoed",
    ):
        assert judged[rule] == "passed", rule
    coverage = report.coverage  # what of the spec the relayed calls exercised
    assert coverage is not None and coverage.exchanges == 10  # the POSTs, not the GET
    assert coverage.hits("status:200") == 7 and coverage.hits("status:400") == 1
    invalid = [r for r in report.exchanges if r.request_problem]
    assert len(invalid) == 1 and "top_k" in (invalid[0].request_problem or "")
    files = reports.write_report_dir(report, tmp_path)
    data = json.loads(files.report_json.read_text())
    assert data["ok"] and len(data["exchanges"]) == 11
    assert all("reproducer" not in e for e in data["exchanges"])  # only for violations


@pytest.mark.parametrize(
    "names",
    [
        ("sse_extras", "line_ending=cr", "finish_in_separate_chunk", "usage_only_final_chunk"),
        ("chunking", "content_type_params", "extra_fields", "created_fractional", "id_style"),
    ],
)
def test_legal_variants_pass(names: tuple[str, ...]) -> None:
    token = "variant-token-0123456789"
    variants = [dataclasses.replace(VARIANTS[n], latency=0.0, stream_delay=0.0) for n in names]
    with running_variants(variants, token) as urls:
        for variant, url in zip(variants, urls, strict=True):
            model, context = next(iter(variant.models.items()))
            with _proxy(url, context_length=context) as proxy:
                _traffic(proxy.url, token, model)
                report = proxy.report()
            assert report.ok, (variant.name, _violations(report))
            assert report.result("stream_ends_with_done").passed == 2  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Faulty servers: the violation recorded, the answer relayed


@pytest.fixture(scope="module")
def faulty() -> Iterator[MutationServer]:
    with mutation_server() as server:
        yield server


SINGLE_EXCHANGE_FAULTS = (
    "response_missing_created",
    "usage_counts_as_strings",
    "success_is_201",
    "validation_errors_are_422",
    "finish_reason_eos_token",
    "no_www_authenticate",
    "missing_token_is_403",
    "echoes_token",
    "usage_total_not_sum",
    "max_tokens_off_by_one",
    "model_not_echoed",
    "ids_repeat",
    "created_in_milliseconds",
    "unknown_fields_ignored",
    "stream_flag_ignored",
    "stream_new_id_per_chunk",
    "stream_created_per_chunk",
    "stream_never_finishes",
    "stream_role_in_every_chunk",
    "stream_usage_in_every_chunk",
    "stream_usage_missing",
    "stream_without_done",
    "stream_done_without_blank_line",
)
"""Faults one exchange shows (the others need several calls: the suite's properties)."""
_BY_NAME = {m.name: m for m in MUTATIONS}


def test_unmutated_server_passes_the_same_traffic(faulty: MutationServer) -> None:
    with faulty.mutated(None), _proxy(faulty.base_url, context_length=512) as proxy:
        _traffic(proxy.url, faulty.token, faulty.model)
        report = proxy.report()
    assert report.ok, _violations(report)


@pytest.mark.parametrize("name", SINGLE_EXCHANGE_FAULTS)
def test_faults_are_recorded_with_their_rule(faulty: MutationServer, name: str) -> None:
    mutation: Mutation = _BY_NAME[name]
    with faulty.mutated(mutation), _proxy(faulty.base_url, context_length=512) as proxy:
        _traffic(proxy.url, faulty.token, faulty.model)
        report = proxy.report()
        lines = list(proxy.lines)  # type: ignore[attr-defined]
    broken = set(_violations(report))
    assert broken & mutation.rules, (name, broken)
    assert not report.ok
    violating = [r for r in report.exchanges or [] if r.outcome == "violation"]
    assert violating and all(r.request is not None for r in violating)
    assert any("VIOLATION" in line for line in lines)
    failure = next(f for f in report.failures() if f.check in mutation.rules)
    assert failure.reproducer.startswith("curl ") and faulty.base_url in failure.reproducer
    assert "$CHAT_TEXT_API_KEY" in failure.reproducer or "Authorization" not in failure.reproducer


def test_the_client_still_gets_the_faulty_answer(faulty: MutationServer) -> None:
    with faulty.mutated(_BY_NAME["usage_total_not_sum"]), _proxy(faulty.base_url) as proxy:
        with ChatText(api_key=faulty.token, base_url=proxy.url, max_retries=0) as client:
            reply = client.chat_text(model=faulty.model, messages=QUESTION)
        report = proxy.report()
    usage = reply.usage
    assert usage is not None and usage.total_tokens != usage.prompt_tokens + usage.completion_tokens
    assert _violations(report) == {"usage_total_is_sum": 1}


def test_a_rule_needing_two_calls_cannot_apply(faulty: MutationServer) -> None:
    """A truncation bug needs the suite's comparison of two calls: the proxy passes the answer
    and says which rules it cannot apply, and why."""
    with faulty.mutated(_BY_NAME["truncation_ignores_limit"]), _proxy(faulty.base_url) as proxy:
        _traffic(proxy.url, faulty.token, faulty.model)
        report = proxy.report()
    assert report.ok
    for rule in ("truncation_keeps_newest_turns", "stream_usage_in_last_chunk"):
        result = report.result(rule)
        assert result is not None and result.verdict == "not exercised"
        assert result.why_not == MULTI_CALL_REASON
    preflight = report.result("server_accepts_the_target")
    assert preflight is not None and "single exchanges" in preflight.why_not
    assert report.result("sdk_parses_responses") is None  # client rules: not listed


# ---------------------------------------------------------------------------------------------
# Streams: event by event, incrementally


def test_a_stream_of_over_a_thousand_events() -> None:
    token = "long-stream-token-0123456789"
    variant = Variant(name="long", chunking="token", long_answers=True)
    model, context = next(iter(variant.models.items()))
    with running_variant(variant, token) as upstream, _proxy(upstream, context_length=context) as p:
        with (
            ChatText(api_key=token, base_url=p.url, max_retries=0) as client,
            client.chat_text(model=model, messages=QUESTION, stream=True, max_tokens=2000) as s,
        ):
            chunks = list(s)
        report = p.report()
    assert len(chunks) > 1000
    assert s.usage is not None and s.usage.completion_tokens > 1000
    assert report.ok, _violations(report)
    (record,) = report.exchanges or []
    assert record.stream and record.events is not None and record.events > 1000


def _stream_bodies(upstream: str, token: str, model: str) -> list[bytes]:
    url = upstream + OPERATION_PATH
    with httpx.Client(timeout=30) as http:
        return [
            http.post(
                url,
                json={"model": model, "messages": QUESTION, "stream": True, **extra},
                headers={"Authorization": f"Bearer {token}"},
            ).content
            for extra in ({}, {"temperature": 0})
        ]


WATCHED_FAULTS: dict[str | None, set[str]] = {
    None: set(),
    "stream_new_id_per_chunk": {"stream_chunks_share_id"},
    "stream_role_in_every_chunk": {"stream_role_only_in_first_chunk"},
    "stream_created_per_chunk": {"created_is_unix_seconds"},
    "stream_usage_in_every_chunk": {"stream_usage_only_in_last_chunk"},
    "finish_reason_eos_token": {"stream_chunks_match_schema"},
}
"""Faults a stream shows event by event, with the rules the watch must see break (and no
other)."""


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_stream_watch_agrees_with_the_rules(faulty: MutationServer, piece: int) -> None:
    """Fed a few bytes at a time, the watch finds the failures one event shows, exactly, and
    the per-response rules on the whole body find them too; legal streams: nothing."""
    request = json.dumps({"model": faulty.model, "messages": QUESTION, "stream": True}).encode()
    facts = classify_request(
        "POST", OPERATION_PATH, [("content-type", "application/json")], request
    )
    for name, expected in WATCHED_FAULTS.items():
        with faulty.mutated(_BY_NAME[name] if name else None):
            bodies = _stream_bodies(faulty.base_url, faulty.token, faulty.model)
        for body in bodies:
            watch = StreamJudge(facts.document, Level.SEMANTIC)
            for start in range(0, len(body), piece):
                watch.feed(body[start : start + piece])
            exchange = Exchange(facts.document, 200, "text/event-stream", body, known_facts=facts)
            outcome = judge_exchange(facts, exchange, Level.SEMANTIC)
            judged = {r for r, v in outcome.items() if isinstance(v, CheckFailed)}
            assert set(watch.failures) == expected, (name, piece, watch.failures)
            assert expected <= judged, (name, judged)
            assert watch.done and watch.events == len(parse_event_stream(body).chunks) + 1


def test_concurrent_clients(faulty: MutationServer) -> None:
    def one(k: int) -> tuple[str, int]:
        with ChatText(api_key=faulty.token, base_url=proxy.url, max_retries=0) as client:
            if k % 2:
                with client.chat_text(model=faulty.model, messages=QUESTION, stream=True) as s:
                    return "".join(c.choices[0].delta.content or "" for c in s if c.choices), 1
            reply = client.chat_text(model=faulty.model, messages=QUESTION)
            return reply.choices[0].message.content, 0

    with faulty.mutated(None), _proxy(faulty.base_url, context_length=512) as proxy:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(32)))
        report = proxy.report()
    assert len(answers) == 32 and all(text for text, _ in answers)
    assert report.ok, _violations(report)
    records = report.exchanges or []
    assert sorted(r.number for r in records) == list(range(1, 33))
    assert sum(r.stream for r in records) == 16
    assert report.result("id_not_repeated").passed == 32  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# The upstream going away, unreachable, silent


@contextlib.contextmanager
def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback server that reads one request per connection and lets ``answer`` write
    whatever it likes (and close, or not)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return
            data += piece
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                if k.strip().lower() == b"content-length"
            ),
            0,
        )
        while len(rest) < length:
            piece = conn.recv(65536)
            if not piece:
                return
            rest += piece
        answer(conn)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in connections:
            conn.close()
        listener.close()


def _chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked HTTP body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(n: int, id: str = "cut-1", finish: str | None = None) -> bytes:
    chunk = {
        "id": id,
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""} if n == 0 else {"content": " a"},
                "finish_reason": finish,
            }
        ],
        "usage": None,
    }
    return _chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")


def _cut_after_two_events(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + _event(0) + _event(1)
    )
    time.sleep(0.05)
    conn.close()  # no terminating chunk: the connection is gone mid-stream


def test_upstream_going_away_mid_stream() -> None:
    """The connection closes after two events: the client's stream is cut at the same point;
    the exchange is an upstream error (server_answers_every_request), not a framing violation
    (the server never ended its answer)."""
    chunks: list[Any] = []
    with _raw_server(_cut_after_two_events) as upstream, _proxy(upstream) as proxy:
        with (
            ChatText(api_key=TEST_TOKEN, base_url=proxy.url, max_retries=0) as client,
            pytest.raises(IncompleteStreamError),
            client.chat_text(model=MODEL, messages=QUESTION, stream=True) as stream,
        ):
            chunks.extend(stream)
        report = proxy.report()
        lines = list(proxy.lines)  # type: ignore[attr-defined]
    assert len(chunks) == 2  # both events came through before the cut
    (record,) = report.exchanges or []
    assert record.outcome == "upstream error" and record.status == 200
    assert record.upstream_error is not None and "broke off" in record.upstream_error
    assert _violations(report) == {"server_answers_every_request": 1}
    done = report.result("stream_ends_with_done")
    assert done is not None and done.verdict == "inconclusive"  # not blamed on the framing
    assert "UPSTREAM ERROR" in lines[0]


def test_upstream_unreachable_is_a_502_with_the_error_body() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with _proxy(f"http://127.0.0.1:{port}") as proxy:
        response = httpx.post(
            proxy.url + OPERATION_PATH,
            json={"model": MODEL, "messages": QUESTION},
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
        )
        report = proxy.report()
    assert response.status_code == 502
    assert _error_validator().is_valid(response.json())
    assert response.json()["error"]["code"] == UNAVAILABLE
    (record,) = report.exchanges or []
    assert record.outcome == "upstream error" and record.status is None


def test_upstream_silent_times_out() -> None:
    with (
        _raw_server(lambda conn: time.sleep(3)) as upstream,
        _proxy(upstream, request_timeout=0.3) as proxy,
    ):
        response = httpx.post(proxy.url + OPERATION_PATH, json={}, timeout=10)
        report = proxy.report()
    assert response.status_code == 502 and response.json()["error"]["code"] == UNAVAILABLE
    assert "--request-timeout" in response.json()["error"]["message"]
    assert _violations(report) == {"server_answers_every_request": 1}


def _busy(retry_after: bool) -> Callable[[socket.socket], None]:
    body = json.dumps(
        {"error": {"code": "unavailable", "message": "overloaded", "field": None}}
    ).encode()
    header = b"retry-after: 1\r\n" if retry_after else b""

    def answer(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            + header
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            + body
        )
        conn.close()

    return answer


@pytest.mark.parametrize("retry_after", [True, False], ids=["with-retry-after", "without"])
def test_a_busy_answer_is_relayed_and_judged_by_no_rule(retry_after: bool) -> None:
    """Real traffic meets a busy server: a 503 (or 429) is a documented answer to any request,
    so it is evidence of nothing: every rule is inconclusive for it, none fails. One without
    Retry-After (which the spec requires) is counted and said in the summary, not judged."""
    with _raw_server(_busy(retry_after)) as upstream, _proxy(upstream) as proxy:
        response = httpx.post(
            proxy.url + OPERATION_PATH,
            json={"model": MODEL, "messages": QUESTION},
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
        )
        report = proxy.report()
    assert response.status_code == 503  # passed through as the server sent it
    assert _violations(report) == {}
    for name in ("not_a_server_error", "response_headers_conformance", "usage_total_is_sum"):
        result = report.result(name)
        assert result is not None and result.passed == 0 and result.failed == 0
        assert result.verdict == "inconclusive" and "rate-limited" in result.why_not
    assert report.exchanges is not None
    assert [record.outcome for record in report.exchanges] == ["rate-limited"]
    assert report.pacing is not None and report.pacing.busy_answers == {503: 1}
    summary = report.pacing.summary()
    assert "relayed as they were, judged by no rule" in summary
    assert ("without Retry-After" in summary) is not retry_after


# ---------------------------------------------------------------------------------------------
# The token


def test_the_token_is_in_no_report_file_and_no_line(
    faulty: MutationServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server echoes the (wrong) token in its 401 and answers a malformed header 200: both
    show in the report, neither token anywhere in it."""
    secret = "sk-proxy-secret-0123456789abcdef"
    wrong = "wrong-token-0123456789"
    mutation = _BY_NAME["echoes_token"]
    with faulty.mutated(mutation), _proxy(faulty.base_url) as proxy:
        with httpx.Client() as http:
            url = proxy.url + OPERATION_PATH
            body = {"model": faulty.model, "messages": [{"role": "user", "content": secret}]}
            http.post(url, json=body, headers={"Authorization": f"Bearer {wrong}"})
            http.post(url, json=body, headers={"Authorization": f"Bearer {faulty.token}"})
            http.post(url + f"?key={faulty.token}", json=body, headers={"Authorization": "x"})
        report = proxy.report()
        lines = list(proxy.lines)  # type: ignore[attr-defined]
        tokens = proxy.proxy.ledger.tokens()
    assert "token_not_echoed" in _violations(report)
    from chat_text_conformance.proxy.cli import scrub_folder

    reports.write_report_dir(report, tmp_path)
    scrub_folder(tmp_path, proxy.proxy)
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert any(p.name == "report.json" for p in written)
    summary = proxy.proxy.ledger.redact(reports.summary_text(report, report_dir=tmp_path))
    for token in (wrong, faulty.token):
        assert token in tokens
        for path, data in written.items():
            assert token.encode() not in data, path
        assert all(token not in line for line in lines)
        assert token not in summary
        assert token not in caplog.text
    assert "$CHAT_TEXT_API_KEY" in json.dumps(json.loads((tmp_path / "report.json").read_text()))


# ---------------------------------------------------------------------------------------------
# --enforce, --fail-fast


def _dated_model_in_streams(ex: MutationExchange) -> None:
    for chunk in ex.chunks or []:
        chunk["model"] = "chat-text-mini-2024-01-01"


STREAM_MODEL_NOT_ECHOED = Mutation(
    "stream_model_not_echoed",
    "streaming",
    Level.SEMANTIC,
    frozenset({"model_echoes_request"}),
    "every chunk of a stream names a dated model version: the first event already breaks a rule",
    response=_dated_model_in_streams,
)


def test_enforce_answers_502_instead_of_a_nonconformant_answer(faulty: MutationServer) -> None:
    body = {"model": faulty.model, "messages": QUESTION}
    auth = {"Authorization": f"Bearer {faulty.token}"}
    with _proxy(faulty.base_url, enforce=True) as proxy, httpx.Client() as http:
        url = proxy.url + OPERATION_PATH
        with faulty.mutated(None):
            good = http.post(url, json=body, headers=auth)
            stream = http.post(url, json={**body, "stream": True}, headers=auth)
        with faulty.mutated(_BY_NAME["usage_total_not_sum"]):
            bad = http.post(url, json=body, headers=auth)
        with faulty.mutated(STREAM_MODEL_NOT_ECHOED):
            first = http.post(url, json={**body, "stream": True}, headers=auth)
        report = proxy.report()
    assert good.status_code == 200 and good.json()["usage"]
    assert stream.status_code == 200 and parse_event_stream(stream.content).done
    for refused in (bad, first):
        assert refused.status_code == 502
        assert _error_validator().is_valid(refused.json())
        assert refused.json()["error"]["code"] == NONCONFORMANT
    assert "usage_total_is_sum" in bad.json()["error"]["message"]
    assert "model_echoes_request" in first.json()["error"]["message"]
    assert [r.outcome for r in report.exchanges or []] == ["pass", "pass", "violation", "violation"]
    notes = [r.note for r in report.exchanges or [] if r.note]
    assert len(notes) == 2 and all(n.startswith("--enforce: answered 502") for n in notes)


def _gated(first: bytes, gate: threading.Event, *rest: bytes) -> Callable[[socket.socket], None]:
    """An answer whose ``first`` bytes go out alone: the rest only once the client has seen
    them (``gate``), so the proxy has surely relayed them before the rest exists."""

    def answer(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + first
        )
        gate.wait(10)
        for piece in rest:
            conn.sendall(piece)
        conn.sendall(b"0\r\n\r\n")
        time.sleep(0.2)
        conn.close()

    return answer


def test_enforce_ends_a_stream_before_the_event_that_breaks_a_rule() -> None:
    gate = threading.Event()
    answer = _gated(_event(0), gate, _event(1, id="another-id"), _event(2))
    with _raw_server(answer) as upstream, _proxy(upstream, enforce=True) as proxy:
        with httpx.stream(
            "POST",
            proxy.url + OPERATION_PATH,
            json={"model": MODEL, "messages": QUESTION, "stream": True},
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
        ) as response:
            received = b""
            for piece in response.iter_bytes():
                received += piece
                gate.set()
        report = proxy.report()
    assert response.status_code == 200
    parsed = parse_event_stream(received)
    assert len(parsed.chunks) == 1 and not parsed.done  # the offending event never arrived
    (record,) = report.exchanges or []
    assert record.violated == ("stream_chunks_share_id",)
    assert record.note is not None and "ended before event 2" in record.note


def test_enforce_withholds_done_from_a_stream_that_fails_at_its_end() -> None:
    """Every event is fine on its own, but the last chunk has no usage: the client gets the
    events, not [DONE], so it knows the stream is not a complete, conformant one."""
    gate = threading.Event()
    done = _chunk(b"data: [DONE]\n\n")
    answer = _gated(_event(0), gate, _event(1), _event(2, finish="stop"), done)
    chunks: list[Any] = []

    def read(stream: Any) -> None:
        for chunk in stream:
            chunks.append(chunk)
            gate.set()

    with _raw_server(answer) as upstream, _proxy(upstream, enforce=True) as proxy:
        with (
            ChatText(api_key=TEST_TOKEN, base_url=proxy.url, max_retries=0) as client,
            pytest.raises(IncompleteStreamError),
            client.chat_text(model=MODEL, messages=QUESTION, stream=True) as stream,
        ):
            read(stream)
        report = proxy.report()
    assert len(chunks) == 3  # every event, no [DONE]
    (record,) = report.exchanges or []
    assert record.violated == ("stream_usage_only_in_last_chunk",)
    assert record.note is not None and "[DONE]" in record.note


def test_fail_fast_stops_at_the_first_violation(faulty: MutationServer) -> None:
    with (
        faulty.mutated(_BY_NAME["usage_total_not_sum"]),
        _proxy(faulty.base_url, fail_fast=True) as proxy,
    ):
        response = httpx.post(
            proxy.url + OPERATION_PATH,
            json={"model": faulty.model, "messages": QUESTION},
            headers={"Authorization": f"Bearer {faulty.token}"},
        )
        assert proxy.proxy.stop_requested.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(proxy.url + "/", timeout=0.5)
            except httpx.TransportError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the proxy still answers after --fail-fast")
        report = proxy.report()
    assert response.status_code == 200  # the answer itself still went through
    assert _violations(report) == {"usage_total_is_sum": 1}


# ---------------------------------------------------------------------------------------------
# The command line


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_bad_flags_exit_2(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        cases = [
            (["proxy"], "--upstream"),
            (["proxy", "--upstream", "ftp://example.com"], "--upstream"),
            (["proxy", "--upstream", "localhost:8000"], "--upstream"),
            (["proxy", "--upstream", "http://x", "--listen", "nohost"], "--listen"),
            (["proxy", "--upstream", "http://x", "--listen", "127.0.0.1:70000"], "--listen"),
            (["proxy", "--upstream", "http://x", "--listen", f"127.0.0.1:{port}"], "--listen"),
            (["proxy", "--upstream", "http://x", "--report-dir", str(a_file)], "--report-dir"),
            (["proxy", "--upstream", "http://x", "--request-timeout", "0"], "--request-timeout"),
            (["proxy", "--upstream", "http://x", "--level", "loose"], "--level"),
        ]
        for argv, flag in cases:
            if "--report-dir" not in argv:
                argv = [*argv, "--report-dir", str(tmp_path / "r")]
            code, _, err = _run_cli(argv)
            assert code == 2, argv
            assert flag in err and "Traceback" not in err, (argv, err)
    assert not (Path.cwd() / "chat-text-proxy-report").exists()


def _start_cli(upstream: str, folder: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chat_text_conformance.cli",
            "proxy",
            "--upstream",
            upstream,
            "--listen",
            "127.0.0.1:0",
            "--report-dir",
            str(folder),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = next((w.rstrip(",") for w in line.split() if w.startswith("http://")), "")
    if not url:
        proc.kill()
        pytest.fail(f"the proxy did not start: {line!r} {proc.communicate()[1]}")
    return proc, url


@pytest.mark.parametrize(("sig", "fault", "code"), [("SIGTERM", True, 1), ("SIGINT", False, 0)])
def test_cli_signal_writes_the_report(
    faulty: MutationServer, tmp_path: Path, sig: str, fault: bool, code: int
) -> None:
    folder = tmp_path / "report"
    mutation = _BY_NAME["usage_total_not_sum"] if fault else None
    with faulty.mutated(mutation):
        proc, url = _start_cli(faulty.base_url, folder)
        try:
            with ChatText(api_key=faulty.token, base_url=url, max_retries=0) as client:
                client.chat_text(model=faulty.model, messages=QUESTION)
            proc.send_signal(getattr(signal, sig))
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == code, err
    assert "#1 POST /inference/chat_text 200" in out
    data = json.loads((folder / "report.json").read_text())
    assert data["ok"] is (not fault)
    assert [e["outcome"] for e in data["exchanges"]] == ["violation" if fault else "pass"]
    assert (folder / "junit.xml").is_file()
    for path in folder.rglob("*"):
        if path.is_file():
            assert faulty.token.encode() not in path.read_bytes()
    assert faulty.token not in out + err


def test_cli_fail_fast_exits_1_by_itself(faulty: MutationServer, tmp_path: Path) -> None:
    with faulty.mutated(_BY_NAME["stream_without_done"]):
        proc, url = _start_cli(faulty.base_url, tmp_path, "--fail-fast", "-q")
        try:
            httpx.post(
                url + OPERATION_PATH,
                json={"model": faulty.model, "messages": QUESTION, "stream": True},
                headers={"Authorization": f"Bearer {faulty.token}"},
            )
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, err
    assert "--fail-fast" in out
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["exchanges"][0]["violated"] == ["stream_ends_with_done"]


def test_a_proxy_report_replays(
    faulty: MutationServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's reproducers aim at the upstream: ``chat-text-conformance replay DIR``
    sends the violating request again, exit 1 while the bug is there, 0 once it is fixed."""
    mutation = _BY_NAME["usage_total_not_sum"]
    with faulty.mutated(mutation), _proxy(faulty.base_url) as proxy:
        with ChatText(api_key=faulty.token, base_url=proxy.url, max_retries=0) as client:
            client.chat_text(model=faulty.model, messages=QUESTION)
        report = proxy.report()
    reports.write_report_dir(report, tmp_path)
    monkeypatch.setenv("CHAT_TEXT_API_KEY", faulty.token)
    with faulty.mutated(mutation):
        still, out, _ = _run_cli(["replay", str(tmp_path)])
    with faulty.mutated(None):
        fixed, _, _ = _run_cli(["replay", str(tmp_path)])
    assert (still, fixed) == (1, 0), out
    assert "STILL FAILS usage_total_is_sum" in out


def test_bodies_ended_by_close_and_idle_connections_the_upstream_closed() -> None:
    """The upstream client reads a body delimited by the end of the connection, and a request
    on a keep-alive connection the server has since closed goes out again on a fresh one."""

    def close_delimited(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")
        conn.close()

    def keep_alive_then_close(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope")
        conn.recv(65536)  # the next request on this kept-alive connection: never answered
        conn.close()

    with _raw_server(close_delimited) as upstream, _proxy(upstream) as proxy:
        response = httpx.get(proxy.url + "/health")
        assert (response.status_code, response.text) == (200, "all of it")
    with _raw_server(keep_alive_then_close) as upstream, _proxy(upstream) as proxy:
        answers = [httpx.get(proxy.url + "/health") for _ in range(3)]
        report = proxy.report()
    assert [(a.status_code, a.text) for a in answers] == [(404, "nope")] * 3
    assert [r.outcome for r in report.exchanges or []] == ["not judged"] * 3
