"""Mutation tests of the conformance suite: every injected fault is caught by the default level.

One reference server (free loopback port) serves the whole module; each test injects one
realistic fault (:data:`chat_text_conformance.mutations.MUTATIONS`) for its duration. A fault
counts as caught when the default (semantic) level of the suite reports a failure. The suite's
targeted properties run first (they are part of every semantic run, with the same budget and
seed); only a fault they miss is given the full ``run()`` (schemathesis + per-response checks
+ properties), which keeps the module fast.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from chat_text_conformance import Level, Target, run
from chat_text_conformance.mutations import MUTATIONS, Mutation, MutationServer, mutation_server
from chat_text_conformance.properties import run_properties

SEED = 20261125
# Small by default; `tox -e properties-deep` sets a larger budget.
BUDGET = int(os.environ.get("CHAT_TEXT_PROPERTY_EXAMPLES", "3"))
MODEL = "chat-text-mini"
CONTEXT = 512  # chat-text-mini's window, as the reference server documents it


@pytest.fixture(scope="module")
def server() -> Iterator[MutationServer]:
    with mutation_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def target(server: MutationServer) -> Target:
    return Target(server.base_url, server.token, MODEL, context_length=CONTEXT, request_timeout=5)


def _caught_by(server: MutationServer, target: Target, mutation: Mutation | None) -> list[str]:
    """Names of the checks of a default-level run that fail with ``mutation`` applied."""
    with server.mutated(mutation):
        results = run_properties(
            target, Level.SEMANTIC, max_examples=BUDGET, seed=SEED, fail_fast=True
        )
        failed = [r.name for r in results if not r.ok]
        if failed or mutation is None:
            return failed
        report = run(target, Level.SEMANTIC, max_examples=BUDGET, seed=SEED)
        return [r.name for r in report.results if not r.ok]


def test_catalogue_has_realistic_faults_of_every_kind() -> None:
    kinds = Counter(m.kind for m in MUTATIONS)
    assert len(MUTATIONS) >= 15
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    assert {"shape", "auth", "semantics", "streaming"} <= set(kinds)
    assert all(m.patch or m.request or m.response for m in MUTATIONS)


def test_unmutated_server_passes_every_property(server: MutationServer, target: Target) -> None:
    for level in (Level.SEMANTIC, Level.STRICT):
        with server.mutated(None):
            results = run_properties(target, level, max_examples=BUDGET, seed=SEED)
        failures = [f for r in results for f in r.failures]
        assert failures == []
        assert all(r.passed > 0 for r in results)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_default_level_catches(server: MutationServer, target: Target, mutation: Mutation) -> None:
    caught = _caught_by(server, target, mutation)
    assert caught, f"{mutation.name} ({mutation.description}) was not caught"


def test_failures_never_show_the_token(server: MutationServer, target: Target) -> None:
    echo = next(m for m in MUTATIONS if m.name == "echoes_token")
    with server.mutated(echo):
        results = run_properties(
            target,
            Level.SEMANTIC,
            max_examples=1,
            seed=SEED,
            only=["unauthorized_without_valid_token"],
        )
    failures = [f for r in results for f in r.failures]
    assert failures, "the echoed token was not reported"
    for failure in failures:
        text = " ".join((failure.message, failure.expected, failure.actual, failure.reproducer))
        assert server.token not in text
        assert failure.reproducer.startswith("curl ")


def test_server_is_restored_after_mutations(server: MutationServer, target: Target) -> None:
    assert _caught_by(server, target, None) == []
