"""The load's part of ``report.html``: the figures, the SLO verdicts, the workers, and charts over
time (latency percentiles, throughput) drawn as inline SVG, so the page stays one file that
fetches nothing (its Content-Security-Policy forbids it) and reads the same without JavaScript.
Every text from the run is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .figures import PERCENTILES

__all__ = ["inject_html", "render_section", "svg_chart"]

_CSS = """
.load-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr));
  gap: 14px; }
.chart { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 10px 12px; }
.chart svg { width: 100%; height: auto; display: block; }
.chart .axis { stroke: var(--muted); stroke-width: 1; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart text { fill: var(--muted); font-size: 11px; }
.chart polyline { fill: none; stroke-width: 2; }
.legend { display: flex; gap: 12px; flex-wrap: wrap; font-size: 12.5px; color: var(--muted); }
.legend i { display: inline-block; width: 12px; height: 3px; margin-right: 4px;
  vertical-align: middle; }
"""

_COLOURS = ("#2f5bd3", "#d9822b", "#b42318", "#16794a", "#7a4cc2")

_W, _H = 560, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 30


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice(value: float) -> float:
    """A round upper bound for an axis."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** (len(str(int(value))) - 1)
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.2g}"


def svg_chart(
    title: str,
    unit: str,
    xs: Sequence[float],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    chart_id: str,
) -> str:
    """A line chart: one polyline per series (a gap where a value is missing), axes with ticks,
    a legend; the values also in a ``<table>`` inside ``<details>`` for readers and tests."""
    values = [v for _, ys in series for v in ys if v is not None]
    plot = _Plot(_nice(max(values) if values else 0.0), max(xs[-1] if xs else 0.0, 1.0))
    parts = [
        f'<figure class="chart" id="{_e(chart_id)}"><figcaption><strong>{_e(title)}</strong> '
        f'<span class="muted">({_e(unit)})</span></figcaption>',
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{_e(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
    ]
    parts += _axes(plot)
    parts += _lines(plot, xs, series)
    parts.append("</svg>")
    parts.append(_legend(series))
    parts.append(_values(xs, series))
    return "".join(parts)


class _Plot:
    """Where a value lands in the chart: ``top`` at the top of the plot, ``right`` seconds at
    its right edge."""

    def __init__(self, top: float, right: float) -> None:
        self.top, self.right = top, right
        self.width, self.height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(self, t: float) -> float:
        return _LEFT + self.width * t / self.right

    def y(self, v: float) -> float:
        return _TOP + self.height * (1 - v / self.top)


def _axes(plot: _Plot) -> list[str]:
    """The grid lines with their values, the time ticks, and the two axes."""
    parts = []
    for step in range(5):
        value = plot.top * step / 4
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{plot.y(value):.1f}" '
            f'y2="{plot.y(value):.1f}"/><text x="{_LEFT - 6}" y="{plot.y(value) + 4:.1f}" '
            f'text-anchor="end">{_fmt(value)}</text>'
        )
    for step in range(5):
        t = plot.right * step / 4
        parts.append(
            f'<text x="{plot.x(t):.1f}" y="{_H - 10}" text-anchor="middle">{_fmt(t)}s</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_H - _BOTTOM}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_H - _BOTTOM}" '
        f'y2="{_H - _BOTTOM}"/>'
    )
    return parts


def _lines(
    plot: _Plot, xs: Sequence[float], series: Sequence[tuple[str, Sequence[float | None]]]
) -> list[str]:
    """Each series as polylines broken where a value is missing (a lone point as a dot)."""
    parts = []
    for number, (name, ys) in enumerate(series):
        colour = _COLOURS[number % len(_COLOURS)]
        runs: list[list[str]] = [[]]
        for t, v in zip(xs, ys, strict=True):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{plot.x(t):.1f},{plot.y(v):.1f}")
        for points in runs:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                parts.append(
                    f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}" '
                    f'data-series="{_e(name)}"/>'
                )
            elif points:
                parts.append(
                    f'<polyline data-series="{_e(name)}" stroke="{colour}" '
                    f'points="{" ".join(points)}"/>'
                )
    return parts


