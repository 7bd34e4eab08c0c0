"""chat-text-spec-diff: the corpus of spec pairs against the rule catalogue, the CLI (files,
git refs, text/JSON/Markdown/JUnit, exit codes, errors), the policy (ignore entries, severity
overrides, fingerprints), the semver gate, and the version of the generated package.

Corpus: ``tests/spec_diff_corpus/base.yaml`` is a frozen copy of the contract (1.0.0); each
``cases/*.yaml`` derives an old and a new document from it with JSON Patch operations
(``old:``/``new:``, RFC 6902 add/remove/replace/move) or gives two small standalone documents
(``old_spec:``/``new_spec:``), and lists the exact changes expected (severity, rule, JSONPath
suffix) and the semver bump.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_text_spec import diff as spec_diff
from chat_text_spec import regenerate
from chat_text_spec.diff import cli
from chat_text_spec.diff.rules import CATALOGUE, SEVERITIES, get_rule

ROOT = Path(__file__).resolve().parent.parent

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CORPUS = Path(__file__).resolve().parent / "spec_diff_corpus"
BASE = yaml.load((CORPUS / "base.yaml").read_text(), Loader=LOADER)  # noqa: S506
CASES = sorted((CORPUS / "cases").glob("*.yaml"))


# --------------------------------------------------------------------------- corpus helpers


def _pointer(path: str) -> list[str]:
    assert path.startswith("/"), path
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts)
    return parent.pop(int(parts[-1])) if isinstance(parent, list) else parent.pop(parts[-1])


def _add(doc: Any, path: str, value: Any) -> None:
    parts = _pointer(path)
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        if parts[-1] == "-":
            parent.append(value)
        else:
            parent.insert(int(parts[-1]), value)
    else:
        parent[parts[-1]] = value


def apply_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The few RFC 6902 operations the corpus uses."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if op["op"] == "add":
            _add(doc, op["path"], copy.deepcopy(op["value"]))
        elif op["op"] == "remove":
            _remove(doc, op["path"])
        elif op["op"] == "replace":
            _remove(doc, op["path"])
            _add(doc, op["path"], copy.deepcopy(op["value"]))
        elif op["op"] == "move":
            _add(doc, op["path"], _remove(doc, op["from"]))
        else:
            raise ValueError(f"unsupported patch op {op['op']!r}")
    return doc


@functools.cache
def _load_case(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    case = yaml.load(path.read_text(), Loader=LOADER)  # noqa: S506
    old = case.get("old_spec") or apply_patch(BASE, case.get("old", []))
    new = case.get("new_spec") or apply_patch(BASE, case.get("new", []))
    return old, new, case["expect"]


def load_case(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(old document, new document, expectations) of a corpus case; fresh copies."""
    return copy.deepcopy(_load_case(path))


def match(expected: list[dict[str, str]], actual: list[spec_diff.Change]) -> list[str]:
    """Problems pairing every expected change with exactly one actual change."""
    left = list(actual)
    problems = []
    for want in expected:
        hit = next(
            (
                c
                for c in left
                if c.severity == want["severity"]
                and c.rule == want["rule"]
                and c.path.endswith(want["path"])
            ),
            None,
        )
        if hit is None:
            problems.append(f"missing: {want}")
        else:
            left.remove(hit)
    problems += [f"unexpected: {c.severity} {c.rule} {c.path} ({c.message})" for c in left]
    return problems


# --------------------------------------------------------------------------- corpus


def test_corpus_is_big_enough_and_covers_all_kinds() -> None:
    assert len(CASES) >= 30
    kinds: Counter[str] = Counter()
    bumps: Counter[str] = Counter()
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        bumps[case["expect"]["bump"]] += 1
        kinds.update(c["severity"] for c in case["expect"]["changes"])
    assert set(kinds) == set(SEVERITIES)
    assert set(bumps) == {"major", "minor", "patch", "none"}


def _expected_rules(path: Path) -> set[str]:
    case = yaml.load(path.read_text(), Loader=LOADER)  # noqa: S506
    return {c["rule"] for c in case["expect"]["changes"]}


