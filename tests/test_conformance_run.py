"""``chat_text_conformance.run``: green against the reference server at every level, red (with a
reproducer) against broken servers, and a clear set-up error for a wrong token or model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chat_text_conformance import Level, Target, embedded, run
from chat_text_conformance.catalogue import catalogue
from chat_text_conformance.checks import RESPONSE_RULES
from chat_text_conformance.checks.builtins import documented_refusal
from chat_text_conformance.engine.runner import PREFLIGHT_CHECK
from chat_text_conformance.engine.schemathesis_adapter import run_schemathesis
from chat_text_conformance.engine.spec import adapt_spec, pin_model
from chat_text_testkit.variant_server import VARIANTS, running_variant

from chat_text_server import create_app
from chat_text_server.engine import MODELS
from chat_text_server.testing import running_server
from chat_text_spec import load_spec

SEED = 1
BUDGET = 5
TOKEN = "run-test-token-5b1f"
MODEL = "chat-text-mini"


def _outline(report: Any) -> list[tuple[str, str]]:
    return [(r.name, r.verdict) for r in report.results]


@pytest.fixture(scope="module")
def reference() -> Iterator[Target]:
    with embedded(MODEL) as target:
        yield target


# --- green against the reference server --------------------------------------------------------


@pytest.mark.parametrize("level", list(Level), ids=lambda level: level.value)
def test_reference_server_passes_every_level(reference: Target, level: Level) -> None:
    report = run(reference, level, max_examples=BUDGET, seed=SEED)
    failures = [(f.check, f.message) for f in report.failures()]
    assert report.ok, failures
    assert report.setup_error is None
    assert report.cases > 0
    groups = {result.group for result in report.results}
    names = {result.name for result in report.results}
    assert {"not_a_server_error", "response_schema_conformance", "negative_data_rejection"} <= names
    if level is Level.SCHEMA:
        assert groups == {"schema"}
    else:
        assert {rule.id for rule in RESPONSE_RULES} <= names
        # the stream checks really looked at streams, not only at JSON answers
        stream_done = report.result("stream_ends_with_done")
        assert stream_done is not None
        assert stream_done.passed > 0
    if level is Level.SEMANTIC:
        # against a conforming server, failing fast changes nothing
        quick = run(reference, level, max_examples=BUDGET, seed=SEED, fail_fast=True)
        assert quick.ok and quick.cases == report.cases
        assert _outline(quick) == _outline(report)
        assert not any("fail fast" in note for note in quick.notes)


def test_progress_lines_are_reported(reference: Target) -> None:
    lines: list[str] = []
    run(reference, Level.SCHEMA, max_examples=2, seed=SEED, progress=lines.append)
    assert lines[0].startswith("pre-flight")
    assert any("coverage phase done" in line for line in lines)
    assert lines[-1].startswith("done in")


# --- set-up errors ------------------------------------------------------------------------------


def test_wrong_token_is_a_setup_error_not_a_green_run(reference: Target) -> None:
    wrong = Target(reference.base_url, "not-the-token", MODEL, request_timeout=5)
    report = run(wrong, Level.SEMANTIC, max_examples=BUDGET, seed=SEED)
    assert not report.ok
    assert report.setup_error is not None
    assert "rejected the token" in report.setup_error
    preflight = report.result(PREFLIGHT_CHECK)
    assert preflight is not None
    assert preflight.failed == 1
    assert "not-the-token" not in json.dumps([f.__dict__ for f in report.failures()], default=str)


def test_unknown_model_is_a_setup_error(reference: Target) -> None:
    target = Target(reference.base_url, reference.token, "no-such-model", request_timeout=5)
    report = run(target, Level.SCHEMA, max_examples=BUDGET, seed=SEED)
    assert report.setup_error is not None
    assert "no-such-model" in report.setup_error


def test_schemathesis_part_alone_fails_on_a_wrong_token(reference: Target) -> None:
    """Even without the pre-flight, the configured expected statuses turn 401s into failures
    (plain schemathesis passes a wrong token green)."""
    wrong = Target(reference.base_url, "not-the-token", MODEL, request_timeout=5)
    outcome = run_schemathesis(wrong, Level.SCHEMA, max_examples=3, seed=SEED)
    assert outcome.results["positive_data_acceptance"].failed > 0


def test_unreachable_server_is_a_setup_error() -> None:
    with running_server(create_app([TOKEN])) as url:
        pass  # the port is closed again now
    report = run(Target(url, TOKEN, MODEL, request_timeout=2), Level.SCHEMA, max_examples=2, seed=0)
    assert report.setup_error is not None
    assert "cannot reach" in report.setup_error


def test_time_cap_stops_schemathesis(reference: Target) -> None:
    outcome = run_schemathesis(reference, Level.SCHEMA, max_examples=100_000, seed=SEED, max_time=5)
    assert any("time budget" in note for note in outcome.notes)
    assert outcome.cases > 0


# --- red against broken servers -----------------------------------------------------------------

Rewrite = Callable[[bytes, str], bytes]
CHECKS_SEEN_BY_LEVEL = "usage_total_is_sum"


def _rewriting(app: Any, rewrite: Rewrite) -> Any:
    """An ASGI app that passes ``app``'s 2xx bodies through ``rewrite(body, content_type)``."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            content_type = dict(start["headers"]).get(b"content-type", b"").decode()
            data = bytes(body)
            if 200 <= start["status"] < 300:
                data = rewrite(data, content_type)
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await app(scope, receive, capture)

    return wrapped


