"""``chat-text-spec-lint``: openapi-spec-validator on each file, every problem named by file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chat_text_spec import lint

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"


def broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = SPEC.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_projects_spec_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert lint.main([str(SPEC)]) == 0
    assert capsys.readouterr().out == f"{SPEC}: OK\n"


def test_every_file_is_checked_and_every_problem_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_type = broken_copy(
        tmp_path, "a.yaml", "    Role:\n      type: string\n", "    Role:\n      type: strng\n"
    )
    bad_version = broken_copy(tmp_path, "b.yaml", "  version: ", "  version: 7\n  x-was: ")
    assert lint.main([str(bad_type), str(SPEC), str(bad_version)]) == 1
    out = capsys.readouterr().out
    assert f"{bad_type}: 1 problem (openapi-spec-validator)" in out
    assert f"{bad_type}: 'strng' is not valid under any of the given schemas" in out
    assert f"{SPEC}: OK" in out  # the file after a bad one is still checked
    assert f"{bad_version}: 7 is not of type " in out


def test_documents_that_are_not_openapi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("name: not a spec\n")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    dangling = tmp_path / "ref.yaml"
    dangling.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200': {$ref: 'other.yaml#/nope'}\n"
    )
    files = [str(tmp_path / n) for n in ("config.yaml", "list.yaml", "ref.yaml")]
    assert lint.main(files) == 1
    out = capsys.readouterr().out
    assert "config.yaml: not an OpenAPI document (no 'openapi' or 'swagger' version" in out
    assert "list.yaml: not an OpenAPI document (the top level is not a mapping)" in out
    assert "ref.yaml: Unresolvable: other.yaml#/nope" in out


def test_unreadable_files_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("openapi: 3.1.0\ninfo: [\n")
    missing = tmp_path / "missing.yaml"
    assert lint.main([str(tmp_path / "broken.yaml"), str(missing), str(SPEC)]) == 2
    captured = capsys.readouterr()
    assert f"error: {tmp_path / 'broken.yaml'}: not valid YAML or JSON" in captured.err
    assert f'in "{tmp_path / "broken.yaml"}", line 3' in captured.err
    assert f"error: {missing}: no such file" in captured.err
    assert f"{SPEC}: OK" in captured.out


def test_without_the_validator_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "openapi_spec_validator.readers", None)
    assert lint.main([str(SPEC)]) == 2
    assert "pip install 'chat-text[spec-lint]'" in capsys.readouterr().err


def test_no_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lint.main([])
    assert exit_info.value.code == 2
    assert "FILE" in capsys.readouterr().err
