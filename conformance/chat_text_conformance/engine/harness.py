"""What every property shares: the HTTP session (caps, circuit breaker, concurrency limit), the
per-property run (:class:`PropertyRun`), and how answers are read.

Every reply a property gets is first judged by every per-response rule
(:func:`chat_text_conformance.checks.judge`), recorded in the run's :class:`Ledger` under the
rule's own id. A property never re-implements usage, finish_reason or stream framing: when a
reply breaks a per-response rule, the example stops there (the failure is already reported
under that rule) and the property compares only what the rules cannot see alone, i.e. answers
*with each other*.

Outcomes of one example: pass, :class:`Violation` (a failure with the request that shows it),
:class:`NotExercised` (the suite could not build the input, or the server chose something the
property cannot use, such as ``usage: null``) and :class:`Inconclusive` (the suite's own cap was
hit). Only a violation is a failure.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import urllib3
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import chat_text_spec
from chat_text_spec.sse import SSEDecoder

from .. import checks
from ..checks.exchange import Inconclusive, NotApplicable
from ..checks.registry import Source, declare
from ..properties._conversations import conversation_budget, question
from ..reporting.reproducer import curl_command
from ..reporting.results import CheckResult, Failure, RequestRecord, redact_token
from .cost import Meter
from .pacing import Pacer, is_busy
from .target import Level, Target, tls_context

__all__ = [
    "GROUP",
    "STREAM_MAX_BYTES",
    "STREAM_MAX_EVENTS",
    "Answer",
    "Inconclusive",
    "Ledger",
    "NotExercised",
    "Property",
    "PropertyRun",
    "Reply",
    "Session",
    "Usage",
    "Violation",
    "prop",
]

GROUP = "property"

STREAM_MAX_EVENTS = 100_000
"""The suite reads at most this many events of one stream; beyond, the example is
inconclusive."""
STREAM_MAX_BYTES = 16 * 1024 * 1024
"""... and at most this many bytes of one response."""
_READ_SIZE = 64 * 1024
"""The most one read returns (it returns what has arrived, often much less)."""
# How many transport failures (timeouts, resets, refused connections) in a row mean "down".
_DOWN_AFTER = 3


class Violation(Exception):
    """A property does not hold for one example; becomes a :class:`Failure`."""

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        actual: str = "",
        reply: Reply | None = None,
        related: Sequence[Reply] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.reply = reply
        self.related = tuple(related)


class NotExercised(NotApplicable):
    """This example cannot be evaluated against this server (never a failure)."""


class BudgetSpent(NotExercised):
    """The property's share of the run's budget is spent (``--max-requests``/``--max-tokens``)."""


class _UsageNull(Exception):
    """A plain answer carried ``usage: null`` (allowed); streams carry usage in their end."""


class _Reported(Exception):
    """A reply broke a per-response rule; the failure is recorded under that rule (``rules``)."""

    def __init__(self, rules: Sequence[str]) -> None:
        super().__init__(", ".join(rules))
        self.rules = tuple(rules)

    @property
    def reason(self) -> str:
        """Why the property was not exercised: which failure blocked it."""
        return (
            f"blocked by the failure of {', '.join(self.rules)} (an answer it needed broke that "
            "rule, reported there); a re-run after the fix will judge it"
        )


class ServerDown(Exception):
    """Several transport failures in a row: stop sending requests."""


class OutOfTime(Exception):
    """The run's time budget is spent."""


