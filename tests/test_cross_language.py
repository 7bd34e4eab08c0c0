"""Cross-language client conformance (``chat-text-conformance clients``): the corpus, the
scripted server, the comparison, the known differences, and the harness passing on the real
Python clients and failing on a driver that disagrees, crashes or prints garbage.

The TypeScript and Go drivers are run by ``tox -e clients`` (the whole matrix); these tests need
only Python and stay fast."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from chat_text_conformance.clients.matrix import cli as clients_cli
from chat_text_conformance.clients.matrix.corpus import (
    Case,
    Corpus,
    CorpusError,
    check_corpus,
    generate_corpus,
    load_corpus,
)
from chat_text_conformance.clients.matrix.drivers import DRIVERS, REFERENCE, Driver, Result
from chat_text_conformance.clients.matrix.known import (
    KnownDifference,
    KnownError,
    load_known,
    render_markdown,
)
from chat_text_conformance.clients.matrix.run import (
    check_reference,
    compare,
    reproducer,
    run_matrix,
    same_json,
)
from chat_text_conformance.clients.matrix.server import scripted_server
from chat_text_testkit import matrix_results

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "clients" / "corpus.json"
KNOWN = ROOT / "clients" / "known_differences.yaml"
LANGUAGES = [name for name in DRIVERS if name != REFERENCE]


# --------------------------------------------------------------------------------------------
# comparing
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (179.0, 179),
        (-5.760710326696306e16, -57607103266963060),  # one double, printed two ways
        (205860820812298789593284608, 2.058608208122988e26),
        ({"a": [1, None, "x"]}, {"a": [1.0, None, "x"]}),
    ],
)
def test_same_json_accepts_the_same_value(a: object, b: object) -> None:
    assert same_json(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (True, 1),
        (0, False),
        (1, "1"),
        (None, 0),
        (6181362415510175744, 6181362415510176000),  # an integer JavaScript cannot keep
        ({"a": 1}, {"a": 1, "b": None}),
        ([1, 2], [2, 1]),
        (10**400, 10**400 + 1),
    ],
)
def test_same_json_rejects_a_different_value(a: object, b: object) -> None:
    assert not same_json(a, b)


def test_compare_names_where_outcomes_differ() -> None:
    ref = Result(outcome={"value": {"usage": {"total_tokens": 3}}, "detail": "x"})
    same = Result(outcome={"value": {"usage": {"total_tokens": 3.0}}, "detail": "other words"})
    other = Result(outcome={"value": {"usage": {"total_tokens": 4}}})
    refused = Result(outcome={"error": "validation", "detail": "bad int"})
    assert compare(ref, same, None, None).state == "same"  # detail is never compared
    cell = compare(ref, other, None, None)
    assert (cell.state, cell.reference_kind, cell.kind) == ("differs", "value", "value")
    assert "/value/usage/total_tokens: 3 | 4" in cell.why
    cell = compare(ref, refused, None, None)
    assert (cell.kind, "bad int" in cell.why) == ("validation", True)
    assert compare(ref, Result(crash="boom"), None, None).state == "crashes"
    assert compare(ref, Result(skip="no streams"), None, None).state == "n/a"


# --------------------------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------------------------
def _case(case_id: str, body: bytes, **kw: object) -> Case:
    fields: dict[str, object] = {
        "kind": "test",
        "exercises": "a test",
        "stream": False,
        "status": 200,
        "headers": (("content-type", "application/json"),),
    }
    fields.update(kw)
    return Case(id=case_id, body=body, **fields)  # type: ignore[arg-type]


def _corpus(*cases: Case) -> Corpus:
    return Corpus(seed=0, spec_fingerprint="sha256:test", tools={}, cases=cases)


def test_corpus_round_trips_exact_bytes() -> None:
    corpus = _corpus(
        _case("text", '{"é": "😀"}'.encode()),
        _case("binary", b"\xff\xfe{\r\n\x00"),
        _case("gone", b"", transport="close"),
    )
    again = Corpus.parse(corpus.to_text(), "test")
    assert again == corpus
    assert json.loads(corpus.to_text())["cases"][1]["body_base64"] == "//57DQoA"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("cases"), "'cases' must be a non-empty list"),
        (lambda d: d["cases"][0].pop("status"), "cases[0]: missing key 'status'"),
        (lambda d: d["cases"][0].update(body_base64="AA=="), "exactly one of 'body'"),
        (lambda d: d["cases"][0].update(status=99), "'status' must be an HTTP status code"),
        (lambda d: d["cases"].append(dict(d["cases"][0])), "appears twice"),
        (lambda d: d["cases"][0].update(transport="later"), "'transport' must be"),
    ],
)
def test_a_broken_corpus_file_says_what_is_wrong(mutate: object, message: str) -> None:
    data = json.loads(_corpus(_case("a", b"{}")).to_text())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(CorpusError, match=re.escape(message)):
        Corpus.parse(json.dumps(data), "corpus.json")


def test_the_committed_corpus_is_up_to_date_with_the_spec() -> None:
    corpus = load_corpus(CORPUS)
    assert check_corpus(corpus) == []
    kinds = corpus.kinds()
    for kind in ("spec-example", "json-200", "json-200-extra", "invalid-200", "malformed-json"):
        assert kind in kinds
    for status in (400, 401, 404, 413, 415, 429, 500, 503):
        assert f"error-{status}" in kinds, "every documented error status has cases"
    for kind in ("stream-valid", "stream-cut", "stream-no-done", "stream-malformed", "transport"):
        assert kind in kinds
    assert 100 <= len(corpus.cases) <= 200


def test_a_stale_corpus_is_reported() -> None:
    corpus = load_corpus(CORPUS)
    valid = next(c for c in corpus.cases if c.kind == "json-200")
    invalid = next(c for c in corpus.cases if c.kind == "invalid-200" and c.body.startswith(b"{"))
    broken = Corpus(
        seed=corpus.seed,
        spec_fingerprint="sha256:" + "0" * 64,
        tools=corpus.tools,
        cases=(
            Case(**{**valid.__dict__, "body": b'{"id": ""}'}),
            Case(**{**invalid.__dict__, "body": valid.body}),
        ),
    )
    problems = "\n".join(check_corpus(broken))
    assert "drawn from other schemas" in problems
    assert f"{valid.id}: the body no longer matches ChatTextResponse" in problems
    assert f"{invalid.id}: the body is now a valid ChatTextResponse" in problems
    assert "an example of openapi.yaml has no case" in problems


def test_drawing_the_corpus_again_gives_the_same_bytes(tmp_path: Path) -> None:
    """Same seed, same bytes: in this process and in another with another hash seed."""
    kinds = ["json-200", "error-401", "stream-malformed"]
    first = generate_corpus(7, scale=0.1, kinds=kinds).to_text()
    assert '"id": "json-200-01"' in first and '"id": "stream-malformed-01"' in first
    script = (
        "from chat_text_conformance.clients.matrix.corpus import generate_corpus;"
        f"print(generate_corpus(7, scale=0.1, kinds={kinds!r}).to_text(), end='')"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    again = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    assert again == first
    assert generate_corpus(8, scale=0.1, kinds=["json-200"]).to_text() != first


# --------------------------------------------------------------------------------------------
# the scripted server
# --------------------------------------------------------------------------------------------
def test_the_scripted_server_serves_the_exact_bytes_and_records_the_request() -> None:
    body = b'data: {"a": "\xc3\xa9"}\r\n\r\n: comment\rdata: [DONE]\n\n\xff'
    corpus = _corpus(
        _case(
            "sse",
            body,
            status=429,
            headers=(("content-type", "text/event-stream"), ("retry-after", "1")),
        )
    )
    with scripted_server(corpus) as server, httpx.Client() as client:
        url = server.base_url("sse", "go") + "/inference/chat_text"
        response = client.post(url, json={"model": "m"}, headers={"authorization": "Bearer t"})
        assert response.status_code == 429
        assert response.content == body
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["retry-after"] == "1"
        assert response.headers["content-length"] == str(len(body))
        recorded = server.recorded("go")["sse"]
        assert recorded.json_body() == {"model": "m"}
        assert recorded.headers["authorization"] == "Bearer t"
        assert recorded.path == "/go/case/sse/inference/chat_text"
        unlabelled = client.post(server.base_url("sse") + "/inference/chat_text", content=b"x")
        assert unlabelled.content == body and server.recorded("")["sse"].body == b"x"
        missing = client.post(server.base_url("nope") + "/inference/chat_text", content=b"")
        assert missing.status_code == 404 and b"no such case" in missing.content
        wrong_path = client.post(server.url + "/case/sse/other", content=b"")
        assert wrong_path.status_code == 404


def test_the_scripted_server_plays_transport_faults() -> None:
    corpus = _corpus(
        _case("gone", b"", transport="close"),
        _case("short", b'{"id": "x"}', transport="short"),
    )
    with scripted_server(corpus) as server, httpx.Client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(server.base_url("gone") + "/inference/chat_text", content=b"{}")
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(server.base_url("short") + "/inference/chat_text", content=b"{}")
        assert set(server.recorded("")) == {"gone", "short"}


# --------------------------------------------------------------------------------------------
# the harness
# --------------------------------------------------------------------------------------------
_FAKE = """
import json, sys
mode = sys.argv[1]
for i, line in enumerate(sys.stdin.read().split("\\n")):
    if not line.strip():
        continue
    call = json.loads(line)
    if mode == "liar":
        out = {"case": call["case"], "outcome": {"value": {"lie": True}}}
    elif mode == "crash" and i == 1:
        sys.exit(3)
    elif mode == "garbage" and i == 0:
        print("this is not JSON", flush=True)
        continue
    else:
        out = {"case": call["case"], "outcome": {"error": "transport"}}
    print(json.dumps(out), flush=True)
