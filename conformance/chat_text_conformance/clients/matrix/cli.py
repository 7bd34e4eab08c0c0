"""``chat-text-conformance clients``: the cross-language client conformance matrix.

Exit codes: 0 every column agrees with the reference (or differs only as the known-differences
file says), 1 a difference, a crash, a stale known difference, a stale corpus or results file,
a driver that does not build or a failed reference-server check; 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from ..._argtypes import UsageError, run_command
from .corpus import (
    CORPUS_PATH,
    DEFAULT_SEED,
    Corpus,
    CorpusError,
    check_corpus,
    generate_corpus,
    tool_versions,
)
from .corpus import load_corpus as _load_corpus
from .drivers import DRIVERS, REFERENCE, Driver, TypeScriptDriver
from .known import KNOWN_PATH, KnownDifference, KnownError, load_known
from .run import MatrixRun, reproducer, run_matrix
from .server import scripted_server
from .tables import dumps, full_markdown, results_json, summary_text

__all__ = ["OnRun", "UsageError", "build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


OnRun = Callable[[MatrixRun, argparse.Namespace, list[KnownDifference], TextIO], bool]
"""Called with the finished run (every case and column ran), the parsed options, the known
differences and the output: ``True`` fails the command (exit 1)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-text-conformance clients",
        description=(
            "Replay one corpus of server answers (drawn from openapi.yaml's schemas) to the "
            "Python SDK, the generated Python client, the TypeScript client and the Go client, "
            "compare every outcome with the Python SDK's, case by case, and run each client "
            "once against the reference server."
        ),
        epilog="exit codes: 0 no unexplained difference, 1 a difference/crash/stale data, "
        "2 usage error",
    )
    parser.add_argument(
        "--languages",
        default="all",
        help="comma-separated columns besides the reference 'python': "
        f"{', '.join(n for n in DRIVERS if n != REFERENCE)} (default: all)",
    )
    parser.add_argument(
        "--case", action="append", default=[], metavar="ID", help="only this case (repeatable)"
    )
    parser.add_argument("--root", type=Path, default=Path(), help="the repository (default: .)")
    parser.add_argument("--corpus", type=Path, help=f"the corpus (default: ROOT/{CORPUS_PATH})")
    parser.add_argument(
        "--known", type=Path, help=f"known differences (default: ROOT/{KNOWN_PATH})"
    )
    parser.add_argument(
        "--no-reference-server",
        action="store_true",
        help="skip the run of every driver against the reference server",
    )
    parser.add_argument("--report-dir", type=Path, help="write results.json, table.md, bodies/")
    parser.add_argument(
        "--release-dir",
        type=Path,
        metavar="DIR",
        help="the typescript column installs the chat-text-*.tgz that `chat-text-release "
        "--dry-run --out DIR` packed (default: npm pack it here)",
    )
    parser.add_argument("--full", action="store_true", help="print the full case x column table")
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="say so (loudly) when the run takes longer than this",
    )
    generation = parser.add_argument_group("the corpus")
    generation.add_argument(
        "--write-corpus",
        action="store_true",
        help="draw the corpus again from openapi.yaml (with --seed) and write it; run nothing",
    )
    generation.add_argument("--seed", type=int, default=None, help=f"default {DEFAULT_SEED}")
    generation.add_argument(
        "--check-corpus",
        action="store_true",
        help="only check that the corpus is up to date with openapi.yaml (and, when the "
        "installed hypothesis and schemathesis are those it was drawn with, that drawing it "
        "again gives the same bytes)",
    )
    serving = parser.add_argument_group("by hand")
    serving.add_argument(
        "--serve",
        action="store_true",
        help="serve the corpus on 127.0.0.1 until Ctrl-C (POST /case/<id>/inference/chat_text)",
    )
    serving.add_argument("--port", type=int, default=0, help="port for --serve (default: free)")
    return parser


def _columns(text: str) -> list[str]:
    if text.strip() == "all":
        return list(DRIVERS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in DRIVERS]
    if unknown or not names:
        raise UsageError(
            f"--languages: unknown column(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(DRIVERS)}"
        )
    return [REFERENCE, *[n for n in names if n != REFERENCE]]


