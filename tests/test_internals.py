"""The private names of schemathesis and hypothesis the suite uses, all in
``chat_text_conformance._internals``: each still where the pinned releases keep it. When an
upgrade moves one, these fail naming it (and what uses it), instead of a run failing somewhere
else with an AttributeError."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import json
import sys
from pathlib import Path

import pytest
from chat_text_conformance import _internals
from chat_text_conformance.checks import Exchange, RunContext

import chat_text_spec

PACKAGE = Path(_internals.__file__).parent
PRIVATE_PREFIXES = ("schemathesis.", "hypothesis.")
PUBLIC = {
    "schemathesis",
    "schemathesis.config",
    "schemathesis.engine",
    "schemathesis.openapi",
    "hypothesis",
    "hypothesis.strategies",
}
"""Modules schemathesis and hypothesis document for users (imported anywhere)."""


@pytest.mark.parametrize("module", _internals.IMPORTED_WHILE_RUNNING)
def test_every_module_imported_ahead_still_exists(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - only on an upgrade
        pytest.fail(
            f"{module} is gone ({exc}): _internals.IMPORTED_WHILE_RUNNING lists the modules a "
            "schemathesis run imports from its threads; drop it or replace it with its new name"
        )


def test_check_context_takes_what_the_built_in_rules_pass() -> None:
    from schemathesis.checks import CheckContext

    wanted = {"override", "auth", "headers", "config", "transport_kwargs", "response_checks"}
    have = set(inspect.signature(CheckContext.__init__).parameters)
    assert wanted <= have, (
        f"schemathesis.checks.CheckContext no longer takes {sorted(wanted - have)}: "
        "_internals._checks builds one to call the built-in checks on recorded exchanges"
    )


def _exchange(status: int, body: bytes, content_type: str = "application/json") -> Exchange:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return Exchange(
        request,
        status,
        content_type,
        body,
        context=RunContext(),
        headers=(("content-type", content_type),),
        request_headers=(("content-type", "application/json"), ("authorization", "Bearer x")),
        request_body=json.dumps(request).encode(),
    )


def _called_by_the_rules() -> list[str]:
    """The schemathesis checks the built-in rules call, by name (read from their code)."""
    from chat_text_conformance.checks import builtins

    tree = ast.parse(Path(builtins.__file__).read_text(encoding="utf-8"))
    return sorted(
        {
            node.args[0].value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("_schemathesis", "_run_builtin")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        }
    )


def test_the_rules_call_the_five_built_in_checks() -> None:
    assert _called_by_the_rules() == [
        "content_type_conformance",
        "not_a_server_error",
        "response_headers_conformance",
        "response_schema_conformance",
        "status_code_conformance",
    ]


def test_an_unknown_built_in_check_is_named() -> None:
    with pytest.raises(LookupError, match="no check named 'no_such_check'"):
        _internals.run_builtin_check("no_such_check", _exchange(200, b"{}"))


@pytest.mark.parametrize("name", _called_by_the_rules())
def test_every_built_in_check_still_judges_a_recorded_exchange(name: str) -> None:
    """Each built-in the rules call is found by its name, holds on a documented answer and
    fails on an undocumented one."""
    example = chat_text_spec.resolve(chat_text_spec.operation()["responses"]["200"])
    value = next(iter(example["content"]["application/json"]["examples"].values()))["value"]
    good = _exchange(200, json.dumps(value).encode())
    assert _internals.run_builtin_check(name, good) is None, name
    bad = {
        "not_a_server_error": _exchange(502, b"{}"),
        "status_code_conformance": _exchange(418, b"{}"),
        "content_type_conformance": _exchange(200, b"<p/>", "text/html"),
        "response_headers_conformance": _exchange(401, b'{"error": {}}'),
        "response_schema_conformance": _exchange(200, b'{"id": 1}'),
    }[name]
    assert _internals.run_builtin_check(name, bad) is not None, name


def _answer(status: int, headers: tuple[tuple[str, str], ...]) -> Exchange:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return Exchange(
        request,
        status,
        _media(headers),
        b'{"error": {"code": "x", "message": "y"}}',
        context=RunContext(),
        headers=headers,
        request_headers=(("content-type", "application/json"), ("authorization", "Bearer x")),
        request_body=json.dumps(request).encode(),
    )


def _media(headers: tuple[tuple[str, str], ...]) -> str:
    return next((v.split(";")[0] for k, v in headers if k.lower() == "content-type"), "")


def _alike_but_one() -> list[Exchange]:
    """Answers each differing from the one before in what one kept built-in reads."""
    json_type = ("content-type", "application/json")
    return [
        _answer(200, (json_type,)),
        _answer(200, (("content-type", "text/html"),)),
        _answer(200, (("Content-Type", "application/json; charset=utf-8"),)),
        _answer(200, ()),
        _answer(418, (json_type,)),
        _answer(502, (json_type,)),
        _answer(429, (json_type, ("retry-after", "1"))),
        _answer(429, (json_type, ("retry-after", "soon"))),
        _answer(429, (json_type, ("Retry-After", "2"))),
        _answer(429, (json_type,)),
        _answer(503, (json_type, ("retry-after", "soon"))),
        _answer(503, (json_type, ("retry-after", "3"), ("retry-after", "soon"))),
        _answer(401, (json_type, ("www-authenticate", "Bearer"))),
        _answer(401, (json_type,)),
        _answer(401, (json_type, ("www-authenticate", "Bearer"), ("x-other", "1"))),
    ]


def test_a_kept_built_in_verdict_is_the_one_the_check_gives() -> None:
    """The built-ins that read only the status and a few headers keep their verdict by what
    they read: each exchange below differs from the one before in what one of them reads, and
    every kept verdict is the check's own on that exchange (a key that missed a header or a
    value would give the verdict of the one before)."""
    kept = sorted(_internals._READS)
    assert kept == [
        "content_type_conformance",
        "not_a_server_error",
        "response_headers_conformance",
        "status_code_conformance",
    ]
    seen = set()
    for _ in range(2):  # the second round reads every verdict from what was kept
        for answer in _alike_but_one():
            for name in kept:
                verdict = _internals.run_builtin_check(name, answer)
                assert verdict == _internals._run(name, answer), (name, answer.headers)
                seen.add((name, verdict is None))
    assert {(name, held) for name in kept for held in (True, False)} <= seen


def test_the_kept_verdicts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full, the memo is emptied and fills again: its verdicts are still the checks' own."""
    monkeypatch.setattr(_internals, "_MEMO", {})
    monkeypatch.setattr(_internals, "_MEMO_SIZE", 3)
    for _ in range(2):
        for answer in _alike_but_one():
            for name in sorted(_internals._READS):
                verdict = _internals.run_builtin_check(name, answer)
                assert verdict == _internals._run(name, answer), (name, answer.headers)
                assert len(_internals._MEMO) <= 3


