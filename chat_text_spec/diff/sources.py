"""Where the two documents come from: files, or the spec as it was at a git ref, and which
ref CI compares against (``--auto-base``)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from chat_text_spec.diff.changes import SpecDiffError
from chat_text_spec.diff.schema import as_dict

__all__ = ["MAIN_BRANCHES", "find_baseline", "git_spec", "load_spec_file", "load_spec_text"]

MAIN_BRANCHES = ("origin/main", "origin/master")


def load_spec_text(text: str, label: str) -> dict[str, Any]:
    """Parse an OpenAPI document; a clear :class:`SpecDiffError` when it is not one."""
    try:
        loaded = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise SpecDiffError(f"{label}: not valid YAML/JSON: {exc}") from None
    if not isinstance(loaded, dict) or "openapi" not in loaded:
        raise SpecDiffError(f"{label}: not an OpenAPI document (no top-level 'openapi' key)")
    return loaded


def load_spec_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecDiffError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load_spec_text(text, str(path))


def _git(args: Sequence[str], cwd: Path) -> str | None:
    """stdout of a git command, or None when it fails (or git is missing)."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_spec(ref: str, spec: Path) -> tuple[dict[str, Any], str]:
    """The spec file as it was at git ``ref``, and a label for it."""
    spec = spec.resolve()
    top = _git(["rev-parse", "--show-toplevel"], spec.parent)
    if top is None:
        raise SpecDiffError(f"{spec.parent} is not inside a git repository")
    rel = spec.relative_to(Path(top).resolve()).as_posix()
    try:
        proc = subprocess.run(
            ["git", "show", f"{ref}:{rel}"],
            cwd=top,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpecDiffError(f"git show {ref}:{rel} failed: {exc}") from None
    if proc.returncode != 0:
        raise SpecDiffError(f"git show {ref}:{rel} failed: {proc.stderr.strip()}")
    label = f"{ref}:{rel}"
    return load_spec_text(proc.stdout, label), label


def _last_commit_of_previous_version(spec: Path) -> tuple[str, str] | None:
    """The newest commit whose spec has another ``info.version`` than ``spec``: the state of
    the previous version when it was superseded (a release by version history, for
    repositories that carry no tags)."""
    try:
        current = as_dict(load_spec_file(spec).get("info")).get("version")
    except SpecDiffError:
        return None
    revs = _git(["log", "--format=%H", "--", spec.name], spec.resolve().parent)
    for rev in (revs or "").split():
        try:
            old, _ = git_spec(rev, spec)
        except SpecDiffError:
            continue
        version = as_dict(old.get("info")).get("version")
        if version != current:
            return rev, f"the last commit of version {version} ({rev[:12]})"
    return None


def find_baseline(spec: Path) -> tuple[str, str] | None:
    """What CI compares against: (git ref, why). The newest release tag (``v1.2.3`` or
    ``1.2.3``) reachable from HEAD; else the newest commit of the previous ``info.version``;
    else the merge base with the main branch of ``origin``; else None."""
    cwd = spec.resolve().parent
    tag = _git(["describe", "--tags", "--abbrev=0", "--match=v[0-9]*", "--match=[0-9]*"], cwd)
    if tag:
        return tag, f"the last release tag {tag}"
    previous = _last_commit_of_previous_version(spec)
    if previous:
        return previous
    head = _git(["rev-parse", "HEAD"], cwd)
    for branch in MAIN_BRANCHES:
        base = _git(["merge-base", "HEAD", branch], cwd)
        if base:
            same = " (HEAD itself: only uncommitted changes are compared)" if base == head else ""
            return base, f"the merge base with {branch}, {base[:12]}{same}"
    return None
