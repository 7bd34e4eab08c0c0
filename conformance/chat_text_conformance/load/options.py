"""The command line of ``chat-text-conformance load`` (Locust's own flag names where Locust has
them: ``--users``, ``--spawn-rate``, ``--run-time``, ``--master``, ``--expect-workers``,
``--master-bind-host``, ``--master-bind-port``, ``--worker``, ``--master-host``,
``--master-port``, ``--stop-timeout``) and the settings of a run (:class:`LoadSettings`), which
the command hands to its engine process and the master to its workers.

A bad flag is an error naming it (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._argtypes import UsageError, positive_float, positive_int, report_dir_problem
from .._argtypes import seed as seed_type
from ..engine.target import TOKEN_ENV, Level
from .slo import SLO, SLOError, parse_slos

__all__ = ["PROG", "LoadSettings", "UsageError", "build_parser", "parse_run_time", "settings_from"]

PROG = "chat-text-conformance load"
DEFAULT_USERS = 16
DEFAULT_SPAWN_RATE = 4.0
DEFAULT_RUN_TIME = 60.0
DEFAULT_MASTER_PORT = 5557
DEFAULT_TIMEOUT = 60.0
DEFAULT_STOP_TIMEOUT = 10.0
DEFAULT_WORKERS_WAIT = 60.0
DRAIN_TIMEOUT = 600.0
"""Seconds a load process waits, after the load stopped, for its judge to judge the answers
it had not judged yet (a bounded backlog: see ``judge.BACKLOG_BYTES``)."""


_RUN_TIME = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_run_time(text: str) -> float:
    """``90``, ``90s``, ``1m30s``, ``2h`` -> seconds (Locust's format)."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        match = _RUN_TIME.match(value)
        if not value or not match:
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (e.g. 60s, 1m30s, 2h, or seconds)"
            ) from None
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0 seconds, got {text!r}")
    return seconds


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {value}")
    return value


def _slos(text: str) -> tuple[SLO, ...]:
    try:
        return parse_slos(text)
    except SLOError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--slo ")) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 with the usage, as argparse does
        self.print_usage()
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Load a server of POST /inference/chat_text with many simulated users (Locust) and "
            "judge every answer with the conformance rules that apply to one exchange, streams "
            "event by event; measure requests/s, time to first token, inter-token latency, "
            "output tokens/s, error and rate-limited shares and goodput. Without --base-url it "
            "loads the embedded reference server."
        ),
        epilog=(
            "exit codes: 0 every judged rule passed and every SLO was met, 1 a rule failed or "
            "an SLO was missed, 2 usage or set-up error. Distributed: run 'load --master "
            "--expect-workers N ...' with the run's options, and 'load --worker --master-host "
            "HOST' on each worker machine (the token from its own $CHAT_TEXT_API_KEY). "
            "See docs/load.md."
        ),
    )
    _target_flags(parser)
    _load_flags(parser)
    _distributed_flags(parser)
    _output_flags(parser)
    return parser


