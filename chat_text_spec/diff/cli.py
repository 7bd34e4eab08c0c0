"""``chat-text-spec-diff``: classify the changes between two versions of an OpenAPI document,
propose the semver bump, and gate CI on it.

    chat-text-spec-diff OLD.yaml [NEW.yaml]       # NEW defaults to ./openapi.yaml
    chat-text-spec-diff --base v1.0.0 [NEW]        # old = `git show v1.0.0:<NEW's path>`
    chat-text-spec-diff --auto-base --gate         # CI: last release tag, else ...
    chat-text-spec-diff --list-rules [--format json]

Exit status: 0 = nothing breaking (with ``--gate``: ``info.version`` was bumped enough);
1 = something breaking (with ``--gate``: the bump is too small); 2 = bad arguments, or the
documents, the policy or the git ref could not be read (with ``--format json`` the error is
a JSON object too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from chat_text_spec.diff.changes import SpecDiffError
from chat_text_spec.diff.policy import Policy, load_policy, parse_severity_override
from chat_text_spec.diff.report import (
    REPORT_SCHEMA,
    build_report,
    error_report,
    render_junit,
    render_markdown,
    render_text,
)
from chat_text_spec.diff.rules import CATALOGUE
from chat_text_spec.diff.sources import MAIN_BRANCHES, find_baseline, git_spec, load_spec_file

__all__ = ["main"]

DEFAULT_SPEC = Path("openapi.yaml")
FORMATS = ("text", "json", "markdown", "junit")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="chat-text-spec-diff",
        description="Classify the changes between two versions of an OpenAPI document"
        " (breaking / non-breaking / info), propose the semver bump and gate CI on it.",
        epilog="exit 0: nothing breaking (with --gate: version bumped enough); 1: breaking"
        " (with --gate: version bump too small); 2: bad arguments or unreadable input",
    )
    parser.add_argument("old", nargs="?", type=Path, help="the old document (a file)")
    parser.add_argument(
        "new", nargs="?", type=Path, help=f"the new document (default ./{DEFAULT_SPEC})"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--base", "--base-ref", dest="base", metavar="REF", help="old = the spec at this git ref"
    )
    source.add_argument(
        "--auto-base",
        action="store_true",
        help="old = the spec at the last release tag, else at the last commit of the previous"
        " info.version, else at the merge base with origin/main (passes with a message when"
        " there is none)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="report format")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the report here, not stdout"
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="fail only when info.version was not bumped enough for the changes",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="YAML/JSON policy: severity overrides and ignore entries (rule, path, reason)",
    )
    parser.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="RULE=LEVEL",
        help="override a rule's severity (breaking, non-breaking, info); repeatable",
    )
    parser.add_argument(
        "--list-rules", action="store_true", help="print the rule catalogue and exit"
    )
    parser.add_argument(
        "--report-schema",
        action="store_true",
        help="print the JSON Schema of the --format json report (every field described)",
    )
    return parser


def _rules_text() -> str:
    width = max(len(rule.id) for rule in CATALOGUE)
    lines = [f"{len(CATALOGUE)} rules (id, direction, severity: what it detects)"]
    family = ""
    for rule in CATALOGUE:
        if rule.family != family:
            family = rule.family
            lines.append(f"\n[{family}]")
        lines.append(
            f"  {rule.id:<{width}}  {rule.direction:<8}  {rule.severity:<12}  {rule.detects}"
        )
    return "\n".join(lines)


def _fail(message: str, fmt: str) -> int:
    if fmt == "json":
        print(json.dumps(error_report(message), indent=2))
    else:
        print(f"error: {message}", file=sys.stderr)
    return 2


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise SpecDiffError(f"--output: cannot write {output}: {exc.strerror or exc}") from None


def _policy(args: argparse.Namespace) -> Policy:
    policy = load_policy(args.policy) if args.policy else Policy()
    for text in args.severity:
        rule_id, level = parse_severity_override(text)
        policy.severity[rule_id] = level
    return policy


def _documents(args: argparse.Namespace) -> tuple[dict[str, Any], str, Path] | None:
    """(old document, its label, new path); None when --auto-base finds nothing."""
    if args.base or args.auto_base:
        if args.new is not None:
            raise _UsageError("with --base/--auto-base give at most one file (the new spec)")
        new_path: Path = args.old or DEFAULT_SPEC
        if not new_path.is_file():
            raise SpecDiffError(f"no such file: {new_path}")
        ref = args.base
        if args.auto_base:
            found = find_baseline(new_path)
            if found is None:
                return None
            ref, why = found
            print(f"spec diff: comparing {new_path} with {why}", file=sys.stderr)
        old, label = git_spec(ref, new_path)
        return old, label, new_path
    if args.old is None:
        raise _UsageError("give OLD [NEW] files, or --base REF, or --auto-base")
    return load_spec_file(args.old), str(args.old), args.new or DEFAULT_SPEC


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    wants_json = any(
        a == "--format=json" or (a == "--format" and argv[i + 1 : i + 2] == ["json"])
        for i, a in enumerate(argv)
    )
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        if not wants_json:
            parser.print_usage(sys.stderr)
        return _fail(str(exc), "json" if wants_json else "text")
    fmt: str = args.format
    try:
        if args.list_rules:
            if fmt not in ("text", "json"):
                raise _UsageError("--list-rules prints --format text or json")
            text = (
                json.dumps([rule.to_dict() for rule in CATALOGUE], indent=2)
                if fmt == "json"
                else _rules_text()
            )
            _emit(text, args.output)
            return 0
        if args.report_schema:
            _emit(json.dumps(REPORT_SCHEMA, indent=2), args.output)
            return 0
        policy = _policy(args)
        docs = _documents(args)
        if docs is None:
            message = (
                f"nothing to compare {args.old or DEFAULT_SPEC} with: no release tag, no"
                " earlier info.version in its history, and no merge base with"
                f" {' or '.join(MAIN_BRANCHES)} (not a git checkout, or a fresh repository);"
                " passing"
            )
            print(f"spec diff: {message}", file=sys.stderr if fmt == "json" else sys.stdout)
            return 0
        old, old_label, new_path = docs
        report = build_report(old, load_spec_file(new_path), old_label, str(new_path), policy)
        if fmt == "json":
            text = json.dumps(report, indent=2)
        elif fmt == "markdown":
            text = render_markdown(report, gate=args.gate)
        elif fmt == "junit":
            text = render_junit(report, gate=args.gate)
        else:
            text = render_text(report, gate=args.gate)
        _emit(text, args.output)
    except _UsageError as exc:
        return _fail(str(exc), fmt)
    except SpecDiffError as exc:
        return _fail(str(exc), fmt)
    if args.gate:
        return 0 if report["version_ok"] else 1
    return 1 if report["breaking"] else 0


if __name__ == "__main__":
    sys.exit(main())
