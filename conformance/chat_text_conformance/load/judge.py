"""The judge process of a load run (``python -m chat_text_conformance.load.judge``, started by
each load engine process: the local one, or each worker): it applies the per-exchange rules to
every answer the engine read, with the same :func:`~chat_text_conformance.checks.judge` and the
same stream rules fed event by event (:class:`~chat_text_conformance.checks.watch.StreamJudge`)
as the suite and the proxy, and records the verdicts in a :class:`~.book.Book`.

Why a process of its own: judging an answer costs several times what sending it does. Inline, it
would take its CPU from the load itself, and a run against a fast server would measure the
judge, not the server. Here it takes only what the load leaves:

* while the load runs, its judging thread has the lowest priority the system gives
  (``SCHED_IDLE``, else nice 19): with idle CPU (a real model's latency, another core) it keeps up
  with the answers as they come; on a machine the load saturates, the answers wait in the pipe,
  and the engine's buffer, up to :data:`BACKLOG_BYTES` (then the users wait for it: back-pressure,
  counted and reported);
* when the load stops, the engine says so on the control pipe and the rest is judged at normal
  priority (the main thread takes over: scheduling priority is a thread's on Linux).

The wire, from the engine: on stdin, frames (4-byte big-endian length, then a pickled list of
:data:`Record` tuples; the engine is this process's parent, the same interpreter); on the control
pipe (fd ``argv[1]``), ``d`` for "the load stopped: drain", and its end when the engine is gone.
To the engine, on stdout: one JSON line per report (every :data:`REPORT_EVERY` seconds while
something is new, and a last one with ``"final": true``): the verdicts since the last report
(``Book.take``), the exchanges judged, the violating ones (for the figures' goodput) and the
process's CPU time spent judging.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections import deque
from typing import IO, Any

import chat_text_spec

from .. import checks
from ..checks import CheckFailed, Exchange, RunContext
from ..checks.watch import StreamJudge
from ..engine.target import Level, token_from_env
from ..reporting.results import Failure, RequestRecord
from .book import Book
from .options import SETTINGS_ENV, LoadSettings

__all__ = [
    "BACKLOG_BYTES",
    "DRAIN",
    "FRAME",
    "MODULE",
    "REPORT_EVERY",
    "Record",
    "request_headers",
]

MODULE = "chat_text_conformance.load.judge"
FRAME = struct.Struct(">I")
"""A frame's length prefix."""
DRAIN = b"d"
"""Control pipe: the load stopped, judge the rest at normal priority."""
REPORT_EVERY = 1.0
"""Seconds between two reports to the engine (when something is new)."""
BACKLOG_BYTES = 256 * 1024 * 1024
"""Answers read but not yet taken by the judge that the engine holds at most; beyond it, the
users wait for the judge (back-pressure)."""

Record = tuple[int, str, bytes, bool, int, str, tuple[tuple[str, str], ...], bytes, float,
               str | None, bool, bool]  # fmt: skip
"""One exchange as the engine sends it: (number, the mix's name of the request, the request's
body as sent, streamed, status (0: no answer), media type, response headers (lower-case names),
body, Unix time it was sent, why the answer was cut or missing (else ``None``), whether it was
good but for the rules (no error, within every SLO: goodput's test), whether it had no error)."""

TRANSPORT_RULE = "server_answers_every_request"
_TRANSPORT_EXPECTED = "a complete HTTP response within --request-timeout"


