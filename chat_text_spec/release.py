"""``chat-text-release --dry-run``: build and check what a release job would publish, into
``build/release``: the wheel (hatchling), the npm tarball (``npm pack`` of ``typescript/``, whose
``prepack`` builds it) and the Go module (``go vet`` and ``go build`` of its packages, offline).
Nothing is published. It first refuses release files out of step with the spec
(:mod:`chat_text_spec.release_files`: run ``chat-text-regenerate``).

The builders are shared: the cross-language matrix packs and unpacks the npm package and builds
Go with the same functions, and tests/test_examples.py installs what the dry run built.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chat_text_spec.release_files import TS_PACKAGE, ReleaseError, problems, spec_version

__all__ = [
    "GO_PACKAGES",
    "LANGUAGES",
    "Artifact",
    "ReleaseError",
    "build_wheel",
    "check_go",
    "dry_run",
    "go_env",
    "main",
    "pack_typescript",
    "unpack_typescript",
]

GO_PACKAGES = ("./generated/go", "./go/chattextsdk")


# --------------------------------------------------------------------------------------------
# the dry run
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Artifact:
    language: str
    what: str
    path: Path | None
    detail: str


def _run(
    args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, what: str
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseError(f"{what}: cannot run {args[0]}: {exc}") from None
    if proc.returncode != 0:
        raise ReleaseError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def build_wheel(root: Path, dest: Path) -> Path:
    """The wheel, built by hatchling (the build backend pyproject.toml names) in this
    interpreter: no build isolation, no download."""
    try:
        import hatchling  # noqa: F401
    except ImportError:
        raise ReleaseError(
            "hatchling is not installed: pip install 'chat-text[release]' (or hatchling)"
        ) from None
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    args = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dest)]
    _run(args, cwd=root, what="the wheel build (hatchling)")
    built = sorted(set(dest.glob("*.whl")) - before) or sorted(dest.glob("*.whl"))
    if not built:
        raise ReleaseError(f"hatchling wrote no wheel into {dest}")
    return built[-1]


def _npm_env() -> dict[str, str]:
    return {
        **os.environ,
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }


def pack_typescript(root: Path, dest: Path) -> Path:
    """``npm pack`` of the TypeScript package into ``dest``: its ``prepack`` script builds
    ``dist/`` with the pinned TypeScript (from ``typescript/node_modules`` or the
    repository's)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise ReleaseError("node and npm are not installed (Node 20+)")
    package = root / TS_PACKAGE
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chat-text-pack-", dir=dest) as tmp:
        args = ["npm", "pack", "--pack-destination", tmp, "--loglevel=error"]
        _run(args, cwd=package, env=_npm_env(), what="npm pack (typescript/)")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise ReleaseError(f"npm pack wrote {len(tarballs)} tarballs, expected one")
        target = dest / tarballs[0].name
        target.unlink(missing_ok=True)
        shutil.move(tarballs[0], target)
    return target


def unpack_typescript(tarball: Path, project: Path) -> Path:
    """Install a packed tarball of a package without runtime dependencies into
    ``project/node_modules/<name>`` as npm would (its ``package/`` folder), offline."""
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith("package/")]
        for member in members:
            member.name = member.name.removeprefix("package/")
        with tempfile.TemporaryDirectory(prefix="chat-text-unpack-") as tmp:
            archive.extractall(tmp, members=members, filter="data")
            manifest = json.loads((Path(tmp) / "package.json").read_text(encoding="utf-8"))
            target = project / "node_modules" / str(manifest["name"])
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(tmp, target)
    return target