def test_every_rule_has_a_corpus_pair_that_shows_it() -> None:
    """The catalogue names, for every rule, pairs whose expected changes include it."""
    stems = {p.stem: p for p in CASES}
    problems = []
    for rule in CATALOGUE:
        if not rule.pairs:
            problems.append(f"{rule.id}: no corpus pair")
        for pair in rule.pairs:
            if pair not in stems:
                problems.append(f"{rule.id}: pair {pair} is not in the corpus")
            elif rule.id not in _expected_rules(stems[pair]):
                problems.append(f"{rule.id}: pair {pair} does not expect this rule")
    assert problems == []


def test_every_corpus_pair_names_catalogued_rules() -> None:
    """Every expected change names a catalogued rule with the catalogue's severity; every
    pair is declared by a rule it shows, or is a pair where nothing changes."""
    declared = {pair for rule in CATALOGUE for pair in rule.pairs}
    problems = []
    for path in CASES:
        case = yaml.load(path.read_text(), Loader=LOADER)  # noqa: S506
        for change in case["expect"]["changes"]:
            try:
                rule = get_rule(change["rule"])
            except KeyError:
                problems.append(f"{path.stem}: unknown rule {change['rule']}")
                continue
            if rule.severity != change["severity"]:
                problems.append(f"{path.stem}: {rule.id} is {rule.severity} in the catalogue")
        if path.stem not in declared and case["expect"]["changes"]:
            problems.append(f"{path.stem}: no rule of the catalogue declares this pair")
        if not case["expect"]["changes"]:
            assert case["expect"]["bump"] == "none", path.stem
    assert problems == []


def test_catalogue_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in CATALOGUE]
    assert len(ids) == len(set(ids))
    for rule in CATALOGUE:
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.direction in ("request", "response", "both")
        assert rule.severity in SEVERITIES
        assert rule.detects
        if rule.direction != "both":
            assert rule.id.startswith(rule.direction) or rule.family != "schema", rule.id


def test_corpus_base_is_a_valid_openapi_document() -> None:
    from openapi_spec_validator import validate

    validate(BASE)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path: Path) -> None:
    old, new, expect = load_case(path)
    changes = spec_diff.diff_specs(old, new)
    assert match(expect["changes"], changes) == []
    assert spec_diff.required_bump(changes) == expect["bump"]
    for change in changes:
        assert change.path.startswith("$."), change
        assert change.severity in SEVERITIES


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case_reversed_is_consistent(path: Path) -> None:
    """Swapping old and new must not crash, and a pure-prose case stays prose-only."""
    old, new, expect = load_case(path)
    changes = spec_diff.diff_specs(new, old)
    if expect["bump"] in ("none", "patch"):
        assert spec_diff.required_bump(changes) == expect["bump"]
    else:
        assert changes, "a real change must show up in both directions"


def test_the_contract_against_itself_has_no_changes() -> None:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert spec_diff.diff_specs(spec, copy.deepcopy(spec)) == []


# --------------------------------------------------------------------------- semver


@pytest.mark.parametrize(
    ("required", "old", "new", "ok"),
    [
        ("major", "1.0.0", "2.0.0", True),
        ("major", "1.0.0", "1.1.0", False),
        ("minor", "1.0.0", "1.1.0", True),
        ("minor", "1.0.0", "1.0.1", False),
        ("minor", "1.2.3", "2.0.0", True),
        ("patch", "1.0.0", "1.0.1", True),
        ("patch", "1.0.0", "1.0.0", False),
        ("none", "1.0.0", "1.0.0", True),
        ("major", "0.3.0", "0.4.0", True),  # semver 0.x: breaking needs only a minor bump
        ("major", "0.3.0", "0.3.1", False),
    ],
)
def test_bump_is_enough(required: spec_diff.Bump, old: str, new: str, ok: bool) -> None:
    assert spec_diff.bump_is_enough(required, old, new) is ok


def test_proposed_versions() -> None:
    assert spec_diff.propose_version("1.4.2", "major") == "2.0.0"
    assert spec_diff.propose_version("1.4.2", "minor") == "1.5.0"
    assert spec_diff.propose_version("1.4.2", "patch") == "1.4.3"
    assert spec_diff.propose_version("1.4.2", "none") == "1.4.2"


def test_version_going_down_or_not_semver_is_an_error() -> None:
    with pytest.raises(spec_diff.SpecDiffError, match="went down"):
        spec_diff.actual_bump("2.0.0", "1.9.9")
    with pytest.raises(spec_diff.SpecDiffError, match="not a semantic version"):
        spec_diff.actual_bump("1.0", "1.1")


