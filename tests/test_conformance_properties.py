"""The targeted properties: green against the reference server, bounded against broken ones."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
from collections.abc import Iterator

import pytest
from chat_text_conformance import Level, Target, embedded
from chat_text_conformance.catalogue import catalogue
from chat_text_conformance.properties import run_properties
from chat_text_conformance.properties.validation import _object_cases, _wrong_types
from chat_text_conformance.reporting.results import CheckResult

from chat_text_spec import request_schema

SEED = 7
# Small by default; `tox -e properties-deep` sets a larger budget.
BUDGET = int(os.environ.get("CHAT_TEXT_PROPERTY_EXAMPLES", "4"))


@pytest.fixture(scope="module", params=["chat-text-mini", "chat-text-base"])
def reference(request: pytest.FixtureRequest) -> Iterator[Target]:
    with embedded(request.param) as target:
        yield target


def _props(target: Target, level: Level, **kwargs: object) -> list[CheckResult]:
    outcome = run_properties(target, level, **kwargs)  # type: ignore[arg-type]
    return outcome.properties


@pytest.mark.parametrize("level", [Level.SEMANTIC, Level.STRICT])
def test_reference_server_passes(reference: Target, level: Level) -> None:
    outcome = run_properties(reference, level, max_examples=BUDGET, seed=SEED)
    results = outcome.properties
    assert [f for r in results for f in r.failures] == []
    expected = {r.id for r in catalogue(kind="property", level=level)}
    assert {r.name for r in results} == expected
    assert all(r.group == "property" and r.passed > 0 for r in results)
    # every reply was judged by the per-response rules too, without a failure
    assert outcome.responses["usage_total_is_sum"].passed > 0
    assert all(r.ok for r in outcome.responses.values())


def test_semantic_level_never_assumes_determinism() -> None:
    strict_only = {r.id for r in catalogue(kind="property")} - {
        r.id for r in catalogue(kind="property", level=Level.SEMANTIC)
    }
    assert strict_only == {
        "finish_reason_matches_max_tokens",
        "stream_matches_non_stream",
        "temperature_zero_deterministic",
    }


def test_schema_level_runs_no_property(reference: Target) -> None:
    assert _props(reference, Level.SCHEMA, max_examples=BUDGET, seed=SEED) == []


def test_unknown_context_length_skips_with_a_note(reference: Target) -> None:
    target = dataclasses.replace(reference, context_length=None)
    names = ["max_tokens_lowered_to_fit", "prompt_too_long_when_kept_messages_overflow"]
    results = _props(target, Level.SEMANTIC, max_examples=2, seed=SEED, only=names)
    by_name = {r.name: r for r in results}
    assert all("--context-length" in r.note for r in results)
    # the short-prompt cases (plain and streamed) still run
    assert by_name["max_tokens_lowered_to_fit"].passed == 2
    assert by_name["prompt_too_long_when_kept_messages_overflow"].passed == 0
    assert all(r.ok for r in results)


def test_wrong_token_fails_every_property_that_needs_answers(reference: Target) -> None:
    target = dataclasses.replace(reference, token="not-the-token-at-all")
    results = _props(
        target,
        Level.SEMANTIC,
        max_examples=1,
        seed=SEED,
        only=["null_and_omitted_mean_default", "truncation_keeps_newest_turns"],
    )
    assert results and not any(r.ok for r in results)
    assert all("HTTP 401" in r.failures[0].actual for r in results)


# ---------------------------------------------------------------------------------------------
# Cases derived from the spec


def test_invalid_cases_cover_every_request_field() -> None:
    schema = request_schema()
    valid = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    cases = list(_object_cases(schema, valid, ""))
    tops = {path.split("[")[0].split(".")[0] for path, _, _ in cases}
    assert set(schema["properties"]) <= tops
    paths = {path for path, _, _ in cases}
    assert {"messages[0].role", "messages[0].content", "unknown_field"} <= paths
    assert len({d for _, d, _ in cases}) == len(cases)
    for _, _, corrupt in cases:  # corrupting never touches the original
        corrupt(valid)
    assert valid == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_wrong_types_respect_json_schema_numbers() -> None:
    props = request_schema()["properties"]
    temperature = {repr(v) for _, v in _wrong_types(props["temperature"])}
    assert "7" not in temperature and "1.5" not in temperature  # integers are numbers
    assert {"'not-valid'", "True"} <= temperature
    max_tokens = {repr(v) for _, v in _wrong_types(props["max_tokens"])}
    assert "1.5" in max_tokens and "True" in max_tokens
    assert "None" not in max_tokens  # null means "the default"


# ---------------------------------------------------------------------------------------------
# Broken servers: the run ends, reports failures, never raises


class _FakeServer:
    """A raw TCP server on 127.0.0.1 that misbehaves in one way, counting connections."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._held: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.mode == "hang":
                self._held.append(conn)
                continue
            if self.mode == "reset":
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                conn.close()
                continue
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                if self.mode == "not_http":
                    conn.sendall(b"garbage garbage\r\n\r\n")
                else:  # valid HTTP, garbage body
                    body = b'{"id": 1, "choices": "nope'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
            conn.close()

    def __enter__(self) -> _FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
        for conn in self._held:
            conn.close()


