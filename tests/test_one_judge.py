"""One judge per rule: the same recorded exchange gets the same verdict from every front end.

A corpus of real exchanges is recorded from the reference server (clean, and with each fault of
the fault catalogue that one exchange can show) and from legal variant servers: plain answers,
streams, invalid requests, missing and wrong tokens, another method. Each exchange is then
judged by the suite's path (its schemathesis checks, on schemathesis's own case and response
objects), the validation proxy's (``judge_exchange`` on the request it classified) and
``replay``'s, with the same knowledge (token, model, window); every rule must get the same
verdict from all three.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
from chat_text_conformance import checks, replay
from chat_text_conformance.checks import CheckResult, Exchange, RunContext
from chat_text_conformance.engine.schemathesis_adapter import (
    SchemathesisRun,
    _as_schemathesis_check,
    attach,
)
from chat_text_conformance.engine.target import Level
from chat_text_conformance.proxy.judging import classify_request, judge_exchange
from chat_text_conformance.reporting.results import Failure, RequestRecord
from chat_text_testkit.mutations import MUTATIONS, MutationServer, mutation_server
from chat_text_testkit.variant_server import VARIANTS, running_variants
from schemathesis.core.transport import Response as StResponse

import chat_text_spec

MODEL = "chat-text-mini"
LEVEL = Level.STRICT  # every per-exchange rule
PATH = chat_text_spec.OPERATION_PATH


@dataclass(frozen=True)
class Recorded:
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    content: bytes
    token: str
    model: str
    window: int


def _requests(token: str, model: str) -> list[tuple[str, dict[str, str], bytes]]:
    ask = [{"role": "user", "content": "Name three rivers."}]
    good = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return [
        ("POST", good, json.dumps({"model": model, "messages": ask}).encode()),
        ("POST", good, json.dumps({"model": model, "messages": ask, "stream": True}).encode()),
        ("POST", good, json.dumps({"model": model, "messages": ask, "temperature": 9}).encode()),
        (
            "POST",
            {"Content-Type": "application/json"},
            json.dumps({"model": model, "messages": ask}).encode(),
        ),
        (
            "POST",
            {**good, "Authorization": "Bearer not-the-token-1234"},
            json.dumps({"model": model, "messages": ask}).encode(),
        ),
        ("POST", {**good, "Content-Type": "text/plain"}, b"hello"),
        ("PUT", good, b"{}"),
    ]


def _record(base_url: str, token: str, model: str, window: int) -> list[Recorded]:
    found = []
    with httpx.Client(timeout=20) as client:
        for method, headers, body in _requests(token, model):
            response = client.request(method, base_url + PATH, headers=headers, content=body)
            found.append(
                Recorded(
                    method,
                    tuple((k.lower(), v) for k, v in headers.items()),
                    body,
                    response.status_code,
                    tuple((k.lower(), v) for k, v in response.headers.items()),
                    response.content,
                    token,
                    model,
                    window,
                )
            )
    return found


def _single_exchange_faults() -> list[Any]:
    """The catalogue's faults that edit one exchange (a middleware), not the engine."""
    return [m for m in MUTATIONS if m.patch is None and (m.request or m.response)]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, Recorded]]:
    from chat_text_server.engine import MODELS

    found: list[tuple[str, Recorded]] = []
    with mutation_server() as server:
        window = MODELS[MODEL]
        found += [("reference", r) for r in _record(server.base_url, server.token, MODEL, window)]
        for fault in _single_exchange_faults():
            with _mutated(server, fault):
                for item in _record(server.base_url, server.token, MODEL, window):
                    found.append((fault.name, item))
    token = "one-judge-variant-token"
    names = ["default", "all-with-usage", "sse_extras", "bom"]
    with running_variants([VARIANTS[n] for n in names], token) as urls:
        for name, url in zip(names, urls, strict=True):
            model, window = min(VARIANTS[name].models.items(), key=lambda item: item[1])
            found += [(f"variant {name}", r) for r in _record(url, token, model, window)]
    return found


