"""Service-level objectives (``--slo ttft_p95=2s,error_rate=1%``): what each one asks, how one
request is held to it (goodput), and whether the run met it.

Objectives:

* ``ttft_pNN``, ``itl_pNN``, ``tpot_pNN``, ``latency_pNN`` = a duration (``250ms``, ``2s``):
  the NN-th percentile of the run (0 < NN < 100) at most that. For goodput, each request is held
  to the same bound on its own value: its TTFT, its latency, its TPOT (for ``itl`` and
  ``tpot``: the mean gap of its stream);
* ``error_rate``, ``rate_limited_rate`` = a share (``1%``): at most that share of the answers
  (of the requests, for ``rate_limited_rate``);
* ``goodput`` = a share: at least that share of the answers are good;
* ``rps`` = a number: at least that many requests per second over the run.

An objective the run could not measure (no stream answered for a TTFT objective) is missed:
nothing that was not measured is shown as met.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .figures import Figures, Sample

__all__ = ["SLO", "SLOError", "SLOVerdict", "judge_slos", "parse_slos", "within"]

LATENCY_METRICS = ("ttft", "itl", "tpot", "latency")
SHARE_MAX = ("error_rate", "rate_limited_rate")
SHARE_MIN = ("goodput",)
RATE_MIN = ("rps",)

_PERCENTILE = re.compile(r"^(ttft|itl|tpot|latency)_p(\d{1,2}(?:\.\d+)?)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")


class SLOError(ValueError):
    """A malformed ``--slo``: the message names the objective."""


@dataclass(frozen=True)
class SLO:
    name: str
    """As written: ``ttft_p95``, ``error_rate``..."""
    metric: str
    """``ttft``, ``itl``, ``tpot``, ``latency``, ``error_rate``, ``rate_limited_rate``,
    ``goodput`` or ``rps``."""
    bound: float
    """Milliseconds (latencies), a fraction 0..1 (shares) or requests per second."""
    text: str
    """The bound as written (``2s``, ``1%``)."""
    percentile: float | None = None

    @property
    def is_minimum(self) -> bool:
        return self.metric in SHARE_MIN or self.metric in RATE_MIN

    def label(self) -> str:
        """``ttft_p95 <= 2s``, ``goodput >= 95%``."""
        return f"{self.name} {'>=' if self.is_minimum else '<='} {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "percentile": self.percentile,
            "bound": self.bound,
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SLO:
        return cls(
            str(data["name"]),
            str(data["metric"]),
            float(data["bound"]),
            str(data["text"]),
            None if data["percentile"] is None else float(data["percentile"]),
        )


def _share(name: str, text: str) -> float:
    if not text.endswith("%"):
        raise SLOError(f"--slo {name}={text}: give a percentage, e.g. {name}=1%")
    try:
        value = float(text[:-1])
    except ValueError:
        raise SLOError(f"--slo {name}={text}: not a percentage") from None
    if not 0 <= value <= 100:
        raise SLOError(f"--slo {name}={text}: must be between 0% and 100%")
    return value / 100


def parse_slos(text: str) -> tuple[SLO, ...]:
    """``"ttft_p95=2s,error_rate=1%"`` -> the objectives (:class:`SLOError` names a bad one)."""
    found: dict[str, SLO] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip().lower()
        if not sep or not value:
            raise SLOError(f"--slo {part!r}: expected NAME=VALUE, e.g. ttft_p95=2s")
        match = _PERCENTILE.match(name)
        if match:
            metric, q = match.group(1), float(match.group(2))
            if not 0 < q < 100:
                raise SLOError(f"--slo {name}: the percentile must be between 0 and 100")
            duration = _DURATION.match(value)
            if not duration:
                raise SLOError(
                    f"--slo {name}={value}: give a duration with its unit, e.g. 2s or 250ms"
                )
            amount = float(duration.group(1)) * (1000.0 if duration.group(2) == "s" else 1.0)
            slo = SLO(name, metric, amount, value, q)
        elif name in SHARE_MAX or name in SHARE_MIN:
            slo = SLO(name, name, _share(name, value), value)
        elif name in RATE_MIN:
            try:
                rate = float(value)
            except ValueError:
                raise SLOError(f"--slo rps={value}: not a number of requests per second") from None
            if not rate > 0:
                raise SLOError(f"--slo rps={value}: must be greater than 0")
            slo = SLO(name, name, rate, value)
        else:
            known = "ttft_pNN, itl_pNN, tpot_pNN, latency_pNN, error_rate, rate_limited_rate, "
            raise SLOError(f"--slo {name}: unknown objective (known: {known}goodput, rps)")
        if name in found:
            raise SLOError(f"--slo {name}: given twice")
        found[name] = slo
    return tuple(found.values())


def within(sample: Sample, slos: tuple[SLO, ...]) -> bool:
    """Whether one answered request meets every per-request bound (its own TTFT, TPOT and
    latency against the latency objectives). A bound it has no value for (TTFT of a
    non-streamed answer) does not apply to it."""
    for slo in slos:
        if slo.metric == "ttft":
            value = sample.ttft_ms
        elif slo.metric in ("itl", "tpot"):
            value = sample.tpot_ms
        elif slo.metric == "latency":
            value = sample.latency_ms
        else:
            continue
        if value is not None and value > slo.bound:
            return False
    return True


@dataclass(frozen=True)
class SLOVerdict:
    slo: SLO
    measured: float | None
    """In the objective's unit (ms, fraction, requests/s); ``None``: not measured."""
    met: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            **self.slo.to_json(),
            "label": self.slo.label(),
            "measured": None if self.measured is None else round(self.measured, 4),
            "met": self.met,
            "detail": self.detail,
        }


