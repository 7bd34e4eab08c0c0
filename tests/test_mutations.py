"""Mutation tests of the conformance suite: every injected fault is caught, at its level, by one
of its rules, on the reference server and on two variant servers that differ from it (and from
each other) in nearly every legal choice.

The servers (:func:`mutations.mutation_server`, one per server for the whole module):

* ``reference``: ``chat_text_server`` (``chat-text-mini``, 512-token window);
* ``all-deterministic``: the variant server with every legal choice switched on at once but
  ``usage: null`` and non-determinism (two models with other names, a byte tokenizer, 7 tokens
  of overhead per message, one token per stream event and 1,100+ token answers, CR line ends,
  SSE comments and fields, extra fields, fractional ``created``, 100-character ids, Content-Type
  parameters, ``stop`` at exactly max_tokens, ``finish_reason`` in its own chunk, a usage-only
  last chunk, other error wording, latency);
* ``models``: the variant server with its defaults (a regex tokenizer, 4 tokens of overhead per
  message, one word per event) and other model names and windows.

Each test injects one fault (:data:`mutations.MUTATIONS`) into one server and runs the suite at
the fault's level (``Mutation.level``). The suite's targeted properties run first with
``fail_fast`` (they are part of every semantic and strict run, with the same budget and seed);
only a fault they miss is given the whole ``run()`` (schemathesis, per-response rules,
properties), which the schema-level faults always get: first with ``fail_fast`` (the first of
the full run's requests), then in full if its first failure is not one of the fault's rules.
Budget: ``CHAT_TEXT_PROPERTY_EXAMPLES``
(default 3), seed fixed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from chat_text_conformance import Level, Target, run
from chat_text_conformance.catalogue import catalogue
from chat_text_conformance.properties import run_properties
from chat_text_testkit.mutations import (
    MUTATIONS,
    REFERENCE,
    Mutation,
    MutationServer,
    mutation_server,
)
from chat_text_testkit.variant_server import FAULTS, VARIANTS

SEED = 20261125
# Small by default; `tox -e properties-deep` sets a larger budget.
BUDGET = int(os.environ.get("CHAT_TEXT_PROPERTY_EXAMPLES", "3"))
# One request at a time: the mutation servers have no latency switches, and more workers only
# add thread switching (a tenth more CPU at 4).
WORKERS = 1
SERVERS = (REFERENCE, "all-deterministic", "models")
LEVELS = (Level.SCHEMA, Level.SEMANTIC, Level.STRICT)
RULE_LEVELS = {rule.id: rule.level for rule in catalogue()}
PROPERTY_RULES = {rule.id for rule in catalogue(kind="property")}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, MutationServer]]:
    with (
        mutation_server(SERVERS[0]) as reference,
        mutation_server(SERVERS[1]) as deterministic,
        mutation_server(SERVERS[2]) as models,
    ):
        yield {s.name: s for s in (reference, deterministic, models)}


def _target(server: MutationServer) -> Target:
    return Target(
        server.base_url,
        server.token,
        server.model,
        context_length=server.context_length,
        request_timeout=10,
        app=server.app,  # schemathesis calls it in-process (faster); the rest goes over HTTP
    )


def _failed_rules(server: MutationServer, mutation: Mutation | None, level: Level) -> set[str]:
    """The rules that fail at ``level`` with ``mutation`` applied: the properties' (fail fast),
    or, when none of ``mutation.rules`` is among them, a full run's."""
    target = _target(server)
    with server.mutated(mutation):
        failed: set[str] = set()
        if level is not Level.SCHEMA:
            wanted = sorted(mutation.rules & PROPERTY_RULES) if mutation else []
            outcome = run_properties(
                target,
                level,
                max_examples=BUDGET,
                seed=SEED,
                fail_fast=True,
                workers=WORKERS,
                only=wanted or None,
            )
            failed |= {r.name for r in outcome.properties if not r.ok}
            failed |= {name for name, r in outcome.responses.items() if not r.ok}
            if mutation is None or failed & mutation.rules:
                return failed
        # The whole suite, stopped at its first failure: with one worker and a fixed seed its
        # requests are the first of the full run's, so a rule that fails there fails in the
        # full run too. Only when that first failure is another rule's is the full run needed.
        for fail_fast in (True, False):
            report = run(
                target,
                level,
                max_examples=BUDGET,
                seed=SEED,
                workers=WORKERS,
                fail_fast=fail_fast,
            )
            assert report.setup_error is None, report.setup_error
            found = failed | {r.name for r in report.results if not r.ok}
            if mutation is None or found & mutation.rules:
                break
        return found


