"""One compiled validator per schema, in the spec package, shared by every part of the kit.

``chat_text_spec.schema_validator(name)`` is built once per process; the SDK, the reference
server, the suite's checks, client conformance, the cross-language matrix and the proxy all
judge with those objects; the request validator lives in the spec package too, so the proxy
judges requests without importing the server.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import chat_text_spec
from chat_text_spec import InvalidRequest, RequestValidator, parse_json, schema_validator

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = sorted(chat_text_spec.load_spec()["components"]["schemas"])
VALID = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _run(probe: str) -> Any:
    """Run ``probe`` in a fresh interpreter (process-wide caches start empty); its last line
    of output, as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# schema_validator


@pytest.mark.parametrize("name", COMPONENTS)
def test_every_component_has_one_draft_2020_12_validator(name: str) -> None:
    import jsonschema_rs

    first = schema_validator(name)
    assert isinstance(first, jsonschema_rs.Draft202012Validator)
    assert schema_validator(name) is first


def test_validators_judge_with_the_spec_and_its_references() -> None:
    error = {"error": {"code": "invalid_request", "message": "bad", "field": None}}
    assert schema_validator("ErrorResponse").is_valid(error)
    # ErrorDetail is reached through a $ref: its rules apply
    assert not schema_validator("ErrorResponse").is_valid({"error": {"code": "x"}})
    assert not schema_validator("ErrorResponse").is_valid({"error": {**error["error"], "code": ""}})
    assert schema_validator("ChatTextRequest").is_valid(VALID)
    assert not schema_validator("ChatTextRequest").is_valid({**VALID, "temperature": 5})


def test_an_unknown_schema_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="NoSuchSchema"):
        schema_validator("NoSuchSchema")


def test_each_validator_is_compiled_once_even_when_threads_race_for_it() -> None:
    """Every jsonschema_rs builder called from this repository's code is counted; threads ask
    for every schema at once, then each part of the kit gets its validators: one compilation
    per schema in all."""
    probe = """
import collections, json, os, sys, threading, time
import jsonschema_rs

built = collections.Counter()
OURS = {"chat_text", "chat_text_server", "chat_text_spec", "chat_text_conformance"}

def which(schema):  # the component a compiled schema is (whatever the root's form), else ?
    import chat_text_spec

    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/") and set(schema) <= {"$ref", "components"}:
        return ref.rsplit("/", 1)[1]
    own = {k: v for k, v in schema.items() if k != "components"}
    found = [n for n, s in chat_text_spec.load_spec()["components"]["schemas"].items() if s == own]
    return found[0] if found else "?"

def counting(build):
    def wrapper(schema, *args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.split(".")[0] in OURS:  # not schemathesis' (wherever the packages are installed)
            built[which(schema)] += 1
        time.sleep(0.05)  # widen the race
        return build(schema, *args, **kwargs)
    return wrapper

for name in dir(jsonschema_rs):
    if name == "validator_for" or (name.startswith("Draft") and name.endswith("Validator")):
        setattr(jsonschema_rs, name, counting(getattr(jsonschema_rs, name)))

import chat_text_spec

schemas = chat_text_spec.load_spec()["components"]["schemas"]
names = sorted(schemas)
got = collections.defaultdict(set)
barrier = threading.Barrier(6)

def ask():
    barrier.wait()
    for name in names:
        got[name].add(id(chat_text_spec.schema_validator(name)))

threads = [threading.Thread(target=ask) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()

from chat_text._parsing import validator as sdk
from chat_text_server.app import ChatTextEndpoint
from chat_text_conformance.checks import request
from chat_text_conformance.clients.sdk import SpecSchemas
from chat_text_conformance.clients.matrix import run as matrix

for name in ("ChatTextResponse", "ChatTextChunk", "ErrorResponse"):
    got[name].add(id(sdk(name)))
for _ in range(2):
    got["ChatTextRequest"].add(id(ChatTextEndpoint(["t"], {"m": 100})._validator.validator))
for name, compiled in SpecSchemas().validators.items():
    got[name].add(id(compiled))
got["ChatTextResponse"].add(id(matrix._validator("ChatTextResponse")))
got["ChatTextChunk"].add(id(matrix._validator("ChatTextChunk")))
got["ChatTextRequest"].add(id(request._validator().validator))

print(json.dumps({
    "distinct": {name: len(ids) for name, ids in got.items()},
    "built": {name: built[name] for name in names},
    "other": built["?"],
}))
"""
    result = _run(probe)
    assert result["distinct"] == dict.fromkeys(COMPONENTS, 1)
    assert result["built"] == dict.fromkeys(COMPONENTS, 1)
    assert result["other"] == 0


