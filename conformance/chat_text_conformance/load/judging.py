"""The load engine's end of its judge process (:mod:`.judge`): the users hand every answer they
read to :meth:`Judging.submit` (a tuple appended to a list: the request path pays nothing more),
a greenlet writes them to the judge's pipe in frames, another reads the judge's reports and hands
them to the engine (verdicts into its book, violations into its figures).

When the load stops, :meth:`Judging.finish` tells the judge to drain at normal priority, waits
for its last report, and says what judging cost: the judge's CPU time, the answers still to judge
when the load stopped and how long they took, and how long the users waited on a full buffer.

Imports gevent: the engine's process only.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from gevent import subprocess

from ..engine.target import TOKEN_ENV
from .judge import BACKLOG_BYTES, DRAIN, FRAME, MODULE, Record
from .options import SETTINGS_ENV, LoadSettings

__all__ = ["Judging", "JudgingStats"]

FRAME_RECORDS = 256
"""Records per frame at most (one frame is pickled at once: a long backlog is sent in parts,
the users running between them)."""
GATHER_SECONDS = 0.02
"""The writer waits this long after an answer comes, for more to send with it (judging is not
in a hurry; a write per answer would cost the load more)."""
_OVERHEAD = 256
"""Bytes a record holds beyond its two bodies (for the backlog's bound)."""


def _size(record: Record) -> int:
    """What a record weighs in the buffer: its request and response bodies, and the rest."""
    return len(record[2]) + len(record[7]) + _OVERHEAD


class JudgingStats(dict[str, Any]):
    """What judging cost, in wire form (a worker's goes to its master, which adds them up):
    ``answers`` handed to the judge, ``judged``, ``cpu_seconds`` of the judge process,
    ``backlog_at_stop`` (answers not yet judged when the load stopped), ``drain_seconds`` (from
    then to the last verdict), ``held_seconds`` (users waiting on a full buffer), ``processes``,
    ``error`` (why answers were left unjudged, else ``None``)."""

    @classmethod
    def empty(cls) -> JudgingStats:
        return cls(
            answers=0,
            judged=0,
            cpu_seconds=0.0,
            backlog_at_stop=0,
            drain_seconds=0.0,
            held_seconds=0.0,
            processes=0,
            error=None,
        )

    def add(self, other: dict[str, Any]) -> None:
        for key in ("answers", "judged", "backlog_at_stop", "processes"):
            self[key] += int(other.get(key, 0))
        for key in ("cpu_seconds", "held_seconds"):
            self[key] += float(other.get(key, 0.0))
        # the workers drain side by side: the run waited for the slowest
        self["drain_seconds"] = max(self["drain_seconds"], float(other.get("drain_seconds", 0)))
        if other.get("error") and not self["error"]:
            self["error"] = other["error"]


class Judging:
    """One judge process and the two greenlets that talk to it."""

    def __init__(
        self, settings: LoadSettings, token: str, on_report: Callable[[dict[str, Any]], None]
    ) -> None:
        self.on_report = on_report
        read, self._control = os.pipe()
        env = {**os.environ, SETTINGS_ENV: settings.to_json(), TOKEN_ENV: token}
        self.process = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(read)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            pass_fds=(read,),
        )
        os.close(read)
        self._queue: list[Record] = []
        self._queued_bytes = 0
        self._work = gevent.event.Event()
        self._room = gevent.event.Event()
        self._closing = False
        self._writer_blocked = False
        """Whether the writer waits for the judge to read (the pipe is full)."""
        self._reported = False
        """Whether the judge sent its last report (else it is stopped, not waited for)."""
        self._final = gevent.event.Event()
        self.stats = JudgingStats.empty()
        self.stats["processes"] = 1
        self._writer = gevent.spawn(self._write)
        self._reader = gevent.spawn(self._read)

    def submit(self, record: Record) -> None:
        """Hand one answer to the judge (waits only while the buffer is full)."""
        if self._queued_bytes > BACKLOG_BYTES and not self._final.is_set():
            began = time.monotonic()
            while self._queued_bytes > BACKLOG_BYTES and not self._final.is_set():
                self._room.clear()
                self._room.wait(timeout=1.0)
            self.stats["held_seconds"] += time.monotonic() - began
        self._queue.append(record)
        self._queued_bytes += _size(record)
        self.stats["answers"] += 1
        self._work.set()

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None  # opened with PIPE
        try:
            while True:
                self._work.wait()
                if not self._closing:
                    gevent.sleep(GATHER_SECONDS)  # a frame of many answers: fewer writes
                self._work.clear()
                while self._queue:
                    batch, self._queue = self._queue, []
                    for start in range(0, len(batch), FRAME_RECORDS):
                        part = batch[start : start + FRAME_RECORDS]
                        payload = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
                        self._writer_blocked = True  # until the pipe takes it all
                        stdin.write(FRAME.pack(len(payload)) + payload)
                        stdin.flush()
                        self._writer_blocked = False
                        self._queued_bytes -= sum(_size(r) for r in part)
                        self._room.set()
                if self._closing:
                    stdin.close()
                    return
        except OSError as exc:  # the judge is gone: _read says why
            self._gone(f"the judge process stopped reading ({type(exc).__name__})")

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None  # opened with PIPE
        for line in stdout:
            message: dict[str, Any] = json.loads(line)
            self.stats["judged"] = int(message["judged"])
            self.stats["cpu_seconds"] = float(message["cpu_seconds"])
            self.on_report(message)
            if message.get("final"):
                self._reported = True
                self._final.set()
                return
        code = self.process.wait()
        self._gone(f"the judge process exited (code {code}) before its last report")

    def _gone(self, why: str) -> None:
        if not self._final.is_set():
            self.stats["error"] = (
                f"{why}: {self.stats['answers'] - self.stats['judged']} answer(s) not judged"
            )
            self._final.set()
            self._room.set()

    @property
    def backlog(self) -> int:
        """Answers handed over and not judged yet."""
        return int(self.stats["answers"] - self.stats["judged"])

    def finish(self, timeout: float, interrupt: gevent.event.Event | None = None) -> JudgingStats:
        """The load stopped: the judge drains at normal priority; wait for its last report (at
        most ``timeout`` seconds, or until ``interrupt`` is set: Ctrl-C again); what judging
        cost."""
        began = time.monotonic()
        self.stats["backlog_at_stop"] = self.backlog
        with contextlib.suppress(OSError):  # the judge is gone: _read says why
            os.write(self._control, DRAIN)
        self._closing = True
        self._work.set()
        waits = [self._final] if interrupt is None else [self._final, interrupt]
        gevent.wait(waits, timeout=timeout, count=1)
        if not self._final.is_set():
            self._gone(
                "interrupted while judging"
                if interrupt is not None and interrupt.is_set()
                else f"the judge did not finish within {timeout:g}s of the load's end"
            )
        self.stats["drain_seconds"] = time.monotonic() - began
        self.close()
        return self.stats

    def close(self) -> None:
        """Stop the judge process and its greenlets: a judge that sent its last report is
        given a moment to exit, one that did not (given up on) is killed at once, so that no
        verdict comes after the account of what was left unjudged."""
        gevent.killall([self._writer, self._reader], block=False)
        with contextlib.suppress(OSError):  # closed already
            os.close(self._control)
        if self.process.poll() is None:
            if not self._reported:
                self.process.kill()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
