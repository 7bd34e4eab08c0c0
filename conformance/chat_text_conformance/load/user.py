"""The Locust side of one load process: :class:`ChatUser` (a ``FastHttpUser``) sends what the
traffic mix draws, reads each answer as it arrives (a stream line by line, each event timed),
records its figures in the process's :class:`LoadState`, and hands the exchange to the process's
judge (:class:`~.judging.Judging`: the per-exchange rules, in a process of its own, so that
judging never takes its CPU from the load).

Busy answers (429, 503) are waited out as they say (``retry-after-ms``, ``Retry-After`` seconds
or HTTP-date; a backoff without either), by every user of the process (a quota is the client's),
then the same request is sent again: they are counted as rate-limited and judged by no rule.

Importing this module imports ``locust``, which monkey-patches the standard library with gevent:
only the load engine's own process imports it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar, cast

import gevent
import gevent.event
import orjson
from locust import FastHttpUser, constant, task

import chat_text_spec
from chat_text_spec.sse import SSEDecodeError, SSEDecoder

from ..checks import media_type
from ..engine.pacing import BACKOFF_FIRST, BACKOFF_MAX, MAX_ATTEMPTS, is_busy, retry_delay
from .book import Book
from .figures import Figures, Sample
from .judge import request_headers
from .judging import Judging, JudgingStats
from .options import LoadSettings
from .slo import within
from .traffic import Plan, Traffic

__all__ = ["ChatUser", "LoadState"]

PATH = chat_text_spec.OPERATION_PATH


class LoadState:
    """What the users of one process share: the settings, the judge, the verdicts and figures
    recorded since the last :meth:`take` (all of the run, when nothing takes them), and the time
    until which busy answers hold every user."""

    def __init__(self, settings: LoadSettings, token: str, worker_index: int = 0) -> None:
        self.settings = settings
        self.token = token
        self.book = Book(settings.base_url)
        self.figures = Figures()
        self.worker_index = worker_index
        self.users = 0
        self.requests = 0
        self.held_until = 0.0
        self.busy_streak = 0
        self.gave_up = 0
        self.headers = request_headers(token)
        self.judging = Judging(settings, token, self.judged) if settings.judge else None

    def judged(self, report: dict[str, Any]) -> None:
        """A report of the judge: its verdicts into the book, its violations into the figures
        (each answer was counted conformant when it was read)."""
        self.book.merge(Book.from_wire(report["book"]))
        for second, good, error_free in report["violating"]:
            self.figures.violated(int(second), good=bool(good), error_free=bool(error_free))

    def finish_judging(
        self, timeout: float, interrupt: gevent.event.Event | None = None
    ) -> JudgingStats | None:
        """The load stopped: the judge's last verdicts (at most ``timeout`` seconds, or until
        ``interrupt``), and what judging cost (``None``: not judged)."""
        if self.judging is None:
            return None
        return self.judging.finish(timeout, interrupt)

    def take(self) -> dict[str, Any]:
        """The verdicts and figures since the last take (wire form), and start again."""
        figures, self.figures = self.figures, Figures()
        data = {"book": self.book.take(), "figures": figures.to_wire(), "gave_up": self.gave_up}
        self.gave_up = 0
        return data

    def hold(self, seconds: float) -> None:
        self.held_until = max(self.held_until, time.monotonic() + seconds)

    def wait_if_held(self) -> None:
        delay = self.held_until - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)


class _Read:
    """What was read of one answer."""

    __slots__ = ("body", "error", "gaps", "last_event", "texts", "ttft", "usage")

    def __init__(self) -> None:
        self.body = b""
        self.error: str | None = None
        self.ttft: float | None = None
        self.gaps: list[float] = []
        self.last_event: float | None = None
        self.usage: Any = None
        self.texts: list[str] = []
        """The first choice's content of a stream, piece by piece."""


def _content_of(chunk: Any) -> str | None:
    """The content a stream chunk carries (its first non-empty ``delta.content``), else
    ``None``."""
    if not isinstance(chunk, dict):
        return None
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict):
            content = delta.get("content")
            if isinstance(content, str) and content:
                return content
    return None


