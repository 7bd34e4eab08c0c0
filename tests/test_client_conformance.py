"""Client conformance from pytest: a small seeded budget in the default run, plus proof that the
checks catch a client that breaks the contract."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from chat_text_conformance.clients.sdk import CHECKS, run_client_conformance
from chat_text_conformance.reporting.results import CheckResult

import chat_text._client
import chat_text._parsing

# A small seeded budget keeps the default run fast; larger budgets: tox -e client-conformance
BUDGET = int(os.environ.get("CHAT_TEXT_CLIENT_CONFORMANCE_EXAMPLES", "6"))
SEED = 20261125


def summary(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.name}: passed={r.passed} failed={r.failed}")
        lines += [f"    {f.message}: {f.actual} ({f.reproducer[:300]})" for f in r.failures]
    return "\n".join(lines)


def test_client_conformance_passes_on_a_seeded_budget() -> None:
    results = run_client_conformance(max_examples=BUDGET, seed=SEED)
    assert [r.name for r in results] == list(CHECKS)
    assert all(r.group == "client" for r in results)
    assert all(r.ok for r in results), summary(results)
    # every check really ran on generated examples (assume() may discard a few)
    assert all(r.passed >= BUDGET // 2 for r in results), summary(results)


def test_unknown_check_and_bad_budget_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown client checks"):
        run_client_conformance(max_examples=1, seed=0, checks=["no_such_check"])
    with pytest.raises(ValueError, match="max_examples"):
        run_client_conformance(max_examples=0, seed=0)


def test_a_client_that_skips_validation_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    class AcceptAll:
        def is_valid(self, _data: Any) -> bool:
            return True

    monkeypatch.setattr(chat_text._parsing, "validator", lambda _name: AcceptAll())
    (result,) = run_client_conformance(
        max_examples=BUDGET, seed=SEED, checks=["sdk_rejects_invalid_responses"]
    )
    assert result.failed > 0
    assert result.failures[0].expected == "ResponseValidationError"


def test_a_client_that_sends_defaults_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = chat_text._client.build_request_body

    def bakes_in_defaults(**kwargs: Any) -> bytes:
        body = json.loads(real(**kwargs))
        body.setdefault("max_tokens", 200)  # what a naive generator does
        return json.dumps(body).encode()

    monkeypatch.setattr(chat_text._client, "build_request_body", bakes_in_defaults)
    (result,) = run_client_conformance(
        max_examples=BUDGET, seed=SEED, checks=["sdk_requests_match_schema"]
    )
    assert result.failed > 0


def test_a_cut_stream_never_holds_a_complete_done_event() -> None:
    """The cut streams the SDK must reject are incomplete whatever their line ends: every cut up
    to ``longest_cut`` lacks a dispatched ``[DONE]``, and one byte more has it (so the bound is
    tight). With CRLF that is two bytes short of the end: a stream ending
    ``data: [DONE]\r\n\r`` is complete, a lone CR ends a line."""
    from chat_text_conformance.clients.sdk import frame_events, longest_cut

    from chat_text_spec.sse import SSEDecoder

    def complete(raw: bytes) -> bool:
        return any(event.data == "[DONE]" for event in SSEDecoder().feed(raw))

    chunk = {"id": "c", "object": "chat.text.chunk", "created": 1, "model": "m", "choices": []}
    for newline in ("\n", "\r\n", "\r"):
        for chunks in ([], [chunk], [chunk, chunk]):
            for comments in (False, True):
                whole = frame_events(chunks, newline, comments)
                last = longest_cut(whole, newline)
                assert not any(complete(whole[:i]) for i in range(last + 1)), (newline, chunks)
                assert complete(whole[: last + 1]), (newline, chunks)
