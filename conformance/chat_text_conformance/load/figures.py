"""The figures of a load run, mergeable across processes: every worker measures its own share and
the master adds them up (:meth:`Figures.merge`), so percentiles are taken over every request of
the run, not averaged over workers.

Latencies go into :class:`Histogram`, a log-bucketed histogram (1 % relative precision, exact
count, sum, minimum and maximum): a worker sends its buckets, not its samples, so a long run costs
the same to report as a short one. Everything is also counted per second of wall time
(:class:`Bucket`), which the report folds into the "over time" charts.

Definitions (docs/load.md compares them with GuideLLM's and LLMPerf's):

* **TTFT** (time to first token): from just before the request is sent to the arrival of the
  first stream event that carries content (an event with only ``role`` or an empty ``content``
  does not count). Streams only: a non-streamed answer has no first token before its last.
* **ITL** (inter-token latency): the gaps between consecutive content events of a stream, each
  gap one sample (a server that sends several tokens per event shows fewer, longer gaps).
* **TPOT** (time per output token after the first): per stream, (latency - TTFT) /
  (completion_tokens - 1), completion_tokens as the server's usage reports them.
* **latency**: from just before the request is sent to the last byte of the answer.
* **output tokens/s**: completion_tokens summed over the answers, over the run's wall time.
* **error**: no answer (refused, reset, timed out), a 5xx other than 503, or a valid request
  refused for no documented reason; a 4xx to a deliberately invalid request, a 413 and a
  ``prompt_too_long`` are the answers the spec asks for, not errors.
* **rate-limited**: a 429 or 503 answer (waited out as it says, re-sent, judged by no rule).
* **goodput**: answers that are conformant (no rule failed) and within every per-request SLO.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PERCENTILES", "Bucket", "Figures", "Histogram", "Sample"]

PERCENTILES = (50, 95, 99)
"""The percentiles every latency figure is reported at."""

_PRECISION = 1.01
_SCALE = 1.0 / math.log(_PRECISION)
_FLOOR_MS = 0.001
"""Values below a microsecond share the lowest bucket."""


class Histogram:
    """Milliseconds, in log buckets of 1 % width; exact count, sum, minimum and maximum."""

    __slots__ = ("buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value_ms: float) -> None:
        value = max(value_ms, _FLOOR_MS)
        self.buckets[int(math.log(value) * _SCALE)] += 1
        self.count += 1
        self.total += value_ms
        self.minimum = min(self.minimum, value_ms)
        self.maximum = max(self.maximum, value_ms)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, q: float) -> float | None:
        """The value at or below which ``q`` percent of the samples lie (within 1 %, and never
        outside the exact minimum and maximum); ``None`` without samples."""
        if not self.count:
            return None
        if q >= 100:
            return self.maximum
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                middle = math.exp((index + 0.5) / _SCALE)
                return min(max(middle, self.minimum), self.maximum)
        return self.maximum

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def summary(self) -> dict[str, Any]:
        """``{"count", "mean", "min", "max", "p50", "p95", "p99"}`` in milliseconds (rounded)."""
        data: dict[str, Any] = {"count": self.count}
        data["mean"] = _round(self.mean)
        data["min"] = _round(self.minimum if self.count else None)
        data["max"] = _round(self.maximum if self.count else None)
        for q in PERCENTILES:
            data[f"p{q}"] = _round(self.percentile(q))
        return data

    def to_wire(self) -> dict[str, Any]:
        return {
            "b": [[index, n] for index, n in self.buckets.items()],
            "c": self.count,
            "t": self.total,
            "lo": self.minimum if self.count else None,
            "hi": self.maximum if self.count else None,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Histogram:
        histogram = cls()
        histogram.buckets = Counter({int(index): int(n) for index, n in data["b"]})
        histogram.count = int(data["c"])
        histogram.total = float(data["t"])
        if histogram.count:
            histogram.minimum = float(data["lo"])
            histogram.maximum = float(data["hi"])
        return histogram


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class Sample:
    """What one exchange (one request and its answer) measured."""

    started: float
    """Unix time just before the request was sent."""
    kind: str
    """The traffic mix's name for the request (``stream``, ``json``, ``invalid``...)."""
    status: int | None
    """The answer's status (``None``: no answer)."""
    latency_ms: float
    busy: bool = False
    error: str | None = None
    """Why the exchange is an error (see the module's docstring), or ``None``."""
    violated: bool = False
    """Whether a rule failed on it."""
    judged: bool = True
    """Whether the rules were applied (``--no-judge``: not)."""
    ttft_ms: float | None = None
    gaps_ms: list[float] = field(default_factory=list)
    tpot_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    good: bool = False
    """Conformant and within every per-request SLO (set by the SLOs)."""


_COUNTERS = (
    "requests",
    "answered",
    "rate_limited",
    "errors",
    "violations",
    "conformant",
    "good",
    "streams",
    "prompt_tokens",
    "output_tokens",
)


