"""The runnable examples (``examples/<language>/``), as a user runs them: each is copied into an
empty folder with only the packed client installed (the wheel, the npm tarball, a Go module
``replace``), run against the reference server on a free 127.0.0.1 port, and must print an
answer, a streamed answer and the usage of each. docs/languages.md shows each example file
whole, and must show it as it is.

``tox -e clients`` runs this file with the artifacts ``chat-text-release --dry-run`` built just
before (``CHAT_TEXT_RELEASE_DIR``); run alone, it builds the wheel and the tarball itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_text_server.testing import TEST_TOKEN, running_server
from chat_text_spec import release

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs" / "languages.md"
MODULE = "github.com/chat-text/chat-text"
USAGE = re.compile(r"prompt_tokens=(\d+) completion_tokens=(\d+) total_tokens=(\d+)")
EXAMPLE_FILES = {
    "python": ["main.py"],
    "typescript": ["package.json", "main.mjs"],
    "go": ["go.mod", "main.go"],
}
# what docs/languages.md shows whole (the example's package.json follows the package version)
SHOWN_FILES = {"examples/python/main.py", "examples/typescript/main.mjs"}
SHOWN_FILES |= {"examples/go/go.mod", "examples/go/main.go"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder with the wheel and the npm tarball: the dry run's, or built here."""
    given = os.environ.get("CHAT_TEXT_RELEASE_DIR")
    if given:
        return Path(given)
    folder = tmp_path_factory.mktemp("release")
    try:
        release.build_wheel(ROOT, folder)
        if shutil.which("npm"):
            release.pack_typescript(ROOT, folder)
    except release.ReleaseError as exc:
        pytest.fail(f"cannot build the packages: {exc}")
    return folder


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"want one {pattern} in {folder}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as url:
        yield url


def _copy(language: str, dest: Path) -> Path:
    dest.mkdir()
    for name in EXAMPLE_FILES[language]:
        shutil.copyfile(EXAMPLES / language / name, dest / name)
    return dest


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_TEXT_", "PYTHON"))}
    return {**env, "CHAT_TEXT_BASE_URL": url, "CHAT_TEXT_API_KEY": TEST_TOKEN, **extra}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def _check_output(out: str) -> tuple[int, int]:
    """The four lines every example prints; (prompt_tokens of the answer, of the stream)."""
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["answer", "usage", "stream", "usage"], out
    assert lines[0].removeprefix("answer:").strip(), "the answer has no text"
    assert lines[2].removeprefix("stream:").strip(), "the streamed answer has no text"
    prompts = []
    for line in (lines[1], lines[3]):
        match = USAGE.search(line)
        assert match, f"no usage in {line!r}"
        prompt, completion, total = map(int, match.groups())
        assert total == prompt + completion > 0, line
        prompts.append(prompt)
    return prompts[0], prompts[1]


PROMPT_TOKENS: dict[str, tuple[int, int]] = {}


def test_python_example_from_the_wheel(artifacts: Path, server: str, tmp_path: Path) -> None:
    """The wheel unpacked into a folder of its own, first on the path: the example imports the
    packed chat_text (not the repository's); its dependencies come from this environment."""
    wheel = _one(artifacts, "chat_text-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    folder = _copy("python", tmp_path / "example")
    env = _env(server, PYTHONPATH=str(site), PYTHONNOUSERSITE="1")
    where = _run([sys.executable, "-c", "import chat_text; print(chat_text.__file__)"], folder, env)
    assert Path(where.strip()).is_relative_to(site), f"chat_text came from {where}"
    out = _run([sys.executable, "main.py"], folder, env)
    PROMPT_TOKENS["python"] = _check_output(out)


def test_typescript_example_from_the_tarball(artifacts: Path, server: str, tmp_path: Path) -> None:
    """`npm install <tarball>` offline: the package has no runtime dependency to fetch."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    tarball = _one(artifacts, "chat-text-*.tgz")
    folder = _copy("typescript", tmp_path / "example")
    env = _env(server, npm_config_update_notifier="false")
    # what docs/languages.md says, offline
    _run(
        ["npm", "install", "--offline", "--no-save", "--no-audit", "--no-fund", str(tarball)],
        folder,
        env,
    )
    assert (folder / "node_modules" / "chat-text" / "dist" / "index.d.ts").is_file()
    assert sorted(p.name for p in (folder / "node_modules").iterdir() if p.name[0] != ".") == [
        "chat-text"
    ], "the package must install no runtime dependency"
    out = _run(["node", "main.mjs"], folder, env)
    PROMPT_TOKENS["typescript"] = _check_output(out)


def test_go_example_with_a_module_replace(server: str, tmp_path: Path) -> None:
    """The example's go.mod, its relative replace pointed at this repository, built offline."""
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is not installed")
    folder = _copy("go", tmp_path / "example")
    env = {**release.go_env(ROOT), **_env(server)}
    _run(["go", "mod", "edit", f"-replace={MODULE}={ROOT}"], folder, env)
    _run(["go", "build", "-o", "example", "."], folder, env)
    out = _run([str(folder / "example")], folder, env)
    PROMPT_TOKENS["go"] = _check_output(out)


def test_the_examples_send_the_same_prompt() -> None:
    """Run after the three above (file order): the same question, the same prompt tokens."""
    if len(PROMPT_TOKENS) < 2:
        pytest.skip("fewer than two examples ran")
    assert len(set(PROMPT_TOKENS.values())) == 1, PROMPT_TOKENS


def test_the_go_example_replaces_the_module_with_a_relative_path() -> None:
    text = (EXAMPLES / "go" / "go.mod").read_text(encoding="utf-8")
    assert f"replace {MODULE} => ../..\n" in text
    assert (EXAMPLES / "go" / "../../go.mod").resolve() == ROOT / "go.mod"


# --------------------------------------------------------------------------------------------
# the docs show the examples as they are
# --------------------------------------------------------------------------------------------
_SHOWN = re.compile(r"<!-- example: (?P<path>\S+) -->\n```[a-z]*\n(?P<body>.*?)```", re.S)


def test_the_docs_show_every_example_file_as_it_is() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    shown = {m["path"]: m["body"] for m in _SHOWN.finditer(docs)}
    assert set(shown) == SHOWN_FILES, f"docs/languages.md shows {sorted(shown)}"
    for path, body in shown.items():
        assert body == (ROOT / path).read_text(encoding="utf-8"), (
            f"docs/languages.md shows {path} other than it is: copy the file into the docs"
        )