def _legend(series: Sequence[tuple[str, Sequence[float | None]]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{_COLOURS[n % len(_COLOURS)]}"></i>{_e(name)}</span>'
            for n, (name, _) in enumerate(series)
        )
        + "</div>"
    )


def _values(xs: Sequence[float], series: Sequence[tuple[str, Sequence[float | None]]]) -> str:
    """The chart's values as a table, folded away, with the figure's end."""
    head = "".join(f"<th>{_e(name)}</th>" for name, _ in series)
    rows = "".join(
        f'<tr><td class="num">{_fmt(t)}</td>'
        + "".join(
            f'<td class="num">{"-" if ys[i] is None else f"{ys[i]:.2f}"}</td>' for _, ys in series
        )
        + "</tr>"
        for i, t in enumerate(xs)
    )
    return (
        f"<details><summary>values</summary><table><tr><th>t (s)</th>{head}</tr>{rows}"
        "</table></details></figure>"
    )


def _ms(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    return "-" if value is None else f"{value:.1f}"


def render_section(section: dict[str, Any]) -> str:
    return "\n".join(_section(section))


def _section(section: dict[str, Any]) -> Iterator[str]:
    yield f"<style>{_CSS}</style>"
    yield '<section id="load"><h2>Load</h2>'
    yield _cards(section)
    if not section["judged"]:
        yield '<p class="notes">--no-judge: the answers were measured, not judged.</p>'
    elif section.get("judging"):
        yield _judging(section["judging"])
    yield from _latency(section)
    if section["slos"]:
        yield from _slos(section["slos"])
    if section["workers"]:
        yield from _workers(section["workers"])
    yield from _over_time(section["over_time"])
    yield "</div></section>"


def _cards(section: dict[str, Any]) -> str:
    """The headline figures, one card each (coloured when they are bad news)."""
    requests = section["requests"]
    share = section["goodput"]["share"]
    cards = [
        ("requests", requests["total"], ""),
        ("requests/s", f"{section['requests_per_second']:.1f}", ""),
        ("output tokens/s", f"{section['output_tokens_per_second']:.1f}", ""),
        ("errors", requests["errors"], "fail" if requests["errors"] else ""),
        ("rate-limited", requests["rate_limited"], "warn" if requests["rate_limited"] else ""),
        ("violating answers", requests["violations"], "fail" if requests["violations"] else ""),
        (
            "goodput",
            "n/a" if share is None else f"{share * 100:.1f}%",
            "" if section["judged"] else "warn",
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card {cls}"><div class="n">{_e(n)}</div><div class="l">{_e(label)}</div>'
            "</div>"
            for label, n, cls in cards
        )
        + "</div>"
    )


def _judging(judging: dict[str, Any]) -> str:
    """What the judge processes did (beside the load), and whether answers were left."""
    per = judging["cpu_us_per_answer"]
    text = (
        f"{judging['judged']} of {judging['answers']} answer(s) judged beside the load "
        f"({judging['processes']} judge process(es)"
        + ("" if per is None else f", {per:.0f} us of CPU each")
        + f"); {judging['backlog_at_stop']} left when the load stopped, judged in "
        f"{judging['drain_seconds']:.1f} s"
        + (f"; users held {judging['held_seconds']:.1f} s" if judging["held_seconds"] else "")
    )
    if judging["error"]:
        why = _e(judging["error"])
        return (
            f'<p class="notes" data-judging="incomplete">JUDGING INCOMPLETE: {why}. {_e(text)}</p>'
        )
    return f'<p class="notes" data-judging="complete">{_e(text)}</p>'


def _latency(section: dict[str, Any]) -> Iterator[str]:
    """The latency figures' percentiles, one row each."""
    yield '<h3 style="margin-top:18px">Latency (ms)</h3><table class="latency"><tr><th>figure</th>'
    yield "<th>count</th>" + "".join(f"<th>p{q}</th>" for q in PERCENTILES) + "<th>max</th></tr>"
    for label, key in (
        ("time to first token (TTFT)", "ttft_ms"),
        ("inter-token latency (ITL)", "itl_ms"),
        ("time per output token (TPOT)", "tpot_ms"),
        ("request latency", "latency_ms"),
    ):
        summary = section[key]
        yield (
            f'<tr data-figure="{key}"><td>{_e(label)}</td><td class="num">{summary["count"]}</td>'
            + "".join(f'<td class="num">{_ms(summary, f"p{q}")}</td>' for q in PERCENTILES)
            + f'<td class="num">{_ms(summary, "max")}</td></tr>'
        )
    yield "</table>"


def _slos(slos: list[dict[str, Any]]) -> Iterator[str]:
    """Each objective, met or missed, with what was measured."""
    yield '<h3 style="margin-top:18px">SLOs</h3><table class="slos">'
    yield "<tr><th>objective</th><th>verdict</th><th>measured</th></tr>"
    for slo in slos:
        verdict = "met" if slo["met"] else "missed"
        pill = "pass" if slo["met"] else "fail"
        yield (
            f'<tr data-slo="{_e(slo["name"])}" data-verdict="{verdict}"><td>'
            f'<code>{_e(slo["label"])}</code></td><td><span class="pill {pill}">{verdict}'
            f"</span></td><td>{_e(slo['detail'])}</td></tr>"
        )
    yield "</table>"


def _workers(workers: list[dict[str, Any]]) -> Iterator[str]:
    """Each worker of a distributed run: its reports, and whether it was lost."""
    yield '<h3 style="margin-top:18px">Workers</h3><table class="workers">'
    yield "<tr><th>worker</th><th>reports</th><th>state</th></tr>"
    for worker in workers:
        state = f"LOST: {worker['reason']}" if worker["lost"] else "finished the run"
        pill = "fail" if worker["lost"] else "pass"
        yield (
            f'<tr data-lost="{str(worker["lost"]).lower()}"><td>{worker["index"]} '
            f'<span class="muted mono">{_e(worker["id"])}</span></td>'
            f'<td class="num">{worker["reports"]}</td><td><span class="pill {pill}">'
            f"{_e(state)}</span></td></tr>"
        )
    yield "</table>"


def _over_time(timeline: dict[str, Any]) -> Iterator[str]:
    """The charts over time (the grid they sit in is closed by the caller)."""
    rows = timeline["buckets"]
    xs = [float(row["t"]) for row in rows]
    width = timeline["bucket_seconds"]
    yield f'<h3 style="margin-top:18px">Over time</h3><p class="muted">{width}-second buckets</p>'
    yield '<div class="load-grid">'
    yield svg_chart(
        "Time to first token",
        "ms",
        xs,
        [(f"p{q}", [row["ttft_ms"][f"p{q}"] for row in rows]) for q in PERCENTILES],
        chart_id="chart-ttft",
    )
    yield svg_chart(
        "Request latency",
        "ms",
        xs,
        [(f"p{q}", [row["latency_ms"][f"p{q}"] for row in rows]) for q in PERCENTILES],
        chart_id="chart-latency",
    )
    yield svg_chart(
        "Throughput",
        "requests per second",
        xs,
        [
            ("requests/s", [row["requests_per_second"] for row in rows]),
            ("errors/s", [row["errors"] / width for row in rows]),
            ("rate-limited/s", [row["rate_limited"] / width for row in rows]),
            ("violating/s", [row["violations"] / width for row in rows]),
        ],
        chart_id="chart-throughput",
    )
    yield svg_chart(
        "Output tokens",
        "tokens per second",
        xs,
        [("output tokens/s", [row["output_tokens_per_second"] for row in rows])],
        chart_id="chart-tokens",
    )


def inject_html(path: Path, section: dict[str, Any]) -> None:
    """Put the load's section into the suite's ``report.html``, before its footer (at the end of
    the page when it has none)."""
    page = path.read_text(encoding="utf-8")
    block = render_section(section)
    marker = "<footer>"
    at = page.rfind(marker)
    if at < 0:
        at = page.rfind("</main>")
    page = page[:at] + block + "\n" + page[at:] if at >= 0 else page + block
    page = page.replace("<title>", "<title>load: ", 1)
    path.write_text(page, encoding="utf-8")
