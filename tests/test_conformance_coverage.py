"""Spec coverage (:mod:`chat_text_conformance.reporting.coverage`): items derived from the spec (a
field added to a copy of the spec is covered without a code change), what one exchange hits (fields
set/omitted/null, roles, stream or not, statuses, error codes, headers, finish_reason in JSON
and in streams), missed items with their reasons, thread safety, the Meter feeding it, the
reports showing it, and ``--min-coverage`` both ways."""

from __future__ import annotations

import copy
import json
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from chat_text_conformance.checks import Exchange
from chat_text_conformance.cli import main
from chat_text_conformance.engine.cost import Meter
from chat_text_conformance.reporting import files as reports
from chat_text_conformance.reporting.coverage import NOT_SENT, UNPROVOKED, SpecCoverage
from chat_text_conformance.reporting.results import CheckResult, RunReport

import chat_text_spec

PATH = chat_text_spec.OPERATION_PATH
MESSAGE = {"role": "user", "content": "hi"}


def _answer(finish: str = "stop", role: str = "assistant") -> bytes:
    return json.dumps(
        {
            "id": "a",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": role, "content": "x"}, "finish_reason": finish}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def _stream(finish: str) -> bytes:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": finish}]},
    ]
    body = "".join(
        f"data: {json.dumps({'id': 'a', 'created': 1, 'model': 'm', 'usage': None, **c})}\n\n"
        for c in chunks
    )
    return (body + "data: [DONE]\n\n").encode()


def _error(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": "no", "field": None}}).encode()


def _ok(request: Any, body: bytes | None = None) -> Exchange:
    return Exchange(request, 200, "application/json", body or _answer())


def test_items_come_from_the_spec() -> None:
    coverage = SpecCoverage()
    schema = chat_text_spec.request_schema()
    for name in schema["properties"]:
        for state in ("set", "omitted", "null"):
            assert f"field:{name}={state}" in coverage.items
    assert coverage.items["field:temperature=null"].refused is False
    assert coverage.items["field:model=omitted"].refused is True  # required
    assert coverage.items["field:messages[].role=null"].refused is True  # not nullable
    for role in chat_text_spec.resolve({"$ref": "#/components/schemas/Role"})["enum"]:
        assert f'sent:messages[].role="{role}"' in coverage.items
    assert {"sent:stream=true", "sent:stream=false"} <= coverage.items.keys()
    statuses = chat_text_spec.operation()["responses"]
    assert {i.status for i in coverage.items.values() if i.group == "status"} == set(statuses)
    assert "code:400:prompt_too_long" in coverage.items
    assert "header:401:WWW-Authenticate" in coverage.items
    assert {"header:429:Retry-After", "header:503:Retry-After"} <= coverage.items.keys()
    for media in ("application/json", "text/event-stream"):
        assert f"media:200:{media}" in coverage.items
        for reason in ("stop", "length"):
            assert f'received:200:{media}:choices[].finish_reason="{reason}"' in coverage.items
    # every item points at the place of the spec that says it
    document = chat_text_spec.load_spec()
    for item in coverage.items.values():
        node: Any = document
        for part in item.pointer.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]


