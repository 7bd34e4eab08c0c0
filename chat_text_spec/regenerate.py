"""``chat-text-regenerate``: regenerate the Python client from an OpenAPI document, or check
the checked-in copy for drift.

    chat-text-regenerate            # rewrite ./generated from ./openapi.yaml, print the changelog
    chat-text-regenerate --check    # exit 1, naming each file, if ./generated differs

The generator always runs in a fresh temporary folder, so neither stale files from an earlier
run nor the ruff settings of enclosing folders can change its output, and it runs with the
openapi-python-client and ruff installed next to this interpreter (pinned by the
``spec-tools`` extra: ``pip install 'chat-text[spec-tools]'``). Running it twice gives
identical bytes. The drift check compares what the generator produces with the checked-in
files; files git ignores inside the output folder (build output such as ``.pdm-build/``
written by an editable install) are not drift.
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
from collections.abc import Sequence
from pathlib import Path

from chat_text_spec.diff.report import changelog

__all__ = [
    "RegenerateError",
    "check",
    "client_changelog",
    "compare_trees",
    "generate",
    "main",
    "regenerate",
    "tree_files",
]

SPEC = Path("openapi.yaml")
CONFIG = Path("generator-config.yml")
GENERATED = Path("generated")
META = "pdm"
GENERATOR = "openapi-python-client"
INSTALL_HINT = "pip install 'chat-text[spec-tools]'"
# Files the generator leaves behind that are caches, not output.
IGNORED_PARTS = {".ruff_cache", "__pycache__", ".mypy_cache"}


class RegenerateError(Exception):
    """The generator is missing, could not be run, or failed."""


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _generator() -> Path:
    """The generator next to this interpreter (the pinned one), else the one on PATH."""
    local = _bin_dir() / GENERATOR
    if local.exists():
        return local
    found = shutil.which(GENERATOR)
    if found is None:
        raise RegenerateError(
            f"{GENERATOR} is not installed in this environment ({_bin_dir()}): {INSTALL_HINT}"
        )
    return Path(found)


def generate(spec: Path, config: Path, dest: Path) -> None:
    """Generate the client for ``spec`` into the folder ``dest`` (which must not exist)."""
    generator = _generator()
    spec, config = spec.resolve(), config.resolve()
    with tempfile.TemporaryDirectory(prefix="chat-text-gen-") as work:
        out = Path(work) / "out"
        env = dict(os.environ)
        # post_hooks call `ruff` by name: make it the pinned one from this environment.
        env["PATH"] = f"{_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
        env.pop("RUFF_CACHE_DIR", None)
        try:
            proc = subprocess.run(
                [
                    str(generator),
                    "generate",
                    "--path",
                    str(spec),
                    "--config",
                    str(config),
                    "--meta",
                    META,
                    "--output-path",
                    str(out),
                    "--fail-on-warning",
                ],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise RegenerateError(f"cannot run {generator}: {exc}") from None
        if proc.returncode != 0 or not out.is_dir():
            output = f"{proc.stdout}{proc.stderr}"
            raise RegenerateError(f"{GENERATOR} failed (exit {proc.returncode}):\n{output}")
        shutil.copytree(out, dest, ignore=shutil.ignore_patterns(*IGNORED_PARTS))


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


def compare_trees(expected: Path, actual: Path) -> list[str]:
    """Human-readable differences between a fresh generation (``expected``) and the
    checked-in copy (``actual``)."""
    problems: list[str] = []
    want, have = tree_files(expected), tree_files(actual, skip_git_ignored=True)
    for name in sorted(want - have):
        problems.append(f"missing from generated/: {name}")
    for name in sorted(have - want):
        problems.append(f"not produced by the generator: generated/{name}")
    for name in sorted(want & have):
        a, b = expected / name, actual / name
        if not filecmp.cmp(a, b, shallow=False):
            diff = difflib.unified_diff(
                b.read_text(errors="replace").splitlines(),
                a.read_text(errors="replace").splitlines(),
                f"generated/{name} (checked in)",
                f"generated/{name} (from the spec)",
                lineterm="",
                n=1,
            )
            excerpt = "\n".join(list(diff)[:40])
            problems.append(f"differs: generated/{name}\n{excerpt}")
    return problems


def check(spec: Path = SPEC, config: Path = CONFIG, generated: Path = GENERATED) -> list[str]:
    """Regenerate into a temporary folder and compare with ``generated``."""
    if not generated.is_dir():
        return [f"{generated} does not exist: run chat-text-regenerate"]
    with tempfile.TemporaryDirectory(prefix="chat-text-drift-") as tmp:
        fresh = Path(tmp) / "generated"
        generate(spec, config, fresh)
        return compare_trees(fresh, generated)


def regenerate(spec: Path = SPEC, config: Path = CONFIG, generated: Path = GENERATED) -> None:
    """Replace ``generated`` with a fresh generation (build first, then swap)."""
    with tempfile.TemporaryDirectory(prefix="chat-text-regen-") as tmp:
        fresh = Path(tmp) / "generated"
        generate(spec, config, fresh)
        if generated.exists():
            shutil.rmtree(generated)
        shutil.copytree(fresh, generated)


def client_changelog(spec: Path) -> str:
    """What changed for clients since the committed spec (the one the checked-in client was
    made from, as the drift check keeps them in step), judged by the spec-diff catalogue."""
    return "client-facing changelog (git HEAD -> working tree):\n" + changelog("HEAD", spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chat-text-regenerate",
        description="Regenerate the Python client from an OpenAPI document, or check it for"
        " drift (--check).",
        epilog=f"needs {GENERATOR} and ruff: {INSTALL_HINT}. exit 0: done / no drift;"
        " 1: drift; 2: bad arguments or the generator failed",
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 and name the files on drift"
    )
    parser.add_argument("--spec", type=Path, default=SPEC, help=f"OpenAPI document ({SPEC})")
    parser.add_argument("--config", type=Path, default=CONFIG, help=f"generator config ({CONFIG})")
    parser.add_argument(
        "--output", type=Path, default=GENERATED, help=f"generated client folder ({GENERATED})"
    )
    args = parser.parse_args(argv)
    for flag, path in (("--spec", args.spec), ("--config", args.config)):
        if not path.is_file():
            print(f"error: {flag}: no such file: {path}", file=sys.stderr)
            return 2
    if args.output.exists() and not args.output.is_dir():
        print(f"error: --output: not a folder: {args.output}", file=sys.stderr)
        return 2
    try:
        if args.check:
            problems = check(args.spec, args.config, args.output)
            if problems:
                print(f"DRIFT: {args.output} does not match {args.spec}:", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                print("Run: chat-text-regenerate", file=sys.stderr)
                return 1
            print(f"OK: {args.output} matches {args.spec}")
            return 0
        regenerate(args.spec, args.config, args.output)
    except RegenerateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"regenerated {args.output} from {args.spec}")
    print(client_changelog(args.spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