# --------------------------------------------------------------------------- CLI


def write(tmp: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def case_files(tmp: Path, stem: str) -> tuple[Path, Path]:
    old, new, _ = load_case(next(p for p in CASES if p.stem.endswith(stem)))
    return write(tmp, "old.yaml", old), write(tmp, "new.yaml", new)


def test_cli_text_report_and_exit_1_on_breaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = case_files(tmp_path, "request_enum_narrowed")
    assert cli.main([str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "BREAKING (1)" in out
    assert "request-enum-narrowed" in out
    assert "messages.items.properties.role.enum" in out
    assert "[via #/components/schemas/Role]" in out
    assert "needs a major bump (proposed info.version: 2.0.0)" in out


def test_cli_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = case_files(tmp_path, "request_optional_field_added")
    assert cli.main([str(old), str(new), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["breaking"] is False
    assert report["required_bump"] == "minor"
    assert report["counts"] == {"breaking": 0, "non-breaking": 1, "info": 0, "ignored": 0}
    [change] = report["changes"]
    assert change["severity"] == "non-breaking"
    assert change["rule"] == "request-optional-property-added"
    assert change["path"].endswith(".properties.top_p")


def test_cli_gate_fails_until_the_version_is_bumped_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_doc, new_doc, _ = load_case(next(p for p in CASES if "response_enum_widened" in p.stem))
    old = write(tmp_path, "old.yaml", old_doc)
    for version, code in (("1.0.0", 1), ("1.1.0", 1), ("2.0.0", 0)):
        new_doc["info"]["version"] = version
        new = write(tmp_path, "new.yaml", new_doc)
        assert cli.main([str(old), str(new), "--gate"]) == code, version
        out = capsys.readouterr().out
        assert ("gate: PASS" if code == 0 else "gate: FAIL") in out
        if code:
            assert "bump info.version to at least 2.0.0" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("openapi: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "not an OpenAPI document"),
    ],
)
def test_cli_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    if content is not None:
        bad.write_text(content)
    assert cli.main([str(bad), str(ROOT / "openapi.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_cli_unresolvable_ref_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(BASE)
    doc["components"]["schemas"]["Message"]["properties"]["role"] = {"$ref": "#/nowhere"}
    bad = write(tmp_path, "bad.yaml", doc)
    assert cli.main([str(bad), str(ROOT / "openapi.yaml")]) == 2
    assert "$ref #/nowhere does not resolve" in capsys.readouterr().err


def test_cli_list_rules_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list-rules"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{len(CATALOGUE)} rules")
    assert "security-requirement-added" in out
    assert "response-error-status-removed" in out
    assert cli.main(["--list-rules", "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rules] == [r.id for r in CATALOGUE]
    by_id = {r["id"]: r for r in rules}
    assert by_id["request-enum-narrowed"] == {
        "id": "request-enum-narrowed",
        "family": "schema",
        "direction": "request",
        "severity": "breaking",
        "detects": get_rule("request-enum-narrowed").detects,
        "pairs": ["16_request_enum_narrowed"],
    }


def test_json_report_matches_its_documented_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every field of --format json is described in the report schema (additionalProperties
    false everywhere), including required_bump: none for identical documents."""
    import jsonschema

    assert cli.main(["--report-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == spec_diff.REPORT_SCHEMA
    assert "none" in schema["properties"]["required_bump"]["enum"]
    for stem in ("request_enum_narrowed", "46_identical", "response_status_removed"):
        old, new = case_files(tmp_path, stem)
        cli.main([str(old), str(new), "--format", "json"])
        report = json.loads(capsys.readouterr().out)
        jsonschema.validate(report, schema)
    assert report["required_bump"] == "minor"
    old, new = case_files(tmp_path, "46_identical")
    assert cli.main([str(old), str(new), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["required_bump"] == "none" and report["changes"] == []


def test_fingerprints_depend_on_rule_and_path_only(tmp_path: Path) -> None:
    old, new, _ = load_case(next(p for p in CASES if "request_enum_narrowed" in p.stem))
    [change] = spec_diff.diff_specs(old, new)
    reworded = spec_diff.Change(change.rule, change.severity, change.path, "other words")
    assert reworded.fingerprint == change.fingerprint
    moved = spec_diff.Change(change.rule, change.severity, change.path + ".x", change.message)
    assert moved.fingerprint != change.fingerprint
    assert len(change.fingerprint) == 16
    # the same finding on a later edit of the document keeps its fingerprint
    new["info"]["description"] = "reworded"
    again = [c for c in spec_diff.diff_specs(old, new) if c.rule == change.rule]
    assert [c.fingerprint for c in again] == [change.fingerprint]


def _policy(tmp: Path, data: Any) -> Path:
    path = tmp / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_policy_ignore_entry_accepts_a_change_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = case_files(tmp_path, "response_enum_widened")
    cli.main([str(old), str(new), "--format", "json"])
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert len(changes) == 2  # the JSON answer and the stream chunk
    reason = "clients must accept unknown finish reasons"
    entries = [{"rule": c["rule"], "path": c["path"], "reason": reason} for c in changes]
    stale = {"rule": "path-removed", "path": "$.paths['/gone']", "reason": "stale"}
    policy = _policy(tmp_path, {"ignore": [*entries[:1], stale]})
    # one place accepted, the other still breaking
    assert cli.main([str(old), str(new), "--policy", str(policy), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["changes"] == [changes[1]]
    [ignored] = report["ignored"]
    assert ignored["fingerprint"] == changes[0]["fingerprint"]
    assert ignored["reason"] == reason
    assert report["counts"]["ignored"] == 1
    assert report["unused_ignores"] == [stale]
    policy = _policy(tmp_path, {"ignore": entries})
    assert cli.main([str(old), str(new), "--policy", str(policy), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changes"] == [] and report["breaking"] is False
    assert report["required_bump"] == "none"
    assert report["unused_ignores"] == []
    policy = _policy(tmp_path, {"ignore": [*entries, stale]})
    assert cli.main([str(old), str(new), "--policy", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "IGNORED by policy (2)" in out
    assert "accepted: clients must accept unknown finish reasons" in out
    assert "warning: ignore entry matched nothing: path-removed" in out


def test_severity_overrides_from_flag_and_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = case_files(tmp_path, "61_component_renamed")
    assert cli.main([str(old), str(new), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["required_bump"] == "patch"
    args = [str(old), str(new), "--format", "json"]
    assert cli.main([*args, "--severity", "component-schema-renamed=breaking"]) == 1
    report = json.loads(capsys.readouterr().out)
    [change] = report["changes"]
    assert change["severity"] == "breaking"
    assert change["default_severity"] == "info"
    assert report["required_bump"] == "major"
    policy = _policy(tmp_path, {"severity": {"component-schema-renamed": "non-breaking"}})
    assert cli.main([*args, "--policy", str(policy)]) == 0
    assert json.loads(capsys.readouterr().out)["required_bump"] == "minor"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ignore": [{"rule": "path-removed", "path": "$.paths['/x']"}]}, "'reason' is required"),
        (
            {"ignore": [{"rule": "path-removed", "path": "$.x", "reason": "  "}]},
            "'reason' is required",
        ),
        ({"ignore": [{"rule": "no-such-rule", "path": "$", "reason": "r"}]}, "unknown rule"),
        ({"ignore": [{"rule": "path-removed", "path": "x", "reason": "r"}]}, "'path' must be"),
        ({"severity": {"path-removed": "fatal"}}, "severity 'fatal' is not one of"),
        ({"ignores": []}, "unknown key(s) ignores"),
        (["a list"], "expected a mapping"),
    ],
)
def test_bad_policy_is_a_clear_error_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any, message: str
) -> None:
    old, new = case_files(tmp_path, "request_enum_narrowed")
    policy = _policy(tmp_path, data)
    assert cli.main([str(old), str(new), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --policy {policy}")
    assert message in err
    assert "Traceback" not in err


def test_bad_severity_flag_and_missing_policy_name_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = case_files(tmp_path, "request_enum_narrowed")
    assert cli.main([str(old), str(new), "--severity", "path-removed"]) == 2
    assert "--severity 'path-removed': expected RULE=LEVEL" in capsys.readouterr().err
    assert cli.main([str(old), str(new), "--severity", "nope=info"]) == 2
    assert "unknown rule 'nope'" in capsys.readouterr().err
    assert cli.main([str(old), str(new), "--policy", str(tmp_path / "missing.yaml")]) == 2
    assert "--policy: cannot read" in capsys.readouterr().err


def test_errors_are_json_with_format_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    assert cli.main([str(missing), str(ROOT / "openapi.yaml"), "--format", "json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["tool"] == "chat-text-spec-diff"
    assert error["error"]["exit_code"] == 2
    assert f"cannot read {missing}" in error["error"]["message"]
    # a usage error too, before the arguments are even understood
    assert cli.main(["--format=json", "--no-such-flag"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert "--no-such-flag" in error["error"]["message"]
    assert cli.main(["--format", "json"]) == 2
    assert "give OLD [NEW] files" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_usage_errors_in_text_mode_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--format", "yaml", "a.yaml"]) == 2
    err = capsys.readouterr().err
    assert "usage: chat-text-spec-diff" in err
    assert "error: argument --format: invalid choice: 'yaml'" in err
    assert cli.main(["--list-rules", "--format", "junit"]) == 2
    assert "--list-rules prints --format text or json" in capsys.readouterr().err


def test_markdown_report_for_a_pr_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = case_files(tmp_path, "29_security_requirement_changed")
    assert cli.main([str(old), str(new), "--format", "markdown", "--gate"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"### OpenAPI changes: `{old}` (1.0.0)")
    assert "**1 breaking, 2 non-breaking, 0 info, 0 ignored**" in out
    assert "#### BREAKING (1)" in out
    assert (
        "| `security-requirement-removed` | `$.paths['/inference/chat_text'].post.security`" in out
    )
    assert "❌ gate: FAIL: bump info.version to at least 2.0.0" in out


def test_junit_report_fails_on_breaking_changes(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    old, new = case_files(tmp_path, "29_security_requirement_changed")
    out = tmp_path / "spec-diff.xml"
    assert cli.main([str(old), str(new), "--format", "junit", "-o", str(out), "--gate"]) == 1
    suite = ET.parse(out).getroot()  # noqa: S314 - our own output
    assert suite.tag == "testsuite"
    assert suite.get("name") == "chat-text-spec-diff"
    assert (suite.get("tests"), suite.get("failures")) == ("4", "2")
    failed = {c.get("classname") for c in suite if c.find("failure") is not None}
    assert failed == {"security-requirement-removed", "semver"}
    old, new = case_files(tmp_path, "46_identical")
    assert cli.main([str(old), str(new), "--format", "junit", "-o", str(out)]) == 0
    suite = ET.parse(out).getroot()  # noqa: S314 - our own output
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")


def test_output_to_an_unwritable_place_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = case_files(tmp_path, "46_identical")
    target = tmp_path / "no" / "such" / "dir" / "r.json"
    assert cli.main([str(old), str(new), "-o", str(target)]) == 2
    assert "error: --output: cannot write" in capsys.readouterr().err


def test_console_scripts_are_installed() -> None:
    """The commands a user runs: installed next to this interpreter, runnable from any
    folder (here: a temporary one, with --help)."""
    bindir = Path(sys.executable).parent
    for name in ("chat-text-spec-diff", "chat-text-regenerate"):
        exe = bindir / name
        assert exe.exists(), f"{name} is not installed: pip install -e ."
        proc = subprocess.run(
            [str(exe), "--help"], capture_output=True, text=True, check=False, cwd=bindir
        )
        assert proc.returncode == 0 and f"usage: {name}" in proc.stdout


# --------------------------------------------------------------------------- git


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(tmp_path, "init", "-q", "-b", "main")
    write(tmp_path, "openapi.yaml", BASE)
    git(tmp_path, "add", "openapi.yaml")
    git(tmp_path, "commit", "-q", "-m", "v1")
    return tmp_path


def test_git_ref_against_working_tree(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, new, _ = load_case(next(p for p in CASES if "request_default_changed" in p.stem))
    write(repo, "openapi.yaml", new)
    assert cli.main(["--base-ref", "HEAD", str(repo / "openapi.yaml")]) == 1
    out = capsys.readouterr().out
    assert "HEAD:openapi.yaml (1.0.0)" in out
    assert "request-default-changed" in out
    assert "default 200 -> 256" in out


def test_git_unknown_ref_is_a_clear_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--base-ref", "no-such-ref", str(repo / "openapi.yaml")]) == 2
    assert "git show no-such-ref:openapi.yaml failed" in capsys.readouterr().err


def test_auto_base_without_tag_or_merge_base_passes_with_a_message(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, new, _ = load_case(next(p for p in CASES if "request_field_removed" in p.stem))
    write(repo, "openapi.yaml", new)
    assert cli.main(["--auto-base", "--gate", str(repo / "openapi.yaml")]) == 0
    assert "nothing to compare" in capsys.readouterr().out


def test_auto_base_uses_the_last_release_tag(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "tag", "v1.0.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "not a release")
    git(repo, "tag", "nightly")  # not a version: ignored
    _, new, _ = load_case(next(p for p in CASES if "request_field_removed" in p.stem))
    write(repo, "openapi.yaml", new)
    git(repo, "commit", "-q", "-am", "drop stream")
    spec = str(repo / "openapi.yaml")
    assert cli.main(["--auto-base", "--gate", spec]) == 1
    captured = capsys.readouterr()
    assert "the last release tag v1.0.0" in captured.err
    assert "gate: FAIL" in captured.out
    new["info"]["version"] = "2.0.0"
    write(repo, "openapi.yaml", new)
    assert cli.main(["--auto-base", "--gate", spec]) == 0


def test_auto_base_without_tags_uses_the_previous_version(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(repo / "openapi.yaml")
    _, new, _ = load_case(next(p for p in CASES if "request_field_removed" in p.stem))
    # A breaking change released with only a minor bump: the gate compares against the last
    # commit of 1.0.0 and fails, even once the change is committed.
    new["info"]["version"] = "1.1.0"
    write(repo, "openapi.yaml", new)
    git(repo, "commit", "-q", "-am", "drop stream, 1.1.0")
    assert cli.main(["--auto-base", "--gate", spec]) == 1
    captured = capsys.readouterr()
    assert "the last commit of version 1.0.0" in captured.err
    assert "gate: FAIL" in captured.out
    new["info"]["version"] = "2.0.0"
    write(repo, "openapi.yaml", new)
    git(repo, "commit", "-q", "-am", "2.0.0")
    assert cli.main(["--auto-base", "--gate", spec]) == 0


def test_auto_base_uses_the_merge_base_with_origin_main(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    clone = tmp_path_factory.mktemp("clone") / "c"
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", "-b", "feature")
    _, new, _ = load_case(next(p for p in CASES if "request_optional_field_added" in p.stem))
    write(clone, "openapi.yaml", new)
    git(clone, "commit", "-q", "-am", "add top_p")
    assert cli.main(["--auto-base", "--gate", str(clone / "openapi.yaml")]) == 1
    captured = capsys.readouterr()
    assert "the merge base with origin/main" in captured.err
    assert "needs a minor bump (proposed info.version: 1.1.0)" in captured.out


def test_changelog_for_regenerate(repo: Path) -> None:
    _, new, _ = load_case(next(p for p in CASES if "event_stream_removed" in p.stem))
    write(repo, "openapi.yaml", new)
    text = spec_diff.changelog("HEAD", repo / "openapi.yaml")
    assert "media-type-removed" in text
    assert "text/event-stream" in text
    assert "not available" in spec_diff.changelog("HEAD", repo / "missing.yaml")


# --------------------------------------------------------------------------- versions


def test_generated_package_version_follows_info_version() -> None:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    generated = tomllib.loads((ROOT / "generated" / "python" / "pyproject.toml").read_text())
    assert generated["project"]["version"] == spec["info"]["version"]


def test_project_version_pattern_reads_info_version() -> None:
    """pyproject's hatch version pattern must find exactly info.version in openapi.yaml."""
    import re

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pattern = config["tool"]["hatch"]["version"]["pattern"]
    spec_text = (ROOT / "openapi.yaml").read_text()
    found = re.findall(pattern, spec_text)
    assert found == [yaml.safe_load(spec_text)["info"]["version"]]


def test_regenerate_prints_the_client_facing_changelog(repo: Path) -> None:
    _, new, _ = load_case(next(p for p in CASES if "response_status_removed" in p.stem))
    write(repo, "openapi.yaml", new)
    text = regenerate.client_changelog(repo / "openapi.yaml")
    assert text.startswith("client-facing changelog (git HEAD -> working tree):")
    assert (
        "response-error-status-removed: $.paths['/inference/chat_text'].post.responses['429']"
        in text
    )
