"""Regenerate ``generated/`` from ``openapi.yaml``, or check it for drift.

    python scripts/regenerate.py           # rewrite generated/ from the spec
    python scripts/regenerate.py --check   # fail (exit 1), naming files, if generated/ differs

The generator always runs in a fresh temporary folder, so neither stale files from an earlier
run nor the ruff settings of enclosing folders can change its output, and it runs with the
exact openapi-python-client and ruff that ``pyproject.toml`` pins (from this interpreter's
environment). Running it twice gives identical bytes.
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

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
CONFIG = ROOT / "generator-config.yml"
GENERATED = ROOT / "generated"
META = "pdm"
# Files the generator leaves behind that are caches, not output.
IGNORED_PARTS = {".ruff_cache", "__pycache__", ".mypy_cache"}


class RegenerateError(Exception):
    """The generator could not be run or failed."""


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def generate(spec: Path, config: Path, dest: Path) -> None:
    """Generate the client for ``spec`` into the folder ``dest`` (which must not exist)."""
    generator = _bin_dir() / "openapi-python-client"
    if not generator.exists():
        raise RegenerateError(
            f"{generator} not found: install the pinned generator (pip install -e '.[dev]')"
        )
    with tempfile.TemporaryDirectory(prefix="chat-text-gen-") as work:
        out = Path(work) / "out"
        env = dict(os.environ)
        # post_hooks call `ruff` by name: make it the pinned one from this environment.
        env["PATH"] = f"{_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
        env.pop("RUFF_CACHE_DIR", None)
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
        if proc.returncode != 0 or not out.is_dir():
            output = f"{proc.stdout}{proc.stderr}"
            raise RegenerateError(
                f"openapi-python-client failed (exit {proc.returncode}):\n{output}"
            )
        shutil.copytree(out, dest, ignore=shutil.ignore_patterns(*IGNORED_PARTS))


def tree_files(root: Path) -> set[str]:
    """Relative paths of every file under ``root``, caches excluded."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not IGNORED_PARTS.intersection(p.relative_to(root).parts)
    }


def compare_trees(expected: Path, actual: Path) -> list[str]:
    """Human-readable differences between a fresh generation and the checked-in copy."""
    problems: list[str] = []
    want, have = tree_files(expected), tree_files(actual)
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
                f"generated/{name} (from openapi.yaml)",
                lineterm="",
                n=1,
            )
            excerpt = "\n".join(list(diff)[:40])
            problems.append(f"differs: generated/{name}\n{excerpt}")
    return problems


def check(spec: Path = SPEC, config: Path = CONFIG, generated: Path = GENERATED) -> list[str]:
    """Regenerate into a temporary folder and compare with ``generated``."""
    if not generated.is_dir():
        return [f"{generated} does not exist: run scripts/regenerate.py"]
    with tempfile.TemporaryDirectory(prefix="chat-text-drift-") as tmp:
        fresh = Path(tmp) / "generated"
        generate(spec, config, fresh)
        return compare_trees(fresh, generated)


def regenerate(spec: Path = SPEC, config: Path = CONFIG, generated: Path = GENERATED) -> None:
    """Replace ``generated`` with a fresh generation (atomically enough: build, then swap)."""
    with tempfile.TemporaryDirectory(prefix="chat-text-regen-") as tmp:
        fresh = Path(tmp) / "generated"
        generate(spec, config, fresh)
        if generated.exists():
            shutil.rmtree(generated)
        shutil.copytree(fresh, generated)


def client_changelog(spec: Path) -> str:
    """What changed for clients since the committed spec (the one generated/ was made from,
    as the drift check keeps them in step): the report of scripts/spec_diff.py."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from spec_diff import changelog

    return "client-facing changelog (git HEAD -> working tree):\n" + changelog("HEAD", spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 and name the files on drift"
    )
    parser.add_argument("--spec", type=Path, default=SPEC, help="OpenAPI document (openapi.yaml)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="generator config")
    parser.add_argument("--output", type=Path, default=GENERATED, help="generated client folder")
    args = parser.parse_args(argv)
    for flag, path in (("--spec", args.spec), ("--config", args.config)):
        if not path.is_file():
            print(f"error: {flag}: no such file: {path}", file=sys.stderr)
            return 2
    try:
        if args.check:
            problems = check(args.spec, args.config, args.output)
            if problems:
                print(f"DRIFT: {args.output} does not match {args.spec}:", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                print("Run: python scripts/regenerate.py", file=sys.stderr)
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