def _usage_off_by_one(body: bytes, content_type: str) -> bytes:
    if not content_type.startswith("application/json"):
        return body
    doc = json.loads(body)
    if doc.get("usage"):
        doc["usage"]["total_tokens"] += 1
    return json.dumps(doc).encode()


def _stream_without_done(body: bytes, content_type: str) -> bytes:
    return body.replace(b"data: [DONE]\n\n", b"") if "event-stream" in content_type else body


@pytest.mark.parametrize(
    ("rewrite", "check"),
    [(_usage_off_by_one, "usage_total_is_sum"), (_stream_without_done, "stream_ends_with_done")],
    ids=["usage", "stream"],
)
def test_broken_server_fails_with_a_redacted_reproducer(rewrite: Rewrite, check: str) -> None:
    app = _rewriting(create_app([TOKEN]), rewrite)
    with running_server(app) as url:
        target = Target(url, TOKEN, MODEL, context_length=MODELS[MODEL], request_timeout=5)
        report = run(target, Level.SEMANTIC, max_examples=2, seed=SEED)
        quick = run(target, Level.SEMANTIC, max_examples=2, seed=SEED, fail_fast=True)
        # side by side (workers > 1) the parts would overlap: failing fast runs them in turn
        parallel = run(target, Level.SEMANTIC, max_examples=2, seed=SEED, fail_fast=True, workers=4)
        schema_only = (
            run(target, Level.SCHEMA, max_examples=2, seed=SEED)
            if check == CHECKS_SEEN_BY_LEVEL
            else None
        )
    assert not report.ok
    result = report.result(check)
    assert result is not None
    assert result.failed > 0
    failure = result.failures[0]
    assert failure.expected
    assert failure.actual
    assert failure.reproducer.startswith("curl")
    assert "$CHAT_TEXT_API_KEY" in failure.reproducer
    assert "[Filtered]" not in failure.reproducer
    assert failure.request is not None
    assert TOKEN not in failure.reproducer + failure.message
    if schema_only is not None:
        # the semantic bug is invisible to schema-only checking: that is what the levels mean
        assert schema_only.ok
        assert schema_only.result(check) is None
    # failing fast: the same bug, found by fewer requests (the first of the full run's)
    for fast in (quick, parallel):
        assert {f.check for f in fast.failures()} <= {f.check for f in report.failures()}
        assert fast.cases < report.cases
        assert fast.cost.total_requests < report.cost.total_requests
        assert any(note.startswith("fail fast: schemathesis stopped") for note in fast.notes)
        assert "fail fast: the properties were not run" in fast.notes
        assert not [r for r in fast.results if r.group == "property"]
        found, in_full = fast.result(check), report.result(check)
        assert found is not None and in_full is not None
        assert 1 <= found.failed <= in_full.failed
        assert found.failures[0].reproducer.startswith("curl")
    assert not any("fail fast" in note for note in report.notes)


# --- fail fast -----------------------------------------------------------------------------------
# (against a conforming server and a broken one: in the tests above)


def test_fail_fast_stops_the_properties_at_the_first_that_fails() -> None:
    """A server whose answers are each right but differ at temperature 0: only a property (at
    the strict level) sees it, and with fail fast the properties after it are not run."""
    with running_variant(VARIANTS["nondeterministic"], TOKEN) as url:
        model, window = min(VARIANTS["nondeterministic"].models.items(), key=lambda i: i[1])
        target = Target(url, TOKEN, model, context_length=window, request_timeout=5)
        quick = run(target, Level.STRICT, max_examples=1, seed=SEED, fail_fast=True)
    assert not quick.ok
    ran = [r.name for r in quick.results if r.group == "property"]
    every = [r.id for r in catalogue(kind="property", level=Level.STRICT)]  # the order they run
    assert ran == every[: len(ran)] and len(ran) < len(every)
    verdicts = {r.name: r.ok for r in quick.results}
    assert not verdicts[ran[-1]]
    assert all(verdicts[name] for name in ran[:-1])
    assert quick.cases > 0 and verdicts["response_schema_conformance"]
    assert any(note.startswith("fail fast: the properties stopped") for note in quick.notes)
    assert not any(note.startswith("fail fast: schemathesis") for note in quick.notes)


# --- building blocks ----------------------------------------------------------------------------