class ChatUser(FastHttpUser):
    """One person chatting with the model, as fast as the answers come (no think time: the
    closed loop LLM benchmarks use; ``--users`` sets the concurrency), or paced to its share
    of ``--max-rate`` (the engine sets :attr:`wait_time`)."""

    wait_time = constant(0)
    insecure = False
    """Verify TLS certificates (FastHttpUser does not by default)."""
    load_state: ClassVar[LoadState | None] = None
    """Set by the engine in each process before the users start."""

    def on_start(self) -> None:
        state = self._load_state()
        state.users += 1
        settings = state.settings
        seed = f"{settings.seed}:{state.worker_index}:{state.users}"
        self.traffic = Traffic(seed, settings.model, settings.context_length)

    def _load_state(self) -> LoadState:
        state = type(self).load_state
        if state is None:  # pragma: no cover - the engine sets it before starting users
            raise RuntimeError("the load state was not set up")
        return state

    @task
    def chat(self) -> None:
        state = self._load_state()
        plan = self.traffic.next()
        content: str | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            state.wait_if_held()
            busy_wait, content = self._exchange(state, plan)
            if busy_wait is None:
                break
            if attempt == MAX_ATTEMPTS:
                state.gave_up += 1
                break
            state.hold(busy_wait)
        self.traffic.answered(plan, content)

    def _exchange(self, state: LoadState, plan: Plan) -> tuple[float | None, str | None]:
        """Send ``plan`` once: (seconds to wait before sending it again when the answer was
        busy, else ``None``; the first choice's content when answered)."""
        judging = state.judging
        state.requests += 1
        number = state.requests
        started = time.time()
        begin = time.perf_counter()
        read = _Read()
        status = 0
        headers: tuple[tuple[str, str], ...] = ()
        content_type = ""
        with self.client.request(
            "POST",
            PATH,
            data=cast("str", plan.body),  # bytes, sent as they are (geventhttpclient takes them)
            headers=state.headers,
            name=plan.name,
            stream=True,
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            if status == 0:
                read.error = f"no answer: {type(response.error).__name__}: {response.error}"
            else:
                headers = tuple((k.lower(), v) for k, v in response.headers.items())
                content_type = media_type(response.headers.get("content-type"))
                if content_type == "text/event-stream" and not is_busy(status):
                    self._read_stream(response, read, begin)
                else:
                    self._read_all(response, read)
            latency = (time.perf_counter() - begin) * 1000
            response.request_meta["response_time"] = latency
            response.request_meta["response_length"] = len(read.body)
            if status and is_busy(status):
                response.success()
                state.busy_streak += 1
                wait = retry_delay(headers)
                if wait is None:
                    wait = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (state.busy_streak - 1))
                state.figures.observe(
                    Sample(
                        started, plan.kind, status, latency, busy=True, judged=judging is not None
                    )
                )
                return wait, None
            state.busy_streak = 0
            sample = Sample(started, plan.kind, status or None, latency, judged=judging is not None)
            content, usage = _said(status, content_type, read)
            _measured(sample, plan, status, read, usage, state.settings)
            if read.error is not None:
                response.failure(read.error)
            elif sample.error is not None:
                response.failure(sample.error)
            else:
                response.success()
        state.figures.observe(sample)
        if judging is not None:
            judging.submit(
                (
                    number,
                    plan.name,
                    plan.body,
                    plan.stream,
                    status,
                    content_type,
                    headers,
                    read.body,
                    started,
                    read.error,
                    sample.good,
                    sample.error is None,
                )
            )
        return None, content

    def _read_all(self, response: Any, read: _Read) -> None:
        try:
            read.body = bytes(response.content or b"")
        except Exception as exc:  # the connection went away mid-body
            read.error = f"answer cut: {type(exc).__name__}: {exc}"

    def _read_stream(self, response: Any, read: _Read, begin: float) -> None:
        """Read the stream line by line as it arrives, each completed event timed."""
        raw = getattr(response, "_response", None)
        readline = getattr(raw, "readline", None)
        if raw is None or readline is None:  # pragma: no cover - not geventhttpclient
            self._read_all(response, read)
            return
        decoder = SSEDecoder()
        parts: list[bytes] = []
        try:
            while True:
                line = readline(b"\n")
                if not line:
                    line = raw.read()  # what is left without a line end
                    if not line:
                        break
                parts.append(line)
                try:
                    events = decoder.feed(line)
                except SSEDecodeError:
                    continue
                if events:
                    _time_chunks(read, _payloads(event.data for event in events), begin)
        except Exception as exc:  # the connection went away mid-stream
            read.error = f"stream cut: {type(exc).__name__}: {exc}"
        read.body = b"".join(parts)