@contextlib.contextmanager
def _mutated(server: MutationServer, fault: Any) -> Iterator[None]:
    if server.unsupported(fault) is not None:
        yield
        return
    with server.mutated(fault):
        yield


def _context(item: Recorded) -> RunContext:
    return RunContext(context_length=item.window, token=item.token, model=item.model)


def _verdict(result: CheckResult) -> str:
    return result.verdict


def _by_suite(item: Recorded) -> dict[str, str]:
    from chat_text_conformance._internals import _operation

    operation = _operation()
    document: Any = None
    with contextlib.suppress(ValueError):
        document = json.loads(item.body)
    case = operation.Case(
        method=item.method, headers=dict(item.headers), body=document if document else None
    )
    state = SchemathesisRun(context=_context(item), level=LEVEL, base_url="http://target")
    attach(operation.schema, state)
    request = requests.Request(
        item.method, "http://target" + PATH, headers=dict(item.headers), data=item.body
    ).prepare()
    headers: dict[str, list[str]] = {}
    for name, value in item.response_headers:
        headers.setdefault(name, []).append(value)
    response = StResponse(item.status, headers, item.content, request, 0.0, True)
    for rule in checks.PER_RESPONSE_RULES:
        with contextlib.suppress(AssertionError):
            _as_schemathesis_check(rule, None)(None, response, case)
    return {name: _verdict(result) for name, result in state.results.items()}


def _by_proxy(item: Recorded) -> dict[str, str]:
    facts = classify_request(item.method, PATH, item.headers, item.body)
    exchange = Exchange(
        facts.document,
        item.status,
        checks.media_type(dict(item.response_headers).get("content-type")),
        item.content,
        context=_context(item),
        headers=item.response_headers,
        token=facts.token,
        method=facts.method,
        path=facts.path,
        known_facts=facts,
    )
    verdicts = {}
    for rule_id, outcome in judge_exchange(facts, exchange, LEVEL).items():
        result = CheckResult(rule_id, "x")
        checks.record(result, outcome, lambda failed, rid=rule_id: Failure(rid, failed.message))
        verdicts[rule_id] = _verdict(result)
    return verdicts


_REPLAY_VERDICT = {
    replay.PASSES: "passed",
    replay.FAILS: "failed",
    replay.NOT_EXERCISED: "not exercised",
    replay.INCONCLUSIVE: "inconclusive",
}


def _by_replay(item: Recorded) -> dict[str, str]:
    settings = replay._Settings(
        base_url="http://target",
        token=item.token,
        model=item.model,
        context_length=item.window,
        level=LEVEL,
        seed=None,
        max_examples=1,
        workers=1,
        request_timeout=10,
        report_dir=None,
        client=httpx.Client(),
    )
    record = RequestRecord.build(item.method, PATH, item.headers, item.body, item.token)
    answer = replay._Response(item.status, httpx.Headers(list(item.response_headers)), item.content)
    verdicts = {}
    for rule in checks.PER_RESPONSE_RULES:
        case = replay.Replayed(rule.id, "", "", "")
        judged = replay._judge_with_rule(rule, replay._exchange(settings, record, answer), case)
        verdicts[rule.id] = _REPLAY_VERDICT[judged.verdict]
    settings.client.close()
    return verdicts


def test_every_front_end_gives_every_exchange_the_same_verdict(
    corpus: list[tuple[str, Recorded]],
) -> None:
    assert len({name for name, _ in corpus}) > 10  # faults and variants, not one server
    differences = []
    for name, item in corpus:
        suite, proxy, replayed = _by_suite(item), _by_proxy(item), _by_replay(item)
        for rule in checks.PER_RESPONSE_RULES:
            seen = (suite.get(rule.id), proxy.get(rule.id), replayed.get(rule.id))
            if len(set(seen)) > 1:
                differences.append(f"{name} {item.method} {item.status} {rule.id}: {seen}")
    assert not differences, "\n".join(differences[:20])