def _shown(slo: SLO, value: float) -> str:
    if slo.metric in LATENCY_METRICS:
        return f"{value:.1f}ms" if value < 1000 else f"{value / 1000:.3f}s"
    if slo.metric in RATE_MIN:
        return f"{value:.1f}/s"
    return f"{value * 100:.2f}%"


def judge_slos(slos: tuple[SLO, ...], figures: Figures, seconds: float) -> list[SLOVerdict]:
    """Each objective against the run's figures (``seconds``: the run's wall time)."""
    total = figures.total
    verdicts: list[SLOVerdict] = []
    for slo in slos:
        measured: float | None
        unit = ""
        if slo.metric in LATENCY_METRICS:
            histogram = {
                "ttft": total.ttft,
                "itl": total.itl,
                "tpot": figures.tpot,
                "latency": total.latency,
            }[slo.metric]
            measured = histogram.percentile(slo.percentile or 50)
            unit = f"over {histogram.count} sample(s)"
        elif slo.metric == "error_rate":
            measured = total.errors / total.answered if total.answered else None
            unit = f"{total.errors} of {total.answered} answer(s)"
        elif slo.metric == "rate_limited_rate":
            measured = total.rate_limited / total.requests if total.requests else None
            unit = f"{total.rate_limited} of {total.requests} request(s)"
        elif slo.metric == "goodput":
            measured = total.good / total.answered if total.answered else None
            unit = f"{total.good} of {total.answered} answer(s)"
        else:
            measured = total.requests / seconds if seconds > 0 and total.requests else None
            unit = f"{total.requests} request(s) in {seconds:.1f}s"
        if measured is None:
            verdicts.append(SLOVerdict(slo, None, False, f"{slo.label()}: not measured ({unit})"))
            continue
        met = measured >= slo.bound if slo.is_minimum else measured <= slo.bound
        word = "met" if met else "MISSED"
        detail = f"{slo.label()}: {word}, measured {_shown(slo, measured)} ({unit})"
        verdicts.append(SLOVerdict(slo, measured, met, detail))
    return verdicts
