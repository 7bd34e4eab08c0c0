"""The Locust side of one load process: :class:`ChatUser` (a ``FastHttpUser``) sends what the
traffic mix draws, reads each answer as it arrives (a stream line by line, each event timed and
fed to the stream rules' :class:`~chat_text_conformance.checks.watch.StreamJudge`), judges the
whole exchange with :func:`~chat_text_conformance.checks.judge`, and records the verdicts and
figures in the process's :class:`LoadState`.

Busy answers (429, 503) are waited out as they say (``retry-after-ms``, ``Retry-After`` seconds
or HTTP-date; a backoff without either), by every user of the process (a quota is the client's),
then the same request is sent again: they are counted as rate-limited and judged by no rule.

Importing this module imports ``locust``, which monkey-patches the standard library with gevent:
only the load engine's own process imports it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import Any, ClassVar, cast

import gevent
import orjson
from locust import FastHttpUser, constant, task

import chat_text_spec
from chat_text_spec.sse import SSEDecodeError, SSEDecoder

from .. import checks
from ..checks import CheckFailed, Exchange, RunContext
from ..checks.watch import StreamJudge
from ..engine.pacing import BACKOFF_FIRST, BACKOFF_MAX, MAX_ATTEMPTS, is_busy, retry_delay
from ..engine.target import Level
from ..reporting.results import Failure, RequestRecord
from .book import Book
from .figures import Figures, Sample
from .options import LoadSettings
from .slo import within
from .traffic import Plan, Traffic

__all__ = ["ChatUser", "LoadState"]

TRANSPORT_RULE = checks.builtins.TRANSPORT
PATH = chat_text_spec.OPERATION_PATH


class LoadState:
    """What the users of one process share: the settings, the judging context, the verdicts and
    figures recorded since the last :meth:`take` (all of the run, when nothing takes them), and
    the time until which busy answers hold every user."""

    def __init__(self, settings: LoadSettings, token: str, worker_index: int = 0) -> None:
        self.settings = settings
        self.token = token
        self.level = Level(settings.level)
        self.context = RunContext(
            context_length=settings.context_length, token=token, model=settings.model
        )
        self.book = Book(settings.base_url)
        self.figures = Figures()
        self.worker_index = worker_index
        self.users = 0
        self.requests = 0
        self.held_until = 0.0
        self.busy_streak = 0
        self.gave_up = 0
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
        }
        self.request_headers = tuple((k.lower(), v) for k, v in self.headers.items())
        """The same, as an exchange records them."""

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

    __slots__ = ("body", "error", "gaps", "last_event", "ttft", "usage")

    def __init__(self) -> None:
        self.body = b""
        self.error: str | None = None
        self.ttft: float | None = None
        self.gaps: list[float] = []
        self.last_event: float | None = None
        self.usage: Any = None


def _content_of(chunk: Any) -> bool:
    """Whether a stream chunk carries content (a non-empty ``delta.content``)."""
    if not isinstance(chunk, dict):
        return False
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"]:
            return True
    return False


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
        settings = state.settings
        judging = settings.judge
        state.requests += 1
        number = state.requests
        started = time.time()
        begin = time.perf_counter()
        read = _Read()
        status = 0
        headers: tuple[tuple[str, str], ...] = ()
        content_type = ""
        watch = StreamJudge(plan.document, state.level) if judging and plan.stream else None
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
                content_type = checks.media_type(response.headers.get("content-type"))
                if is_busy(status):
                    self._read_all(response, read)
                elif content_type == "text/event-stream":
                    self._read_stream(response, read, begin, watch)
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
                    Sample(started, plan.kind, status, latency, busy=True, judged=judging)
                )
                return wait, None
            state.busy_streak = 0
            sample = Sample(started, plan.kind, status or None, latency, judged=judging)
            content = self._judge(
                state, plan, number, status, content_type, headers, read, sample, watch
            )
            if read.error is not None:
                response.failure(read.error)
            elif sample.violated:
                response.failure("conformance violation")
            elif sample.error is not None:
                response.failure(sample.error)
            else:
                response.success()
        state.figures.observe(sample)
        return None, content

    def _read_all(self, response: Any, read: _Read) -> None:
        try:
            read.body = bytes(response.content or b"")
        except Exception as exc:  # the connection went away mid-body
            read.error = f"answer cut: {type(exc).__name__}: {exc}"

    def _read_stream(
        self, response: Any, read: _Read, begin: float, watch: StreamJudge | None
    ) -> None:
        """Read the stream line by line as it arrives: each completed event timed, every byte
        fed to the stream rules' watch (whose decoded chunks are then the ones timed: the
        stream is decoded once)."""
        raw = getattr(response, "_response", None)
        readline = getattr(raw, "readline", None)
        if raw is None or readline is None:  # pragma: no cover - not geventhttpclient
            self._read_all(response, read)
            if watch is not None:
                watch.feed(read.body)
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
                if watch is not None:
                    _time_watched(read, watch, line, begin)
                    continue
                try:
                    events = decoder.feed(line)
                except SSEDecodeError:
                    continue
                if events:
                    _time_chunks(read, _payloads(event.data for event in events), begin)
        except Exception as exc:  # the connection went away mid-stream
            read.error = f"stream cut: {type(exc).__name__}: {exc}"
        read.body = b"".join(parts)

    def _judge(
        self,
        state: LoadState,
        plan: Plan,
        number: int,
        status: int,
        content_type: str,
        headers: tuple[tuple[str, str], ...],
        read: _Read,
        sample: Sample,
        watch: StreamJudge | None,
    ) -> str | None:
        """Judge one answered exchange (when judging), fill ``sample``; the first choice's
        content."""
        settings = state.settings
        # the watch was fed the body (an event stream): its parse and its verdicts are used
        streamed = watch if watch is not None and content_type == "text/event-stream" else None
        exchange: Exchange | None = None
        if status:
            exchange = Exchange(
                request=plan.document,
                status=status,
                content_type=content_type,
                body=read.body,
                context=state.context,
                headers=headers,
                token=state.token,
                cut_short=None,
                key=number,
                received_at=sample.started,
                request_headers=state.request_headers,
                request_body=plan.body,
                known_stream=streamed.parsed() if streamed is not None else None,
            )
        if settings.judge:
            sample.violated = _verdicts(state, plan, number, exchange, read, streamed)
        content, usage = _said(exchange, content_type, read, settings.judge)
        _measured(sample, plan, status, read, usage, settings)
        return content


def _verdicts(
    state: LoadState,
    plan: Plan,
    number: int,
    exchange: Exchange | None,
    read: _Read,
    streamed: StreamJudge | None,
) -> bool:
    """Judge the exchange (``None``: no answer came) and record the verdicts in the book;
    whether a rule failed."""
    where = f"#{number} {plan.name}"
    record = functools.partial(
        RequestRecord.build, "POST", PATH, state.headers, plan.body, state.token
    )
    if exchange is None:
        state.book.record_failure(
            TRANSPORT_RULE,
            Failure(
                check=TRANSPORT_RULE,
                message=f"{where}: {read.error}",
                expected="a complete HTTP response within --request-timeout",
                actual=read.error or "no answer",
                request=record(),
            ),
        )
        return True
    outcome = checks.judge(exchange, state.level, stream=streamed)
    if read.error is not None:  # answered, but the answer was cut
        outcome[TRANSPORT_RULE] = CheckFailed(
            read.error,
            expected="a complete HTTP response within --request-timeout",
            actual=read.error,
        )
    return bool(state.book.record(outcome, record, where))


def _said(
    exchange: Exchange | None, content_type: str, read: _Read, judged: bool
) -> tuple[str | None, Any]:
    """What a successful answer said: its first choice's content (``""`` for a stream not
    judged: the conversation goes on without its text) and its usage (else the usage read)."""
    content: str | None = None
    usage: Any = read.usage
    if exchange is not None and exchange.ok:
        answer = exchange.answer if judged else None
        if answer is not None:
            usage = answer.usage
            if answer.choices:
                first = answer.choices[0].get("content")
                content = first if isinstance(first, str) else None
        elif content_type == "application/json":
            content, usage = _plain_answer(read.body)
        elif read.body:
            content = ""
    return content, usage


def _measured(
    sample: Sample, plan: Plan, status: int, read: _Read, usage: Any, settings: LoadSettings
) -> None:
    """Fill the sample's figures: tokens, TTFT, gaps, TPOT, error, and whether it was good."""
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
        and not sample.violated
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


def _time_watched(read: _Read, watch: StreamJudge, line: bytes, begin: float) -> None:
    """Feed ``line`` to the watch; time the chunks it decoded (and the events after
    ``[DONE]``, read as :func:`_payloads` reads them)."""
    seen, after = len(watch.chunks), len(watch.after)
    watch.feed(line)
    if len(watch.chunks) > seen or len(watch.after) > after:
        chunks = [c for c in watch.chunks[seen:] if not isinstance(c, str)]
        _time_chunks(read, chunks + _payloads(watch.after[after:]), begin)


def _time_chunks(read: _Read, chunks: list[Any], begin: float) -> None:
    """What arrived now: the usage, the first content (TTFT), the gaps between contents."""
    now = (time.perf_counter() - begin) * 1000
    for chunk in chunks:
        if isinstance(chunk, dict) and chunk.get("usage") is not None:
            read.usage = chunk["usage"]
        if not _content_of(chunk):
            continue
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