def _by_load_judge(item: Recorded) -> dict[str, str] | None:
    """The load generator's judge process, fed the exchange as a load engine hands it over
    (``None``: a request the load never sends: it always sends POST with its token, as JSON)."""
    from chat_text_conformance.load.judge import Verdicts, request_headers
    from chat_text_conformance.load.options import LoadSettings

    sent = {name.lower(): value for name, value in request_headers(item.token).items()}
    if item.method != "POST" or any(
        dict(item.headers).get(k) != v for k, v in sent.items() if k != "accept-encoding"
    ):
        return None
    settings = LoadSettings(
        base_url="http://target", model=item.model, context_length=item.window, level=LEVEL.value
    )
    verdicts = Verdicts(settings, item.token)
    document = json.loads(item.body)
    media = checks.media_type(dict(item.response_headers).get("content-type"))
    streamed = bool(document.get("stream"))
    verdicts.judge(
        (
            1,
            "short",
            item.body,
            streamed,
            item.status,
            media,
            item.response_headers,
            item.content,
            time.time(),
            None,
            True,
            True,
        )
    )
    return {rule_id: _verdict(result) for rule_id, result in verdicts.book.results.items()}


def test_the_load_judge_process_gives_the_suite_s_verdicts(
    corpus: list[tuple[str, Recorded]],
) -> None:
    """Every exchange a load could send gets from the load's judge the proxy's verdict on every
    rule (which the test above holds equal to the suite's and replay's)."""
    differences, compared = [], 0
    for name, item in corpus:
        load = _by_load_judge(item)
        if load is None:
            continue
        compared += 1
        proxy = _by_proxy(item)
        for rule in checks.PER_RESPONSE_RULES:
            if load.get(rule.id) != proxy.get(rule.id):
                differences.append(
                    f"{name} {item.status} {rule.id}: {load.get(rule.id)} vs {proxy.get(rule.id)}"
                )
    assert compared > 20
    assert not differences, "\n".join(differences[:20])


def test_the_corpus_shows_failures_of_many_rules(corpus: list[tuple[str, Recorded]]) -> None:
    """The comparison is worth something only if the corpus has failures to agree on."""
    failed = {
        rule
        for _, item in corpus
        for rule, verdict in _by_proxy(item).items()
        if verdict == "failed"
    }
    assert len(failed) >= 8, sorted(failed)


def _outcome_form(outcome: Any) -> tuple[str, ...]:
    if isinstance(outcome, checks.CheckFailed):
        return ("failed", outcome.message, outcome.expected, outcome.actual)
    if isinstance(outcome, checks.NotApplicable | checks.Inconclusive):
        return (type(outcome).__name__, outcome.reason)
    return (repr(outcome),)


_EDGE_STREAMS = [
    (200, b'data: {"id": "a"}\n\ndata: \xff\xfe\n\ndata: [DONE]\n\n'),  # not UTF-8
    (200, b'data: {"id": "a", "choices": []}\n\ndata: [DONE]\n\ndata: {"late": 1}\n\n'),
    (200, b'data: "text"\n\ndata: nope\n\ndata: {"id": 1}'),  # JSON string, not JSON, no end
    (400, b"data: nope\n\ndata: [DONE]\n\n"),  # a stream, but not a 2xx
    (200, b""),
]


