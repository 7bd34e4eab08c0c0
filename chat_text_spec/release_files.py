"""The files that follow the spec's version: every package's version is ``info.version`` and
each language's changelog gets its entry from the breaking-change report.
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
left alone once a tag ``v<version>`` exists. A repository without these files (one that only
keeps a spec) is left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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
    "Changelog",
    "ReleaseError",
    "changelog_entry",
    "problems",
    "spec_version",
    "sync",
]

TS_PACKAGE = Path("typescript")
TS_EXAMPLE = Path("examples") / "typescript" / "package.json"
NPM_NAME = "chat-text"


class ReleaseError(Exception):
    """A release file or build is wrong, or a tool is missing."""


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