@dataclass
class Bucket:
    """The figures of one second of wall time."""

    requests: int = 0
    answered: int = 0
    rate_limited: int = 0
    errors: int = 0
    violations: int = 0
    conformant: int = 0
    good: int = 0
    streams: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    ttft: Histogram = field(default_factory=Histogram)
    latency: Histogram = field(default_factory=Histogram)
    itl: Histogram = field(default_factory=Histogram)

    def observe(self, sample: Sample) -> None:
        self.requests += 1
        if sample.busy:
            self.rate_limited += 1
            return
        self.answered += 1
        self.errors += sample.error is not None
        self.violations += sample.violated
        self.conformant += sample.judged and not sample.violated and sample.error is None
        self.good += sample.good
        self.prompt_tokens += sample.prompt_tokens
        self.output_tokens += sample.completion_tokens
        if sample.status is not None:
            self.latency.add(sample.latency_ms)
        if sample.ttft_ms is not None:
            self.streams += 1
            self.ttft.add(sample.ttft_ms)
        for gap in sample.gaps_ms:
            self.itl.add(gap)

    def merge(self, other: Bucket) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ttft.merge(other.ttft)
        self.latency.merge(other.latency)
        self.itl.merge(other.itl)

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        data["ttft"] = self.ttft.to_wire()
        data["latency"] = self.latency.to_wire()
        data["itl"] = self.itl.to_wire()
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Bucket:
        bucket = cls()
        for name in _COUNTERS:
            setattr(bucket, name, int(data[name]))
        bucket.ttft = Histogram.from_wire(data["ttft"])
        bucket.latency = Histogram.from_wire(data["latency"])
        bucket.itl = Histogram.from_wire(data["itl"])
        return bucket


@dataclass
class Figures:
    """The run's figures (or one worker's share of them): a whole-run :class:`Bucket`, the
    per-request TPOT, and one :class:`Bucket` per second of wall time."""

    total: Bucket = field(default_factory=Bucket)
    tpot: Histogram = field(default_factory=Histogram)
    seconds: dict[int, Bucket] = field(default_factory=dict)
    """Unix second -> what happened in it."""
    kinds: Counter[str] = field(default_factory=Counter)
    """Requests by kind of the traffic mix (busy re-sends included)."""
    statuses: Counter[str] = field(default_factory=Counter)
    """Answers by status (``"none"``: no answer)."""
    error_reasons: Counter[str] = field(default_factory=Counter)
    judged: bool = True

    def observe(self, sample: Sample) -> None:
        self.total.observe(sample)
        second = int(sample.started)
        bucket = self.seconds.get(second)
        if bucket is None:
            bucket = self.seconds[second] = Bucket()
        bucket.observe(sample)
        self.kinds[sample.kind] += 1
        self.statuses["none" if sample.status is None else str(sample.status)] += 1
        if sample.error is not None and not sample.busy:
            self.error_reasons[sample.error] += 1
        if sample.tpot_ms is not None and not sample.busy:
            self.tpot.add(sample.tpot_ms)
        self.judged = self.judged and sample.judged

    def merge(self, other: Figures) -> None:
        self.total.merge(other.total)
        self.tpot.merge(other.tpot)
        for second, bucket in other.seconds.items():
            mine = self.seconds.get(second)
            if mine is None:
                self.seconds[second] = mine = Bucket()
            mine.merge(bucket)
        self.kinds.update(other.kinds)
        self.statuses.update(other.statuses)
        self.error_reasons.update(other.error_reasons)
        self.judged = self.judged and other.judged

    def violated(self, second: int, *, good: bool, error_free: bool) -> None:
        """A rule failed on an answer sent in ``second``, observed before it was judged (the
        judge works beside the load): count it violating, and take it out of the conformant
        answers (when it had no error) and of the goodput (when it was ``good``)."""
        bucket = self.seconds.get(second)
        if bucket is None:  # taken already (a worker's report): the master adds this one
            bucket = self.seconds[second] = Bucket()
        for counted in (self.total, bucket):
            counted.violations += 1
            counted.conformant -= error_free
            counted.good -= good

    @property
    def empty(self) -> bool:
        return self.total.requests == 0

    def to_wire(self) -> dict[str, Any]:
        """A msgpack/JSON-ready form (what a worker sends the master)."""
        return {
            "total": self.total.to_wire(),
            "tpot": self.tpot.to_wire(),
            "seconds": [[second, bucket.to_wire()] for second, bucket in self.seconds.items()],
            "kinds": dict(self.kinds),
            "statuses": dict(self.statuses),
            "error_reasons": dict(self.error_reasons),
            "judged": self.judged,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Figures:
        return cls(
            total=Bucket.from_wire(data["total"]),
            tpot=Histogram.from_wire(data["tpot"]),
            seconds={int(s): Bucket.from_wire(b) for s, b in data["seconds"]},
            kinds=Counter({str(k): int(v) for k, v in data["kinds"].items()}),
            statuses=Counter({str(k): int(v) for k, v in data["statuses"].items()}),
            error_reasons=Counter({str(k): int(v) for k, v in data["error_reasons"].items()}),
            judged=bool(data["judged"]),
        )