def _sent(method: str, body: bytes, status: int, media: str, content: bytes) -> Exchange:
    document: object = None
    with contextlib.suppress(ValueError):
        document = json.loads(body)
    return Exchange(
        document,
        status,
        media,
        content,
        context=RunContext(),
        headers=(("content-type", media),),
        method=method,
        request_headers=(("content-type", "application/json"), ("authorization", "Bearer x")),
        request_body=body,
    )


def test_the_checks_that_read_no_request_judge_as_with_the_request_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The built-ins that read nothing of the request get one request and one case made once:
    on every exchange below each gives the verdict it gives with the request as it was sent
    (its method, headers and body in the case and in the response's request)."""
    example = chat_text_spec.resolve(chat_text_spec.operation()["responses"]["200"])
    value = next(iter(example["content"]["application/json"]["examples"].values()))["value"]
    chunk = {**value, "object": "chat.completion.chunk", "choices": [], "usage": None}
    stream = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
    asked = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    answers = [
        ("POST", asked, 200, "application/json", json.dumps(value).encode()),
        ("POST", asked, 200, "application/json", b'{"id": 1}'),
        ("POST", asked, 200, "application/json", b"{not json"),
        ("POST", asked, 200, "text/event-stream", stream),
        ("POST", asked, 200, "text/event-stream", b'data: {"object": 1}\n\ndata: [DONE]\n\n'),
        ("POST", b'{"model": 5}', 400, "application/json", b'{"error": {"code": "x"}}'),
        ("POST", b"hello", 415, "text/html", b"<p/>"),
        ("PUT", b"{}", 405, "application/json", b"{}"),
        ("POST", asked, 502, "application/json", b"{}"),
        ("POST", asked, 401, "application/json", b'{"error": {}}'),
    ]
    assert set(_called_by_the_rules()) >= _internals._REQUEST_UNREAD
    verdicts = []
    for answer in answers:
        for name in sorted(_internals._REQUEST_UNREAD):
            shared = _internals._run(name, _sent(*answer))
            with monkeypatch.context() as patched:
                patched.setattr(_internals, "_REQUEST_UNREAD", frozenset())
                as_sent = _internals._run(name, _sent(*answer))
            assert shared == as_sent, (name, answer)
            verdicts.append(shared)
    assert None in verdicts and any(v is not None for v in verdicts)


def test_no_other_module_imports_a_private_name() -> None:
    """Only _internals imports schemathesis's and hypothesis's private modules."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                private = name.startswith(PRIVATE_PREFIXES) and name not in PUBLIC
                if private or ("._" in name and name.startswith(PRIVATE_PREFIXES)):
                    found.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not found, f"private imports outside _internals.py: {found}"


def test_streams_judged_from_many_threads_at_once_hold() -> None:
    """schemathesis's event-stream validator is shared and takes each call's deserializer by
    an attribute it resets afterwards: judged from several threads at once (the suite's
    workers, the proxy), valid streams must still pass, and an invalid one still fail."""
    import threading

    chunk = {
        "object": "chat.completion.chunk",
        "id": "c1",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }
    events = "".join(f"data: {json.dumps(chunk)}\n\n" for _ in range(40)) + "data: [DONE]\n\n"
    good = _exchange(200, events.encode(), "text/event-stream")
    assert _internals.run_builtin_check("response_schema_conformance", good) is None
    bad = _exchange(200, b'data: {"object": 1}\n\ndata: [DONE]\n\n', "text/event-stream")
    assert _internals.run_builtin_check("response_schema_conformance", bad) is not None

    seen: list[object] = []
    start = threading.Barrier(8)

    def judge() -> None:
        start.wait()
        for _ in range(15):
            seen.append(_internals.run_builtin_check("response_schema_conformance", good))

    threads = [threading.Thread(target=judge) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows: the race shows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert seen == [None] * 120, [s for s in seen if s is not None][:1]


def test_no_module_imported_ahead_imports_locust() -> None:
    """Under pytest, the suite imports every module of this package ahead of its threads; a
    module that imports Locust (gevent's monkey-patching) must never be one of them: imported
    in a threaded test process it deadlocks on the import locks."""
    from chat_text_conformance.engine import schemathesis_adapter as adapter

    patching = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: what importing the module runs
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            if any(n.split(".")[0] in ("locust", "gevent") for n in names):
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
                patching.append(".".join(parts))
    assert patching, "no module imports Locust: the test looks at nothing"
    left = [m for m in patching if not m.startswith(adapter._NEVER_AHEAD)]
    assert not left, f"{left} import Locust: add them to schemathesis_adapter._NEVER_AHEAD"