def _serve(corpus_path: Path, port: int, out: TextIO) -> int:
    corpus = _load_corpus(corpus_path)
    try:
        context = scripted_server(corpus, port=port)
        server = context.__enter__()
    except OSError as exc:
        raise UsageError(f"--port: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    try:
        print(f"serving {len(corpus.cases)} cases of {corpus_path} on {server.url}", file=out)
        print(f"  POST {server.url}/case/<id>/inference/chat_text  (Ctrl-C stops)", file=out)
        out.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        context.__exit__(None, None, None)
    return EXIT_OK


def _check_corpus(corpus_path: Path, out: TextIO) -> int:
    corpus = _load_corpus(corpus_path)
    problems = check_corpus(corpus)

    if not problems and corpus.tools == tool_versions():
        again = generate_corpus(corpus.seed)
        if again.to_text() != corpus_path.read_text(encoding="utf-8"):
            problems.append(
                f"drawing seed {corpus.seed} again with the same tools gives other cases"
            )
        else:
            print(f"drawn again with seed {corpus.seed}: the same bytes", file=out)
    elif not problems:
        print(
            f"not drawn again: the corpus was drawn with {corpus.tools}, installed are "
            f"{tool_versions()}",
            file=out,
        )
    for problem in problems:
        print(f"STALE: {problem}", file=out)
    if problems:
        print("regenerate: chat-text-conformance clients --write-corpus", file=out)
        return EXIT_FAILED
    print(f"OK: {corpus_path} is up to date with openapi.yaml", file=out)
    return EXIT_OK


def _packed_typescript(folder: Path) -> Driver:
    tarballs = sorted(folder.glob("chat-text-*.tgz"))
    if len(tarballs) != 1:
        found = ", ".join(t.name for t in tarballs) or "none"
        raise UsageError(f"--release-dir: want one chat-text-*.tgz in {folder}, found {found}")
    typescript = DRIVERS["typescript"]
    assert isinstance(typescript, TypeScriptDriver)
    return dataclasses.replace(typescript, tarball=tarballs[0].resolve())


def _execute(args: argparse.Namespace, out: TextIO, on_run: OnRun | None = None) -> int:
    started = time.monotonic()
    root = args.root.resolve()
    corpus_path = args.corpus or root / CORPUS_PATH
    known_path = args.known or root / KNOWN_PATH
    columns = _columns(args.languages)
    if args.write_corpus:
        return _write_corpus(args.seed, corpus_path, out)
    if args.seed is not None:
        raise UsageError("--seed: only with --write-corpus")
    if args.check_corpus:
        return _check_corpus(corpus_path, out)
    if args.serve:
        return _serve(corpus_path, args.port, out)
    corpus = _load_corpus(corpus_path)
    known = load_known(known_path, [n for n in DRIVERS if n != REFERENCE])
    _check_selection(args, corpus, corpus_path, columns)
    stale_corpus = check_corpus(corpus)
    drivers = dict(DRIVERS)
    if args.release_dir is not None:
        drivers["typescript"] = _packed_typescript(args.release_dir)

    run = run_matrix(
        corpus,
        root=root,
        work=root / "build" / "clients",
        columns=columns,
        known=known,
        case_ids=args.case,
        reference_server=not args.no_reference_server,
        drivers=drivers,
        log=lambda line: print(line, file=out, flush=True),
    )
    run.problems += [f"the corpus is stale: {p}" for p in stale_corpus]
    _report(run, args, out)
    status = EXIT_FAILED if run.failed else EXIT_OK
    if on_run is not None and on_run(run, args, known, out):
        status = EXIT_FAILED
    print(_verdict(run, status, time.monotonic() - started, args.budget), file=out)
    return status


def _write_corpus(seed: int | None, corpus_path: Path, out: TextIO) -> int:
    """``--write-corpus``: draw the corpus (with ``seed``, else the default one) and write it."""
    seed = DEFAULT_SEED if seed is None else seed
    corpus = generate_corpus(seed, progress=lambda m: print(m, file=out, flush=True))
    corpus_path.parent.mkdir(parents=True, exist_ok=True)
    corpus_path.write_text(corpus.to_text(), encoding="utf-8")
    print(f"wrote {len(corpus.cases)} cases (seed {seed}) to {corpus_path}", file=out)
    return EXIT_OK


def _check_selection(
    args: argparse.Namespace, corpus: Corpus, corpus_path: Path, columns: Sequence[str]
) -> None:
    """Refuse (:class:`UsageError`) a ``--case`` not in the corpus."""
    ids = {case.id for case in corpus.cases}
    bad = [case for case in args.case if case not in ids]
    if bad:
        raise UsageError(f"--case: not in {corpus_path}: {', '.join(bad)}")


def _verdict(run: MatrixRun, status: int, elapsed: float, budget: float | None) -> str:
    """The run's last line: OK or FAILED, its size and time (and how it stands to ``budget``)."""
    against = ""
    if budget is not None:
        against = (
            f" (budget {budget:.0f} s)"
            if elapsed <= budget
            else f" -- OVER THE BUDGET of {budget:.0f} s"
        )
    verdict = "FAILED" if status else "OK"
    return (
        f"{verdict}: {len(run.cases)} cases x {len(run.columns)} columns in {elapsed:.1f} s"
        f"{against}"
    )


def _report(run: MatrixRun, args: argparse.Namespace, out: TextIO) -> None:
    print("", file=out)
    print(summary_text(run), file=out)
    if args.full:
        print(full_markdown(run), file=out)
    for case_id, column, cell in run.failures():
        print(reproducer(run, case_id, column, cell) + "\n", file=out)
    for column, checks in run.reference.items():
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            print(f"reference server  {mark} {column:<16} {check.name}: {check.message}", file=out)
    for line in run.stale:
        print(f"STALE known difference: {line}", file=out)
    for line in run.problems:
        print(f"PROBLEM: {line}", file=out)
    for column, reason in run.skipped.items():
        print(f"SKIPPED {column}: {reason}", file=out)
    _suggest_known(run, out)
    if args.report_dir is not None:
        _write_report(run, args.report_dir)
        print(f"report: {args.report_dir}", file=out)


def _suggest_known(run: MatrixRun, out: TextIO) -> None:
    """The unexplained differences grouped as known-differences entries, to paste once the
    reason is documented."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for case_id, column, cell in run.failures():
        if cell.state == "differs":
            groups.setdefault((column, cell.reference_kind, cell.kind), []).append(case_id)
    if not groups:
        return
    print(
        "\nIf a difference is the documented behaviour of a generator, list it in "
        "clients/known_differences.yaml:",
        file=out,
    )
    for (column, reference, outcome), cases in groups.items():
        print(
            f"- id: {column}-...\n  language: {column}\n  kinds: ['{reference} -> {outcome}']\n"
            f"  cases: [{', '.join(cases)}]\n  reason: ...\n  source: https://...",
            file=out,
        )


def _write_report(run: MatrixRun, folder: Path) -> None:
    try:
        (folder / "bodies").mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(dumps(results_json(run)), encoding="utf-8")
        (folder / "table.md").write_text(full_markdown(run), encoding="utf-8")
        for case in run.cases:
            (folder / "bodies" / f"{case.id}.bin").write_bytes(case.body)
    except OSError as exc:
        raise UsageError(f"--report-dir: cannot write {folder}: {exc.strerror or exc}") from None


def main(
    argv: Sequence[str] | None = None,
    *,
    parser: argparse.ArgumentParser | None = None,
    on_run: OnRun | None = None,
) -> int:
    """The command; ``parser`` (default :func:`build_parser`) and ``on_run`` let a tool built
    on it add options and act on the finished run (the repository's table writer does)."""
    parser = parser or build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_command(
        parser.prog,
        parser,
        lambda: _execute(args, sys.stdout, on_run),
        usage_errors=(UsageError, CorpusError, KnownError),
    )
