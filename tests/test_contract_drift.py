"""The drift check: regenerating is byte-reproducible, and any difference is caught and named."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_regenerate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "scripts" / "regenerate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["regenerate"] = module
    spec.loader.exec_module(module)
    return module


regenerate = _load_regenerate()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh generation from the checked-in spec, shared by the tests below."""
    dest = tmp_path_factory.mktemp("gen") / "generated"
    regenerate.generate(regenerate.SPEC, regenerate.CONFIG, dest)
    return dest


def test_checked_in_client_matches_the_spec(fresh: Path) -> None:
    assert regenerate.compare_trees(fresh, regenerate.GENERATED) == []


def test_regenerating_twice_gives_identical_bytes(fresh: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    regenerate.generate(regenerate.SPEC, regenerate.CONFIG, again)
    files = regenerate.tree_files(fresh)
    assert files == regenerate.tree_files(again)
    for name in files:
        assert (fresh / name).read_bytes() == (again / name).read_bytes(), name


def test_spec_change_without_regeneration_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "openapi.yaml"
    text = regenerate.SPEC.read_text()
    marker = "          description: The text of the message.\n"
    assert marker in text
    spec.write_text(text.replace(marker, "          description: The words of the message.\n", 1))
    code = regenerate.main(["--check", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 1
    assert "differs: generated/chat_text_client/models/message.py" in err
    assert "The words of the message." in err


def test_hand_edited_or_stale_files_are_drift(
    fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "generated"
    shutil.copytree(fresh, copy)
    edited = copy / "chat_text_client" / "models" / "usage.py"
    edited.write_text(edited.read_text() + "# tweak\n")
    (copy / "chat_text_client" / "stale.py").write_text("")
    (copy / "chat_text_client" / "types.py").unlink()

    code = regenerate.main(["--check", "--output", str(copy)])
    err = capsys.readouterr().err
    assert code == 1
    assert "differs: generated/chat_text_client/models/usage.py" in err
    assert "not produced by the generator: generated/chat_text_client/stale.py" in err
    assert "missing from generated/: chat_text_client/types.py" in err


def test_bad_arguments_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert regenerate.main(["--check", "--spec", str(tmp_path / "nope.yaml")]) == 2
    assert "--spec" in capsys.readouterr().err


def test_invalid_spec_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {}\n")
    assert regenerate.main(["--check", "--spec", str(spec)]) == 2
    assert "openapi-python-client failed" in capsys.readouterr().err
