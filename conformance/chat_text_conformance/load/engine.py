"""The load engine: one process running Locust as a library, as a local runner, a master or a
worker (``python -m chat_text_conformance.load.engine``, started by :mod:`.cli` with the run's
settings in ``$CHAT_TEXT_LOAD_SETTINGS`` and the token in ``$CHAT_TEXT_API_KEY``).

Importing ``locust`` monkey-patches the standard library with gevent, so it is this module's
first import and this process does nothing else.

Distributed runs use Locust's own channel: the master hands its settings to the workers in the
spawn message (Locust forwards the custom options of ``parsed_options``), each worker sends its
verdicts and figures every second and once more when it stops (custom messages,
``runner.send_message`` / ``register_message``), and the master adds them up. A worker that stops
answering Locust's heartbeats, quits before the end or sends no final report is listed as lost:
its share up to its last report is counted, and the run fails.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from typing import Any

import gevent
import gevent.event
from locust import argument_parser, constant, constant_throughput
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner

from ..engine.target import token_from_env
from .book import Book
from .figures import Figures
from .judging import JudgingStats
from .options import DRAIN_TIMEOUT, LoadSettings
from .report import finish
from .result import LoadResult, WorkerInfo
from .user import ChatUser, LoadState

__all__ = ["SETTINGS_ENV", "LoadResult", "WorkerInfo", "main"]

from .options import SETTINGS_ENV

REPORT_MESSAGE = "chat_text_report"
SETUP_MESSAGE = "chat_text_setup_error"
OPTION = "chat_text_settings"
"""The custom option of ``parsed_options`` the settings travel in to the workers."""
DRAIN_PROGRESS_EVERY = 10.0
"""Seconds between two progress lines while the judge drains (a long drain says it is alive)."""
REPORT_EVERY = 1.0
"""Seconds between two reports of a worker to its master."""


def _say(settings: LoadSettings, line: str) -> None:
    if not settings.quiet:
        print(f"[load] {line}", file=sys.stderr, flush=True)


def _configure(settings: LoadSettings) -> None:
    ChatUser.network_timeout = settings.request_timeout
    ChatUser.connection_timeout = settings.request_timeout
    if settings.max_rate is None:
        ChatUser.wait_time = constant(0)
    else:  # each user's share of the rate (``users``: over all the workers)
        ChatUser.wait_time = constant_throughput(settings.max_rate / settings.users)
    logging.basicConfig(level=logging.WARNING, format="[locust] %(levelname)s %(message)s")


def _finish_judging(
    state: LoadState, interrupt: gevent.event.Event | None = None
) -> JudgingStats | None:
    """The load stopped: wait for the judge's last verdicts, saying how many are left (until
    ``interrupt`` is set, when given: Ctrl-C once more)."""
    judging = state.judging
    if judging is None:
        return None
    if not judging.backlog:
        return state.finish_judging(DRAIN_TIMEOUT, interrupt)
    again = " (Ctrl-C again to stop judging)" if interrupt is not None else ""
    _say(state.settings, f"the load stopped: judging the last {judging.backlog} answer(s){again}")

    def progress() -> None:
        while True:
            gevent.sleep(DRAIN_PROGRESS_EVERY)
            _say(state.settings, f"judging: {judging.backlog} answer(s) left")

    talker = gevent.spawn(progress)
    try:
        return state.finish_judging(DRAIN_TIMEOUT, interrupt)
    finally:
        talker.kill(block=False)


def _stop_on_signals() -> gevent.event.Event:
    stop = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set)
    return stop


def _locust_options(settings: LoadSettings) -> Any:
    parser = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(parser)  # type: ignore[no-untyped-call]
    options = parser.parse(args=[])
    setattr(options, OPTION, json.dumps(settings.for_workers()))
    return options


def run_local(settings: LoadSettings, token: str) -> LoadResult:
    _configure(settings)
    state = LoadState(settings, token)
    ChatUser.load_state = state
    environment = Environment(
        user_classes=[ChatUser], host=settings.base_url, stop_timeout=settings.stop_timeout
    )
    runner = environment.create_local_runner()
    stop = _stop_on_signals()
    started = time.time()
    cpu = time.process_time()
    _say(settings, f"{settings.users} user(s), {settings.spawn_rate:g}/s, {settings.run_time:g}s")
    runner.start(settings.users, settings.spawn_rate)
    interrupted = stop.wait(timeout=settings.run_time)
    runner.stop()
    ended = time.time()
    cpu = time.process_time() - cpu
    runner.quit()
    stop.clear()  # from here, Ctrl-C (or SIGTERM) stops the judging of what is left
    judging = _finish_judging(state, stop)
    return LoadResult(
        settings,
        state.book,
        state.figures,
        started,
        ended,
        gave_up=state.gave_up,
        interrupted=bool(interrupted),
        locust_requests=environment.stats.total.num_requests,
        locust_failures=environment.stats.total.num_failures,
        cpu_seconds=cpu,
        judging=judging,
    )


class _Master:
    """The master's account of its workers and what they reported."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.book = Book(settings.base_url)
        self.figures = Figures()
        self.workers: dict[str, WorkerInfo] = {}
        self.gave_up = 0
        self.setup_error: str | None = None
        self.running = False
        self.judging = JudgingStats.empty() if settings.judge else None

    def connected(self, client_id: str, index: int) -> None:
        if client_id not in self.workers:
            self.workers[client_id] = WorkerInfo(client_id, index, time.time())
            _say(self.settings, f"worker {index} connected ({client_id})")

    def report(self, environment: Environment, msg: Any) -> None:
        data = msg.data
        worker = self.workers.get(msg.node_id)
        if worker is None:
            worker = self.workers[msg.node_id] = WorkerInfo(msg.node_id, -1, time.time())
        self.book.merge(Book.from_wire(data["book"]))
        self.figures.merge(Figures.from_wire(data["figures"]))
        self.gave_up += int(data.get("gave_up", 0))
        worker.reports += 1
        worker.last_report = time.time()
        if data.get("final"):
            worker.final = True
            if self.judging is not None and data.get("judging"):
                self.judging.add(data["judging"])

    def setup_failed(self, environment: Environment, msg: Any) -> None:
        self.setup_error = f"worker {msg.node_id}: {msg.data.get('error')}"

    def lose(self, worker: WorkerInfo, why: str) -> None:
        if worker.lost is None and not worker.final:
            worker.lost = why
            worker.lost_at = time.time()
            _say(self.settings, f"worker {worker.index} LOST: {why}")

    def watch(self, runner: MasterRunner, stopped: bool = False) -> None:
        for worker in self.workers.values():
            node = runner.clients.get(worker.id)
            if node is None:
                if not stopped:  # once stopped, Locust forgets a worker until it is ready again
                    self.lose(worker, "it quit or disconnected before the end of the run")
            elif node.state == STATE_MISSING:
                self.lose(worker, "it stopped answering Locust's heartbeats (dead or cut off)")

    def settle(self, runner: MasterRunner) -> None:
        """The load stopped: wait for each worker's final report. A worker judging its last
        answers reports every second meanwhile; one silent for longer than the stop timeout
        (plus a margin), or not done by the judges' deadline, is lost."""
        silence = self.settings.stop_timeout + 5
        deadline = time.monotonic() + DRAIN_TIMEOUT + silence
        while time.monotonic() < deadline:
            self.watch(runner, stopped=True)
            now = time.time()
            for worker in self.workers.values():
                heard = worker.last_report or worker.connected_at
                if not worker.final and worker.lost is None and now - heard > silence:
                    self.lose(worker, "it sent no final report after the run stopped")
            if all(w.final or w.lost is not None for w in self.workers.values()):
                return
            gevent.sleep(0.1)
        for worker in self.workers.values():
            self.lose(worker, "it sent no final report after the run stopped")


