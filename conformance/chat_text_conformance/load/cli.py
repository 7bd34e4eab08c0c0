"""``chat-text-conformance load``: check the flags, set up the target (the embedded reference
server when there is no ``--base-url``; the suite's pre-flight against it), then run the load
engine (:mod:`.engine`) in a child process and pass its exit code on.

The engine imports Locust, which monkey-patches the standard library with gevent: keeping it in
its own process leaves this one (and any caller, a test's included) unpatched, and the embedded
server runs here, on its own thread and event loop, not competing with the engine's greenlets.

Exit codes: 0 every judged rule passed and every SLO was met, 1 a rule failed, an SLO was
missed or a worker was lost, 2 usage or set-up error (a bad flag, no token, the target
unreachable or refusing the token or model, no workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence

from .._argtypes import run_command
from ..engine.target import TOKEN_ENV, Target, token_from_env
from .options import (
    DRAIN_TIMEOUT,
    PROG,
    SETTINGS_ENV,
    LoadSettings,
    UsageError,
    build_parser,
    settings_from,
)

__all__ = ["main"]

ENGINE = "chat_text_conformance.load.engine"

_GRACE = 120.0
"""Seconds the engine may take beyond its run (spawning, stopping, writing the report) before
it is stopped as stuck."""


@contextlib.contextmanager
def _target(settings: LoadSettings) -> Iterator[str | None]:
    """Fill in the target (the embedded server for the ``with`` block when there is no
    ``--base-url``); yields the token (``None`` for a worker, which reads its own)."""
    if settings.mode == "worker":
        yield None
        return
    if settings.base_url:
        token = token_from_env()
        if not token:
            raise UsageError(f"--base-url needs a token: set ${TOKEN_ENV}")
        yield token
        return
    from ..engine.embedded import DEFAULT_MODEL, embedded

    try:
        with embedded(DEFAULT_MODEL, request_timeout=settings.request_timeout) as target:
            settings.base_url = target.base_url
            settings.model = target.model
            settings.context_length = target.context_length
            settings.embedded = True
            if settings.mode == "master":
                settings.shared_token = target.token  # the workers load the same local server
            yield target.token
    except LookupError as exc:  # pragma: no cover - the default model is the server's
        raise UsageError(str(exc)) from None


def _preflight(settings: LoadSettings, token: str) -> None:
    from ..engine.probe import preflight

    target = Target(
        base_url=settings.base_url,
        token=token,
        model=settings.model,
        context_length=settings.context_length,
        request_timeout=min(settings.request_timeout, 30.0),
    )
    found = preflight(target)
    if found.setup_error is not None:
        raise UsageError(f"pre-flight: {found.setup_error}")


def _bound(settings: LoadSettings) -> float | None:
    if settings.mode == "worker":
        return None  # it serves its master until told to quit (or the master is gone 60 s)
    waiting = settings.expect_workers_max_wait if settings.mode == "master" else 0.0
    judging = DRAIN_TIMEOUT if settings.judge else 0.0  # the answers left to judge at the end
    return settings.run_time + settings.stop_timeout + waiting + judging + _GRACE


def _run_engine(settings: LoadSettings, token: str | None) -> int:
    env = dict(os.environ)
    env[SETTINGS_ENV] = settings.to_json()
    if token is not None:
        env[TOKEN_ENV] = token
    process = subprocess.Popen([sys.executable, "-m", ENGINE], env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine stops on it itself
    try:
        try:
            return process.wait(timeout=_bound(settings))
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            print(f"{PROG}: error: the load engine did not finish in time", file=sys.stderr)
            return 2
    finally:
        signal.signal(signal.SIGINT, previous)
        if process.poll() is None:  # pragma: no cover - an exception while waiting
            process.kill()
            process.wait()


def run(settings: LoadSettings) -> int:
    with _target(settings) as token:
        if token is not None:
            _preflight(settings, token)
        return _run_engine(settings, token)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, or a bad flag (argparse printed it)
        return int(exc.code) if isinstance(exc.code, int) else 2
    return run_command(PROG, parser, lambda: run(settings_from(args)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
