"""Release-ready on a spec change: every package's version follows ``info.version``, each
language's changelog gets its entry from the breaking-change report, and a dry run builds what
a release job would publish.

``chat-text-regenerate`` calls :func:`sync` after regenerating (and ``--check`` calls
:func:`problems`):

========================================= ==================================================
file                                      kept in step with openapi.yaml
========================================= ==================================================
``typescript/package.json`` (+ its lock)  ``version`` = ``info.version``
``examples/typescript/package.json``      depends on ``chat-text`` ``^info.version``
``CHANGELOG.md`` (Python),                an entry ``## <info.version>``: the changes since
``typescript/CHANGELOG.md``,              the previous version (the newest release tag, else
``go/CHANGELOG.md``                       the last commit of another ``info.version``), as
                                          chat-text-spec-diff judges them
========================================= ==================================================

The Python distribution (``pyproject.toml``, hatch) and the Go module (its release tag) read the
version from ``openapi.yaml`` already. An entry is rewritten while its version is unreleased and
left alone once a tag ``v<version>`` exists.

``chat-text-release --dry-run`` builds and checks, into ``build/release``: the wheel (hatchling),
the npm tarball (``npm pack`` of ``typescript/``, whose ``prepack`` builds it) and the Go module
(``go vet`` and ``go build`` of its packages, offline). Nothing is published.
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
from typing import Any

from chat_text_spec.diff.changes import SpecDiffError
from chat_text_spec.diff.report import build_report
from chat_text_spec.diff.sources import (
    _git,
    _last_commit_of_previous_version,
    git_spec,
    load_spec_file,
)

__all__ = [
    "CHANGELOGS",
    "Artifact",
    "Changelog",
    "ReleaseError",
    "build_wheel",
    "changelog_entry",
    "dry_run",
    "go_env",
    "main",
    "pack_typescript",
    "problems",
    "spec_version",
    "sync",
    "unpack_typescript",
]

TS_PACKAGE = Path("typescript")
TS_EXAMPLE = Path("examples") / "typescript" / "package.json"
NPM_NAME = "chat-text"
GO_PACKAGES = ("./generated/go", "./go/chattextsdk")


class ReleaseError(Exception):
    """A build or check of the dry run failed, or a tool is missing."""


@dataclass(frozen=True)
class Changelog:
    language: str
    path: Path
    title: str
    install: str
    """How a user gets this version (``{version}`` is filled in)."""


CHANGELOGS = (
    Changelog(
        "python",
        Path("CHANGELOG.md"),
        "Changelog: chat-text for Python (the SDK `chat_text` and the generated client)",
        'pip install "chat-text=={version}"',
    ),
    Changelog(
        "typescript",
        Path("typescript") / "CHANGELOG.md",
        "Changelog: chat-text for TypeScript and JavaScript (npm `chat-text`)",
        "npm install chat-text@{version}",
    ),
    Changelog(
        "go",
        Path("go") / "CHANGELOG.md",
        "Changelog: chat-text for Go (module `github.com/chat-text/chat-text`)",
        "go get github.com/chat-text/chat-text@v{version}",
    ),
)
_INTRO = (
    "Each entry is written by `chat-text-regenerate` from the breaking-change report of\n"
    "`openapi.yaml` (`chat-text-spec-diff`); the version is the API's `info.version`.\n"
)


def spec_version(spec: Path) -> str:
    """``info.version`` of the spec."""
    try:
        info = load_spec_file(spec).get("info")
    except SpecDiffError as exc:
        raise ReleaseError(str(exc)) from None
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, str) or not version:
        raise ReleaseError(f"{spec}: no info.version")
    return version


def _release_files(root: Path) -> bool:
    """Whether ``root`` holds any file this module keeps in step (a repository that only keeps
    a spec holds none, and nothing is done there)."""
    paths = [root / TS_PACKAGE / "package.json", root / TS_EXAMPLE]
    paths += [root / c.path for c in CHANGELOGS]
    return any(path.is_file() for path in paths)


# --------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------
def _edited(path: Path, mutate: Callable[[dict[str, Any]], None]) -> tuple[str, str]:
    """A JSON file's text before and after ``mutate``, written as npm writes it (two spaces,
    a final newline)."""
    before = path.read_text(encoding="utf-8")
    data = json.loads(before)
    mutate(data)
    return before, json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _version_files(root: Path, version: str) -> list[tuple[Path, Callable[[dict[str, Any]], None]]]:
    def package(data: dict[str, Any]) -> None:
        data["version"] = version

    def lock(data: dict[str, Any]) -> None:
        data["version"] = version
        data.get("packages", {}).get("", {})["version"] = version

    def example(data: dict[str, Any]) -> None:
        data.setdefault("dependencies", {})[NPM_NAME] = f"^{version}"

    files = [
        (root / TS_PACKAGE / "package.json", package),
        (root / TS_PACKAGE / "package-lock.json", lock),
        (root / TS_EXAMPLE, example),
    ]
    return [(path, mutate) for path, mutate in files if path.is_file()]


# --------------------------------------------------------------------------------------------
# changelogs
# --------------------------------------------------------------------------------------------
_KINDS = (
    ("breaking", "Breaking"),
    ("non-breaking", "Added or relaxed"),
)


def changelog_entry(report: dict[str, Any], install: str, baseline: str) -> str:
    """The entry for the report's new version: what changed for clients, then how to get it."""
    new = report["new"]["version"]
    bump = report["required_bump"]
    lines = [
        f"## {new}",
        "",
        f"API {report['old']['version']} -> {new}: "
        + ("no change to the contract" if bump == "none" else f"a {bump} change")
        + f". Compared with {baseline}.",
    ]
    for severity, heading in _KINDS:
        changes = [c for c in report["changes"] if c["severity"] == severity]
        if changes:
            lines += ["", f"{heading}:", ""]
            lines += [f"- {c['message'] or c['rule']} (`{c['rule']}`)" for c in changes]
    info = [c for c in report["changes"] if c["severity"] == "info"]
    if info:
        rules = ", ".join(sorted({f"`{c['rule']}`" for c in info}))
        lines += ["", f"Documentation and other compatible edits: {len(info)} ({rules})."]
    lines += ["", f"Install: `{install.format(version=new)}`", ""]
    return "\n".join(lines)