"""


@dataclass(frozen=True)
class FakeDriver(Driver):
    mode: str = "liar"

    def build(self, root: Path, work: Path) -> list[str]:
        return [sys.executable, "-c", _FAKE, self.mode]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(CORPUS)


def _sample(corpus: Corpus) -> list[str]:
    """One case of every kind, plus every case a python-generated known difference lists."""
    ids = {next(c.id for c in corpus.cases if c.kind == kind) for kind in corpus.kinds()}
    for entry in load_known(KNOWN, LANGUAGES):
        if entry.language == "python-generated":
            ids |= set(entry.cases)
    return sorted(ids)


def test_the_harness_passes_on_the_real_python_clients(corpus: Corpus, tmp_path: Path) -> None:
    known = load_known(KNOWN, LANGUAGES)
    run = run_matrix(
        corpus,
        root=ROOT,
        work=tmp_path,
        columns=["python", "python-generated"],
        known=known,
        case_ids=_sample(corpus),
        reference_server=False,
    )
    assert not run.failed, (run.problems, run.stale, run.failures())
    states = {cell.state for row in run.cells.values() for cell in row.values()}
    assert states == {"same", "known", "n/a"}
    # the streams the generated client cannot read are n/a, with the generator's reason
    stream = next(c.id for c in run.cases if c.kind == "stream-valid")
    assert "text/event-stream" in run.cells[stream]["python-generated"].why
    # every client sent the same request
    request = run.requests["python-generated"][run.cases[0].id].json_body()
    assert request == corpus.request_for(run.cases[0])


@pytest.mark.parametrize("mode", ["liar", "crash", "garbage"])
def test_the_harness_fails_on_a_driver_that_disagrees(
    corpus: Corpus, tmp_path: Path, mode: str
) -> None:
    drivers = {"python": DRIVERS["python"], "fake": FakeDriver("fake", "fake", "a fake", mode)}
    cases = [c.id for c in corpus.cases if c.kind == "json-200"][:3]
    run = run_matrix(
        corpus,
        root=ROOT,
        work=tmp_path,
        columns=["fake"],
        known=[],
        case_ids=cases,
        reference_server=False,
        drivers=drivers,
    )
    assert run.failed
    cells = [run.cells[case]["fake"] for case in cases]
    if mode == "liar":
        assert [c.state for c in cells] == ["differs"] * 3
        case_id, column, cell = run.failures()[0]
        text = reproducer(run, case_id, column, cell)
        assert f"--languages fake --case {case_id}" in text
        assert f"curl -sS -i -X POST http://127.0.0.1:8765/case/{case_id}/" in text
    elif mode == "crash":
        # the second call kills the driver: that call crashes, the driver restarts for the rest
        assert [c.state for c in cells] == ["differs", "crashes", "differs"]
        assert any("exited with status 3" in p for p in run.problems)
    else:
        assert cells[0].state == "crashes"
        assert any("not a result line: 'this is not JSON'" in p for p in run.problems)


def test_a_known_difference_explains_only_its_cases_and_goes_stale(
    corpus: Corpus, tmp_path: Path
) -> None:
    drivers = {"python": DRIVERS["python"], "fake": FakeDriver("fake", "fake", "a fake")}
    cases = [c.id for c in corpus.cases if c.kind == "json-200"][:2]
    known = [
        KnownDifference("lies", "fake", (("value", "value"),), (cases[0],), "r", "s"),
        KnownDifference("wrong-kind", "fake", (("value", "validation"),), (cases[1],), "r", "s"),
        KnownDifference("gone", "fake", (("value", "value"),), ("no-such-case",), "r", "s"),
    ]
    run = run_matrix(
        corpus,
        root=ROOT,
        work=tmp_path,
        columns=["fake"],
        known=known,
        case_ids=cases,
        reference_server=False,
        drivers=drivers,
    )
    assert run.cells[cases[0]]["fake"].state == "known"
    assert run.cells[cases[0]]["fake"].known == "lies"
    assert run.cells[cases[1]]["fake"].state == "differs"  # listed, but not this kind
    assert any(s.startswith(f"wrong-kind: lists {cases[1]}") for s in run.stale)
    assert any("no-such-case, which is not in the corpus" in s for s in run.stale)
    assert run.failed


def test_check_reference_both_ways() -> None:
    answer = {
        "id": "c",
        "created": 1,
        "model": "chat-text-base",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    chunk = {"id": "c", "created": 1, "model": "m", "usage": answer["usage"], "choices": []}
    chunk["choices"] = [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]
    body_401 = {"error": {"code": "unauthorized", "message": "no", "field": None}}
    body_400 = {"error": {"code": "invalid_request", "message": "t", "field": "temperature"}}
    good = {
        "reference-json": Result(outcome={"value": answer}),
        "reference-stream": Result(
            outcome={"value": {"chunks": [chunk], "usage": answer["usage"]}}
        ),
        "reference-401": Result(
            outcome={"error": "status", "status": 401, "code": "unauthorized", "body": body_401}
        ),
        "reference-400": Result(
            outcome={"error": "status", "status": 400, "code": "invalid_request", "body": body_400}
        ),
    }
    assert all(c.ok for c in check_reference("go", good, good))
    bad = {
        **good,
        "reference-json": Result(outcome={"value": {**answer, "choices": [{"index": -1}]}}),
        "reference-stream": Result(outcome={"error": "validation"}),
        "reference-400": Result(
            outcome={
                "error": "status",
                "status": 400,
                "code": "invalid_request",
                "body": {"error": {**body_400["error"], "field": "model"}},
            }
        ),
    }
    failed = {c.name for c in check_reference("go", bad, good) if not c.ok}
    assert failed == {"JSON answer", "stream to [DONE]", "400 as a typed error"}
    other = {**good, "reference-json": Result(outcome={"value": {**answer, "model": "x"}})}
    assert not all(c.ok for c in check_reference("go", other, good))


def test_the_python_drivers_against_the_reference_server(corpus: Corpus, tmp_path: Path) -> None:
    run = run_matrix(
        corpus,
        root=ROOT,
        work=tmp_path,
        columns=["python", "python-generated"],
        known=load_known(KNOWN, LANGUAGES),
        case_ids=[corpus.cases[0].id],
        reference_server=True,
    )
    checks = {(col, c.name): c.ok for col, cs in run.reference.items() for c in cs}
    assert checks[("python", "stream to [DONE]")]
    assert checks[("python-generated", "same JSON answer as python")]
    assert all(checks.values()), run.reference_failures()
    assert not run.failed


# --------------------------------------------------------------------------------------------
# known differences and the docs
# --------------------------------------------------------------------------------------------
def test_the_known_differences_file_is_well_formed() -> None:
    entries = load_known(KNOWN, LANGUAGES)
    assert entries
    corpus_ids = {c.id for c in load_corpus(CORPUS).cases}
    for entry in entries:
        assert set(entry.cases) <= corpus_ids, entry.id
        assert entry.source.startswith("https://") or (ROOT / entry.source).is_file(), entry.id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- id: x\n  language: cobol\n  kinds: ['value -> value']\n  cases: [a]\n"
            "  reason: r\n  source: s\n",
            "unknown language 'cobol'",
        ),
        (
            "- id: x\n  language: go\n  kinds: ['value to value']\n  cases: [a]\n"
            "  reason: r\n  source: s\n",
            "must be '<kind> -> <kind>'",
        ),
        (
            "- id: x\n  language: go\n  kinds: ['value -> value']\n  cases: []\n"
            "  reason: r\n  source: s\n",
            "'cases' must be a non-empty list",
        ),
        ("- id: x\n  language: go\n", "missing kinds, cases, reason, source"),
        ("{a: 1}\n", "must be a list of entries"),
    ],
)
def test_a_broken_known_differences_file_says_what_is_wrong(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "known.yaml"
    path.write_text(text)
    with pytest.raises(KnownError, match=re.escape(message)):
        load_known(path, LANGUAGES)


def test_the_docs_show_the_known_differences() -> None:
    docs = (ROOT / "docs" / "languages.md").read_text(encoding="utf-8")
    start, end = matrix_results.KNOWN_MARK
    shown = docs.split(start, 1)[1].split(end, 1)[0]
    assert shown.strip() == render_markdown(load_known(KNOWN, LANGUAGES)).strip(), (
        f"docs/languages.md is stale: {matrix_results.COMMAND} --write-results"
    )


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--languages", "cobol"], "--languages: unknown column(s) cobol"),
        (["--case", "no-such-case", "--no-reference-server"], "--case: not in"),
        (["--corpus", "/no/such/corpus.json"], "cannot read /no/such/corpus.json"),
        (["--seed", "3"], "--seed: only with --write-corpus"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert clients_cli.main(["--root", str(ROOT), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "chat-text-conformance clients: error:" in err
    assert "Traceback" not in err


def test_the_table_writer_wants_every_case_and_column_and_the_command_has_no_writer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rewriting the repository's tables is a repository tool's job: the shipped command has
    no such flag, and the tool refuses a partial run (exit 2, naming the flags)."""
    assert matrix_results.main(["--root", str(ROOT), "--write-results", "--languages", "go"]) == 2
    assert "need every case and every column" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        clients_cli.main(["--root", str(ROOT), "--write-results"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --write-results" in capsys.readouterr().err


@dataclass(frozen=True)
class MissingToolDriver(Driver):
    def missing(self, root: Path) -> str | None:
        return "the frobnicator is not installed (apt-get install frobnicator)"

    def build(self, root: Path, work: Path) -> list[str]:
        raise AssertionError("a driver whose tool is missing is never built")


def test_a_column_whose_tool_is_missing_is_skipped_with_the_reason(
    corpus: Corpus, tmp_path: Path
) -> None:
    drivers = {"python": DRIVERS["python"], "frob": MissingToolDriver("frob", "frob", "frob")}
    lines: list[str] = []
    run = run_matrix(
        corpus,
        root=ROOT,
        work=tmp_path,
        columns=["frob"],
        known=[],
        case_ids=[corpus.cases[0].id],
        reference_server=False,
        drivers=drivers,
        log=lines.append,
    )
    assert run.skipped == {"frob": "the frobnicator is not installed (apt-get install frobnicator)"}
    assert "frob: SKIPPED: the frobnicator is not installed" in lines[0]
    assert run.columns == ["python"]
    assert not run.failed


def test_check_results_fails_on_stale_tables_and_write_results_fixes_them(
    corpus: Corpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--write-results / --check-results on a small repository: the spec's examples through
    the two Python columns (every column there is)."""
    from chat_text_conformance.clients.matrix import run as matrix

    two = {name: DRIVERS[name] for name in ("python", "python-generated")}
    monkeypatch.setattr(clients_cli, "DRIVERS", two)
    monkeypatch.setattr(matrix, "DRIVERS", two)
    examples = tuple(c for c in corpus.cases if c.kind == "spec-example")
    small = Corpus(corpus.seed, corpus.spec_fingerprint, corpus.tools, examples)
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "corpus.json").write_text(small.to_text())
    (tmp_path / "docs").mkdir()
    marks = "\n".join([*matrix_results.SUMMARY_MARK, *matrix_results.KNOWN_MARK])
    (tmp_path / "docs" / "languages.md").write_text(f"# Other languages\n\n{marks}\n")
    totals = "\n".join(matrix_results.TOTALS_MARK)
    (tmp_path / "README.md").write_text(f"# A project\n\n{totals}\n")
    args = ["--root", str(tmp_path), "--no-reference-server"]
    assert matrix_results.main([*args, "--write-results"]) == 0
    docs = (tmp_path / "docs" / "languages.md").read_text()
    assert "| spec-example | 13 | 9 status, 4 value | 12 same, 1 n/a |" in docs
    readme = (tmp_path / "README.md").read_text()
    assert "| `python-generated` | chat_text_client, openapi-python-client" in readme
    assert "| 12 | 0 | 1 | 0 | 0 |" in readme  # same, known, n/a, differs, crashes
    assert matrix_results.main([*args, "--check-results"]) == 0
    capsys.readouterr()
    (tmp_path / "README.md").write_text(readme.replace("| 12 | 0 |", "| 13 | 0 |"))
    assert matrix_results.main([*args, "--check-results"]) == 1
    stale = [line for line in capsys.readouterr().out.splitlines() if line.startswith("STALE")]
    assert [line.split()[1] for line in stale] == ["README.md"]
    # checking writes nothing: the stale table is still there
    assert "| 13 | 0 |" in (tmp_path / "README.md").read_text()
    (tmp_path / "README.md").write_text(readme)
    assert (
        "`spec-example-200-counting` | spec-example | value | n/a |"
        in (tmp_path / "clients" / "results.md").read_text()
    )
    (tmp_path / "docs" / "languages.md").write_text(docs.replace("12 same", "11 same"))
    assert matrix_results.main([*args, "--check-results"]) == 1
    stale = [line for line in capsys.readouterr().out.splitlines() if line.startswith("STALE")]
    assert [line.split()[1] for line in stale] == ["docs/languages.md"]
