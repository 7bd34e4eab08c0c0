"""The drift check (``chat-text-regenerate --check``): every language's folder of generated/
(python, typescript, go) matches the spec, any difference is caught and named, git-ignored build
output is not drift, and a missing generator is a clear message.

Regenerating is byte-reproducible: generated/ was written by an earlier run of the same pinned
generators (on another day, in another temporary folder), and every language's fresh output here
must equal it byte for byte (``test_checked_in_client_matches_the_spec``): a generator whose
output changed from one run to the next would fail that test."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_text_spec import regenerate

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
CONFIG = ROOT / "generator-config.yml"
GENERATED = ROOT / "generated"


# openapi-typescript comes from node_modules/ (installed, or waited for, by the fixture)
pytestmark = pytest.mark.usefixtures("node_tools")

LANGUAGES = ["python", "typescript", "go"]
REAL_LANGUAGES = dict(regenerate.LANGUAGES)


@pytest.fixture(scope="module", autouse=True)
def generators_run_once_per_input(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Each generator runs once per (language, spec, configs) in this module: a later call with
    the same inputs gets a copy of the first output. The drift logic under test (comparison,
    naming, git-ignored files) is unchanged; that a generator's output does not change from
    one run to the next is what the first, real run shows against generated/."""
    store = tmp_path_factory.mktemp("generated-once")
    cached: dict[str, Path] = {}

    def once(language: regenerate.Language) -> regenerate.Language:
        def run(spec: Path, config: Path, dest: Path) -> None:
            inputs = [spec, config, config.parent / regenerate.GO_CONFIG.name]
            digest = hashlib.sha256(language.name.encode())
            for path in inputs:
                digest.update(path.read_bytes() if path.is_file() else b"-")
            key = digest.hexdigest()
            if key not in cached:
                language.run(spec, config, store / key)
                cached[key] = store / key
            shutil.copytree(cached[key], dest)

        return dataclasses.replace(language, run=run)

    with pytest.MonkeyPatch.context() as mp:
        for name, language in REAL_LANGUAGES.items():
            mp.setitem(regenerate.LANGUAGES, name, once(language))
        yield


def _real_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, language in REAL_LANGUAGES.items():
        monkeypatch.setitem(regenerate.LANGUAGES, name, language)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh generation of every language from the checked-in spec, shared below."""
    dest = tmp_path_factory.mktemp("gen") / "generated"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # openapi-typescript from the project's node_modules
        regenerate.generate(SPEC, CONFIG, dest)
    return dest


def test_generated_holds_one_folder_per_language() -> None:
    assert list(regenerate.LANGUAGES) == LANGUAGES
    assert sorted(p.name for p in GENERATED.iterdir()) == sorted(LANGUAGES)
    assert (GENERATED / "python" / "chat_text_client" / "__init__.py").is_file()
    assert (GENERATED / "typescript" / "chat-text.d.ts").is_file()
    assert (GENERATED / "go" / "api_inference.go").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
def test_checked_in_client_matches_the_spec(fresh: Path, language: str) -> None:
    assert regenerate.compare_trees(fresh / language, GENERATED / language, language) == []


def test_defaults_are_the_project_files_in_the_working_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert regenerate.main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "OK: generated matches openapi.yaml (python, typescript, go)" in out


def test_spec_change_without_regeneration_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "openapi.yaml"
    text = SPEC.read_text()
    marker = "          description: The text of the message.\n"
    assert marker in text
    spec.write_text(text.replace(marker, "          description: The words of the message.\n", 1))
    args = ["--check", "--spec", str(spec), "--config", str(CONFIG), "--output", str(GENERATED)]
    monkeypatch.chdir(ROOT)
    code = regenerate.main(args)
    err = capsys.readouterr().err
    assert code == 1
    # every language that carries the description drifts, each named
    assert "differs: generated/python/chat_text_client/models/message.py" in err
    assert "differs: generated/typescript/chat-text.d.ts" in err
    assert "differs: generated/go/model_message.go" in err
    assert "The words of the message." in err
    assert "Run: chat-text-regenerate" in err


def _check(output: Path) -> list[str]:
    return regenerate.check(SPEC, CONFIG, output, ["python"])


def test_hand_edited_or_stale_files_are_drift(
    fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "generated"
    shutil.copytree(fresh, copy)
    client = copy / "python" / "chat_text_client"
    edited = client / "models" / "usage.py"
    edited.write_text(edited.read_text() + "# tweak\n")
    (client / "stale.py").write_text("")
    (client / "types.py").unlink()
    (copy / "go" / "model_usage.go").write_text("package chattext\n")
    (copy / "typescript" / "extra.ts").write_text("")
    (copy / "rust").mkdir()

    monkeypatch.chdir(ROOT)
    code = regenerate.main(
        ["--check", "--spec", str(SPEC), "--config", str(CONFIG), "--output", str(copy)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "differs: generated/python/chat_text_client/models/usage.py" in err
    assert "not produced by the generator: generated/python/chat_text_client/stale.py" in err
    assert "missing from generated/python/: chat_text_client/types.py" in err
    assert "differs: generated/go/model_usage.go" in err
    assert "not produced by the generator: generated/typescript/extra.ts" in err
    assert "not produced by any generator: generated/rust" in err


def test_git_ignored_files_in_the_output_are_not_drift(fresh: Path, tmp_path: Path) -> None:
    """An editable install writes build output (``.pdm-build/``) into the generated folder:
    what git ignores there is not the generator's output and not drift; an untracked file git
    does not ignore still is."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    copy = repo / "generated"
    shutil.copytree(fresh, copy)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("generated/python/.pdm-build/\n")
    build = copy / "python" / ".pdm-build"
    build.mkdir()
    (build / "chat_text_client-1.0.0.pth").write_text(str(copy))
    assert _check(copy) == []
    (copy / "python" / "chat_text_client" / "notes.py").write_text("")
    assert _check(copy) == [
        "not produced by the generator: generated/python/chat_text_client/notes.py"
    ]