def preview(data: bytes | str, limit: int = 240) -> str:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def encode(body: Any) -> bytes:
    """How the properties send JSON: compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange as the properties see it."""

    status: int
    headers: httpx.Headers
    body: bytes
    request: RequestRecord
    request_json: Any
    """The JSON body sent (``None`` for raw bodies that are not JSON)."""
    cut_short: str | None = None
    token: str | None = None
    sent_headers: tuple[tuple[str, str], ...] = ()
    """The request's headers as sent (the token in them: kept in memory only)."""
    payload: bytes | None = None
    """The request's body as sent."""

    @functools.cached_property
    def media_type(self) -> str:
        return checks.media_type(self.headers.get("content-type"))

    def exchange(self, context: checks.RunContext) -> checks.Exchange:
        return checks.Exchange(
            request=self.request_json,
            status=self.status,
            content_type=self.media_type,
            body=self.body,
            context=context,
            headers=tuple((k.lower(), v) for k, v in self.headers.items()),
            token=self.token,
            cut_short=self.cut_short,
            key=id(self),
            request_headers=self.sent_headers,
            request_body=self.payload,
        )

    def error_code(self) -> str | None:
        try:
            code = json.loads(self.body)["error"]["code"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return None
        return code if isinstance(code, str) else None


class Session:
    """A urllib3 connection pool with caps and a circuit breaker, sending through the run's
    :class:`~chat_text_conformance.engine.pacing.Pacer` (requests in flight, busy answers
    waited out)
    (urllib3, not httpx: about half the client's CPU per request, and the properties send
    hundreds per run; the answers are handed on as :class:`httpx.Headers`)."""

    def __init__(
        self,
        target: Target,
        deadline: float | None,
        workers: int = 1,
        meter: Meter | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.target = target
        self.url = target.base_url.rstrip("/") + chat_text_spec.OPERATION_PATH
        timeout = target.request_timeout
        # no redirects, no retries, no proxies from the environment; one connection per worker
        self.pool = urllib3.PoolManager(
            num_pools=1,  # one host: the target's
            maxsize=max(1, workers),
            block=True,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            ssl_context=tls_context(),
        )
        self.deadline = deadline
        self.pacer = pacer if pacer is not None else Pacer(max_in_flight=max(1, workers))
        self._lock = threading.Lock()
        self.failures_in_a_row = 0
        self.down_reason = ""
        self.sent = 0
        self.meter = meter
        self.usage_from_streams = False
        self.calibrated: tuple[int, float] | None = None
        """(prompt tokens of a 40-word :func:`question`, tokens per extra word), measured once."""
        self.calibration = threading.RLock()
        self.near_window: dict[object, Any] = {}
        """What the window properties share, built once per run (:mod:`.context`): the filler
        calibration and the near-window edge (the most expensive requests of a run)."""
        """Set once a plain answer carried ``usage: null``: token counts are then read from
        streams, whose last chunk carries usage."""

    def close(self) -> None:
        self.pool.clear()

    def post(
        self,
        body: Any = None,
        *,
        auth: str | None = "default",
        content: bytes | None = None,
        content_type: str = "application/json",
        phase: str = "properties",
    ) -> Reply:
        """POST ``body`` (JSON) or raw ``content`` with ``Authorization: auth``.

        ``auth="default"`` sends the target's token; ``None`` sends no header. A busy answer
        (``429``/``503``) is waited out and the request sent again, as the pacer allows; the
        reply is busy only when it could not be.
        """
        return self.pacer.call(
            lambda: self._post_once(
                body, auth=auth, content=content, content_type=content_type, phase=phase
            ),
            lambda reply: reply.status,
            lambda reply: reply.headers,
        )

    def _post_once(
        self,
        body: Any,
        *,
        auth: str | None,
        content: bytes | None,
        content_type: str,
        phase: str,
    ) -> Reply:
        if self.down_reason:
            raise ServerDown(self.down_reason)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime
        if self.meter is not None:
            why = self.meter.admit(phase, phase)
            if why is not None:
                raise BudgetSpent(f"(budget) {why}")
        payload = content if content is not None else encode(body)
        headers = {"Content-Type": content_type, "Accept": "application/json, text/event-stream"}
        token = self.target.token
        if auth == "default":
            headers["Authorization"] = f"Bearer {token}"
        elif auth is not None:
            headers["Authorization"] = auth
        record = RequestRecord.build("POST", chat_text_spec.OPERATION_PATH, headers, payload, token)
        request_json = body if content is None else _maybe_json(payload)
        sent_token = None
        if auth == "default":
            sent_token = token
        elif auth is not None and auth.lower().startswith("bearer "):
            sent_token = auth[7:].strip()
        with self._lock:
            self.sent += 1
        try:
            reply = self._read(payload, headers, record, request_json, sent_token)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            with self._lock:
                self.failures_in_a_row += 1
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if self.failures_in_a_row >= _DOWN_AFTER:
                    self.down_reason = (
                        f"{self.failures_in_a_row} requests in a row got no HTTP response "
                        f"(last: {reason})"
                    )
            failed = Reply(0, httpx.Headers(), b"", record, request_json, token=sent_token)
            raise Violation(
                "no HTTP response",
                expected=f"a response within {self.target.request_timeout} s",
                actual=reason,
                reply=failed,
            ) from None
        with self._lock:
            self.failures_in_a_row = 0
        if self.meter is not None:
            self.meter.record(
                request_bytes=len(payload),
                status=reply.status,
                content_type=reply.headers.get("content-type", ""),
                body=reply.body,
                part=phase,
                request=reply.request_json,
                headers=reply.headers.items(),
            )
        return reply

    def _read(
        self,
        payload: bytes,
        headers: dict[str, str],
        record: RequestRecord,
        request_json: Any,
        sent_token: str | None,
    ) -> Reply:
        limit = time.monotonic() + self.target.request_timeout
        resp = self.pool.urlopen(
            "POST",
            self.url,
            body=payload,
            # what an HTTP client sends by default (the answer is decoded as it is read)
            headers={**headers, "Accept-Encoding": "gzip, deflate"},
            preload_content=False,
            decode_content=True,
            redirect=False,
            retries=False,
        )
        cut: str | None = None
        try:
            is_stream = checks.media_type(resp.headers.get("content-type")) == ("text/event-stream")
            decoder = SSEDecoder() if is_stream else None
            events = 0
            chunks: list[bytes] = []
            size = 0
            while chunk := resp.read1(_READ_SIZE):  # what has arrived, not a full buffer
                chunks.append(chunk)
                size += len(chunk)
                if decoder is not None:
                    try:
                        events += len(decoder.feed(chunk))
                    except ValueError:
                        decoder = None  # not UTF-8: the rules report it from the body
                if size > STREAM_MAX_BYTES:
                    cut = f"the suite's cap of {STREAM_MAX_BYTES} bytes per response"
                elif events > STREAM_MAX_EVENTS:
                    cut = f"the suite's cap of {STREAM_MAX_EVENTS} events per stream"
                elif time.monotonic() > limit:
                    cut = (
                        f"the suite's cap of {self.target.request_timeout:g}s per response "
                        "(--request-timeout)"
                    )
                if cut is not None:
                    break
        finally:
            if cut is not None:
                resp.close()  # the rest is not read: the connection is not reused
            resp.release_conn()
        if cut is not None and not is_stream:
            raise TimeoutError(f"response not complete: {cut}")
        return Reply(
            status=resp.status,
            headers=httpx.Headers(list(resp.headers.items())),
            body=b"".join(chunks),
            request=record,
            request_json=request_json,
            cut_short=None if cut is None else f"stopped reading the stream at {cut}",
            token=sent_token,
            sent_headers=tuple((name.lower(), value) for name, value in headers.items()),
            payload=payload,
        )


def _maybe_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


# ---------------------------------------------------------------------------------------------
# The per-response rules on property traffic


class Ledger:
    """The per-response rules' results on the properties' traffic (thread-safe)."""

    def __init__(self, level: Level, base_url: str) -> None:
        self.level = level
        self.base_url = base_url
        self.results: dict[str, CheckResult] = {}
        self._lock = threading.Lock()

    def judge(self, reply: Reply, context: checks.RunContext) -> list[str]:
        """Apply every per-response rule to ``reply``; the ids of the rules it broke."""
        outcome = checks.judge(reply.exchange(context), self.level)
        broken: list[str] = []

        def failure(rule_id: str) -> Callable[[checks.CheckFailed], Failure]:
            return lambda failed: Failure(
                check=rule_id,
                message=failed.message,
                expected=failed.expected,
                actual=failed.actual,
                reproducer=curl_command(self.base_url, reply.request),
                request=reply.request,
            )

        with self._lock:
            for rule_id, result in outcome.items():
                kind = checks.get(rule_id).kind
                entry = self.results.setdefault(rule_id, CheckResult(rule_id, kind))
                if checks.record(entry, result, failure(rule_id)) is not None:
                    broken.append(rule_id)
        return broken


# ---------------------------------------------------------------------------------------------
# Reading answers


@dataclass(frozen=True)
class Usage:
    prompt: int
    completion: int
    total: int


@dataclass(frozen=True)
class Answer:
    """A successful answer with one choice and usage, non-streamed or a folded stream."""

    id: str
    model: str
    content: str
    finish_reason: str
    usage: Usage
    reply: Reply


T = TypeVar("T")


@dataclass(frozen=True)
class Property:
    name: str
    level: Level
    """The lowest level that runs it."""
    run: Callable[[PropertyRun], None]
    statement: str


def prop(
    statement: str,
    *,
    sources: Sequence[Source],
    level: Level = Level.SEMANTIC,
    needs_context_length: bool = False,
) -> Callable[[Callable[[PropertyRun], None]], Callable[[PropertyRun], None]]:
    """Declare a property: a rule of the catalogue (kind ``property``) and its code."""

    def register(fn: Callable[[PropertyRun], None]) -> Callable[[PropertyRun], None]:
        statement_text = statement + (" (needs --context-length)" if needs_context_length else "")
        declare(
            fn.__name__, statement_text, level=level, kind="property", sources=sources, check=fn
        )
        return fn

    return register


@dataclass
class PropertyRun:
    """One property's run: its result, the shared session, ledger and rule context."""

    target: Target
    level: Level
    max_examples: int
    seed: int | None
    session: Session
    ledger: Ledger
    context: checks.RunContext
    workers: int = 1
    result: CheckResult = field(default_factory=lambda: CheckResult("", GROUP))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _deferred: list[Callable[[], None]] | None = None
    _owner: int = 0

    @property
    def model(self) -> str:
        return self.target.model

    @functools.cached_property
    def defaults(self) -> dict[str, Any]:
        return chat_text_spec.request_defaults()

    def bound(self, name: str, key: str) -> Any:
        return chat_text_spec.field_bounds(name)[key]

    @property
    def min_tokens(self) -> int:
        value: int = self.bound("max_tokens", "minimum")
        return value

    @property
    def cold(self) -> float:
        """The lowest temperature the spec allows (0): the most focused output."""
        value: float = self.bound("temperature", "minimum")
        return value

    @property
    def max_ptl(self) -> int:
        value: int = self.bound("prompt_truncate_len", "maximum")
        return value

    def body(self, messages: Sequence[Mapping[str, str]], **fields: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": [dict(m) for m in messages], **fields}

    def post(self, body: Any = None, **kwargs: Any) -> Reply:
        """Send a request; its reply is judged by every per-exchange rule first. An answer that
        broke an answer rule (usage, finish_reason, framing: kind ``response``) cannot be used:
        the example stops there, blocked by that failure. A broken schema-level rule (whether
        the request should have been accepted, the status, the headers) leaves the answer
        usable: the property goes on and judges it its own way too."""
        reply = self.session.post(body, phase=f"property {self.result.name}", **kwargs)
        broken = [
            r for r in self.ledger.judge(reply, self.context) if checks.get(r).kind == "response"
        ]
        if broken:
            raise _Reported(broken)
        if is_busy(reply.status):
            raise Inconclusive(checks.busy_reason(reply.status))
        return reply

    def answer(self, reply: Reply, what: str) -> Answer:
        """The one-choice answer of a 200 reply (streamed or not), with its usage."""
        expect_status(reply, 200, what)
        exchange = reply.exchange(self.context)
        if reply.cut_short:
            raise Inconclusive(reply.cut_short)
        folded = exchange.answer
        if folded is None:
            raise Violation(f"{what}: the 200 answer cannot be read", reply=reply)
        if folded.usage is None:
            if exchange.stream is None:
                raise _UsageNull
            raise NotExercised("the stream has no usage, so token counts cannot be compared")
        counts = folded.usage_counts()
        if counts is None or len(folded.choices) != 1:
            raise NotExercised(f"{what}: not exactly one choice with usage")
        choice = folded.choices[0]
        return Answer(
            id=str(folded.id),
            model=str(folded.model),
            content=str(choice["content"]),
            finish_reason=str(choice["finish_reason"]),
            usage=Usage(*counts),
            reply=reply,
        )

    def complete(self, messages: Sequence[Mapping[str, str]], what: str, **fields: Any) -> Answer:
        """The answer to ``messages`` with ``fields``; when this server sends ``usage: null`` in
        plain answers, the same request streamed (usage arrives in a stream's last chunk)."""
        return self.counted(self.body(messages, **fields), what)

    def counted(self, body: dict[str, Any], what: str, reply: Reply | None = None) -> Answer:
        """The answer to ``body`` (already sent: ``reply``) with its token counts, from the same
        request streamed when plain answers carry ``usage: null``."""
        if not self.session.usage_from_streams:
            reply = reply or self.post(body)
            try:
                return self.answer(reply, what)
            except _UsageNull:
                self.session.usage_from_streams = True
        streamed = self.post({**body, "stream": True})
        return self.answer(streamed, f"{what} (streamed: plain answers carry usage: null)")

    def stream(self, messages: Sequence[Mapping[str, str]], what: str, **fields: Any) -> Answer:
        return self.answer(self.post(self.body(messages, stream=True, **fields)), what)

    def measured(self, messages: Sequence[Mapping[str, str]]) -> tuple[int | None, Reply]:
        """prompt_tokens of ``messages`` with nothing evicted (ptl at its maximum) and the reply
        that says so; ``None`` when they do not fit the model (``prompt_too_long``)."""
        body = self.body(messages, prompt_truncate_len=self.max_ptl, max_tokens=self.min_tokens)
        reply = self.post({**body, "stream": True} if self.session.usage_from_streams else body)
        if reply.status == 400 and reply.error_code() == "prompt_too_long":
            return None, reply
        answer = self.counted(body, "measuring prompt_tokens", reply)
        return answer.usage.prompt, answer.reply

    def prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int | None:
        """What this server counts for ``messages`` with nothing evicted (ptl at its maximum),
        or ``None`` when they do not fit the model."""
        return self.measured(messages)[0]

    def measure(self, messages: Sequence[Mapping[str, str]]) -> tuple[int, Reply]:
        """:meth:`measured`, for messages built to fit (else: not exercised)."""
        cost, reply = self.measured(messages)
        if cost is None:
            raise NotExercised("a conversation built to fit the model was refused as too long")
        return cost, reply

    def calibration(self) -> tuple[int, float]:
        """(prompt tokens of :func:`question` (40 words), tokens per extra word), as this server
        counts them: measured once per run with two questions (any tokenizer and template)."""
        with self.session.calibration:
            if self.session.calibrated is None:
                small, small_reply = self.measured(question(10))
                large, large_reply = self.measured(question(40))
                if small is None or large is None:
                    raise NotExercised("short questions do not fit this model")
                if large <= small:
                    raise Violation(
                        "a 40-word question costs no more prompt_tokens than a 10-word one: the "
                        "message's content is not counted",
                        expected=f"prompt_tokens > {small}",
                        actual=f"prompt_tokens == {large}",
                        reply=large_reply,
                        related=[small_reply],
                    )
                self.session.calibrated = large, (large - small) / 30
            return self.session.calibrated

    def tokens_per_word(self) -> float:
        """Prompt tokens per extra word of a question, as this server counts them."""
        return self.calibration()[1]

    def words_for(self, tokens: float) -> int:
        """About how many question words cost ``tokens`` on this server (erring low)."""
        return max(1, int(tokens / (1.5 * self.tokens_per_word())))

    def conversation_budget(self) -> tuple[int, int]:
        """(max turns, max words per turn) that keep a drawn conversation within half of the
        window, by this server's own counts."""
        context = self.target.context_length
        if context is None:
            return conversation_budget(None)
        turns = conversation_budget(context)[0]
        words = max(2, min(12, self.words_for(context / 2 / (turns + 2))))
        return min(turns, words), words

    # -- examples

    def examples_for(self, requests_per_example: int) -> int:
        """How many examples a property draws: ``max_examples`` requests' worth, i.e. fewer
        examples for a property whose example sends many requests (at least one). This is how
        the run's requests are divided between the properties by default."""
        return max(1, min(self.max_examples, self.max_examples // max(1, requests_per_example)))

    def examples(
        self,
        strategy: st.SearchStrategy[T],
        body: Callable[[T], None],
        budget: int | None = None,
    ) -> None:
        """Run ``body`` on ``budget`` (default max_examples) examples drawn from ``strategy``.

        The examples are drawn first (seeded; no request is sent while drawing), then evaluated
        ``workers`` at a time. Each records its own outcome; nothing is shrunk, so the number of
        requests stays bounded.
        """
        count = max(1, self.max_examples if budget is None else budget)
        drawn: list[T] = []

        def collect(example: T) -> None:
            drawn.append(example)

        runner = settings(
            max_examples=count,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )(given(strategy)(collect))
        if self.seed is not None:
            runner = hypothesis_seed(self.seed)(runner)
        from .. import _internals  # hypothesis's local-constants hook: a private name

        with _internals.without_local_constants():  # the same seed, the same draws, anywhere
            runner()
        self.evaluate_all([functools.partial(body, example) for example in drawn[:count]])

    def evaluate_all(self, bodies: Sequence[Callable[[], None]]) -> None:
        """Evaluate independent examples, ``workers`` at a time."""
        if self.workers <= 1 or len(bodies) <= 1:
            for body in bodies:
                self._evaluate_now(body)
            return
        stopped: list[BaseException] = []

        def one(body: Callable[[], None]) -> None:
            if stopped:
                return
            try:
                self._evaluate_now(body)
            except (ServerDown, OutOfTime) as exc:
                stopped.append(exc)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(one, bodies))
        if stopped:
            raise stopped[0]

    def prepare(self, build: Callable[[], T]) -> T | None:
        """Build an input several examples share: its value, or ``None`` when it could not be
        built (recorded as not exercised, or as a failure if the server broke a rule)."""
        built: list[T] = []

        def body() -> None:
            built.append(build())

        before = self.result.passed
        self._evaluate_now(body)
        with self._lock:
            self.result.passed = before  # building an input is not a pass
        return built[0] if built else None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within the block, :meth:`evaluate` only queues its example; at the end the queue
        runs ``workers`` at a time (examples of one property are independent)."""
        self._deferred, self._owner = [], threading.get_ident()
        try:
            yield
            queued = self._deferred
        finally:
            self._deferred = None
        self.evaluate_all(queued)

    def evaluate(self, body: Callable[[], None]) -> None:
        """Run one example (or queue it, in a :meth:`batch`): a pass, a failure, not exercised
        or inconclusive."""
        if self._deferred is not None and threading.get_ident() == self._owner:
            self._deferred.append(body)
            return
        self._evaluate_now(body)

    def _evaluate_now(self, body: Callable[[], None]) -> None:
        try:
            body()
        except Violation as violation:
            self.fail(violation)
        except NotExercised as reason:
            with self._lock:
                self.result.record_not_exercised(reason.reason)
        except Inconclusive as reason:
            with self._lock:
                self.result.record_inconclusive(reason.reason)
        except _UsageNull:
            with self._lock:
                self.result.record_not_exercised("the server sent usage: null")
        except _Reported as blocked:
            with self._lock:
                self.result.record_not_exercised(blocked.reason)
        else:
            with self._lock:
                self.result.record_pass()

    def fail(self, violation: Violation) -> None:
        token = self.target.token
        reply = violation.reply
        record = reply.request if reply is not None else None
        failure = Failure(
            check=self.result.name,
            message=redact(violation.message, token),
            expected=redact(violation.expected, token),
            actual=redact(violation.actual, token),
            reproducer=curl_command(self.target.base_url, record) if record else "",
            request=record,
            requests=tuple(r.request for r in violation.related),
        )
        with self._lock:
            self.result.record_failure(failure)


def expect_status(reply: Reply, status: int, what: str) -> None:
    if reply.status != status:
        raise Violation(
            f"{what}: expected HTTP {status}, got {reply.status}",
            expected=f"HTTP {status}",
            actual=f"HTTP {reply.status}: {preview(reply.body)}",
            reply=reply,
        )


def error_body(reply: Reply, what: str) -> dict[str, Any]:
    """The ``error`` object of an error response (its schema is a per-response rule)."""
    try:
        error = json.loads(reply.body)["error"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Violation(
            f"{what}: the error response has no error object",
            expected='{"error": {"code": ..., "message": ..., "field": ...}}',
            actual=preview(reply.body),
            reply=reply,
        ) from None
    if not isinstance(error, dict):
        raise Violation(f"{what}: error is not an object", actual=preview(reply.body), reply=reply)
    return error


def redact(text: str, token: str) -> str:
    return redact_token(text, token)


def same(what: str, left: Answer, right: Answer, *, content: bool = True) -> None:
    """The two answers agree (usage, finish_reason and, optionally, content)."""
    pairs: list[tuple[str, Any, Any]] = [
        ("usage", left.usage, right.usage),
        ("finish_reason", left.finish_reason, right.finish_reason),
    ]
    if content:
        pairs.insert(0, ("content", left.content, right.content))
    for name, a, b in pairs:
        if a != b:
            raise Violation(
                f"{what}: {name} differs",
                expected=preview(repr(a), 300),
                actual=preview(repr(b), 300),
                reply=right.reply,
                related=[left.reply],
            )
