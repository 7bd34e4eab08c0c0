"""The pre-commit hooks users add to their own repositories (``.pre-commit-hooks.yaml``).

The static checks (the manifest is valid, every hook runs a console script of this package,
the pinned hook dependencies are this package's pins) run in the default test run. The real
thing runs in ``tox -e hooks`` (``CHAT_TEXT_HOOKS=1``): a temporary user repository that keeps
``openapi.yaml`` and ``generated/python`` and a ``.pre-commit-config.yaml`` naming this
repository; ``pre-commit try-repo`` once (it builds the hooks' environment in a temporary store
of its own, every time), then ``pre-commit run`` for each hook's failing and passing cases (one
environment, built on the first run and reused). The env has pre-commit-uv, so uv builds those
environments; ``DISABLE_PRE_COMMIT_UV_PATCH=1`` makes pre-commit use pip, as it does for a user
without pre-commit-uv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
HOOK_IDS = ["chat-text-spec-lint", "chat-text-breaking-change-gate", "chat-text-drift"]


def manifest() -> list[dict[str, Any]]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    return hooks


def hook(hook_id: str) -> dict[str, Any]:
    [found] = [h for h in manifest() if h["id"] == hook_id]
    return found


# --- the manifest (default run) ------------------------------------------------------------


def test_manifest_declares_the_three_hooks_as_python_console_scripts() -> None:
    hooks = manifest()
    assert [h["id"] for h in hooks] == HOOK_IDS
    scripts = PYPROJECT["project"]["scripts"]
    for h in hooks:
        assert h["language"] == "python"
        command = h["entry"].split()[0]
        assert command in scripts, f"{h['id']}: {command} is not a console script of chat-text"
    assert hook("chat-text-spec-lint")["pass_filenames"] is True
    assert hook("chat-text-breaking-change-gate")["entry"] == "chat-text-spec-diff --gate"
    assert hook("chat-text-breaking-change-gate")["pass_filenames"] is True
    assert hook("chat-text-drift")["entry"] == "chat-text-regenerate --check"
    assert hook("chat-text-drift")["pass_filenames"] is False


def test_hook_file_patterns_match_what_each_hook_reads() -> None:
    lint = re.compile(hook("chat-text-spec-lint")["files"])
    gate = re.compile(hook("chat-text-breaking-change-gate")["files"])
    drift = re.compile(hook("chat-text-drift")["files"])
    for path in ("openapi.yaml", "api/openapi.yml", "openapi.json"):
        assert lint.search(path) and gate.search(path), path
    assert lint.search("specs/openapi-v2.yaml")
    for path in ("README.md", "src/app.py", "notes/api.yaml", "myopenapi.yaml"):
        assert not lint.search(path) and not gate.search(path), path
    for path in ("openapi.yaml", "generator-config.yml", "generator-config.go.yml"):
        assert drift.search(path), path
    assert drift.search("generated/python/chat_text_client/client.py")
    for path in ("api/openapi.yaml", "src/generated/x.py", "README.md"):
        assert not drift.search(path), path


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", requirement)
        if match:
            pins[match.group(1).lower()] = match.group(3)
    return pins


def test_hook_dependencies_are_the_packages_pins() -> None:
    """One environment for the three hooks (identical dependencies), pinned exactly as the
    extras pin the same tools: the hook generates what `chat-text-regenerate` generates."""
    deps = [h["additional_dependencies"] for h in manifest()]
    assert all(d == deps[0] for d in deps)
    extras = PYPROJECT["project"]["optional-dependencies"]
    package_pins = _pins(extras["spec-tools"]) | _pins(extras["spec-lint"])
    hook_pins = _pins(deps[0])
    assert len(hook_pins) == len(deps[0]), "every hook dependency is pinned with =="
    assert set(hook_pins) == {"openapi-spec-validator", "openapi-python-client", "ruff"}
    assert {name: package_pins.get(name) for name in hook_pins} == hook_pins


def test_manifest_is_valid_for_pre_commit() -> None:
    pytest.importorskip("pre_commit", reason="pre-commit is installed by tox -e hooks")
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- pre-commit try-repo in a user's repository (tox -e hooks) -----------------------------

needs_hooks_env = pytest.mark.skipif(
    not os.environ.get("CHAT_TEXT_HOOKS"),
    reason="builds the hooks' environment twice: set CHAT_TEXT_HOOKS=1 (tox -e hooks)",
)


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return proc.stdout


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository as pre-commit would clone it: the working tree's files (uncommitted
    edits and new files included, ignored ones not) committed once, so that every try-repo
    below reuses one hook environment (a dirty tree would get a new shadow copy each time)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    pytest.importorskip("pre_commit")
    repo = tmp_path_factory.mktemp("hook-repo")
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hooks under test")
    return repo


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user_repo(tmp_path: Path, hook_repo: Path) -> Path:
    """A user's repository: the spec, the generator config and the Python client generated
    from it, and a .pre-commit-config.yaml using the three hooks, committed and tagged as the
    release of its info.version."""
    repo = tmp_path / "user"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name in ("openapi.yaml", "generator-config.yml"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(
        ROOT / "generated" / "python",
        repo / "generated" / "python",
        ignore=shutil.ignore_patterns("__pycache__", ".pdm-build", "*.egg-info"),
    )
    (repo / "README.md").write_text("# a user's API\n")
    config = {
        "repos": [
            {
                "repo": str(hook_repo),
                "rev": git(hook_repo, "rev-parse", "HEAD").strip(),
                "hooks": [{"id": hook_id} for hook_id in HOOK_IDS],
            }
        ]
    }
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the API and its client")
    git(repo, "tag", f"v{spec_version(repo)}")
    return repo


def spec_version(repo: Path) -> str:
    version = yaml.safe_load((repo / "openapi.yaml").read_text())["info"]["version"]
    assert isinstance(version, str)
    return version


def edit_spec(repo: Path, old: str, new: str) -> None:
    spec = repo / "openapi.yaml"
    text = spec.read_text()
    assert text.count(old) == 1, old
    spec.write_text(text.replace(old, new))


PreCommit = Callable[..., tuple[int, str]]


@pytest.fixture
def pre_commit(pre_commit_home: Path, user_repo: Path) -> PreCommit:
    """``pre_commit(*args)``: ``python -m pre_commit *args`` in the user repository with one
    PRE_COMMIT_HOME for the module (``run`` builds the hooks' environment once and reuses it;
    ``try-repo`` always builds its own); (exit status, output)."""

    def run(*args: str) -> tuple[int, str]:
        env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "PRE_COMMIT_COLOR": "never"}
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", *args],
            cwd=user_repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        output = proc.stdout + proc.stderr
        assert "An unexpected error has occurred" not in output, output
        return proc.returncode, output

    return run


def passed(hook_name: str, output: str) -> bool:
    return re.search(rf"{re.escape(hook_name)}\.+Passed", output) is not None


LINT = "OpenAPI spec lint (openapi-spec-validator)"
GATE = "OpenAPI breaking-change gate (chat-text-spec-diff)"
DRIFT = "generated clients match the spec (chat-text-regenerate --check)"


@needs_hooks_env
def test_try_repo_runs_every_hook(pre_commit: PreCommit, hook_repo: Path) -> None:
    """What a user tries before adding the hooks: all three pass on a consistent repository."""
    code, out = pre_commit("try-repo", str(hook_repo), "--all-files")
    assert code == 0, out
    assert all(passed(name, out) for name in (LINT, GATE, DRIFT)), out
    if _builds_with_uv():
        assert "via pre-commit-uv" in out, out  # the environment was built by uv, not pip


def _builds_with_uv() -> bool:
    try:
        import pre_commit_uv  # noqa: F401
    except ImportError:
        return False
    return "DISABLE_PRE_COMMIT_UV_PATCH" not in os.environ


@needs_hooks_env
def test_spec_lint_hook(pre_commit: PreCommit, user_repo: Path) -> None:
    hook_id = "chat-text-spec-lint"
    code, out = pre_commit("run", hook_id, "--all-files")
    assert code == 0, out
    assert passed(LINT, out), out

    # An invalid schema type: the validator's own message, with the file's name.
    edit_spec(user_repo, "    Role:\n      type: string\n", "    Role:\n      type: strng\n")
    (user_repo / "api").mkdir()
    (user_repo / "api" / "openapi.yaml").write_text("openapi: 3.1.0\ninfo: [\n")
    (user_repo / "notes.yaml").write_text("not: [a spec\n")  # not matched by `files:`
    git(user_repo, "add", "-A")  # --all-files: every file git tracks
    code, out = pre_commit("run", hook_id, "--all-files")
    assert code == 1, out
    assert re.search(rf"{re.escape(LINT)}\.+Failed", out), out
    assert "openapi.yaml: 1 problem (openapi-spec-validator)" in out
    assert "openapi.yaml: 'strng' is not valid under any of the given schemas" in out
    # the second spec is checked too, and named; the file the pattern does not match is not
    assert "error: api/openapi.yaml: not valid YAML or JSON" in out
    assert "notes.yaml" not in out


@needs_hooks_env
def test_breaking_change_gate_hook(pre_commit: PreCommit, user_repo: Path) -> None:
    hook_id = "chat-text-breaking-change-gate"
    version = spec_version(user_repo)
    major = int(version.split(".")[0])

    # A breaking change (fewer messages accepted) staged without a version bump.
    edit_spec(user_repo, "maxItems: 512", "maxItems: 256")
    git(user_repo, "add", "openapi.yaml")
    code, out = pre_commit("run", hook_id)
    assert code == 1, out
    assert f"the last release tag v{version}" in out
    assert "request-bound-narrowed" in out
    assert f"gate: FAIL: bump info.version to at least {major + 1}.0.0" in out

    # The same change with a major bump passes.
    edit_spec(user_repo, f"  version: {version}\n", f"  version: {major + 1}.0.0\n")
    git(user_repo, "add", "openapi.yaml")
    code, out = pre_commit("run", hook_id)
    assert code == 0, out
    assert passed(GATE, out), out


@needs_hooks_env
def test_drift_hook(pre_commit: PreCommit, user_repo: Path) -> None:
    hook_id = "chat-text-drift"
    code, out = pre_commit("run", hook_id, "--all-files")
    assert code == 0, out
    assert passed(DRIFT, out), out

    # The spec changes (a new version) and generated/ is not regenerated: stale.
    version = spec_version(user_repo)
    edit_spec(user_repo, f"  version: {version}\n", "  version: 9.9.9\n")
    git(user_repo, "add", "openapi.yaml")
    code, out = pre_commit("run", hook_id)
    assert code == 1, out
    assert "DRIFT: generated does not match openapi.yaml:" in out
    assert "differs: generated/python/pyproject.toml" in out
    assert '+version = "9.9.9"' in out
    assert "Run: chat-text-regenerate" in out

    # A commit that touches none of the files the hook reads does not run it.
    git(user_repo, "stash", "-q")
    (user_repo / "README.md").write_text("# a user's API, documented\n")
    git(user_repo, "add", "README.md")
    code, out = pre_commit("run", hook_id)
    assert code == 0, out
    assert re.search(rf"{re.escape(DRIFT)}\.+\(no files to check\)Skipped", out), out