def test_a_field_added_to_the_spec_is_covered_without_a_code_change() -> None:
    spec = chat_text_spec.load_spec()
    spec["components"]["schemas"]["ChatTextRequest"]["properties"]["seed"] = {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]
    }
    spec["components"]["schemas"]["ChatTextRequest"]["properties"]["mode"] = {
        "type": "string",
        "enum": ["fast", "careful"],
    }
    responses = spec["paths"][PATH]["post"]["responses"]
    responses["402"] = copy.deepcopy(responses["429"])
    responses["402"]["content"]["application/json"]["examples"] = {
        "broke": {"value": {"error": {"code": "payment_required", "message": "pay"}}}
    }
    coverage = SpecCoverage(spec)
    new = {
        "field:seed=set",
        "field:seed=omitted",
        "field:seed=null",
        "field:mode=set",
        "field:mode=omitted",
        "field:mode=null",
        'sent:mode="fast"',
        'sent:mode="careful"',
        "status:402",
        "code:402:payment_required",
        "header:402:Retry-After",
    }
    assert new <= coverage.items.keys()
    assert coverage.total == SpecCoverage().total + len(new)
    assert not coverage.items["field:seed=null"].refused
    assert coverage.items["field:mode=null"].refused
    coverage.observe(_ok({"model": "m", "messages": [MESSAGE], "seed": None, "mode": "careful"}))
    coverage.observe(
        Exchange(
            None,
            402,
            "application/json",
            _error("payment_required"),
            headers=(("retry-after", "1"),),
        )
    )
    assert coverage.hits("field:seed=null") == 1
    assert coverage.hits('sent:mode="careful"') == 1 and coverage.hits('sent:mode="fast"') == 0
    assert coverage.hits("code:402:payment_required") == 1
    assert coverage.hits("header:402:Retry-After") == 1


def test_fields_set_omitted_and_null_and_roles() -> None:
    coverage = SpecCoverage()
    coverage.observe(
        _ok(
            {
                "model": "m",
                "messages": [{"role": "system", "content": "s"}, MESSAGE],
                "temperature": 0,
                "max_tokens": None,
                "stream": False,
            }
        )
    )
    assert coverage.hits("field:temperature=set") == 1
    assert coverage.hits("field:max_tokens=null") == 1
    assert coverage.hits("field:top_p=omitted") == 1
    assert coverage.hits("field:top_p=set") == 0 and coverage.hits("field:top_p=null") == 0
    assert coverage.hits('sent:messages[].role="system"') == 1
    assert coverage.hits('sent:messages[].role="user"') == 1
    assert coverage.hits('sent:messages[].role="assistant"') == 0
    assert coverage.hits("sent:stream=false") == 1 and coverage.hits("sent:stream=true") == 0
    assert coverage.hits("field:messages[].content=set") == 1  # once per exchange, not per message
    # invalid values are not enum values sent; nested nulls and omissions are seen
    coverage.observe(
        Exchange(
            {"messages": [{"role": "robot", "content": None}, {"content": "x"}], "stream": "yes"},
            400,
            "application/json",
            _error("invalid_request"),
        )
    )
    assert coverage.hits("field:model=omitted") == 1
    assert coverage.hits("field:messages[].content=null") == 1
    assert coverage.hits("field:messages[].role=omitted") == 1
    assert coverage.hits("sent:stream=true") == 0
    assert not any(coverage.hits(i) for i in coverage.items if "robot" in i)
    # a body that is not a JSON object exercises no field
    before = coverage.hits("field:model=omitted")
    coverage.observe(Exchange(["not", "an", "object"], 400, "application/json", _error("x")))
    assert coverage.hits("field:model=omitted") == before


def test_statuses_codes_headers_and_media_types() -> None:
    coverage = SpecCoverage()
    coverage.observe(
        Exchange(
            {"model": "m", "messages": [MESSAGE]},
            401,
            "application/json",
            _error("unauthorized"),
            headers=(("www-authenticate", 'Bearer realm="x"'),),
        )
    )
    assert coverage.hits("status:401") == 1
    assert coverage.hits("code:401:unauthorized") == 1
    assert coverage.hits("header:401:WWW-Authenticate") == 1
    # a code documented for another status, a header on a status that does not document it,
    # an undocumented status: none of them counts
    coverage.observe(
        Exchange(
            None,
            400,
            "application/json",
            _error("unauthorized"),
            headers=(("retry-after", "1"),),
        )
    )
    coverage.observe(Exchange(None, 418, "application/json", _error("teapot")))
    assert coverage.hits("status:400") == 1
    assert not any(coverage.hits(i) for i in coverage.items if i.startswith("code:400:"))
    assert coverage.hits("header:429:Retry-After") == 0
    assert coverage.exchanges == 3
    # a 401 without its challenge does not cover the header
    coverage.observe(Exchange(None, 401, "application/json", _error("unauthorized")))
    assert coverage.hits("header:401:WWW-Authenticate") == 1 and coverage.hits("status:401") == 2


