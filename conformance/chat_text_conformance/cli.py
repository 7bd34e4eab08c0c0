"""``chat-text-conformance``: run the conformance suite against a server (or the client).

Exit codes: 0 every check passed, 1 a check failed, 2 usage or set-up error (bad option,
unreachable server, token or model refused, reference server failed to start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._argtypes import (
    UsageError,
    non_negative_float,
    positive_float,
    positive_int,
    report_dir_problem,
    run_command,
)
from ._argtypes import seed as seed_type
from ._argtypes import workers as workers_type
from .engine.pacing import AUTO_CEILING, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_WAIT
from .engine.target import TOKEN_ENV, Level, Target, token_from_env
from .reporting import files as reports
from .reporting.results import CheckResult, RunReport

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_SETUP", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2

DEFAULT_MAX_EXAMPLES = 25


def _percent(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-text-conformance",
        description=(
            "Check a server of POST /inference/chat_text against openapi.yaml and the LLM "
            "promises (token accounting, max_tokens, truncation, streaming). Without "
            "--base-url it tests the embedded reference server."
        ),
        epilog=(
            "exit codes: 0 all checks passed, 1 a check failed, 2 usage or set-up error "
            "(unreachable server, rejected token, unknown model). To send a report's failing "
            "cases again: chat-text-conformance replay REPORT [--base-url URL] (see "
            "'chat-text-conformance replay --help'). Other subcommands: proxy (judge real "
            "traffic), clients (the cross-language client matrix), load (many users on Locust, "
            "every answer judged, latency figures and SLOs: 'chat-text-conformance load --help')"
        ),
    )
    _target_options(parser)
    run = parser.add_argument_group("run")
    _run_options(run)
    _pacing_options(run)
    _scope_options(run)
    _output_options(parser)
    return parser


def _target_options(parser: argparse.ArgumentParser) -> None:
    """Which server, token, model and window."""
    target = parser.add_argument_group("target")
    target.add_argument("--base-url", help="server base URL, e.g. http://127.0.0.1:8000")
    target.add_argument(
        "--token",
        help=(
            f"bearer token (default: ${TOKEN_ENV}, or its old name $CHAT_TEXT_TOKEN); never "
            "printed, reports redact it"
        ),
    )
    target.add_argument("--model", help="model every request is pinned to")
    target.add_argument(
        "--context-length",
        type=positive_int,
        help="the model's context window in tokens (enables the window-dependent checks)",
    )


def _run_options(run: argparse._ArgumentGroup) -> None:
    """Level, examples, seed and time limits."""
    run.add_argument(
        "--level",
        choices=[level.value for level in Level],
        default=Level.SEMANTIC.value,
        help=(
            "schema: what the spec alone guarantees (a mock passes it); semantic (default): "
            "plus the LLM promises; strict: plus determinism at temperature 0"
        ),
    )
    run.add_argument(
        "--max-examples",
        type=positive_int,
        default=DEFAULT_MAX_EXAMPLES,
        help=f"examples per schemathesis phase and per property (default {DEFAULT_MAX_EXAMPLES})",
    )
    run.add_argument("--seed", type=seed_type, help="random seed (default: random, printed)")
    run.add_argument(
        "--request-timeout",
        type=positive_float,
        default=10.0,
        help="seconds to wait for any single response (default 10)",
    )
    run.add_argument(
        "--max-time",
        type=positive_float,
        help="seconds the schemathesis part may take at most (default: no limit)",
    )
    run.add_argument(
        "--in-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "embedded server only: send the schemathesis part to the app in-process (default; "
            "faster) or, with --no-in-process, over its loopback port like everything else"
        ),
    )


def _pacing_options(run: argparse._ArgumentGroup) -> None:
    """Requests in flight, a rate cap, and the wait budget for busy answers."""
    run.add_argument(
        "--workers",
        type=workers_type,
        default="auto",
        metavar="N|auto",
        help=(
            "requests in flight at a time, in schemathesis and in the properties. auto "
            f"(default): start at {DEFAULT_MAX_IN_FLIGHT}, halve on each 429/503, grow by one "
            f"per round of answers without one, up to {AUTO_CEILING} (one at a time against the "
            "embedded server, called in-process); N: at most N (--workers 1: one after another)"
        ),
    )
    run.add_argument(
        "--max-rate",
        type=positive_float,
        metavar="PER_SECOND",
        help="send at most this many requests per second, across all workers (a known quota)",
    )
    run.add_argument(
        "--max-wait",
        type=non_negative_float,
        default=DEFAULT_MAX_WAIT,
        metavar="SECONDS",
        help=(
            "seconds the run may spend, in all, waiting out 429/503 answers as their "
            f"Retry-After says (default {DEFAULT_MAX_WAIT:g}); past it a busy answer is "
            "inconclusive evidence, never a failure"
        ),
    )


def _scope_options(run: argparse._ArgumentGroup) -> None:
    """What the run may spend and what it must reach (fail fast, budgets, coverage, dry run),
    or the client instead of a server."""
    run.add_argument(
        "--fail-fast",
        action="store_true",
        help=(
            "stop at the first failed check (schemathesis first, then the properties): a "
            "quicker red, with that failure's reproducer; the report says what was not run"
        ),
    )
    run.add_argument(
        "--max-requests",
        type=positive_int,
        help="budget: requests the run may send (divided between the parts; see the README)",
    )
    run.add_argument(
        "--max-tokens",
        type=positive_int,
        help="budget: prompt + completion tokens, as the server reports them",
    )
    run.add_argument(
        "--min-coverage",
        type=_percent,
        metavar="PCT",
        help=(
            "fail the run (exit 1) when it exercised less than PCT percent of the spec's "
            "coverage items (fields, values, statuses, error codes, headers; see docs/reports.md)"
        ),
    )
    run.add_argument(
        "--dry-run",
        "--estimate",
        dest="dry_run",
        action="store_true",
        help=(
            "print the requests, prompt tokens and request bytes the run is expected to send "
            "(for --level, --max-examples and --context-length, or the embedded model's "
            "window) and exit 0 without sending anything"
        ),
    )
    run.add_argument(
        "--client",
        action="store_true",
        help="check the generated client and SDK instead of a server",
    )


def _output_options(parser: argparse.ArgumentParser) -> None:
    """The catalogue listing and the report files."""
    out = parser.add_argument_group("output")
    out.add_argument(
        "--list-checks",
        action="store_true",
        help="print the rule catalogue (id, level, kind, statement, sources) and exit",
    )
    out.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="format of --list-checks (default text; markdown is the README's table)",
    )
    out.add_argument(
        "--report-dir",
        metavar="DIR",
        help=(
            "write DIR/report.html (self-contained, for people), DIR/report.json, "
            "DIR/junit.xml and DIR/bodies/ (request bodies over 2 KiB that the reproducers "
            "name); created if missing; input of 'chat-text-conformance replay DIR'"
        ),
    )
    out.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    out.add_argument("--report-json", metavar="PATH", help="write a JSON report")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[Target]:
    if args.base_url is None:
        if args.token or args.context_length:
            raise UsageError("--token and --context-length need --base-url")
        # lazy: the reference server (~0.2 s of imports) only when no --base-url is given
        from .engine.embedded import DEFAULT_MODEL, embedded

        try:
            with embedded(
                args.model or DEFAULT_MODEL,
                request_timeout=args.request_timeout,
                in_process=args.in_process,
            ) as target:
                yield target
        except LookupError as exc:
            raise UsageError(str(exc.args[0] if exc.args else exc)) from None
        return
    base_url: str = args.base_url
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, got {base_url!r}")
    token = args.token or token_from_env()
    if not token:
        raise UsageError(f"--base-url needs a token: pass --token or set ${TOKEN_ENV}")
    if not args.model:
        raise UsageError("--base-url needs --model (the model every request is pinned to)")
    yield Target(
        base_url=base_url.rstrip("/"),
        token=token,
        model=args.model,
        context_length=args.context_length,
        request_timeout=args.request_timeout,
    )


def _client_report(args: argparse.Namespace, seed: int, say: Any) -> RunReport:
    # lazy: hypothesis and the generated client (~0.5 s of imports) only for --client
    from .clients import sdk as client_conformance

    say("client: the generated client and the SDK against generated bodies")
    started = time.monotonic()
    results: list[CheckResult] = client_conformance.run_client_conformance(
        max_examples=args.max_examples, seed=seed
    )
    return RunReport(
        target="generated client + SDK",
        level="client",
        seed=seed,
        max_examples=args.max_examples,
        results=results,
        duration=time.monotonic() - started,
    )


_NOT_WITH_DRY_RUN = (
    ("client", "--client"),
    ("fail_fast", "--fail-fast"),
    ("min_coverage", "--min-coverage"),
    ("report_dir", "--report-dir"),
    ("junit_xml", "--junit-xml"),
    ("report_json", "--report-json"),
)


def _dry_run(args: argparse.Namespace, out: TextIO) -> int:
    """``--dry-run``: what the run would send, from :func:`cost.estimate`; nothing is sent."""
    # lazy: the cost model reads the rule modules (--help: 0.13 s with them, 0.07 s without)
    from .engine.cost import estimate

    for name, flag in _NOT_WITH_DRY_RUN:
        if getattr(args, name) not in (None, False):
            raise UsageError(f"--dry-run sends nothing, so {flag} has nothing to act on")
    context = args.context_length
    if context is None and args.base_url is None:
        # lazy: the reference server's models (~0.2 s of imports) only without --base-url
        from chat_text_server.engine import MODELS

        from .engine.embedded import DEFAULT_MODEL

        model = args.model or DEFAULT_MODEL
        if model not in MODELS:
            raise UsageError(
                f"the reference server has no model {model!r} (it has {sorted(MODELS)})"
            )
        context = MODELS[model]
    expected = estimate(args.level, args.max_examples, context)
    for line in expected.lines():
        print(line, file=out)
    if args.max_requests is not None or args.max_tokens is not None:
        print(
            "  a budget (--max-requests, --max-tokens) caps this: what it cannot afford is "
            "reported not exercised, by rule id",
            file=out,
        )
    return EXIT_OK


def _execute(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # lazy: schemathesis, hypothesis and the properties (~0.7 s of imports): --help,
    # --list-checks, --dry-run and the subcommands do without them
    from .engine.runner import run

    if args.dry_run:
        return _dry_run(args, out)

    for option, path in (("--junit-xml", args.junit_xml), ("--report-json", args.report_json)):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise UsageError(f"{option}: folder {Path(path).resolve().parent} does not exist")
    if args.report_dir is not None:
        _prepare_report_dir(Path(args.report_dir))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)

    def say(line: str) -> None:
        if not args.quiet:
            print(f"[conformance] {line}", file=err, flush=True)

    token: str | None = None
    if args.client:
        if args.base_url:
            raise UsageError("--client checks the client, it takes no --base-url")
        if args.min_coverage is not None:
            raise UsageError("--min-coverage measures a server run; --client has no spec coverage")
        if args.fail_fast:
            raise UsageError("--fail-fast stops a server run; --client runs every client check")
        report = _client_report(args, seed, say)
    else:
        with _target(args) as target:
            token = target.token
            say(f"level {args.level}, seed {seed}, max {args.max_examples} example(s)")
            report = run(
                target,
                Level(args.level),
                max_examples=args.max_examples,
                seed=seed,
                progress=say,
                max_time=args.max_time,
                workers=args.workers,
                max_rate=args.max_rate,
                max_wait=args.max_wait,
                max_requests=args.max_requests,
                max_tokens=args.max_tokens,
                fail_fast=args.fail_fast,
            )
            if report.context_length is None:
                report.context_length = target.context_length
            report.min_coverage = args.min_coverage
    report_dir = Path(args.report_dir) if args.report_dir is not None else None
    written = None
    if report_dir is not None:
        written = reports.write_report_dir(report, report_dir, token=token)
    print(reports.summary_text(report, report_dir=report_dir, token=token), file=out, flush=True)
    if written is not None and report_dir is not None:
        bodies = f", {len(written.bodies)} request body file(s) in {report_dir / 'bodies'}"
        print(
            f"report: {written.report_html}, {written.report_json}, {written.junit_xml}"
            f"{bodies if written.bodies else ''} (replay: chat-text-conformance replay "
            f"{report_dir})",
            file=out,
            flush=True,
        )
    if args.junit_xml:
        reports.write_junit_xml(report, args.junit_xml, report_dir=report_dir, token=token)
    if args.report_json:
        reports.write_json(report, args.report_json, report_dir=report_dir, token=token)
    if report.setup_error:
        return EXIT_SETUP
    return EXIT_OK if report.ok else EXIT_FAILED


_PREMISES = {
    "schema": "only what `openapi.yaml`'s schemas, statuses and headers state; a mock passes it",
    "semantic": "plus what the documents say of tokens, truncation, the window, streams, auth "
    "(any tokenizer, chunking, framing, wording; temperature 0 may vary)",
    "strict": "plus the premise that temperature 0 is deterministic (the documents only say "
    '"more focused and deterministic"): for servers that promise it',
}


def levels_markdown() -> str:
    """What each level runs, counted from the catalogue (the README's level table)."""
    # lazy: the rule modules (~0.6 s with the properties') only for the listings
    from .catalogue import catalogue

    lines = [
        "| level | rules it runs | premise |",
        "| --- | --- | --- |",
    ]
    kinds = (("schema", "schema"), ("response", "per-response"), ("property", "property"))
    for level in Level:
        rules = catalogue(level=level)
        counts = ", ".join(
            f"{sum(1 for r in rules if r.kind == kind)} {label}" for kind, label in kinds
        )
        lines.append(f"| `{level.value}` | {counts} | {_PREMISES[level.value]} |")
    return "\n".join(lines)


def catalogue_markdown() -> str:
    """The rule catalogue as the README's Markdown table (checked for drift by the tests)."""
    from .catalogue import catalogue  # lazy: as in levels_markdown

    lines = [
        "| rule | level | kind | what must hold | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in catalogue():
        sources = "<br>".join(
            f"`{source.where}`"
            if source.document == "openapi.yaml"
            else f'vendor: "{source.where}"'
            for source in rule.sources
        )
        statement = rule.statement.replace("|", "\\|")
        lines.append(
            f"| `{rule.id}` | {rule.level.value} | {rule.kind} | {statement} | {sources} |"
        )
    return "\n".join(lines)


def list_checks(output_format: str, out: TextIO) -> None:
    """The rule catalogue, as text (one block per rule) or JSON."""
    from .catalogue import catalogue  # lazy: as in levels_markdown

    rules = catalogue()
    if output_format == "json":
        print(json.dumps([rule.to_json() for rule in rules], indent=2), file=out)
        return
    if output_format == "markdown":
        print(levels_markdown() + "\n\n" + catalogue_markdown(), file=out)
        return
    for rule in rules:
        print(f"{rule.id}  [{rule.kind}, {rule.level.value}]", file=out)
        print(f"    {rule.statement}", file=out)
        for source in rule.sources:
            print(f"    source: {source}", file=out)


def _prepare_report_dir(folder: Path) -> None:
    problem = report_dir_problem(folder)
    if problem is not None:
        raise UsageError(problem)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # lazy: each subcommand imports what it runs and no other's (locust alone is ~0.7 s)
    if arguments[:1] == ["replay"]:
        from .replay import main as replay_main

        return replay_main(arguments[1:])
    if arguments[:1] == ["proxy"]:
        from .proxy.cli import main as proxy_main

        return proxy_main(arguments[1:])
    if arguments[:1] == ["clients"]:
        from .clients.matrix.cli import main as clients_main

        return clients_main(arguments[1:])
    if arguments[:1] == ["load"]:
        from .load.cli import main as load_main

        return load_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.list_checks:
        with contextlib.suppress(BrokenPipeError):
            list_checks(args.format, sys.stdout)
        return EXIT_OK
    return run_command(
        "chat-text-conformance", parser, lambda: _execute(args, sys.stdout, sys.stderr)
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