def test_every_part_of_the_kit_judges_with_the_shared_validators() -> None:
    from chat_text_conformance.checks import request
    from chat_text_conformance.clients.matrix import run as matrix
    from chat_text_conformance.clients.sdk import SpecSchemas

    from chat_text._parsing import validator as sdk_validator
    from chat_text_server.app import ChatTextEndpoint

    shared = {name: schema_validator(name) for name in COMPONENTS}
    for name in ("ChatTextResponse", "ChatTextChunk", "ErrorResponse"):
        assert sdk_validator(name) is shared[name]
        assert matrix._validator(name) is shared[name]
    assert ChatTextEndpoint(["t"], {"m": 100})._validator.validator is shared["ChatTextRequest"]
    for name, compiled in SpecSchemas().validators.items():
        assert compiled is shared[name]
    assert request._validator().validator is shared["ChatTextRequest"]


def _imports_jsonschema_rs(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "jsonschema_rs" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == (
            "jsonschema_rs"
        ):
            return True
    return False


def test_only_the_spec_package_compiles_schemas() -> None:
    """No shipped module outside ``chat_text_spec`` imports jsonschema_rs (tests may)."""
    shipped = [ROOT / "chat_text", ROOT / "chat_text_server", ROOT / "conformance"]
    found = sorted(
        str(path.relative_to(ROOT))
        for package in shipped
        for path in package.rglob("*.py")
        if _imports_jsonschema_rs(path)
    )
    assert found == []
    assert _imports_jsonschema_rs(ROOT / "chat_text_spec" / "validation.py")


# ---------------------------------------------------------------------------------------------
# The request validator


def test_the_request_validator_applies_the_spec_defaults() -> None:
    validator = RequestValidator()
    assert validator.validator is schema_validator("ChatTextRequest")
    request = validator.validate({**VALID, "temperature": None, "max_tokens": 7.0})
    defaults = chat_text_spec.request_defaults()
    assert request["temperature"] == defaults["temperature"]
    assert request["max_tokens"] == 7
    assert type(request["max_tokens"]) is int
    assert validator.max_body_bytes == chat_text_spec.max_body_bytes()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"", None, "The request body is empty; expected a JSON object."),
        (b"{", None, "The request body is not valid JSON: "),
        (b"[]", None, "The request body must be a JSON object, got array."),
        (b'{"model": "m"}', "messages", "messages: required field is missing"),
        (
            json.dumps({**VALID, "temperature": 5}).encode(),
            "temperature",
            "temperature: 5 is greater than the maximum of 2",
        ),
        (
            json.dumps({**VALID, "messages": [{"role": "robot", "content": "x"}]}).encode(),
            "messages[0].role",
            'messages[0].role: "robot" is not one of',
        ),
        (json.dumps({**VALID, "n": 2}).encode(), "n", "n: unknown field"),
    ],
)
def test_the_request_validator_names_the_field(
    body: bytes, field: str | None, message: str
) -> None:
    """The spec's 400 ``invalid_request`` with the field, from the spec package; the server's
    names (``chat_text_server.validation``) still give the same as its ``ApiError``."""
    from chat_text_server.errors import ApiError
    from chat_text_server.validation import RequestValidator as ServerValidator
    from chat_text_server.validation import parse_json as server_parse_json

    with pytest.raises(InvalidRequest) as refused:
        RequestValidator().validate(parse_json(body))
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert refused.value.field == field
    assert refused.value.message.startswith(message)
    with pytest.raises(ApiError) as answered:
        ServerValidator().validate(server_parse_json(body))
    assert (answered.value.status, answered.value.code) == (400, "invalid_request")
    assert (answered.value.message, answered.value.field) == (
        refused.value.message,
        refused.value.field,
    )


def test_the_proxy_judges_without_the_server() -> None:
    """Importing the proxy's judging, classifying valid and invalid requests and judging the
    spec's examples (what ``warm_up`` does) never imports ``chat_text_server``."""
    probe = """
import json, sys
import chat_text_conformance.proxy.judging as judging
from chat_text_conformance import Level

imported = "chat_text_server" in sys.modules
headers = {"content-type": "application/json"}
path = "/inference/chat_text"
valid = judging.classify_request("POST", path, headers, b'{"model": "m", "messages": '
                                 b'[{"role": "user", "content": "x"}]}')
invalid = judging.classify_request("POST", path, headers, b'{"model": "m", "messages": []}')
not_json = judging.classify_request("POST", path, headers, b"{")
judging.warm_up(Level.SEMANTIC)
print(json.dumps({
    "on_import": imported,
    "after_judging": sorted(m for m in sys.modules if m.split(".")[0] == "chat_text_server"),
    "problems": [valid.problem, invalid.problem, not_json.problem],
}))
"""
    result = _run(probe)
    assert result["on_import"] is False
    assert result["after_judging"] == []
    valid, invalid, not_json = result["problems"]
    assert valid is None
    assert invalid.startswith("messages: ")
    assert not_json.startswith("The request body is not valid JSON")