def _target_flags(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target")
    target.add_argument("--base-url", help="server base URL, e.g. http://127.0.0.1:8000")
    target.add_argument("--model", help="model every request is pinned to")
    target.add_argument(
        "--context-length",
        type=positive_int,
        help="the model's context window in tokens (sizes the long prompts, enables the "
        "window rules)",
    )


def _load_flags(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("load")
    run.add_argument(
        "--users",
        type=positive_int,
        help=f"simulated users, each with one request in flight (default {DEFAULT_USERS})",
    )
    run.add_argument(
        "--spawn-rate",
        type=positive_float,
        help=f"users started per second (default {DEFAULT_SPAWN_RATE:g})",
    )
    run.add_argument(
        "--run-time",
        type=parse_run_time,
        help="how long the load lasts: 60s, 1m30s, 2h (default 60s)",
    )
    run.add_argument(
        "--max-rate",
        type=positive_float,
        metavar="REQ/S",
        help="at most this many requests per second over all users, each user paced at "
        "REQ/S / --users (resends of busy answers not counted; default: every user sends its "
        "next request as soon as its answer came)",
    )
    run.add_argument("--seed", type=seed_type, help="seed of the traffic mix (default 1)")
    run.add_argument(
        "--slo",
        type=_slos,
        metavar="NAME=VALUE,...",
        help=(
            "objectives, e.g. ttft_p95=2s,error_rate=1%%: ttft_pNN, itl_pNN, tpot_pNN, "
            "latency_pNN (a duration), error_rate, rate_limited_rate (at most a share), "
            "goodput (at least a share), rps (at least). A missed one exits 1"
        ),
    )
    run.add_argument(
        "--level",
        choices=[Level.SCHEMA.value, Level.SEMANTIC.value],
        help="the rules applied: schema or semantic (default; strict rules compare several "
        "answers, which one exchange cannot show)",
    )
    run.add_argument(
        "--request-timeout",
        type=positive_float,
        help=f"seconds to wait for an answer (default {DEFAULT_TIMEOUT:g})",
    )
    run.add_argument(
        "--stop-timeout",
        type=positive_float,
        help="seconds the requests in flight get to finish when the run ends "
        f"(default {DEFAULT_STOP_TIMEOUT:g})",
    )
    run.add_argument(
        "--judge",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="judge every answer (default); --no-judge only measures (to measure the cost of "
        "judging: scripts/bench_load.py)",
    )


def _distributed_flags(parser: argparse.ArgumentParser) -> None:
    dist = parser.add_argument_group("distributed (Locust's master/worker)")
    dist.add_argument("--master", action="store_true", help="run as the master of workers")
    dist.add_argument(
        "--expect-workers",
        type=positive_int,
        help="master: workers to wait for before the load starts (default 1)",
    )
    dist.add_argument(
        "--expect-workers-max-wait",
        type=positive_float,
        help=f"master: seconds to wait for them (default {DEFAULT_WORKERS_WAIT:g}; then exit 2)",
    )
    dist.add_argument(
        "--master-bind-host", help="master: interface workers connect to (default: all)"
    )
    dist.add_argument(
        "--master-bind-port",
        type=_port,
        help=f"master: port workers connect to (default {DEFAULT_MASTER_PORT})",
    )
    dist.add_argument("--worker", action="store_true", help="run as a worker of a master")
    dist.add_argument("--master-host", help="worker: the master's host (default 127.0.0.1)")
    dist.add_argument(
        "--master-port",
        type=_port,
        help=f"worker: the master's port (default {DEFAULT_MASTER_PORT})",
    )


def _output_flags(parser: argparse.ArgumentParser) -> None:
    out = parser.add_argument_group("output")
    out.add_argument(
        "--report-dir",
        metavar="DIR",
        help="write DIR/report.json (with its load section), DIR/junit.xml (one test case per "
        "rule and per SLO) and DIR/report.html (charts over time); created if missing",
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


@dataclass
class LoadSettings:
    """One run's settings (JSON: the engine process and the workers get them so)."""

    mode: str = "local"
    """``local``, ``master`` or ``worker``."""
    base_url: str = ""
    model: str = ""
    context_length: int | None = None
    embedded: bool = False
    """The target is the reference server the command started (its token is shared with the
    workers, which are then on the same machine)."""
    users: int = DEFAULT_USERS
    spawn_rate: float = DEFAULT_SPAWN_RATE
    run_time: float = DEFAULT_RUN_TIME
    max_rate: float | None = None
    """Requests per second over all users at most (``None``: each user as fast as answers
    come)."""
    seed: int = 1
    slos: list[dict[str, Any]] = field(default_factory=list)
    level: str = Level.SEMANTIC.value
    request_timeout: float = DEFAULT_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    judge: bool = True
    expect_workers: int = 1
    expect_workers_max_wait: float = DEFAULT_WORKERS_WAIT
    master_bind_host: str = "*"
    master_bind_port: int = DEFAULT_MASTER_PORT
    master_host: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT
    report_dir: str | None = None
    quiet: bool = False
    shared_token: str | None = field(default=None, repr=False)
    """The embedded server's token, for workers (only ever the embedded one's)."""

    @property
    def slo_objectives(self) -> tuple[SLO, ...]:
        cached: tuple[SLO, ...] | None = self.__dict__.get("_slo_cache")
        if cached is None:
            cached = tuple(SLO.from_json(item) for item in self.slos)
            self.__dict__["_slo_cache"] = cached
        return cached

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadSettings:
        return cls(**json.loads(text))

    def for_workers(self) -> dict[str, Any]:
        """What the master tells its workers (everything they need to send and judge)."""
        data = asdict(self)
        data["mode"] = "worker"
        data["report_dir"] = None
        return data


_RUN_FLAGS = (
    ("base_url", "--base-url"),
    ("model", "--model"),
    ("context_length", "--context-length"),
    ("users", "--users"),
    ("spawn_rate", "--spawn-rate"),
    ("run_time", "--run-time"),
    ("max_rate", "--max-rate"),
    ("seed", "--seed"),
    ("slo", "--slo"),
    ("level", "--level"),
    ("request_timeout", "--request-timeout"),
    ("stop_timeout", "--stop-timeout"),
    ("judge", "--judge/--no-judge"),
    ("report_dir", "--report-dir"),
    ("expect_workers", "--expect-workers"),
    ("expect_workers_max_wait", "--expect-workers-max-wait"),
    ("master_bind_host", "--master-bind-host"),
    ("master_bind_port", "--master-bind-port"),
)


def settings_from(args: argparse.Namespace) -> LoadSettings:
    """The settings the flags ask for (:class:`UsageError` names a bad combination). The target
    (the token, the embedded server) is set by the command."""
    if args.master and args.worker:
        raise UsageError("--master and --worker exclude each other")
    if args.worker:
        given = [flag for name, flag in _RUN_FLAGS if getattr(args, name) is not None]
        if given:
            raise UsageError(
                f"--worker takes its run from the master: drop {', '.join(given)} (give them "
                "to the master)"
            )
        return LoadSettings(
            mode="worker",
            master_host=args.master_host or "127.0.0.1",
            master_port=args.master_port or DEFAULT_MASTER_PORT,
            quiet=args.quiet,
        )
    if args.master_host is not None or args.master_port is not None:
        raise UsageError("--master-host and --master-port are a worker's: add --worker")
    if not args.master:
        for name, flag in _RUN_FLAGS[-4:]:
            if getattr(args, name) is not None:
                raise UsageError(f"{flag} is the master's: add --master")
    settings = LoadSettings(
        mode="master" if args.master else "local",
        users=args.users or DEFAULT_USERS,
        spawn_rate=args.spawn_rate or DEFAULT_SPAWN_RATE,
        run_time=args.run_time or DEFAULT_RUN_TIME,
        max_rate=args.max_rate,
        seed=1 if args.seed is None else args.seed,
        slos=[slo.to_json() for slo in (args.slo or ())],
        level=args.level or Level.SEMANTIC.value,
        request_timeout=args.request_timeout or DEFAULT_TIMEOUT,
        stop_timeout=args.stop_timeout or DEFAULT_STOP_TIMEOUT,
        judge=True if args.judge is None else args.judge,
        expect_workers=args.expect_workers or 1,
        expect_workers_max_wait=args.expect_workers_max_wait or DEFAULT_WORKERS_WAIT,
        master_bind_host=args.master_bind_host or "*",
        master_bind_port=args.master_bind_port or DEFAULT_MASTER_PORT,
        report_dir=args.report_dir,
        quiet=args.quiet,
        context_length=args.context_length,
    )
    if args.report_dir is not None:
        problem = report_dir_problem(Path(args.report_dir))
        if problem is not None:
            raise UsageError(problem)
    if args.base_url is None:
        if args.context_length is not None:
            raise UsageError("--context-length needs --base-url (the embedded server knows it)")
        return settings
    base_url: str = args.base_url
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, got {base_url!r}")
    if not args.model:
        raise UsageError("--base-url needs --model (the model every request is pinned to)")
    settings.base_url = base_url.rstrip("/")
    settings.model = args.model
    return settings


TOKEN_HELP = f"the token is read from ${TOKEN_ENV} (or its old name $CHAT_TEXT_TOKEN)"
SETTINGS_ENV = "CHAT_TEXT_LOAD_SETTINGS"
"""Where the command hands the engine process its settings (JSON)."""