def test_finish_reasons_in_json_and_in_streams() -> None:
    coverage = SpecCoverage()
    request = {"model": "m", "messages": [MESSAGE], "stream": True}
    coverage.observe(Exchange(request, 200, "text/event-stream", _stream("length")))
    stream = "received:200:text/event-stream:choices[]"
    assert coverage.hits("media:200:text/event-stream") == 1
    assert coverage.hits("media:200:application/json") == 0
    assert coverage.hits(f'{stream}.finish_reason="length"') == 1
    assert coverage.hits(f'{stream}.finish_reason="stop"') == 0
    assert coverage.hits(f'{stream}.delta.role="assistant"') == 1
    assert coverage.hits("sent:stream=true") == 1
    coverage.observe(_ok({"model": "m", "messages": [MESSAGE]}, _answer("stop")))
    coverage.observe(_ok({"model": "m", "messages": [MESSAGE]}, _answer("eos_token", "bot")))
    plain = "received:200:application/json:choices[]"
    assert coverage.hits(f'{plain}.finish_reason="stop"') == 1
    assert coverage.hits(f'{plain}.finish_reason="length"') == 0  # eos_token is no enum value
    assert coverage.hits(f'{plain}.message.role="assistant"') == 1


def test_score_and_what_was_missed_with_reasons() -> None:
    coverage = SpecCoverage()
    assert coverage.score == 0 and coverage.hit == 0
    assert len(coverage.missed()) == coverage.total
    coverage.observe(Exchange(None, 503, "application/json", _error("unavailable")))
    assert coverage.hit == 2
    assert coverage.score == pytest.approx(200 / coverage.total)
    missed = {entry.item.id: entry for entry in coverage.missed()}
    assert "status:503" not in missed and "code:503:unavailable" not in missed
    assert missed["header:503:Retry-After"].reason == UNPROVOKED["503"]
    assert missed["status:429"].known and missed["code:500:internal_error"].known
    assert missed["status:401"].reason == NOT_SENT and not missed["status:401"].known
    data = coverage.to_json()
    assert data["hit"] == 2 and data["total"] == coverage.total and data["exchanges"] == 1
    assert data["score"] == round(coverage.score, 1)
    assert {m["id"] for m in data["missed"]} == set(missed)
    by_id = {item["id"]: item for item in data["items"]}
    assert by_id["status:503"]["hits"] == 1 and "reason" not in by_id["status:503"]
    assert by_id["status:429"]["reason"] == UNPROVOKED["429"]
    assert sum(g["total"] for g in data["groups"].values()) == coverage.total
    lines = coverage.summary()
    assert lines[0].startswith(f"coverage: {coverage.score:.1f}% of the spec")
    assert any("HTTP 429" in line and UNPROVOKED["429"] in line for line in lines)


def test_observing_from_many_threads_loses_nothing() -> None:
    coverage = SpecCoverage()
    exchange = _ok({"model": "m", "messages": [MESSAGE], "temperature": 1})

    def work() -> None:
        for _ in range(200):
            coverage.observe(exchange)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert coverage.exchanges == 1600
    assert coverage.hits("field:temperature=set") == 1600
    assert coverage.hits("status:200") == 1600