def test_the_load_generator_judges_a_stream_it_watched_as_it_judged_it_before(
    corpus: list[tuple[str, Recorded]],
) -> None:
    """The load generator feeds each stream to a StreamJudge as it arrives and hands that to
    ``checks.judge`` (``stream=``), which then neither parses nor folds the body again: every
    verdict must be the one it gave before (the whole-body judge, with the first failure the
    watch saw taking precedence), and the parse the one of the whole body."""
    from chat_text_conformance.checks.exchange import parse_event_stream
    from chat_text_conformance.checks.watch import StreamJudge

    items = [
        (name, item)
        for name, item in corpus
        if checks.media_type(dict(item.response_headers).get("content-type")) == "text/event-stream"
    ]
    assert len(items) > 10
    cases = [(name, item.status, item.body, item.content, item) for name, item in items]
    request = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    cases += [("edge", status, request.encode(), body, None) for status, body in _EDGE_STREAMS]
    failed: set[str] = set()
    for name, status, sent, body, recorded in cases:
        document = json.loads(sent) if sent.startswith(b"{") else None
        lines = body.splitlines(keepends=True)

        def exchange(
            document: Any = document,
            status: int = status,
            body: bytes = body,
            sent: bytes = sent,
            recorded: Recorded | None = recorded,
            **extra: Any,
        ) -> Exchange:
            return Exchange(
                document,
                status,
                "text/event-stream",
                body,
                # each judging its own run: an answer's id is new to it
                context=RunContext(token="t", model=MODEL)
                if recorded is None
                else _context(recorded),
                headers=(("content-type", "text/event-stream"),),
                request_headers=(("authorization", "Bearer t"),),
                request_body=sent,
                **extra,
            )

        before_watch = StreamJudge(document, LEVEL)
        for line in lines:
            before_watch.feed(line)
        before = checks.judge(exchange(), LEVEL)
        for rule_id, failure in before_watch.failures.items():
            if rule_id in before and not isinstance(before[rule_id], checks.CheckFailed):
                before[rule_id] = failure
        watch = StreamJudge(document, LEVEL)
        for line in lines:
            watch.feed(line)
        assert watch.parsed() == parse_event_stream(body), name
        after = checks.judge(exchange(known_stream=watch.parsed()), LEVEL, stream=watch)
        assert list(after) == list(before), name
        for rule_id in before:
            assert _outcome_form(after[rule_id]) == _outcome_form(before[rule_id]), (
                name,
                rule_id,
            )
            if isinstance(before[rule_id], checks.CheckFailed) and rule_id.startswith("stream"):
                failed.add(rule_id)
    assert len(failed) >= 4, sorted(failed)  # the stream rules' failures are compared too


def test_the_load_judge_feeds_a_stream_whole_as_if_fed_line_by_line(
    corpus: list[tuple[str, Recorded]],
) -> None:
    """The load judge feeds a stream's body whole, in one go: every watch's first failure and
    the parse must be those of feeding it line by line, as the engine read it. A body that
    stops being UTF-8 is fed by lines again (a feed stops at the bad bytes, so what broke in
    the lines before them counts only when they were fed apart)."""
    from chat_text_conformance.checks.watch import StreamJudge
    from chat_text_conformance.load.judge import Verdicts, _lines
    from chat_text_conformance.load.options import LoadSettings

    verdicts = Verdicts(LoadSettings(base_url="http://x", model=MODEL, level=LEVEL.value), "t")
    document = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    user_first = b'data: {"choices": [{"index": 0, "delta": {"role": "user"}}]}\n\n'
    bodies = [
        item.content
        for _, item in corpus
        if checks.media_type(dict(item.response_headers).get("content-type")) == "text/event-stream"
    ]
    bodies += [body for _, body in _EDGE_STREAMS]
    bodies += [user_first + b"data: \xff\n\ndata: [DONE]\n\n", b"\xef\xbb\xbf" + user_first]
    broke_before_bad_bytes = False
    for body in bodies:
        by_line = StreamJudge(document, LEVEL)
        for line in _lines(body):
            by_line.feed(line)
        whole = verdicts._watched(document, body)
        assert whole.parsed() == by_line.parsed(), body[:80]
        assert (whole.events, whole.done, whole.not_utf8) == (
            by_line.events,
            by_line.done,
            by_line.not_utf8,
        ), body[:80]
        forms = {rule: _outcome_form(failure) for rule, failure in whole.failures.items()}
        assert forms == {r: _outcome_form(f) for r, f in by_line.failures.items()}, body[:80]
        broke_before_bad_bytes |= whole.not_utf8 and "stream_role_only_in_first_chunk" in forms
    assert broke_before_bad_bytes
