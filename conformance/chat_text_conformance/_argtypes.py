"""Command-line checks shared by the ``chat-text-conformance`` commands: a bad value is an
error naming the flag (exit 2), never a traceback."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

__all__ = [
    "non_negative_float",
    "positive_float",
    "positive_int",
    "report_dir_problem",
    "seed",
    "workers",
]


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
