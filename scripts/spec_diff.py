"""Compare two versions of ``openapi.yaml``: classified changes, proposed semver bump, CI gate.

    python scripts/spec_diff.py OLD.yaml [NEW.yaml]        # NEW defaults to ./openapi.yaml
    python scripts/spec_diff.py --base-ref v1.0.0 [NEW]    # old = `git show v1.0.0:openapi.yaml`
    python scripts/spec_diff.py --auto-base --gate         # CI: last release tag, else merge base
    ... --format json                                      # machine-readable report

Every change is classified ``breaking``, ``non-breaking`` or ``documentation`` and named by
its JSONPath. Exit status: 0 = nothing breaking (or, with ``--gate``, ``info.version`` was
bumped enough for what changed); 1 = something breaking (with ``--gate``: the version bump is
too small); 2 = the documents or the git ref could not be read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _spec_diff import (
    BREAKING,
    DOCUMENTATION,
    KINDS,
    NON_BREAKING,
    Change,
    SpecDiffError,
    actual_bump,
    bump_is_enough,
    diff_specs,
    propose_version,
    required_bump,
)

__all__ = [
    "BREAKING",
    "DOCUMENTATION",
    "NON_BREAKING",
    "Change",
    "SpecDiffError",
    "build_report",
    "changelog",
    "diff_specs",
    "find_baseline",
    "git_spec",
    "load_spec_text",
    "main",
    "render_text",
]

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
MAIN_BRANCHES = ("origin/main", "origin/master")
HEADINGS = {
    BREAKING: "BREAKING",
    NON_BREAKING: "NON-BREAKING",
    DOCUMENTATION: "DOCUMENTATION ONLY",
}


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
        current = _as_dict(load_spec_file(spec).get("info")).get("version")
    except SpecDiffError:
        return None
    revs = _git(["log", "--format=%H", "--", spec.name], spec.resolve().parent)
    for rev in (revs or "").split():
        try:
            old, _ = git_spec(rev, spec)
        except SpecDiffError:
            continue
        version = _as_dict(old.get("info")).get("version")
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


def build_report(
    old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str
) -> dict[str, Any]:
    """The full report as plain data (what ``--format json`` prints)."""
    changes = diff_specs(old, new)
    needed = required_bump(changes)
    old_v = str(_as_dict(old.get("info")).get("version"))
    new_v = str(_as_dict(new.get("info")).get("version"))
    report: dict[str, Any] = {
        "old": {"source": old_label, "version": old_v},
        "new": {"source": new_label, "version": new_v},
        "counts": {kind: sum(c.kind == kind for c in changes) for kind in KINDS},
        "breaking": any(c.kind == BREAKING for c in changes),
        "required_bump": needed,
        "changes": [c.to_dict() for c in changes],
    }
    try:
        report["proposed_version"] = propose_version(old_v, needed)
        report["actual_bump"] = actual_bump(old_v, new_v)
        report["version_ok"] = bump_is_enough(needed, old_v, new_v)
    except SpecDiffError as exc:
        report["version_error"] = str(exc)
        report["version_ok"] = False
    return report


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def render_text(report: dict[str, Any], *, gate: bool = False) -> str:
    old, new = report["old"], report["new"]
    lines = [f"spec diff: {old['source']} ({old['version']}) -> {new['source']} ({new['version']})"]
    if not report["changes"]:
        lines.append("no changes")
    for kind in KINDS:
        items = [c for c in report["changes"] if c["kind"] == kind]
        if not items:
            continue
        lines.append(f"{HEADINGS[kind]} ({len(items)})")
        for c in items:
            via = f"  [via {c['via']}]" if c.get("via") else ""
            lines.append(f"  {c['rule']}: {c['path']}{via}")
            if c["message"]:
                lines.append(f"      {c['message']}")
    if "version_error" in report:
        lines.append(f"version: {report['version_error']}")
    else:
        needs = report["required_bump"]
        lines.append(
            f"semver: {'no version bump needed' if needs == 'none' else f'needs a {needs} bump'}"
            f" (proposed info.version: {report['proposed_version']}); "
            f"info.version moved {old['version']} -> {new['version']} "
            f"({report['actual_bump']})"
        )
    if gate:
        verdict = "PASS" if report["version_ok"] else "FAIL"
        why = (
            "info.version was bumped enough"
            if report["version_ok"]
            else f"bump info.version to at least {report.get('proposed_version', '?')}"
        )
        lines.append(f"gate: {verdict}: {why}")
    return "\n".join(lines)


def changelog(base_ref: str = "HEAD", spec: Path = SPEC) -> str:
    """Client-facing changelog between the spec at ``base_ref`` and ``spec`` (for
    ``scripts/regenerate.py``); a one-line note when there is nothing to compare."""
    try:
        old, label = git_spec(base_ref, spec)
        report = build_report(old, load_spec_file(spec), label, str(spec))
    except SpecDiffError as exc:
        return f"changelog: not available ({exc})"
    return render_text(report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Classify the changes between two versions of an OpenAPI document.",
        epilog="exit 0: nothing breaking (with --gate: version bumped enough); "
        "1: breaking (with --gate: version bump too small); 2: cannot read input",
    )
    parser.add_argument("old", nargs="?", type=Path, help="the old document (a file)")
    parser.add_argument("new", nargs="?", type=Path, help=f"the new document (default {SPEC})")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--base-ref", metavar="REF", help="old = the spec at this git ref")
    source.add_argument(
        "--auto-base",
        action="store_true",
        help="old = the spec at the last release tag, else at the merge base with origin/main"
        " (passes with a message when there is neither)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--gate",
        action="store_true",
        help="fail only when info.version was not bumped enough for the changes",
    )
    args = parser.parse_args(argv)

    try:
        if args.base_ref or args.auto_base:
            if args.new is not None:
                parser.error("with --base-ref/--auto-base give at most one file (the new spec)")
            new_path: Path = args.old or SPEC
            ref = args.base_ref
            if args.auto_base:
                found = find_baseline(new_path)
                if found is None:
                    print(
                        f"spec diff: nothing to compare {new_path} with: no release tag, no "
                        "earlier info.version in its history, and no merge base with "
                        f"{' or '.join(MAIN_BRANCHES)} (not a git checkout, or a fresh "
                        "repository); passing"
                    )
                    return 0
                ref, why = found
                print(f"spec diff: comparing {new_path} with {why}", file=sys.stderr)
            old, old_label = git_spec(ref, new_path)
        else:
            if args.old is None:
                parser.error("give OLD [NEW] files, or --base-ref REF, or --auto-base")
            new_path = args.new or SPEC
            old, old_label = load_spec_file(args.old), str(args.old)
        new = load_spec_file(new_path)
        report = build_report(old, new, old_label, str(new_path))
    except SpecDiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report, gate=args.gate))
    if args.gate:
        return 0 if report["version_ok"] else 1
    return 1 if report["breaking"] else 0


if __name__ == "__main__":
    sys.exit(main())