def _fake_target(url: str) -> Target:
    return Target(
        url, "secret-token-123", "chat-text-mini", context_length=512, request_timeout=0.3
    )


@pytest.mark.parametrize("mode", ["hang", "reset", "not_http"])
def test_server_without_responses_trips_the_breaker(mode: str) -> None:
    with _FakeServer(mode) as fake:
        results = _props(_fake_target(fake.url), Level.STRICT, max_examples=5, seed=SEED)
    assert len(results) == len(catalogue(kind="property"))
    assert not any(r.ok for r in results)
    assert fake.connections <= 3  # after 3 transport failures in a row nothing more is sent
    last = results[-1].failures[0]
    assert "stopped answering" in last.message


def test_garbage_answers_are_failures_not_exceptions() -> None:
    with _FakeServer("garbage_json") as fake:
        outcome = run_properties(_fake_target(fake.url), Level.STRICT, max_examples=2, seed=SEED)
    results = outcome.properties
    assert len(results) == len(catalogue(kind="property"))
    # the garbage is reported once, under the rule it breaks, never as a property crash
    schema = outcome.responses["response_schema_conformance"]
    assert schema.failed > 0
    assert "secret-token-123" not in schema.failures[0].reproducer
    for result in results:
        for failure in result.failures:
            assert failure.message and "could not be evaluated" not in failure.message
            assert "secret-token-123" not in failure.reproducer


def test_spent_time_budget_sends_nothing() -> None:
    with _FakeServer("garbage_json") as fake:
        results = _props(
            _fake_target(fake.url), Level.SEMANTIC, max_examples=2, seed=SEED, time_budget=0
        )
    assert fake.connections == 0
    # the user's own budget: inconclusive, not a server failure
    assert all(r.ok and r.verdict == "inconclusive" for r in results)
    assert all("time budget" in r.why_not for r in results)


# ---------------------------------------------------------------------------------------------
# Independence from the tokenizer


def _trigram_tokenize(text: str) -> list[str]:
    """A different, still self-consistent tokenizer: every 3 non-space characters are a token."""
    squeezed = "".join(text.split())
    return [squeezed[i : i + 3] for i in range(0, len(squeezed), 3)]


def test_properties_hold_for_a_server_with_another_tokenizer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A correct server with a different tokenizer and message overhead passes too: the
    properties compare the server's counts with each other, never with a tokenizer of theirs."""
    from chat_text_server import engine
    from chat_text_server.testing import running_server

    monkeypatch.setattr(engine, "tokenize", _trigram_tokenize)
    monkeypatch.setattr(engine, "MESSAGE_OVERHEAD", 5)
    token = "another-tokenizer-token"
    with running_server(tokens=[token]) as url:
        target = Target(
            url, token, "chat-text-mini", context_length=engine.MODELS["chat-text-mini"]
        )
        results = _props(target, Level.STRICT, max_examples=BUDGET, seed=SEED)
    assert [f for r in results for f in r.failures] == []
    assert all(r.passed > 0 for r in results)  # none skipped: every count was usable