def test_the_meter_hands_every_recorded_exchange_to_its_observers() -> None:
    coverage = SpecCoverage()
    meter = Meter(observers=(coverage.observe,))
    meter.record(
        request_bytes=10,
        status=401,
        content_type="application/json; charset=utf-8",
        body=_error("unauthorized"),
        phase="property x",
        request={"model": "m", "messages": [MESSAGE], "stream": None},
        headers=[("WWW-Authenticate", "Bearer")],
    )
    meter.record(request_bytes=10, status=200, content_type="application/json", body=_answer())
    assert coverage.exchanges == 2
    assert coverage.hits("header:401:WWW-Authenticate") == 1
    assert coverage.hits("field:stream=null") == 1
    assert meter.cost.prompt_tokens == 1  # the shared exchange still feeds the cost


def _report(coverage: SpecCoverage | None, minimum: float | None) -> RunReport:
    return RunReport(
        target="http://127.0.0.1:9 model=m",
        level="semantic",
        seed=1,
        max_examples=1,
        # a rule passed at each level the run claims (schema, semantic): a run can be green
        results=[
            CheckResult("not_a_server_error", "schema", passed=2),
            CheckResult("usage_total_is_sum", "response", passed=2),
        ],
        coverage=coverage,
        min_coverage=minimum,
    )


def test_reports_show_coverage_and_fail_below_the_minimum(tmp_path: Path) -> None:
    coverage = SpecCoverage()
    coverage.observe(_ok({"model": "m", "messages": [MESSAGE]}))
    enough = _report(coverage, minimum=coverage.score)
    assert enough.ok and enough.coverage_ok
    text = reports.summary_text(enough)
    assert f"coverage: {coverage.score:.1f}% of the spec" in text
    assert "missed" in text and "PASSED" in text

    short = _report(coverage, minimum=coverage.score + 1)
    assert not short.ok and not short.coverage_ok
    text = reports.summary_text(short)
    assert "COVERAGE BELOW MINIMUM" in text and "--min-coverage" in text
    assert text.splitlines()[-1].startswith("FAILED")
    data = reports.to_json(short)
    assert data["ok"] is False and data["coverage_ok"] is False
    assert data["coverage"]["hit"] == coverage.hit
    assert data["min_coverage"] == pytest.approx(coverage.score + 1)
    junit = tmp_path / "junit.xml"
    reports.write_junit_xml(short, junit)
    suite = ET.fromstring(junit.read_text())  # noqa: S314 - our own file
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["coverage.score"] == f"{coverage.score:.1f}"
    assert "status:429" in (properties["coverage.missed"] or "")
    case = next(c for c in suite.iter("testcase") if c.get("name") == "min_coverage")
    assert case.find("failure") is not None
    assert suite.get("failures") == "1"

    unmeasured = _report(None, minimum=10)
    assert not unmeasured.ok
    assert "no spec coverage was measured" in reports.summary_text(unmeasured)
    assert _report(None, minimum=None).ok


@pytest.mark.parametrize("value", ["-1", "101", "lots", ""])
def test_bad_min_coverage_exits_2_naming_the_flag(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--min-coverage", value])
    assert info.value.code == 2
    _, err = capsys.readouterr()
    assert "--min-coverage" in err and "Traceback" not in err


def test_min_coverage_is_refused_for_client_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--client", "--min-coverage", "50", "-q"]) == 2
    _, err = capsys.readouterr()
    assert "--min-coverage" in err


def test_a_run_below_min_coverage_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schema level sends no property requests (no unknown model, so no 404) and cannot
    provoke 429/500/503: 95% is out of reach. (A run that meets its minimum exits 0:
    tests/test_conformance_report_html.py.)"""
    argv = ["--level", "schema", "--max-examples", "1", "--seed", "1", "-q"]
    code = main([*argv, "--min-coverage", "95%", "--report-dir", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert code == 1, out
    assert "COVERAGE BELOW MINIMUM" in out and "--min-coverage asks for 95%" in out
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["ok"] is False and data["checks_failed"] == 0
    score = data["coverage"]["score"]
    assert 50 < score < 95
    assert "COVERAGE BELOW MINIMUM" in (tmp_path / "report.html").read_text()
