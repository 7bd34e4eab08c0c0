"""``chat-text-server``: run the reference server with uvicorn.

Tokens come from ``--token`` (repeatable) and from ``CHAT_TEXT_TOKENS`` (comma-separated);
with none the server refuses to start (exit status 2). uvicorn handles SIGTERM and Ctrl-C:
it stops accepting connections, lets in-flight requests finish, and exits with status 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

__all__ = ["main"]

TOKENS_ENV = "CHAT_TEXT_TOKENS"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-text-server",
        description="Serve the chat-text reference API (POST /inference/chat_text).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN",
        help=f"a bearer token to accept; repeatable. Also read from ${TOKENS_ENV} "
        "(comma-separated).",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off by default)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default info)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=10.0,
        help="seconds in-flight requests get to finish after SIGTERM (default 10)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chat-text-server``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    tokens = [t.strip() for t in args.token if t.strip()]
    tokens += [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]
    if not tokens:
        parser.print_usage(sys.stderr)
        print(
            f"chat-text-server: error: no bearer token configured; pass --token TOKEN or set "
            f"{TOKENS_ENV}=token1,token2",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")

    import uvicorn  # imported late: --help and errors stay fast

    from .app import create_app

    app = create_app(tokens)
    print(
        f"chat-text-server: serving POST http://{args.host}:{args.port}/inference/chat_text "
        f"with {len(tokens)} token(s)",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        access_log=args.access_log,
        log_level=args.log_level,
        lifespan="off",
        timeout_graceful_shutdown=max(1, round(args.graceful_timeout)),
    )
    # uvicorn captures SIGTERM/SIGINT, shuts down gracefully, then re-raises the signal to
    # the handler that was installed before it started. Installing a no-op handler here
    # turns a graceful stop into exit status 0 instead of death by signal.
    stops: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stops.append(signum))
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
