"""The harness: every driver replays the corpus through the scripted server; each outcome (and
the request each client sent) is compared with the reference column's (the Python SDK), case by
case; then each driver runs once against the reference server.

A cell is ``same``, ``known`` (a difference listed in the known-differences file), ``differs``,
``crashes`` (the driver or its client failed in a way it cannot classify) or ``n/a`` (the client
cannot make this call, e.g. a stream through a generated client without streaming). The run
fails on any ``differs`` or ``crashes``, on a known difference that no longer happens, on a
driver that does not build, and on a failed reference-server check.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import chat_text_spec

from .corpus import Case, Corpus
from .drivers import DRIVERS, REFERENCE, BuildError, Driver, Result, run_driver
from .known import KnownDifference
from .server import RecordedRequest, scripted_server

__all__ = [
    "SCRIPTED_TOKEN",
    "Cell",
    "MatrixRun",
    "ReferenceCheck",
    "outcome_kind",
    "run_matrix",
    "same_json",
]

_PLAIN_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
SCRIPTED_TOKEN = "cross-language-token"  # noqa: S105 - sent to the loopback scripted server only
_EXCERPT = 300


# --------------------------------------------------------------------------------------------
# comparing outcomes
# --------------------------------------------------------------------------------------------
def _same_number(a: int | float, b: int | float) -> bool:
    """Two integers: equal exactly (a client that prints 6181362415510176000 for
    6181362415510175744 changed the integer). Otherwise: the same double, whatever the text
    (5.760710326696306e+16 from Python and 57607103266963060 from JavaScript are one double)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    try:
        return float(a) == float(b)
    except OverflowError:  # an integer beyond any double
        return Decimal(repr(a)) == Decimal(repr(b))


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (``1`` equals ``1.0``, see :func:`_same_number`),
    but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return _same_number(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_json(a[key], b[key]) for key in a)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and a == b


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where ``a`` and ``b`` first differ, as ``/json/pointer: a | b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in b:
                return f"{path}/{key}: present | missing"
            if key not in a:
                return f"{path}/{key}: missing | present"
            if not same_json(a[key], b[key]):
                return first_difference(a[key], b[key], f"{path}/{key}")
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if not same_json(x, y):
                return first_difference(x, y, f"{path}/{i}")
        if len(a) != len(b):
            return f"{path}: {len(a)} items | {len(b)} items"
    return f"{path or '/'}: {_short(a)} | {_short(b)}"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome without its ``detail`` (text for people, never compared)."""
    return {key: value for key, value in outcome.items() if key != "detail"}


def outcome_kind(result: Result) -> str:
    if result.outcome is None:
        return "crash" if result.crash is not None else "n/a"
    if "value" in result.outcome:
        return "value"
    return str(result.outcome.get("error", "?"))


def describe(result: Result) -> str:
    """One short line: ``value``, ``status 401 unauthorized``, ``validation``, ..."""
    if result.skip is not None:
        return "n/a"
    if result.crash is not None:
        return "crash"
    assert result.outcome is not None
    kind = outcome_kind(result)
    if kind == "status":
        code = result.outcome.get("code")
        if result.outcome.get("body") is None:
            code = "(no body)"
        elif not (isinstance(code, str) and _PLAIN_CODE.fullmatch(code)):
            code = "(a drawn code)"  # schema-drawn codes are arbitrary unicode: not for tables
        return f"status {result.outcome.get('status')} {code}"
    return kind


def request_view(request: RecordedRequest | None) -> dict[str, Any] | None:
    """What is compared of a request: method, path after the label, bearer token, media type
    and the JSON body."""
    if request is None:
        return None
    path = request.path.split("?", 1)[0]
    path = path[path.index("/case/") :] if "/case/" in path else path
    body = request.json_body()
    return {
        "method": request.method,
        "path": path,
        "authorization": request.headers.get("authorization"),
        "content-type": request.headers.get("content-type", "").split(";")[0].strip().lower(),
        "body": body if body is not None else request.body.decode("utf-8", "replace"),
    }


def _with_detail(result: Result) -> str:
    detail = (result.outcome or {}).get("detail")
    return describe(result) + (f" ({_short(detail, 200)[1:-1]})" if detail else "")


@dataclass(frozen=True)
class Cell:
    state: str
    """``same`` | ``known`` | ``differs`` | ``crashes`` | ``n/a``"""
    reference_kind: str = ""
    kind: str = ""
    why: str = ""
    known: str = ""
    """The id of the known difference that explains it."""


def compare(
    reference: Result,
    other: Result,
    reference_request: RecordedRequest | None,
    other_request: RecordedRequest | None,
) -> Cell:
    """One cell, before known differences are applied."""
    if other.skip is not None:
        return Cell("n/a", why=other.skip)
    if other.crash is not None:
        return Cell("crashes", outcome_kind(reference), "crash", other.crash)
    if reference.outcome is None:
        return Cell("n/a", why="the reference column has no outcome for this case")
    assert other.outcome is not None
    ref_kind, kind = outcome_kind(reference), outcome_kind(other)
    a, b = comparable(reference.outcome), comparable(other.outcome)
    if not same_json(a, b):
        if ref_kind != kind:
            why = f"{_with_detail(reference)} | {_with_detail(other)}"
        else:
            why = first_difference(a, b)
        return Cell("differs", ref_kind, kind, why)
    ra, rb = request_view(reference_request), request_view(other_request)
    if ra is not None and not same_json(ra, rb):
        why = "no request arrived" if rb is None else first_difference(ra, rb)
        return Cell("differs", ref_kind, "request", f"the request differs at {why}")
    return Cell("same", ref_kind, kind)


# --------------------------------------------------------------------------------------------
# the reference server
# --------------------------------------------------------------------------------------------
REFERENCE_MODEL = "chat-text-base"
_REFERENCE_REQUEST: dict[str, Any] = {
    "model": REFERENCE_MODEL,
    "messages": [{"role": "user", "content": "Say hello in three words."}],
    "max_tokens": 16,
    "temperature": 0,
}


def reference_calls(base_url: str, token: str) -> list[dict[str, Any]]:
    """JSON, stream, 401 and 400 against a running reference server."""

    def call(case: str, request: dict[str, Any], call_token: str = token) -> dict[str, Any]:
        return {
            "case": case,
            "base_url": base_url,
            "token": call_token,
            "stream": request.get("stream") is True,
            "request": request,
        }

    return [
        call("reference-json", _REFERENCE_REQUEST),
        call("reference-stream", {**_REFERENCE_REQUEST, "stream": True}),
        call("reference-401", _REFERENCE_REQUEST, f"{token}-wrong"),
        call("reference-400", {**_REFERENCE_REQUEST, "temperature": 5}),
    ]


@dataclass(frozen=True)
class ReferenceCheck:
    name: str
    ok: bool
    message: str


def _validator(name: str) -> Any:
    return chat_text_spec.schema_validator(name)


def check_reference(
    column: str, results: dict[str, Result], baseline: dict[str, Result] | None
) -> list[ReferenceCheck]:
    """What every client must get from the reference server; the JSON answer (temperature 0)
    must also equal the reference column's, ``id`` and ``created`` aside."""
    checks: list[ReferenceCheck] = []

    def check(name: str, ok: bool, message: str) -> None:
        checks.append(ReferenceCheck(name, ok, message))

    answer = results.get("reference-json", Result(crash="no result"))
    value = (answer.outcome or {}).get("value")
    ok = (
        isinstance(value, dict)
        and bool(_validator("ChatTextResponse").is_valid(value))
        and value["model"] == REFERENCE_MODEL
        and bool(value["choices"])
    )
    check("JSON answer", ok, f"a valid ChatTextResponse for the model, got {describe(answer)}")
    if isinstance(value, dict) and ok and baseline is not None and column != REFERENCE:
        base = (baseline.get("reference-json", Result()).outcome or {}).get("value")
        if isinstance(base, dict):
            strip = ("id", "created")
            a = {k: v for k, v in base.items() if k not in strip}
            b = {k: v for k, v in value.items() if k not in strip}
            check(
                "same JSON answer as python",
                same_json(a, b),
                "temperature 0: the same answer as the Python SDK got"
                + ("" if same_json(a, b) else f"; differs at {first_difference(a, b)}"),
            )

    streamed = results.get("reference-stream", Result(crash="no result"))
    if streamed.skip is None:
        value = (streamed.outcome or {}).get("value")
        chunks = value.get("chunks") if isinstance(value, dict) else None
        usage = value.get("usage") if isinstance(value, dict) else None
        chunk_ok = _validator("ChatTextChunk")
        ok = (
            isinstance(chunks, list)
            and bool(chunks)
            and all(chunk_ok.is_valid(chunk) for chunk in chunks)
            and isinstance(usage, dict)
            and usage.get("total_tokens")
            == usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        )
        text = "".join(
            str(choice.get("delta", {}).get("content", ""))
            for chunk in (chunks or [])
            for choice in chunk.get("choices", [])
        )
        check(
            "stream to [DONE]",
            ok and bool(text),
            f"valid chunks with text, then the final usage, got {describe(streamed)}",
        )

    for case, status, code, field_name in (
        ("reference-401", 401, "unauthorized", None),
        ("reference-400", 400, "invalid_request", "temperature"),
    ):
        got = results.get(case, Result(crash="no result"))
        outcome = got.outcome or {}
        body = outcome.get("body")
        ok = outcome.get("error") == "status" and outcome.get("status") == status
        ok = ok and outcome.get("code") == code and isinstance(body, dict)
        if ok and field_name is not None and isinstance(body, dict):
            ok = body["error"].get("field") == field_name
        expected = f"status {status} {code}" + (f" naming {field_name}" if field_name else "")
        check(f"{status} as a typed error", ok, f"{expected}, got {describe(got)}")
    return checks


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------
@dataclass
class MatrixRun:
    corpus: Corpus
    cases: list[Case]
    columns: list[str]
    """The columns that ran (the reference first)."""
    skipped: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Result]] = field(default_factory=dict)
    requests: dict[str, dict[str, RecordedRequest]] = field(default_factory=dict)
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    """case id -> column -> cell (columns other than the reference)."""
    stale: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reference: dict[str, list[ReferenceCheck]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def failures(self) -> list[tuple[str, str, Cell]]:
        return [
            (case, column, cell)
            for case, row in self.cells.items()
            for column, cell in row.items()
            if cell.state in ("differs", "crashes")
        ]

    def reference_failures(self) -> list[tuple[str, ReferenceCheck]]:
        return [(col, c) for col, checks in self.reference.items() for c in checks if not c.ok]

    @property
    def failed(self) -> bool:
        crashed_reference = any(
            r.crash is not None for r in self.results.get(REFERENCE, {}).values()
        )
        return bool(
            self.failures()
            or self.stale
            or self.problems
            or self.reference_failures()
            or crashed_reference
        )

    def counts(self, column: str, kind: str | None = None) -> Counter[str]:
        """How many cells of ``column`` (of one case kind) are in each state."""
        found: Counter[str] = Counter()
        for case in self.cases:
            if kind is not None and case.kind != kind:
                continue
            if column == REFERENCE:
                found[describe(self.results[REFERENCE][case.id]).split(" ")[0]] += 1
            elif column in self.cells.get(case.id, {}):
                found[self.cells[case.id][column].state] += 1
        return found


Log = Callable[[str], None]


def _calls(
    server_base: Callable[[str, str], str], cases: Sequence[Case], corpus: Corpus, column: str
) -> list[dict[str, Any]]:
    return [
        {
            "case": case.id,
            "base_url": server_base(case.id, column),
            "token": SCRIPTED_TOKEN,
            "stream": case.stream,
            "request": corpus.request_for(case),
        }
        for case in cases
    ]


def run_matrix(
    corpus: Corpus,
    *,
    root: Path,
    work: Path,
    columns: Sequence[str],
    known: Sequence[KnownDifference],
    case_ids: Sequence[str] = (),
    reference_server: bool = True,
    drivers: dict[str, Driver] | None = None,
    log: Log | None = None,
) -> MatrixRun:
    """Run ``columns`` (the reference column is always added first) over the corpus (or the
    cases ``case_ids``), compare, and check every driver against the reference server."""
    drivers = DRIVERS if drivers is None else drivers
    root, work = root.resolve(), work.resolve()
    say = log or (lambda _: None)
    wanted = [REFERENCE, *[c for c in columns if c != REFERENCE]]
    cases = [corpus.case(i) for i in case_ids] if case_ids else list(corpus.cases)
    run = MatrixRun(corpus=corpus, cases=cases, columns=[])
    _available_columns(run, wanted, drivers, root, say)
    if REFERENCE in run.skipped:
        run.problems.append(f"the reference column cannot run: {run.skipped[REFERENCE]}")
        return run
    work.mkdir(parents=True, exist_ok=True)
    commands = _build_drivers(run, drivers, root, work, say)
    _replay_corpus(run, commands, root, say)
    if reference_server:
        _check_against_reference_server(run, commands, root)
    _compare_all(run, known)
    return run


def _available_columns(
    run: MatrixRun, wanted: Sequence[str], drivers: dict[str, Driver], root: Path, say: Log
) -> None:
    """Add to ``run.columns`` each of ``wanted`` whose driver can run here; the others are
    skipped (with the reason)."""
    for name in wanted:
        reason = drivers[name].missing(root)
        if reason is not None:
            run.skipped[name] = reason
            say(f"{name}: SKIPPED: {reason}")
        else:
            run.columns.append(name)


def _build_drivers(
    run: MatrixRun, drivers: dict[str, Driver], root: Path, work: Path, say: Log
) -> dict[str, list[str]]:
    """Build the drivers of ``run.columns`` in parallel: each built one's command; a column
    whose driver did not build is dropped (a problem of the run)."""

    def build(name: str) -> list[str] | str:
        started = time.monotonic()
        try:
            command = drivers[name].build(root, work)
        except BuildError as exc:
            return str(exc)
        finally:
            run.seconds[f"{name} build"] = time.monotonic() - started
        return command

    with ThreadPoolExecutor(max_workers=len(run.columns)) as pool:
        built = dict(zip(run.columns, pool.map(build, run.columns), strict=True))
    for name, command in list(built.items()):
        if isinstance(command, str):
            run.problems.append(f"{name}: the driver did not build: {command}")
            run.columns.remove(name)
            del built[name]
        else:
            say(f"{name}: built ({run.seconds[f'{name} build']:.1f} s)")
    return {name: command for name, command in built.items() if not isinstance(command, str)}


def _replay_corpus(run: MatrixRun, commands: dict[str, list[str]], root: Path, say: Log) -> None:
    """Run every driver over the run's cases against the scripted server, in parallel: their
    results, timings and problems, and the requests the server recorded from each."""
    cases, corpus = run.cases, run.corpus
    with scripted_server(corpus) as server:

        def replay(name: str) -> None:
            outcome = run_driver(
                commands[name], _calls(server.base_url, cases, corpus, name), cwd=root
            )
            run.results[name] = outcome.results
            run.seconds[f"{name} corpus"] = outcome.seconds
            run.problems += [f"{name}: {problem}" for problem in outcome.problems]
            say(f"{name}: {len(cases)} cases in {outcome.seconds:.1f} s")

        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            list(pool.map(replay, commands))
        run.requests = {name: server.recorded(name) for name in commands}


def _check_against_reference_server(
    run: MatrixRun, commands: dict[str, list[str]], root: Path
) -> None:
    """Run every driver against the real reference server, in parallel, and check each
    column's results against the reference column's (``run.reference``)."""
    # lazy: the reference server (~0.2 s of imports) only for this check
    from chat_text_server.testing import TEST_TOKEN, running_server

    reference_results: dict[str, dict[str, Result]] = {}
    with running_server() as url:

        def against_reference(name: str) -> None:
            outcome = run_driver(commands[name], reference_calls(url, TEST_TOKEN), cwd=root)
            reference_results[name] = outcome.results
            run.problems += [f"{name} (reference server): {p}" for p in outcome.problems]

        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            list(pool.map(against_reference, commands))
    baseline = reference_results.get(REFERENCE)
    for name in run.columns:
        run.reference[name] = check_reference(name, reference_results[name], baseline)


def _compare_all(run: MatrixRun, known: Sequence[KnownDifference]) -> None:
    reference = run.results[REFERENCE]
    explained: set[tuple[str, str, str]] = set()
    for case in run.cases:
        row: dict[str, Cell] = {}
        for column in run.columns[1:]:
            cell = compare(
                reference[case.id],
                run.results[column][case.id],
                run.requests.get(REFERENCE, {}).get(case.id),
                run.requests.get(column, {}).get(case.id),
            )
            if cell.state == "differs":
                for entry in known:
                    if entry.explains(column, case.id, cell.reference_kind, cell.kind):
                        cell = Cell("known", cell.reference_kind, cell.kind, cell.why, entry.id)
                        explained.add((entry.id, column, case.id))
                        break
            row[column] = cell
        run.cells[case.id] = row
    ran = {case.id for case in run.cases}
    for entry in known:
        if entry.language not in run.columns:
            continue
        for case_id in entry.cases:
            if case_id not in ran:
                if case_id not in {c.id for c in run.corpus.cases}:
                    run.stale.append(f"{entry.id}: lists {case_id}, which is not in the corpus")
                continue
            if (entry.id, entry.language, case_id) not in explained:
                cell = run.cells[case_id][entry.language]
                run.stale.append(
                    f"{entry.id}: lists {case_id} for {entry.language}, which is now "
                    f"{cell.state} ({cell.reference_kind or '-'} | {cell.kind or '-'}): "
                    "remove it from the list (or fix the entry)"
                )


# --------------------------------------------------------------------------------------------
# reproducers
# --------------------------------------------------------------------------------------------
def _excerpt(data: bytes | str, limit: int = _EXCERPT) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def reproducer(run: MatrixRun, case_id: str, column: str, cell: Cell) -> str:
    case = run.corpus.case(case_id)
    ref, got = run.results[REFERENCE][case_id], run.results[column][case_id]
    content_type = dict(case.headers).get("content-type", "-")
    request = json.dumps(run.corpus.request_for(case), separators=(",", ":"))
    answer = (
        f"{case.transport} (transport fault)"
        if case.transport == "close"
        else f"{case.status} {content_type}, {len(case.body)} bytes: {_excerpt(case.body)}"
    )
    lines = [
        f"{case_id} x {column}: {cell.state.upper()} "
        f"(python: {describe(ref)}; {column}: {describe(got)})",
        f"  exercises: {case.exercises}",
        f"  where:     {cell.why}",
        f"  python:    {_excerpt(json.dumps(ref.outcome or ref.crash))}",
        f"  {column + ':':<10} {_excerpt(json.dumps(got.outcome or got.crash))}",
        f"  answer:    {answer}",
        f"  rerun:     chat-text-conformance clients --languages {column} --case {case_id} "
        "--no-reference-server",
        "  by hand:   chat-text-conformance clients --serve --port 8765   # then:",
        f"             curl -sS -i -X POST http://127.0.0.1:8765/case/{case_id}"
        f"{chat_text_spec.OPERATION_PATH} -H 'content-type: application/json' "
        f"-H 'authorization: Bearer {SCRIPTED_TOKEN}' -d {shlex.quote(request)}",
    ]
    return "\n".join(lines)
