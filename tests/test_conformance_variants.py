"""Only what the documents state can fail: the suite passes against servers that make every
choice ``openapi.yaml`` and the vendor document leave open, each alone and all together, at
every level (the strict level assumes determinism at temperature 0 and says so).

The servers are :mod:`variant_server`: an independent implementation with a switch per choice
(model names and windows, tokenizer, per-message and reply overheads, stream chunking from one
token per event to one event, SSE line ends, comments and fields, extra fields, fractional
``created``, id formats, Content-Type parameters, ``usage: null``, ``stop`` or ``length`` at
exactly max_tokens, ``finish_reason`` in its own chunk, a usage-only last chunk, non-determinism,
error wording, slow streams, latency, 1,000+ event streams).

The levels are cumulative: a level's run sends the same seeded requests as the level below
and applies every rule of it too (the strict level makes some properties compare more). So in
the default run each variant alone is run at the default (semantic) level, which covers the
schema level's rules on the same requests; the variants with every switch on are run at the
strict level, which covers the semantic level's for the deterministic one, and at the semantic
level too for the two non-deterministic ones (whose strict runs fail the rules that assume
determinism, by design). ``tox -e variants`` runs every variant at every level, at a larger
budget (``CHAT_TEXT_VARIANT_FULL=1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from chat_text_conformance import Level, RunReport, Target, run
from chat_text_testkit.variant_server import VARIANTS, Variant, running_variants

TOKEN = "variant-matrix-token-6d0c"
SEED = int(os.environ.get("CHAT_TEXT_VARIANT_SEED", "3"))
BUDGET = int(os.environ.get("CHAT_TEXT_VARIANT_EXAMPLES", "1"))
STRICT_PREMISE = {
    "finish_reason_matches_max_tokens",
    "stream_matches_non_stream",
    "temperature_zero_deterministic",
    "null_and_omitted_mean_default",  # at strict it also compares the answers themselves
}

MATRIX: dict[str, Variant] = dict(VARIANTS)


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with running_variants(list(MATRIX.values()), TOKEN) as served:
        yield dict(zip(MATRIX, served, strict=True))


_REPORTS: dict[tuple[str, Level], RunReport] = {}


def _run(urls: dict[str, str], name: str, level: Level) -> RunReport:
    """The run of ``name`` at ``level`` (seeded, so one run serves every test that reads it)."""
    if (name, level) not in _REPORTS:
        variant = MATRIX[name]
        # the smallest window: near-window prompts stay cheap, and tiny windows are an edge too
        model, window = min(variant.models.items(), key=lambda item: item[1])
        target = Target(urls[name], TOKEN, model, context_length=window, request_timeout=20)
        # Workers overlap a slow server's waits; against a fast one they only add thread
        # switching (a fifth more CPU at 8): one at a time unless the variant is slow.
        workers = 8 if variant.latency or variant.stream_delay else 1
        _REPORTS[name, level] = run(target, level, max_examples=BUDGET, seed=SEED, workers=workers)
    return _REPORTS[name, level]


def _failures(report: RunReport) -> list[tuple[str, str]]:
    return [(f.check, f.message) for f in report.failures()]


FULL = os.environ.get("CHAT_TEXT_VARIANT_FULL") == "1"
ALL_ON = ("all", "all-with-usage", "all-deterministic")


def _in_default_run(name: str, level: Level) -> bool:
    if name not in ALL_ON:
        return level is Level.SEMANTIC
    if level is Level.STRICT:
        return True
    return level is Level.SEMANTIC and MATRIX[name].nondeterministic


CASES = [
    (name, level) for name in MATRIX for level in Level if FULL or _in_default_run(name, level)
]


@pytest.mark.parametrize(
    ("name", "level"), CASES, ids=[f"{name}-{level.value}" for name, level in CASES]
)
def test_every_legal_choice_passes(urls: dict[str, str], name: str, level: Level) -> None:
    report = _run(urls, name, level)
    if level is Level.STRICT and MATRIX[name].nondeterministic:
        # the strict level's premise is determinism: only the rules that rest on it may fail
        assert report.setup_error is None
        assert {check for check, _ in _failures(report)} <= STRICT_PREMISE
        return
    assert report.ok, _failures(report)
    assert report.setup_error is None
    exercised = [r for r in report.results if r.passed]
    assert exercised, "nothing was exercised"


def test_nondeterminism_fails_only_the_strict_level_and_says_why(urls: dict[str, str]) -> None:
    report = _run(urls, "nondeterministic", Level.STRICT)
    failed = {check for check, _ in _failures(report)}
    assert "temperature_zero_deterministic" in failed
    assert failed <= STRICT_PREMISE


def test_usage_null_in_plain_answers_moves_token_counting_to_streams(
    urls: dict[str, str],
) -> None:
    """``usage`` is ``object | null``: with null in plain answers the per-response usage rules
    say "not exercised" (with the reason) for them, and the properties read token counts from
    streams, whose last chunk must carry usage."""
    report = _run(urls, "usage_null", Level.SEMANTIC)
    assert report.ok, _failures(report)
    usage_sum = report.result("usage_total_is_sum")
    assert usage_sum is not None
    assert any("usage: null" in reason for reason in usage_sum.not_exercised)
    assert usage_sum.passed > 0  # the streams' usage
    truncation = report.result("truncation_keeps_newest_turns")
    assert truncation is not None and truncation.passed > 0


def test_one_token_per_event_streams_are_read_to_their_end(urls: dict[str, str]) -> None:
    report = _run(urls, "all-deterministic", Level.STRICT)
    assert report.ok, _failures(report)
    done = report.result("stream_ends_with_done")
    assert done is not None
    assert done.passed > 0 and done.inconclusive == 0


def test_the_default_run_covers_every_level_of_the_all_on_variants() -> None:
    """What the default run leaves to ``tox -e variants`` is implied by a run it keeps: the same
    variant at a higher level (a superset of the rules on the same requests), never at a lower
    one, and never the semantic run of a variant whose strict run fails by design."""
    kept = {(name, level) for name, level in CASES}
    order = list(Level)
    for name in ALL_ON:
        for level in Level:
            if (name, level) in kept:
                continue
            covering = [up for up in order[order.index(level) + 1 :] if (name, up) in kept]
            if MATRIX[name].nondeterministic:  # its strict run fails by design: it covers nothing
                covering = [up for up in covering if up is not Level.STRICT]
            assert covering, f"{name} at {level.value}: no kept run covers it"
        assert (name, Level.STRICT) in kept