def _said(status: int, content_type: str, read: _Read) -> tuple[str | None, Any]:
    """What a successful answer said: its first choice's content and its usage (``None``,
    ``None`` when it said nothing of use: the conversation starts again)."""
    if not 200 <= status < 300 or read.error is not None:
        return None, None
    if content_type == "application/json":
        return _plain_answer(read.body)
    if content_type == "text/event-stream":
        return "".join(read.texts), read.usage
    return None, None


def _measured(
    sample: Sample, plan: Plan, status: int, read: _Read, usage: Any, settings: LoadSettings
) -> None:
    """Fill the sample's figures: tokens, TTFT, gaps, TPOT, error, and whether it was good (as
    far as the figures tell: a rule that fails on it, when the judge reports it, takes it out of
    the goodput)."""
    counts = _usage_counts(usage)
    if counts is not None:
        sample.prompt_tokens, sample.completion_tokens = counts
    sample.ttft_ms = read.ttft
    sample.gaps_ms = read.gaps
    if read.ttft is not None and sample.completion_tokens > 1:
        sample.tpot_ms = (sample.latency_ms - read.ttft) / (sample.completion_tokens - 1)
    sample.error = _error(plan, status, read.error, read.body)
    sample.good = (
        sample.error is None
        and (status != 0 and (plan.invalid or 200 <= status < 300))
        and within(sample, settings.slo_objectives)
    )


def _payloads(data: Iterable[str]) -> list[Any]:
    """The JSON of each event's data (``[DONE]`` and what is not JSON left out)."""
    chunks = []
    for item in data:
        if item.startswith("[DONE]"):
            continue
        try:
            chunks.append(orjson.loads(item))
        except orjson.JSONDecodeError:
            continue
    return chunks


def _time_chunks(read: _Read, chunks: list[Any], begin: float) -> None:
    """What arrived now: the usage, the first content (TTFT), the gaps between contents."""
    now = (time.perf_counter() - begin) * 1000
    for chunk in chunks:
        if isinstance(chunk, dict) and chunk.get("usage") is not None:
            read.usage = chunk["usage"]
        content = _content_of(chunk)
        if content is None:
            continue
        read.texts.append(content)
        if read.ttft is None:
            read.ttft = now
        elif read.last_event is not None:
            read.gaps.append(now - read.last_event)
        read.last_event = now


def _plain_answer(body: bytes) -> tuple[str | None, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    content: str | None = None
    choices = document.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            content = message["content"]
    return content, document.get("usage")


def _usage_counts(usage: Any) -> tuple[int, int] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int | float) and isinstance(completion, int | float):
        return int(prompt), int(completion)
    return None


def _error(plan: Plan, status: int, problem: str | None, body: bytes) -> str | None:
    """Why the exchange is an error (see :mod:`.figures`), or ``None``. A documented refusal
    of a valid request (413, ``prompt_too_long``: the long prompts may not fit the window) is
    the answer the spec asks for, not an error."""
    if problem is not None:
        return "no answer" if status == 0 else "answer cut short"
    if status >= 500:
        return f"HTTP {status}"
    if status == 413 or (status == 400 and b'"prompt_too_long"' in body):
        return None
    if not plan.invalid and not 200 <= status < 300:
        return f"valid request refused: HTTP {status}"
    return None
