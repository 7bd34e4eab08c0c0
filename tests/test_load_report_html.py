"""The load's part of ``report.html``: a real (short) load run against the reference server,
its page checked without a browser (sections, charts as inline SVG, nothing fetched, run texts
escaped) and rendered by headless Debian Chromium like the suite's report
(tests/test_conformance_report_html.py; ``tox -e browser``), with a screenshot kept under
``build/report-screenshots/load.png``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chat_text_conformance.load.charts import render_section, svg_chart
from chat_text_conformance.load.cli import main
from test_conformance_report_html import SCREENSHOTS, _chromium, _text, needs_chromium


@pytest.fixture(scope="module")
def load_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("load") / "report"
    code = main(
        [
            "--users",
            "4",
            "--spawn-rate",
            "8",
            "--run-time",
            "2s",
            "--stop-timeout",
            "2",
            "-q",
            "--slo",
            "ttft_p95=10s,error_rate=1%",
            "--report-dir",
            str(folder),
        ]
    )
    assert code == 0
    return folder


def test_the_page_has_the_load_section_and_its_charts(load_run: Path) -> None:
    page = (load_run / "report.html").read_text()
    text = _text(page)
    assert 'id="load"' in page
    for chart in ("chart-ttft", "chart-latency", "chart-throughput", "chart-tokens"):
        assert f'id="{chart}"' in page
    assert page.count("<svg") >= 4 and "<polyline" in page
    assert "time to first token (TTFT)" in text and "ttft_p95 <= 10s" in text
    assert 'data-judging="complete"' in page and "judged beside the load" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # fetches nothing
    assert page.index('id="load"') < page.index("<footer>")


def test_run_texts_are_escaped_in_the_section() -> None:
    hostile = "<script>alert(1)</script>"
    chart = svg_chart(hostile, "ms", [0.0, 1.0], [(hostile, [1.0, None])], chart_id="c")
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    section = {
        "requests": {"total": 1, "errors": 0, "rate_limited": 0, "violations": 0},
        "requests_per_second": 1.0,
        "output_tokens_per_second": 1.0,
        "goodput": {"share": 1.0},
        "judged": True,
        "ttft_ms": {"count": 0},
        "itl_ms": {"count": 0},
        "tpot_ms": {"count": 0},
        "latency_ms": {"count": 0},
        "slos": [],
        "workers": [
            {"index": 0, "id": hostile, "reports": 1, "lost": True, "reason": hostile},
        ],
        "over_time": {"bucket_seconds": 1, "buckets": []},
        "judging": {
            "answers": 1, "judged": 0, "processes": 1, "cpu_us_per_answer": None,
            "backlog_at_stop": 1, "drain_seconds": 0.0, "held_seconds": 0.0, "error": hostile,
        },
    }  # fmt: skip
    page = render_section(section)
    assert "<script>" not in page and "&lt;script&gt;" in page


@needs_chromium
def test_a_browser_renders_the_load_charts(load_run: Path, tmp_path: Path) -> None:
    dom = _chromium(load_run / "report.html", SCREENSHOTS / "load.png", tmp_path)
    assert 'id="load"' in dom
    for chart in ("chart-ttft", "chart-latency", "chart-throughput", "chart-tokens"):
        assert re.search(rf'<figure class="chart" id="{chart}">.*?<svg', dom, re.S)
    assert re.search(r'<polyline data-series="p95"', dom)
    assert re.search(r'<polyline data-series="requests/s"', dom)
    assert "pwned" not in dom