def test_pin_model_replaces_valid_models_and_keeps_invalid_ones() -> None:
    assert pin_model({"model": "x", "messages": []}, MODEL)["model"] == MODEL
    too_long = "m" * 100_000
    assert pin_model({"model": too_long}, MODEL)["model"] == too_long
    assert pin_model({"model": 5}, MODEL)["model"] == 5
    assert pin_model({"model": ""}, MODEL)["model"] == ""
    assert "model" not in pin_model({"messages": []}, MODEL)
    assert pin_model([1, 2], MODEL) == [1, 2]


def test_adapt_spec_reads_the_stream_schema_per_event() -> None:
    spec = load_spec()
    adapted = adapt_spec(spec)
    ok = adapted["paths"]["/inference/chat_text"]["post"]["responses"]["200"]["content"]
    event = ok["text/event-stream"]["schema"]
    assert event["required"] == ["data"]
    alternatives = event["properties"]["data"]["anyOf"]
    assert {"const": "[DONE]"} in alternatives
    assert alternatives[1]["contentSchema"] == {"$ref": "#/components/schemas/ChatTextChunk"}
    assert (
        ok["application/json"]
        == spec["paths"]["/inference/chat_text"]["post"]["responses"]["200"]["content"][
            "application/json"
        ]
    )
    assert adapt_spec(adapted) == adapted  # idempotent


def test_adapt_spec_pins_every_request_example_to_the_model() -> None:
    spec = load_spec()
    adapted = adapt_spec(spec, "acme-large")
    body = adapted["paths"]["/inference/chat_text"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["examples"]
    assert examples
    assert {example["value"]["model"] for example in examples.values()} == {"acme-large"}
    # the document itself is not changed
    original = spec["paths"]["/inference/chat_text"]["post"]["requestBody"]
    assert "chat-text-base" in json.dumps(original)


def test_documented_rejections() -> None:
    assert documented_refusal(400, "prompt_too_long", None, None)
    assert documented_refusal(413, "invalid_request", None, None)
    assert not documented_refusal(400, "invalid_request", None, None)
    assert not documented_refusal(401, "prompt_too_long", None, None)
    assert not documented_refusal(400, None, None, None)


def test_prompt_too_long_for_a_prompt_that_surely_fits_is_not_documented() -> None:
    short = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4096}
    assert not documented_refusal(400, "prompt_too_long", short, 512)
    assert documented_refusal(400, "prompt_too_long", short, None)  # window unknown
    long = {"model": MODEL, "messages": [{"role": "user", "content": "word " * 200}]}
    assert documented_refusal(400, "prompt_too_long", long, 512)


def test_what_the_run_imports_from_threads_is_imported_before_them() -> None:
    """pytest compiles (``ast.parse``) each module of a plugin's package as it is imported, and
    CPython 3.11 can fail that ("AST constructor recursion depth mismatch") when two threads do
    it at once: under pytest, every module the run's threads might import lazily is imported
    before they start. ``auth_flow.detection`` is one a hand-kept list had missed (a red CI).
    With plugin autoloading off (the tox envs), pytest rewrites none of them: nothing to do."""
    import pkgutil
    import sys

    from chat_text_conformance.engine import schemathesis_adapter as adapter

    hooks = adapter._rewriting_hooks()
    assert hooks
    adapter._import_ahead()
    for package in adapter._WALKED_UNDER_PYTEST:
        if not adapter._rewritten(hooks, package):
            continue
        root = sys.modules[package]
        names = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
        missing = [
            n
            for n in names
            if n not in sys.modules
            and not n.endswith(".__main__")
            and not n.startswith(adapter._NEVER_AHEAD)  # never run by the run's threads
        ]
        assert not missing, missing


def test_only_the_packages_pytest_rewrites_are_imported_ahead() -> None:
    from types import SimpleNamespace

    from chat_text_conformance.engine.schemathesis_adapter import _rewritten

    marked = SimpleNamespace(_must_rewrite={"schemathesis", "chat_text_conformance"})
    assert _rewritten([marked], "schemathesis.engine")
    assert _rewritten([marked], "chat_text_conformance")
    assert not _rewritten([marked], "hypothesis.strategies")
    assert not _rewritten([SimpleNamespace(_must_rewrite={"schemathesisx"})], "schemathesis.core")
    assert _rewritten([SimpleNamespace()], "hypothesis.internal")  # unknown pytest: assume so


def test_the_package_imports_its_parts_on_first_use() -> None:
    """A driver process (or a command that needs one part) starts without schemathesis and
    hypothesis; the public names still import, and an unknown one is an AttributeError."""
    import subprocess
    import sys

    probe = (
        "import sys, chat_text_conformance.clients.matrix.python_driver\n"
        "heavy = sorted(m for m in ('schemathesis', 'hypothesis') if m in sys.modules)\n"
        "from chat_text_conformance import Level, run\n"
        "from chat_text_conformance.clients.matrix import DRIVERS\n"
        "import chat_text_conformance as package\n"
        "try:\n"
        "    package.nope\n"
        "except AttributeError as error:\n"
        "    print(heavy, Level.SEMANTIC.value, callable(run), 'python' in DRIVERS, error)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    expected = "[] semantic True True module 'chat_text_conformance' has no attribute 'nope'"
    assert proc.stdout.strip() == expected