def test_catalogue_has_realistic_faults_of_every_kind_and_level() -> None:
    kinds = Counter(m.kind for m in MUTATIONS)
    assert len(MUTATIONS) >= 40
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    assert {"shape", "auth", "semantics", "validation", "streaming"} == set(kinds)
    assert {m.level for m in MUTATIONS} == set(LEVELS)
    assert all(m.patch or m.request or m.response for m in MUTATIONS)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_fault_names_rules_of_its_level(mutation: Mutation) -> None:
    """Every rule named exists in the catalogue; the lowest of them runs at the fault's level
    (which is higher only when only that level sends the requests that show the fault)."""
    assert mutation.rules <= RULE_LEVELS.keys(), mutation.rules - RULE_LEVELS.keys()
    order = {level: i for i, level in enumerate(LEVELS)}
    lowest = min(order[RULE_LEVELS[r]] for r in mutation.rules)
    assert lowest <= order[mutation.level]
    assert set(mutation.unobservable) <= set(SERVERS)


def test_every_engine_fault_has_a_variant_switch() -> None:
    """A ``patch`` fault reaches the variant servers through their fault switch of that name."""
    patched = {m.name for m in MUTATIONS if m.patch is not None}
    assert patched == FAULTS
    for name in SERVERS[1:]:
        assert name in VARIANTS and not VARIANTS[name].faults


@pytest.mark.parametrize("name", SERVERS)
def test_unmutated_servers_pass(servers: dict[str, MutationServer], name: str) -> None:
    """At the strict level, which runs every rule of every level (so a pass there is a pass
    at the schema and semantic levels too)."""
    server = servers[name]
    with server.mutated(None):
        report = run(_target(server), Level.STRICT, max_examples=BUDGET, seed=SEED, workers=WORKERS)
    assert report.ok, [(f.check, f.message) for f in report.failures()]
    assert any(r.passed for r in report.results)


def _cases() -> list[object]:
    cases: list[object] = []
    for mutation in MUTATIONS:
        for name in SERVERS:
            cases.append(pytest.param(mutation, name, id=f"{mutation.name}-{name}"))
    return cases


@pytest.mark.parametrize(("mutation", "name"), _cases())
def test_fault_caught_at_its_level(
    servers: dict[str, MutationServer], mutation: Mutation, name: str
) -> None:
    server = servers[name]
    reason = server.unsupported(mutation)
    if reason is not None:
        pytest.skip(reason)
    failed = _failed_rules(server, mutation, mutation.level)
    assert failed & mutation.rules, (
        f"{mutation.name} ({mutation.description}) on {name} was not caught at the "
        f"{mutation.level.value} level by any of {sorted(mutation.rules)}; failed: {sorted(failed)}"
    )


def test_failures_never_show_the_token(servers: dict[str, MutationServer]) -> None:
    echo = next(m for m in MUTATIONS if m.name == "echoes_token")
    for server in servers.values():
        with server.mutated(echo):
            outcome = run_properties(
                _target(server),
                Level.SEMANTIC,
                max_examples=1,
                seed=SEED,
                only=["unauthorized_without_valid_token"],
            )
        failures = [f for r in outcome.properties for f in r.failures]
        failures += [f for r in outcome.responses.values() for f in r.failures]
        assert failures, f"the echoed token was not reported on {server.name}"
        for failure in failures:
            text = " ".join((failure.message, failure.expected, failure.actual, failure.reproducer))
            assert server.token not in text
            assert failure.reproducer.startswith("curl ")


def test_servers_are_restored_after_mutations(servers: dict[str, MutationServer]) -> None:
    for server in servers.values():
        assert _failed_rules(server, None, Level.STRICT) == set()
