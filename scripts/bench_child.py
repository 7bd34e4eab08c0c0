"""A benchmark's server in a child process (its own GIL), shared by the bench scripts.

The child runs ``code`` (``python -c``) with ``argv``, prints its base URL on its first line and
serves until its stdin closes: the ``with`` block's end, or the benchmark dying.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

__all__ = ["child_server"]


@contextlib.contextmanager
def child_server(code: str, *argv: str) -> Iterator[str]:
    """Start the child, yield the URL it printed, stop it when the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("a benchmark server did not start")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