def go_env(root: Path) -> dict[str, str]:
    """The environment every Go build of this repository uses: offline (the module needs only
    the standard library) with the local toolchain. The build cache is Go's own (shared by
    every build on the machine, as uv's and npm's caches are), or ``build/go-cache`` where
    there is no home folder to keep it in."""
    env = {**os.environ, "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    if not any(env.get(name) for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = str(root / "build" / "go-cache")
    return env


def _go_module_path(root: Path, version: str) -> str:
    text = (root / "go.mod").read_text(encoding="utf-8")
    match = re.search(r"(?m)^module\s+(\S+)", text)
    if match is None:
        raise ReleaseError("go.mod has no module line")
    module = match[1]
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    suffix = re.search(r"/v(\d+)$", module)
    want = major if major >= 2 else None
    have = int(suffix[1]) if suffix else None
    if want != have:
        raise ReleaseError(
            f"go.mod's module path {module} does not fit version {version}: Go needs "
            + (f"the suffix /v{want}" if want else "no /vN suffix")
            + " (https://go.dev/ref/mod#major-version-suffixes); change go.mod and the imports"
        )
    return module


def check_go(root: Path, version: str) -> str:
    """``go vet`` and ``go build`` of the module's packages, offline; a summary line."""
    if shutil.which("go") is None:
        raise ReleaseError("the Go toolchain is not installed (apt-get install golang-go)")
    module = _go_module_path(root, version)
    env = go_env(root)
    _run(["go", "vet", *GO_PACKAGES], cwd=root, env=env, what="go vet")
    _run(["go", "build", *GO_PACKAGES], cwd=root, env=env, what="go build")
    return f"{module} v{version}: go vet and go build of {', '.join(GO_PACKAGES)}"


LANGUAGES = ("python", "typescript", "go")


def dry_run(
    root: Path, out: Path, languages: Sequence[str] = LANGUAGES, log: Callable[[str], None] = print
) -> list[Artifact]:
    """Build and check what a release publishes, into ``out``; nothing is published."""
    spec = root / "openapi.yaml"
    version = spec_version(spec)
    stale = problems(root, spec)
    if stale:
        raise ReleaseError(
            "the release files are not at the spec's version (run chat-text-regenerate):\n  "
            + "\n  ".join(stale)
        )
    artifacts: list[Artifact] = []
    # an earlier run's artifacts (another version's) would be published too
    for pattern in ("chat_text-*.whl", "chat-text-*.tgz"):
        for old in out.glob(pattern):
            old.unlink()
    if "python" in languages:
        wheel = build_wheel(root, out)
        artifacts.append(Artifact("python", "wheel", wheel, f"{wheel.stat().st_size:,} bytes"))
        log(f"python: {wheel.name} ({wheel.stat().st_size:,} bytes)")
    if "typescript" in languages:
        tarball = pack_typescript(root, out)
        size = tarball.stat().st_size
        artifacts.append(Artifact("typescript", "npm tarball", tarball, f"{size:,} bytes"))
        log(f"typescript: {tarball.name} ({size:,} bytes)")
    if "go" in languages:
        summary = check_go(root, version)
        artifacts.append(Artifact("go", "module", None, summary))
        log(f"go: {summary}")
    return artifacts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chat-text-release",
        description="Build and check what a release of the clients publishes: the wheel, the npm"
        " tarball and the Go module (go vet, go build), at openapi.yaml's info.version.",
        epilog="exit 0: every artifact built and checked; 1: a build or check failed; 2: bad"
        " arguments",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        required=True,
        help="build and check only (publishing is the release job's: twine, npm publish, a"
        " git tag for Go)",
    )
    parser.add_argument("--root", type=Path, default=Path(), help="the repository (default: .)")
    parser.add_argument(
        "--out", type=Path, help="where the artifacts go (default: ROOT/build/release)"
    )
    parser.add_argument(
        "--language",
        action="append",
        choices=LANGUAGES,
        help="only this language (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "openapi.yaml").is_file():
        print(f"error: --root: no openapi.yaml in {root}", file=sys.stderr)
        return 2
    out = (args.out or root / "build" / "release").resolve()
    try:
        artifacts = dry_run(root, out, args.language or LANGUAGES)
    except ReleaseError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"dry run OK, nothing published: {len(artifacts)} artifact(s) in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
