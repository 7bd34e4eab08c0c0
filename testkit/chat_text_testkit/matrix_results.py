"""The repository's cross-language tables: ``clients/results.md`` and the tables between marks
in README.md and docs/*.md, rewritten from a full run of the client matrix (``--write-results``)
or checked against one (``--check-results``, what ``tox -e clients`` runs).

    python -m chat_text_testkit.matrix_results --check-results [clients options]

A repository tool on top of ``chat-text-conformance clients`` (the same options, the same run):
the shipped command runs the matrix and reports; it writes no file of this repository.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from chat_text_conformance.clients.matrix import cli as clients_cli
from chat_text_conformance.clients.matrix.drivers import REFERENCE
from chat_text_conformance.clients.matrix.known import KnownDifference, render_markdown
from chat_text_conformance.clients.matrix.run import MatrixRun
from chat_text_conformance.clients.matrix.tables import (
    full_markdown,
    summary_markdown,
    totals_markdown,
)

__all__ = ["KNOWN_MARK", "RESULTS_PATH", "SUMMARY_MARK", "TOTALS_MARK", "main"]

RESULTS_PATH = Path("clients") / "results.md"
SUMMARY_MARK = ("<!-- clients:summary -->", "<!-- /clients:summary -->")
KNOWN_MARK = ("<!-- clients:known-differences -->", "<!-- /clients:known-differences -->")
TOTALS_MARK = ("<!-- clients:totals -->", "<!-- /clients:totals -->")
COMMAND = "python -m chat_text_testkit.matrix_results"


def build_parser() -> argparse.ArgumentParser:
    parser = clients_cli.build_parser()
    parser.prog = COMMAND
    parser.description = (
        f"Run the client matrix (as chat-text-conformance clients does) and rewrite or check "
        f"{RESULTS_PATH} and the tables between marks in README.md and docs/*.md."
    )
    mode = parser.add_argument_group("the repository's tables").add_mutually_exclusive_group(
        required=True
    )
    mode.add_argument(
        "--write-results",
        action="store_true",
        help=f"rewrite {RESULTS_PATH} and the README's and docs' tables from this run",
    )
    mode.add_argument(
        "--check-results",
        action="store_true",
        help=f"fail (exit 1) when {RESULTS_PATH} or a table differs from this run",
    )
    return parser


def _replace_block(text: str, marks: tuple[str, str], content: str) -> str | None:
    start, end = marks
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}{end}{tail}"


def _doc_files(root: Path) -> list[Path]:
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    marks = (SUMMARY_MARK[0], KNOWN_MARK[0], TOTALS_MARK[0])
    return [
        f
        for f in files
        if f.is_file() and any(mark in f.read_text(encoding="utf-8") for mark in marks)
    ]


def expected_files(run: MatrixRun, root: Path, known_md: str) -> dict[Path, str]:
    """Each file that shows the run, as it should read."""
    expected = {root / RESULTS_PATH: full_markdown(run)}
    for doc in _doc_files(root):
        text = doc.read_text(encoding="utf-8")
        blocks = (
            (SUMMARY_MARK, summary_markdown(run)),
            (KNOWN_MARK, known_md),
            (TOTALS_MARK, totals_markdown(run)),
        )
        for marks, content in blocks:
            text = _replace_block(text, marks, content) or text
        expected[doc] = text
    return expected


def _on_run(
    run: MatrixRun, args: argparse.Namespace, known: list[KnownDifference], out: TextIO
) -> bool:
    """Write the files (``--write-results``) or say which do not show the run
    (``--check-results``: ``True`` fails the command). Neither when not every column ran."""
    if run.skipped or REFERENCE not in run.columns:
        print(
            "results not written or checked: not every column ran "
            f"({', '.join(run.skipped)} skipped)",
            file=out,
        )
        return False
    root = args.root.resolve()
    files = expected_files(run, root, render_markdown(known))
    if args.write_results:
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(root)}", file=out)
        return False
    stale = False
    for path, text in files.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(
                f"STALE: {path.relative_to(root)} does not show this run: "
                f"{COMMAND} --write-results",
                file=out,
            )
            stale = True
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args, _ = parser.parse_known_args(arguments)
    if args.case or args.languages.strip() != "all":
        parser.print_usage(sys.stderr)
        print(
            f"{COMMAND}: error: --write-results/--check-results need every case and every "
            "column (no --case, no --languages)",
            file=sys.stderr,
        )
        return clients_cli.EXIT_USAGE
    return clients_cli.main(arguments, parser=parser, on_run=_on_run)


if __name__ == "__main__":
    sys.exit(main())
