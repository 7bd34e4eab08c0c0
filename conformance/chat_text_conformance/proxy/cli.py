"""``chat-text-conformance proxy``: relay real traffic to a server and judge every exchange.

Exit codes: 0 no exchange broke a rule, 1 one did (an upstream error included), 2 usage error
(bad flag, the listen address taken, the report folder unusable).
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from .._argtypes import (
    UsageError,
    positive_float,
    positive_int,
    report_dir_problem,
    run_command,
)
from ..engine.target import Level
from ..reporting import files as reports
from ..reporting.results import TOKEN_PLACEHOLDER
from .app import ProxySettings, ValidationProxy
from .server import bind, recording_signals, serve, url_of

__all__ = ["DEFAULT_LISTEN", "DEFAULT_REPORT_DIR", "build_parser", "main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100
DEFAULT_LISTEN = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
DEFAULT_REPORT_DIR = "chat-text-proxy-report"
DEFAULT_TIMEOUT = 60.0
PROG = "chat-text-conformance proxy"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Relay POST /inference/chat_text from any client to a server and judge every real "
            "exchange with the conformance rules that apply to one exchange (request validity, "
            "response schema, usage arithmetic, max_tokens, streaming framing). Streams are "
            "relayed event by event. The token is forwarded, never printed or written."
        ),
        epilog=(
            "On Ctrl-C or SIGTERM the proxy writes report.json, junit.xml and report.html into "
            "--report-dir and exits 1 if an exchange broke a rule, 0 otherwise (2: usage "
            "error). See docs/proxy.md."
        ),
    )
    parser.add_argument(
        "--upstream",
        required=True,
        metavar="URL",
        help="the server's base URL, e.g. http://127.0.0.1:8000 (requests go to URL + path)",
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"where clients connect (default {DEFAULT_LISTEN}; port 0 picks a free one)",
    )
    parser.add_argument(
        "--report-dir",
        default=DEFAULT_REPORT_DIR,
        metavar="DIR",
        help=f"where the report is written when the proxy stops (default ./{DEFAULT_REPORT_DIR})",
    )
    parser.add_argument(
        "--level",
        choices=[level.value for level in Level],
        default=Level.SEMANTIC.value,
        help="schema, semantic (default) or strict, as in the suite",
    )
    parser.add_argument(
        "--context-length",
        type=positive_int,
        help="the model's context window in tokens (enables the window rules)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        help=(
            "seconds to wait for the upstream's answer to begin and between two pieces of it "
            f"(default {DEFAULT_TIMEOUT:g})"
        ),
    )
    parser.add_argument(
        "--enforce",
        action="store_true",
        help=(
            "answer 502 (the spec's error body, code upstream_nonconformant) instead of an "
            "answer that breaks a rule; a stream is ended before the offending event "
            "(default: pass every answer through, record the violation)"
        ),
    )
    parser.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first exchange that breaks a rule: write the report, exit 1",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=positive_float,
        default=5.0,
        help="seconds answers in flight get to finish when the proxy stops (default 5)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no line per exchange")
    return parser


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``[IPv6]:PORT`` -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise UsageError(f"--listen must be HOST:PORT (e.g. {DEFAULT_LISTEN}), got {text!r}")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--listen: the port must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--listen: the port must be between 0 and 65535, got {port}")
    return host, port


def check_upstream(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--upstream must be an http:// or https:// URL, got {text!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"--upstream takes a base URL without query or fragment, got {text!r}")
    try:
        _ = parts.port
    except ValueError:
        raise UsageError(f"--upstream has a bad port: {text!r}") from None
    return text.rstrip("/")


def _reachable(upstream: str, timeout: float = 2.0) -> str | None:
    """Why a TCP connection to the upstream fails now (``None``: it works)."""
    parts = urlsplit(upstream)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def _prepare_report_dir(folder: Path) -> None:
    problem = report_dir_problem(folder)
    if problem is not None:
        raise UsageError(problem)


def scrub_folder(folder: Path, proxy: ValidationProxy) -> None:
    """Last line of defence: every token the proxy saw, replaced in every file of ``folder``."""
    tokens = proxy.ledger.tokens()
    if not tokens:
        return
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if not any(token.encode() in data for token in tokens):
            continue
        try:
            path.write_text(proxy.ledger.redact(data.decode("utf-8")), encoding="utf-8")
        except UnicodeDecodeError:
            for token in tokens:
                data = data.replace(token.encode(), TOKEN_PLACEHOLDER.encode())
            path.write_bytes(data)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with recording_signals() as received:
        return _run(args, out, err, received)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, received: list[int]) -> int:
    upstream = check_upstream(args.upstream)
    host, port = parse_listen(args.listen)
    folder = Path(args.report_dir)
    _prepare_report_dir(folder)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise UsageError(
            f"--listen {args.listen}: cannot listen there: {exc.strerror or exc}"
        ) from None

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=out, flush=True)

    settings = ProxySettings(
        upstream=upstream,
        level=Level(args.level),
        context_length=args.context_length,
        request_timeout=args.request_timeout,
        enforce=args.enforce,
        fail_fast=args.fail_fast,
    )
    proxy = ValidationProxy(settings, say=say)
    url = url_of(sock)
    proxy.ledger.listen_url = url
    modes = "".join(
        f", {m}" for m, on in (("--enforce", args.enforce), ("--fail-fast", args.fail_fast)) if on
    )
    print(
        f"{PROG}: listening on {url}, relaying to {upstream} (level {args.level}{modes}); "
        "Ctrl-C or SIGTERM stops it and writes the report",
        file=out,
        flush=True,
    )
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(
            f"{PROG}: warning: listening on {host}, not loopback: whoever reaches it can use "
            "the upstream with the token they send",
            file=err,
            flush=True,
        )
    why = _reachable(upstream)
    if why is not None:
        print(
            f"{PROG}: warning: {upstream} cannot be reached now ({why}); requests get 502 "
            "until it can",
            file=err,
            flush=True,
        )
    try:
        if not received:  # a signal before the server started: stop at once
            serve(proxy, sock, graceful_timeout=args.graceful_timeout)
    finally:
        sock.close()
    report = proxy.ledger.report()
    written = reports.write_report_dir(report, folder)
    scrub_folder(folder, proxy)
    summary = reports.summary_text(report, report_dir=folder)
    print(proxy.ledger.redact(summary), file=out, flush=True)
    names = [p.name for p in (written.report_json, written.junit_xml)]
    if (folder / "report.html").is_file():
        names.append("report.html")
    print(f"report: {', '.join(str(folder / n) for n in names)}", file=out, flush=True)
    if proxy.stop_requested.is_set():
        print(f"{PROG}: stopped at the first violation (--fail-fast)", file=out, flush=True)
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_command(PROG, parser, lambda: run(args, sys.stdout, sys.stderr))