def request_headers(token: str) -> dict[str, str]:
    """The headers every request of the load carries (as sent)."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
    }


def _lines(body: bytes) -> list[bytes]:
    """The body as it arrived: line by line (the engine reads a stream by lines)."""
    parts = body.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class Verdicts:
    """What the judge has found: a :class:`Book` and the violating exchanges since the last
    report, the count judged, and the exchange-level state of the rules (a :class:`RunContext`:
    answer ids seen, the window)."""

    def __init__(self, settings: LoadSettings, token: str) -> None:
        self.settings = settings
        self.token = token
        self.level = Level(settings.level)
        self.context = RunContext(
            context_length=settings.context_length, token=token, model=settings.model
        )
        self.book = Book(settings.base_url)
        self.headers = request_headers(token)
        self.recorded_headers = tuple((k.lower(), v) for k, v in self.headers.items())
        self.judged = 0
        self.violating: list[list[Any]] = []
        """``[second, good but for the rules, no error]`` of each violating exchange."""
        self.new = False
        self.cpu_start = time.process_time()

    def warm_up(self) -> None:
        """Compile every validator the rules use before the first answer (a made-up answer and
        stream, judged in a context of their own)."""
        request = {"model": self.settings.model, "messages": [{"role": "user", "content": "x"}]}
        sent = json.dumps(request).encode()
        for media, body in (("application/json", b"{}"), ("text/event-stream", b"data: {}\n\n")):
            watch = StreamJudge(request, self.level)
            watch.feed(body)
            exchange = Exchange(
                request,
                200,
                media,
                body,
                context=RunContext(),
                headers=(("content-type", media),),
                token=self.token,
                request_headers=self.recorded_headers,  # recorded: the built-ins run too
                request_body=sent,
            )
            checks.judge(exchange, self.level, stream=watch)
        self.cpu_start = time.process_time()  # judging's cost starts here (not the imports)

    def judge(self, record: Record) -> None:
        """Judge one exchange and record its verdicts."""
        number, name, request_body, streamed, status, media, headers, body = record[:8]
        started, problem, good, error_free = record[8:]
        where = f"#{number} {name}"
        self.judged += 1
        self.new = True
        if status == 0:
            self.book.record_failure(
                TRANSPORT_RULE,
                Failure(
                    check=TRANSPORT_RULE,
                    message=f"{where}: {problem}",
                    expected=_TRANSPORT_EXPECTED,
                    actual=problem or "no answer",
                    request=self._request(request_body),
                ),
            )
            self.violating.append([int(started), good, error_free])
            return
        document = json.loads(request_body)
        watch: StreamJudge | None = None
        if streamed and media == "text/event-stream":
            watch = self._watched(document, body)
        exchange = Exchange(
            request=document,
            status=status,
            content_type=media,
            body=body,
            context=self.context,
            headers=headers,
            token=self.token,
            key=number,
            received_at=started,
            request_headers=self.recorded_headers,
            request_body=request_body,
            known_stream=watch.parsed() if watch is not None else None,
        )
        outcome = checks.judge(exchange, self.level, stream=watch)
        if problem is not None:  # answered, but the answer was cut
            outcome[TRANSPORT_RULE] = CheckFailed(
                problem, expected=_TRANSPORT_EXPECTED, actual=problem
            )
        if self.book.record(outcome, lambda: self._request(request_body), where):
            self.violating.append([int(started), good, error_free])

    def _watched(self, document: Any, body: bytes) -> StreamJudge:
        """The stream rules fed ``body``: whole (the decoder frames the events of any split of
        the bytes alike, and one feed costs less than one per line), or line by line as the
        engine read it when it is not UTF-8 (a feed stops at the bad bytes: what the lines
        before them broke counts, and a whole feed would not have judged them)."""
        watch = StreamJudge(document, self.level)
        watch.feed(body)
        if watch.not_utf8:
            watch = StreamJudge(document, self.level)
            for line in _lines(body):
                watch.feed(line)
        return watch

    def _request(self, body: bytes) -> RequestRecord:
        path = chat_text_spec.OPERATION_PATH
        return RequestRecord.build("POST", path, self.headers, body, self.token)

    def report(self, final: bool) -> dict[str, Any]:
        """What is new since the last report (wire form), and start again."""
        violating, self.violating = self.violating, []
        self.new = False
        return {
            "book": self.book.take(),
            "judged": self.judged,
            "violating": violating,
            "cpu_seconds": time.process_time() - self.cpu_start,
            "final": final,
        }


class Frames:
    """The records on the engine's pipe, one at a time (a frame holds many)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.records: deque[Record] = deque()
        self.ended = False

    def next(self, timeout: float) -> Record | None:
        """The next record; ``None`` when none came within ``timeout`` seconds or the pipe
        ended (:attr:`ended`)."""
        while not self.records:
            if self.ended or not self._read(timeout):
                return None
        return self.records.popleft()

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        data = os.read(self.fd, 1 << 20)
        if not data:
            self.ended = True
            return False
        self.buffer += data
        size = FRAME.size
        while len(self.buffer) >= size:
            (length,) = FRAME.unpack_from(self.buffer)
            if len(self.buffer) < size + length:
                break
            frame = bytes(self.buffer[size : size + length])
            del self.buffer[: size + length]
            self.records.extend(pickle.loads(frame))  # noqa: S301 - our own parent's records
        return True


def _lowest_priority() -> None:
    """This thread yields to every other (``SCHED_IDLE``; else nice 19)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):  # no way to lower it: judged as it comes
            os.nice(19)


class Judge:
    """The judging loop, run by a low-priority thread while the load runs and by the main
    thread (normal priority) after it stopped."""

    def __init__(self, verdicts: Verdicts, frames: Frames, out: IO[str]) -> None:
        self.verdicts = verdicts
        self.frames = frames
        self.out = out
        self.drain = threading.Event()
        self.last_report = time.monotonic()

    def send(self, final: bool) -> None:
        self.out.write(json.dumps(self.verdicts.report(final)) + "\n")
        self.out.flush()
        self.last_report = time.monotonic()

    def run(self, until_drain: bool) -> None:
        """Judge records until the pipe ends (or, ``until_drain``, until told to drain)."""
        verdicts, frames = self.verdicts, self.frames
        # the background thread looks for the drain word often; the main thread waits longer
        wait = 0.1 if until_drain else REPORT_EVERY
        while not (until_drain and self.drain.is_set()):
            record = frames.next(timeout=wait)
            if record is not None:
                verdicts.judge(record)
            elif frames.ended:
                return
            if verdicts.new and time.monotonic() - self.last_report >= REPORT_EVERY:
                self.send(final=False)

    def background(self) -> None:
        _lowest_priority()
        self.verdicts.warm_up()  # most of the start-up's CPU: at the lowest priority too
        self.run(until_drain=True)


def _wait_for_drain(control: int) -> bool:
    """Block until the engine says drain (``True``) or is gone (``False``)."""
    return os.read(control, 1) == DRAIN


def main() -> int:
    # Ctrl-C reaches the whole process group: the engine decides (it drains, or stops judging
    # on a second one and closes the control pipe)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = int(sys.argv[1])
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a stray print of a library goes to stderr, never into the reports
    settings = LoadSettings.from_json(os.environ[SETTINGS_ENV])
    token = token_from_env(notice=lambda line: None) or ""
    verdicts = Verdicts(settings, token)
    judge = Judge(verdicts, Frames(sys.stdin.fileno()), out)
    thread = threading.Thread(target=judge.background, name="judge", daemon=True)
    thread.start()
    if not _wait_for_drain(control):
        return 0  # the engine is gone: nobody to report to
    judge.drain.set()
    thread.join()
    judge.run(until_drain=False)
    try:
        judge.send(final=True)
    except BrokenPipeError:  # pragma: no cover - the engine went away meanwhile
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover - the load engine starts it
    sys.exit(main())