def run_master(settings: LoadSettings, token: str) -> LoadResult:
    _configure(settings)
    master = _Master(settings)
    environment = Environment(
        user_classes=[ChatUser],
        host=settings.base_url,
        stop_timeout=settings.stop_timeout,
        parsed_options=_locust_options(settings),
    )
    try:
        runner = environment.create_master_runner(
            settings.master_bind_host, settings.master_bind_port
        )
    except SystemExit:  # Locust exits when the port is taken
        return _failed(
            settings,
            f"--master-bind-port {settings.master_bind_port}: cannot listen there (taken?)",
        )
    runner.register_message(REPORT_MESSAGE, master.report)
    runner.register_message(SETUP_MESSAGE, master.setup_failed)

    def connected(client_id: str, **_: Any) -> None:
        master.connected(client_id, runner.get_worker_index(client_id))  # type: ignore[no-untyped-call]

    environment.events.worker_connect.add_listener(connected)  # type: ignore[no-untyped-call]
    stop = _stop_on_signals()
    where = f"{settings.master_bind_host}:{settings.master_bind_port}"
    _say(settings, f"master on {where}: waiting for {settings.expect_workers} worker(s)")
    deadline = time.monotonic() + settings.expect_workers_max_wait
    while runner.worker_count < settings.expect_workers:
        if stop.is_set() or time.monotonic() > deadline or master.setup_error:
            runner.quit()
            return _failed(
                settings,
                master.setup_error
                or f"--expect-workers {settings.expect_workers}: only {runner.worker_count} "
                f"worker(s) connected within {settings.expect_workers_max_wait:g}s",
            )
        gevent.sleep(0.1)
    started = time.time()
    _say(
        settings,
        f"{settings.users} user(s) over {runner.worker_count} worker(s), "
        f"{settings.spawn_rate:g}/s, {settings.run_time:g}s",
    )
    gevent.spawn(runner.start, settings.users, settings.spawn_rate)
    end = time.monotonic() + settings.run_time
    interrupted = False
    while time.monotonic() < end and not master.setup_error:
        if stop.wait(timeout=min(0.25, max(0.0, end - time.monotonic()))):
            interrupted = True
            break
        master.watch(runner)
    master.watch(runner)
    runner.stop()
    ended = time.time()
    master.settle(runner)
    runner.quit()
    return LoadResult(
        settings,
        master.book,
        master.figures,
        started,
        ended,
        workers=sorted(master.workers.values(), key=lambda w: w.index),
        gave_up=master.gave_up,
        interrupted=interrupted,
        setup_error=master.setup_error,
        locust_requests=environment.stats.total.num_requests,
        locust_failures=environment.stats.total.num_failures,
        judging=master.judging,
    )