def test_the_project_ignores_pdm_build_output_in_generated() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    proc = subprocess.run(
        ["git", "check-ignore", "-q", "generated/python/.pdm-build/x.pth"], cwd=ROOT, check=False
    )
    assert proc.returncode == 0


def test_bad_arguments_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert regenerate.main(["--check", "--spec", str(tmp_path / "nope.yaml")]) == 2
    assert "--spec" in capsys.readouterr().err
    args = ["--check", "--spec", str(SPEC), "--config", str(tmp_path / "nope.yml")]
    assert regenerate.main(args) == 2
    assert "error: --config: no such file" in capsys.readouterr().err
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    args = ["--spec", str(SPEC), "--config", str(CONFIG), "--output", str(not_a_folder)]
    assert regenerate.main(args) == 2
    assert "error: --output: not a folder" in capsys.readouterr().err


def test_invalid_spec_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {}\n")
    args = ["--check", "--spec", str(spec), "--config", str(CONFIG), "--language", "python"]
    assert regenerate.main(args) == 2
    assert "openapi-python-client failed" in capsys.readouterr().err


def test_missing_generator_is_a_clear_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """chat-text-regenerate is installed with the package, the generator only with the
    spec-tools extra: without it the command says what to install."""
    _real_generators(monkeypatch)
    monkeypatch.setattr(regenerate, "_bin_dir", lambda: tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    code = regenerate.main(["--check", "--spec", str(SPEC), "--config", str(CONFIG)])
    err = capsys.readouterr().err
    assert code == 2
    assert "openapi-python-client is not installed" in err
    assert "pip install 'chat-text[spec-tools]'" in err
    assert "Traceback" not in err


def test_missing_typescript_generator_names_npm_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """openapi-typescript comes from the project's node_modules (package.json pins it)."""
    _real_generators(monkeypatch)
    monkeypatch.setattr(regenerate, "_bin_dir", lambda: tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    args = ["--check", "--spec", str(SPEC), "--config", str(CONFIG), "--language", "typescript"]
    args += ["--output", str(GENERATED)]
    assert regenerate.main(args) == 2
    err = capsys.readouterr().err
    assert "openapi-typescript is not installed" in err
    assert "npm ci" in err
