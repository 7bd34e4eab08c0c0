"""Command-line pieces shared by the ``chat-text-conformance`` commands: a bad value is an
error naming the flag (exit 2), never a traceback (:func:`run_command`)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEBUG_ENV",
    "EXIT_USAGE",
    "UsageError",
    "non_negative_float",
    "positive_float",
    "positive_int",
    "report_dir_problem",
    "run_command",
    "seed",
    "workers",
]


DEBUG_ENV = "CHAT_TEXT_CONFORMANCE_DEBUG"
"""Set (to anything) for a traceback instead of the one-line error."""
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad flag, file or environment: the usage and the message, exit code 2."""


def run_command(
    prog: str,
    parser: argparse.ArgumentParser,
    body: Callable[[], int],
    *,
    usage_errors: tuple[type[Exception], ...] = (UsageError,),
    redact: Callable[[str], str] = str,
) -> int:
    """Run a command's ``body``; its exit code. A usage error (``usage_errors``) prints the
    usage and the message, Ctrl-C "interrupted", anything else its cause in one line (``redact``
    takes out what must not be printed, a token) — each exit 2, never a traceback (unless
    :data:`DEBUG_ENV` is set)."""
    try:
        return body()
    except usage_errors as exc:
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # never a traceback for a user; the cause in one line
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"{prog}: error: {type(exc).__name__}: {redact(str(exc))} "
            f"(set {DEBUG_ENV}=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_USAGE


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a number of 0 or more, got {text}")
    return value


def seed(text: str) -> int:
    """A random seed: any integer."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def workers(text: str) -> int | str:
    """``auto`` or a whole number of at least 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"'auto' or a whole number of at least 1, got {text!r}"
        ) from None


def report_dir_problem(folder: Path) -> str | None:
    """Create the report folder before the work starts, so a bad path fails in a second, not
    after a run; what is wrong with it (naming ``--report-dir``), or ``None``."""
    if folder.exists() and not folder.is_dir():
        return f"--report-dir: {folder} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--report-dir: cannot create {folder}: {exc.strerror or exc}"
    if not os.access(folder, os.W_OK):
        return f"--report-dir: {folder} is not writable"
    return None