def _released(root: Path, version: str) -> bool:
    return bool(_git(["tag", "--list", f"v{version}", version], root))


def _baseline(spec: Path) -> tuple[str, str] | None:
    """The previous version to compare with: the newest release tag reachable from HEAD
    (unless it is this version's), else the last commit of another info.version."""
    root = spec.resolve().parent
    tag = _git(["describe", "--tags", "--abbrev=0", "--match=v[0-9]*", "--match=[0-9]*"], root)
    if tag and tag.lstrip("v") != spec_version(spec):
        return tag, f"the release tag {tag}"
    return _last_commit_of_previous_version(spec)


def _replace_entry(text: str, version: str, entry: str) -> str:
    """``text`` with the entry of ``version`` replaced (or inserted above the newest one)."""
    heading = re.compile(rf"(?m)^## {re.escape(version)}\s*$")
    found = heading.search(text)
    if found:
        following = re.compile(r"(?m)^## ").search(text, found.end())
        end = following.start() if following else len(text)
        return text[: found.start()] + entry + ("\n" if following else "") + text[end:]
    first = re.compile(r"(?m)^## ").search(text)
    if first:
        return text[: first.start()] + entry + "\n" + text[first.start() :]
    return text.rstrip("\n") + "\n\n" + entry


def _changelog_updates(root: Path, spec: Path) -> tuple[dict[Path, str], list[str]]:
    version = spec_version(spec)
    present = [c for c in CHANGELOGS if (root / c.path).is_file()]
    if not present:
        return {}, []
    if _released(root, version):
        return {}, [f"changelogs: {version} is released (tag v{version}): its entries are kept"]
    base = _baseline(spec)
    if base is None:
        return {}, ["changelogs: no earlier version in the git history to compare with"]
    ref, why = base
    try:
        old, label = git_spec(ref, spec)
        new = load_spec_file(spec)
    except SpecDiffError as exc:
        return {}, [f"changelogs: not written: {exc}"]
    report = build_report(old, new, label, str(spec))
    updates = {}
    for changelog in present:
        path = root / changelog.path
        text = path.read_text(encoding="utf-8")
        entry = changelog_entry(report, changelog.install, why)
        updates[path] = _replace_entry(text, version, entry)
    return updates, []


def sync(root: Path, spec: Path) -> list[str]:
    """Bring every version and changelog under ``root`` in step with ``spec``; one line per
    file changed or note."""
    if not _release_files(root):
        return []
    version = spec_version(spec)
    lines = []
    for path, mutate in _version_files(root, version):
        before, after = _edited(path, mutate)
        if after != before:
            path.write_text(after, encoding="utf-8")
            lines.append(f"version {version}: {path.relative_to(root)}")
    updates, notes = _changelog_updates(root, spec)
    for path, text in updates.items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            lines.append(f"changelog entry {version}: {path.relative_to(root)}")
    return lines + notes


def problems(root: Path, spec: Path) -> list[str]:
    """What :func:`sync` would change in the versions, and changelogs without an entry for
    ``info.version`` (cheap: no git history is read)."""
    if not _release_files(root):
        return []
    version = spec_version(spec)
    found = []
    for path, mutate in _version_files(root, version):
        before, after = _edited(path, mutate)
        if after != before:
            found.append(f"not at version {version}: {path.relative_to(root)}")
    for changelog in CHANGELOGS:
        path = root / changelog.path
        if path.is_file() and not re.search(
            rf"(?m)^## {re.escape(version)}\s*$", path.read_text(encoding="utf-8")
        ):
            found.append(f"no entry for {version}: {changelog.path}")
    return found


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
