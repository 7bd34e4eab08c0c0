"""Release-ready on a spec change: the TypeScript package's version and each language's
changelog entry follow ``info.version`` and the breaking-change report
(``chat_text_spec.release_files``: ``chat-text-regenerate`` writes them, ``--check`` names what
is out of step), and
``chat-text-release --dry-run`` refuses to build from files out of step. The dry run's builds
themselves run in ``tox -e clients`` (which installs its artifacts in tests/test_examples.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chat_text_spec import regenerate, release, release_files

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SPEC = """openapi: 3.1.0
info: {{title: chat-text, version: {version}}}
paths:
  /inference/chat_text:
    post:
      operationId: chat_text
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [model]
              properties:
                model: {{type: string}}{extra}
      responses:
        '200':
          description: The completion.
          content:
            application/json:
              schema: {{type: object}}
"""
TOP_P = "\n                top_p: {type: number}"


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def _package(version: str) -> str:
    return json.dumps({"name": "chat-text", "version": version}, indent=2) + "\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository at version 1.0.0 with every release file, committed."""
    (tmp_path / "openapi.yaml").write_text(SPEC.format(version="1.0.0", extra=""))
    (tmp_path / "typescript").mkdir()
    (tmp_path / "typescript" / "package.json").write_text(_package("1.0.0"))
    lock = {"name": "chat-text", "version": "1.0.0", "packages": {"": {"version": "1.0.0"}}}
    (tmp_path / "typescript" / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    (tmp_path / "examples" / "typescript").mkdir(parents=True)
    example = {"name": "example", "dependencies": {"chat-text": "^1.0.0"}}
    (tmp_path / "examples" / "typescript" / "package.json").write_text(
        json.dumps(example, indent=2) + "\n"
    )
    (tmp_path / "go").mkdir()
    for changelog in release_files.CHANGELOGS:
        (tmp_path / changelog.path).write_text(f"# {changelog.title}\n\n## 1.0.0\n\nFirst.\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "1.0.0")
    return tmp_path


def _bump(repo: Path) -> Path:
    spec = repo / "openapi.yaml"
    spec.write_text(SPEC.format(version="1.1.0", extra=TOP_P))
    return spec


def test_a_spec_change_brings_versions_and_changelogs_along(repo: Path) -> None:
    spec = _bump(repo)
    assert sorted(release_files.problems(repo, spec)) == [
        "no entry for 1.1.0: CHANGELOG.md",
        "no entry for 1.1.0: go/CHANGELOG.md",
        "no entry for 1.1.0: typescript/CHANGELOG.md",
        "not at version 1.1.0: examples/typescript/package.json",
        "not at version 1.1.0: typescript/package-lock.json",
        "not at version 1.1.0: typescript/package.json",
    ]
    lines = release_files.sync(repo, spec)
    assert len(lines) == 6, lines
    assert json.loads((repo / "typescript" / "package.json").read_text())["version"] == "1.1.0"
    lock = json.loads((repo / "typescript" / "package-lock.json").read_text())
    assert lock["version"] == lock["packages"][""]["version"] == "1.1.0"
    example = json.loads((repo / "examples" / "typescript" / "package.json").read_text())
    assert example["dependencies"]["chat-text"] == "^1.1.0"
    installs = {
        "python": 'pip install "chat-text==1.1.0"',
        "typescript": "npm install chat-text@1.1.0",
        "go": "go get github.com/chat-text/chat-text@v1.1.0",
    }
    for changelog in release_files.CHANGELOGS:
        text = (repo / changelog.path).read_text()
        entry = text.split("## 1.1.0\n", 1)[1].split("## 1.0.0", 1)[0]
        assert "API 1.0.0 -> 1.1.0: a minor change" in entry
        assert "- new optional request field 'top_p' (`request-optional-property-added`)" in entry
        assert f"Install: `{installs[changelog.language]}`" in entry
        assert text.index("## 1.1.0") < text.index("## 1.0.0"), "the newest entry comes first"
    assert release_files.problems(repo, spec) == []
    # idempotent: a second run changes nothing
    before = {c.path: (repo / c.path).read_text() for c in release_files.CHANGELOGS}
    assert release_files.sync(repo, spec) == []
    assert before == {c.path: (repo / c.path).read_text() for c in release_files.CHANGELOGS}


def test_a_breaking_change_is_listed_as_breaking(repo: Path) -> None:
    _git(repo, "tag", "v1.0.0")
    spec = repo / "openapi.yaml"
    text = SPEC.format(version="2.0.0", extra="").replace("required: [model]", "required: [x]")
    spec.write_text(text)
    release_files.sync(repo, spec)
    entry = (repo / "typescript" / "CHANGELOG.md").read_text().split("## 2.0.0\n", 1)[1]
    assert "a major change. Compared with the release tag v1.0.0." in entry
    assert "Breaking:" in entry


def test_a_released_version_keeps_its_entries(repo: Path) -> None:
    spec = _bump(repo)
    release_files.sync(repo, spec)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "1.1.0")
    _git(repo, "tag", "v1.1.0")
    path = repo / "go" / "CHANGELOG.md"
    edited = path.read_text().replace("a minor change", "a minor change, edited by hand")
    path.write_text(edited)
    assert release_files.sync(repo, spec) == [
        "changelogs: 1.1.0 is released (tag v1.1.0): its entries are kept"
    ]
    assert path.read_text() == edited


def test_without_an_earlier_version_no_entry_is_made_up(repo: Path) -> None:
    (repo / "typescript" / "CHANGELOG.md").write_text("# Changelog\n")
    _git(repo, "commit", "-qam", "still 1.0.0")
    notes = release_files.sync(repo, repo / "openapi.yaml")
    assert notes == ["changelogs: no earlier version in the git history to compare with"]
    assert "## 1.0.0" not in (repo / "typescript" / "CHANGELOG.md").read_text()
    assert release_files.problems(repo, repo / "openapi.yaml") == [
        "no entry for 1.0.0: typescript/CHANGELOG.md"
    ]


def test_a_repository_that_only_keeps_a_spec_is_left_alone(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text(SPEC.format(version="1.0.0", extra=""))
    assert release_files.sync(tmp_path, spec) == []
    assert release_files.problems(tmp_path, spec) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["openapi.yaml"]


def test_regenerate_writes_the_release_files_and_check_names_them(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _bump(repo)
    config = ROOT / "generator-config.yml"
    (repo / "generated").mkdir()
    monkeypatch.setattr(regenerate, "check", lambda *args: [])
    args = ["--spec", str(spec), "--config", str(config), "--output", str(repo / "generated")]
    assert regenerate.main(["--check", *args]) == 1
    err = capsys.readouterr().err
    assert "not at version 1.1.0: typescript/package.json" in err
    assert "no entry for 1.1.0: go/CHANGELOG.md" in err
    monkeypatch.setattr(regenerate, "regenerate", lambda *args: None)
    monkeypatch.setattr(regenerate, "client_changelog", lambda spec: "")
    assert regenerate.main(args) == 0
    out = capsys.readouterr().out
    assert "release files: version 1.1.0: typescript/package.json" in out
    assert "release files: changelog entry 1.1.0: typescript/CHANGELOG.md" in out
    assert regenerate.main(["--check", *args]) == 0


def test_the_project_is_in_step_with_its_spec() -> None:
    spec = ROOT / "openapi.yaml"
    version = release_files.spec_version(spec)
    assert release_files.problems(ROOT, spec) == []
    package = json.loads((ROOT / "typescript" / "package.json").read_text())
    assert package["version"] == version
    assert package["name"] == "chat-text"
    assert not package.get("dependencies"), "the npm package takes no runtime dependency"
    root_tools = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    assert package["devDependencies"]["typescript"] == root_tools["typescript"]


@pytest.mark.parametrize(
    ("module", "version", "problem"),
    [
        ("github.com/chat-text/chat-text", "1.4.0", None),
        ("github.com/chat-text/chat-text", "2.0.0", "needs the suffix /v2"),
        ("github.com/chat-text/chat-text/v2", "2.1.0", None),
        ("github.com/chat-text/chat-text/v2", "1.9.0", "needs no /vN suffix"),
    ],
)
def test_the_go_module_path_must_fit_the_major_version(
    tmp_path: Path, module: str, version: str, problem: str | None
) -> None:
    (tmp_path / "go.mod").write_text(f"module {module}\n\ngo 1.19\n")
    if problem is None:
        assert release._go_module_path(tmp_path, version) == module
    else:
        with pytest.raises(release.ReleaseError, match=problem):
            release._go_module_path(tmp_path, version)


def test_the_dry_run_refuses_files_out_of_step_and_bad_arguments(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _bump(repo)
    assert release.main(["--dry-run", "--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "run chat-text-regenerate" in err and "typescript/package.json" in err
    assert "Traceback" not in err
    assert release.main(["--dry-run", "--root", str(repo / "go")]) == 2
    assert "no openapi.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        release.main(["--root", str(repo)])
    assert exit_info.value.code == 2
    assert "--dry-run" in capsys.readouterr().err
