"""The pacer every sender of a run goes through: busy answers (429, 503) waited out as they say
and the same request sent again, the wait budget and the deadline, requests in flight halved
and grown back, ``--max-rate``. On a fake clock: no test sleeps."""

from __future__ import annotations

import email.utils
import threading
from dataclasses import dataclass, field

import pytest
from chat_text_conformance.engine.pacing import (
    BACKOFF_FIRST,
    MAX_ATTEMPTS,
    Pacer,
    is_busy,
    retry_delay,
)

NOW = 1_800_000_000.0


@dataclass
class Clock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class Server:
    """Answers from a script (the last one repeats), recording when each request came."""

    def __init__(self, clock: Clock, *answers: Answer) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.times: list[float] = []

    def __call__(self) -> Answer:
        self.times.append(self.clock.now)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def pacer(clock: Clock, **options: object) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def call(p: Pacer, server: Server) -> Answer:
    return p.call(server, lambda a: a.status, lambda a: a.headers)


# --- what a busy answer asks for ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0"}, 0.0),
        ({"RETRY-AFTER": " 7 "}, 7.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),  # the finer one wins
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),  # past: now
        ({"Retry-After": ["3"]}, 3.0),  # schemathesis's header lists
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "1.5"}, None),  # delay-seconds is 1*DIGIT
        ({"retry-after-ms": "nan", "Retry-After": "4"}, 4.0),
    ],
)
def test_retry_delay_reads_every_form(headers: dict[str, object], seconds: float | None) -> None:
    found = retry_delay(headers, now=NOW)
    if seconds is None:
        assert found is None
    else:
        assert found == pytest.approx(seconds, abs=1.0 if "GMT" in str(headers) else 1e-9)


def test_busy_means_429_and_503_only() -> None:
    assert is_busy(429) and is_busy(503)
    assert not any(is_busy(s) for s in (200, 400, 401, 404, 413, 500, 502, 504))


# --- waiting out and sending again -------------------------------------------------------------


def test_a_busy_answer_is_waited_out_as_it_says_and_the_request_sent_again() -> None:
    clock = Clock()
    server = Server(clock, Answer(429, {"Retry-After": "3"}), Answer(200))
    p = pacer(clock)
    assert call(p, server).status == 200
    assert server.times == [0.0, 3.0]
    assert p.stats.busy_answers == {429: 1}
    assert p.stats.resent == 1 and p.stats.gave_up == 0
    assert p.stats.waited == pytest.approx(3.0)


def test_without_retry_after_the_waits_back_off_exponentially_and_are_counted() -> None:
    clock = Clock()
    server = Server(clock, Answer(503), Answer(503), Answer(503), Answer(200))
    p = pacer(clock)
    assert call(p, server).status == 200
    gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    assert gaps == [BACKOFF_FIRST, 2 * BACKOFF_FIRST, 4 * BACKOFF_FIRST]
    assert p.stats.without_retry_after == 3


def test_a_busy_answer_that_never_ends_is_handed_back_after_the_last_attempt() -> None:
    clock = Clock()
    server = Server(clock, Answer(429, {"retry-after-ms": "10"}))
    p = pacer(clock)
    assert call(p, server).status == 429
    assert len(server.times) == MAX_ATTEMPTS
    assert p.stats.gave_up == 1 and p.stats.resent == MAX_ATTEMPTS - 1


def test_the_wait_budget_bounds_the_waiting_and_then_stops_it() -> None:
    clock = Clock()
    p = pacer(clock, max_wait=10.0)
    first = Server(clock, Answer(429, {"Retry-After": "4"}), Answer(200))
    assert call(p, first).status == 200  # 4 s of 10
    long = Server(clock, Answer(429, {"Retry-After": "60"}), Answer(200))
    assert call(p, long).status == 429  # 60 s would pass the budget: handed back at once
    assert len(long.times) == 1
    assert p.stats.budget_spent and p.stats.gave_up == 1
    short = Server(clock, Answer(429, {"Retry-After": "1"}), Answer(200))
    assert call(p, short).status == 429  # once spent, no more waiting at all
    assert p.stats.waited == pytest.approx(4.0)


def test_no_wait_runs_past_the_deadline() -> None:
    clock = Clock()
    p = pacer(clock, deadline=5.0)
    server = Server(clock, Answer(429, {"Retry-After": "3"}), Answer(429, {"Retry-After": "3"}))
    assert call(p, server).status == 429
    assert server.times == [0.0, 3.0]  # the second wait would end at 6 > 5


def test_a_wait_holds_every_sender_not_only_the_one_told() -> None:
    clock = Clock()
    p = pacer(clock)
    assert p._busy(429, True, 5.0, p._round, True)  # one sender is told: come back in 5 s
    clock.now = 1.0
    other = Server(clock, Answer(200))
    call(p, other)  # another sender, a second later
    assert other.times == [5.0]
    assert p.stats.waited == pytest.approx(5.0)


def test_overlapping_holds_count_once_in_the_time_waited() -> None:
    clock = Clock()
    p = pacer(clock)
    p._busy(429, True, 5.0, p._round, True)
    p._busy(429, True, 3.0, p._round, True)  # inside the first hold
    p._busy(429, True, 7.0, p._round, True)  # extends it by 2
    assert p.stats.waited == pytest.approx(7.0)


# --- requests in flight and rate ---------------------------------------------------------------


def test_adaptive_concurrency_halves_once_per_round_and_grows_back() -> None:
    clock = Clock()
    p = pacer(clock, max_in_flight=8, adaptive=True)
    sent_in = p._round
    assert p._busy(429, True, 0.0, sent_in, True)
    assert p.limit == 4
    assert p._busy(429, True, 0.0, sent_in, True)  # sent before the cut: no second cut
    assert p.limit == 4
    assert p._busy(429, True, 0.0, p._round, True)
    assert p.limit == 2
    for _ in range(2):
        p._answered()
    assert p.limit == 3  # one more after a round of answers that were not busy
    for _ in range(3 + 4 + 5 + 6 + 7):
        p._answered()
    assert p.limit == 8  # up to the ceiling, never past it
    p._answered()
    assert p.limit == 8
    assert p.stats.lowest_in_flight == 2 and p.stats.final_in_flight == 8


def test_pinned_concurrency_stays_pinned() -> None:
    p = pacer(Clock(), max_in_flight=3)
    p._busy(429, True, 0.0, p._round, True)
    assert p.limit == 3


def test_never_more_requests_in_flight_than_the_limit() -> None:
    p = Pacer(max_in_flight=2)
    inside = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def send() -> Answer:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        release.wait(5)
        with lock:
            inside -= 1
        return Answer(200)

    threads = [
        threading.Thread(target=p.call, args=(send, lambda a: a.status, lambda a: a.headers))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for _ in range(100):  # wait until two are inside (no timing assertion: a bounded poll)
        with lock:
            if inside == 2:
                break
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert most == 2


def test_max_rate_spaces_requests() -> None:
    clock = Clock()
    p = pacer(clock, max_rate=4.0)
    server = Server(clock, Answer(200))
    for _ in range(5):
        call(p, server)
    assert server.times == [0.0, 0.25, 0.5, 0.75, 1.0]