def run_worker(settings: LoadSettings) -> int:
    """Serve a master until it says quit: 0, or 2 when the worker cannot take part."""
    _configure(settings)
    environment = Environment(user_classes=[ChatUser])
    where = f"{settings.master_host}:{settings.master_port}"
    _say(settings, f"worker: connecting to the master at {where}")
    try:
        runner = environment.create_worker_runner(settings.master_host, settings.master_port)
    except ConnectionError:
        print(
            f"{_PROG}: error: no master answered at {where} (--master-host, --master-port)",
            file=sys.stderr,
        )
        return 2
    failed: list[str] = []
    reporter: list[gevent.Greenlet] = []

    def send(final: bool, judging: JudgingStats | None = None) -> None:
        state = ChatUser.load_state
        if state is None:
            return
        data = state.take()
        data["final"] = final
        data["judging"] = judging
        runner.send_message(REPORT_MESSAGE, data)

    def report_every_second() -> None:
        while True:
            gevent.sleep(REPORT_EVERY)
            send(final=False)

    def on_test_start(environment: Environment, **_: Any) -> None:
        options = environment.parsed_options
        raw = getattr(options, OPTION, None) if options is not None else None
        if raw is None:
            failed.append("the master sent no chat-text settings (is it a chat-text master?)")
        else:
            run = LoadSettings(**json.loads(raw))
            token = run.shared_token or token_from_env()
            if not token:
                failed.append("no token: set $CHAT_TEXT_API_KEY on the worker")
            else:
                run.quiet = settings.quiet
                _configure(run)
                ChatUser.load_state = LoadState(run, token, max(0, runner.worker_index))
                reporter.append(gevent.spawn(report_every_second))
                return
        runner.send_message(SETUP_MESSAGE, {"error": failed[-1]})
        gevent.spawn_later(0.5, runner.quit)

    def finish() -> None:
        """The judge's last verdicts (the reports go on meanwhile: the master sees the worker
        is alive), then the final report; one run per master: then the worker quits."""
        state = ChatUser.load_state
        judging = _finish_judging(state) if state is not None else None
        for greenlet in reporter:
            greenlet.kill(block=False)
        reporter.clear()
        send(final=True, judging=judging)
        gevent.spawn_later(0.2, runner.quit)

    def on_test_stop(environment: Environment, **_: Any) -> None:
        gevent.spawn(finish)

    environment.events.test_start.add_listener(on_test_start)  # type: ignore[no-untyped-call]
    environment.events.test_stop.add_listener(on_test_stop)  # type: ignore[no-untyped-call]
    stop = _stop_on_signals()

    def quit_on_signal() -> None:
        stop.wait()
        runner.quit()

    gevent.spawn(quit_on_signal)
    runner.greenlet.join()
    if failed:
        print(f"{_PROG}: error: {failed[-1]}", file=sys.stderr)
        return 2
    return 0


_PROG = "chat-text-conformance load"


def _failed(settings: LoadSettings, error: str) -> LoadResult:
    now = time.time()
    return LoadResult(settings, Book(settings.base_url), Figures(), now, now, setup_error=error)


def main() -> int:
    settings = LoadSettings.from_json(os.environ[SETTINGS_ENV])
    if settings.mode == "worker":
        return run_worker(settings)
    token = token_from_env(notice=lambda line: None)
    if not token:
        print(f"{_PROG}: error: no token in the engine's environment", file=sys.stderr)
        return 2
    if settings.mode == "master":
        result = run_master(settings, token)
    else:
        result = run_local(settings, token)
    return finish(result, token)


if __name__ == "__main__":  # pragma: no cover - the command starts it
    sys.exit(main())
