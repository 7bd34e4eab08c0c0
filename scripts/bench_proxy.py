"""Benchmark the validation proxy: what it adds to the time to first byte, in one run.

    python scripts/bench_proxy.py                       # defaults: 20 rounds of 25 calls a case
    python scripts/bench_proxy.py --rounds 5 --max-overhead-ms 5

Every process is its own: the reference server (``running_server``), a slow-stream server (one
event every ``--slow-delay-ms``, ``--slow-events`` events: a stand-in for an LLM), and one
``chat-text-conformance proxy`` (the CLI, as users run it) in front of each. The benchmark calls
each server directly and through its proxy with one keep-alive ``httpx.Client`` per side and
the same request, and measures per call

* time to first byte: from sending the request to the first body bytes (for a stream, its first
  event);
* total: to the end of the body.

Cases: ``json`` (a plain answer), ``stream`` (``stream: true``, about 20 events) and ``slow``
(the slow stream). Calls alternate between direct and proxied blocks (ABBA) after a warm-up; a
case's overhead is the median over rounds of (proxied median - direct median), and its ratio
the median of per-round ratios. The slow stream shows that nothing is buffered: through the
proxy its first event must arrive long before its last one is sent.

Exit status 1 when the median time-to-first-byte overhead of ``json`` or ``stream`` is above
``--max-overhead-ms`` (default 5), when a slow stream's first event comes through later than
half its duration, or when a proxy reports a rule violation (the reference server has none).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
from bench_child import child_server

from chat_text_spec import OPERATION_PATH

TOKEN = "bench-proxy-token"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-base"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
QUESTION = "Name three rivers of Europe and say which one is the longest of them."

_SERVE_REFERENCE = """
import sys
from chat_text_server.testing import running_server
with running_server(tokens=[sys.argv[1]]) as url:
    print(url, flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin (or dies)
"""

_SERVE_SLOW = """
import asyncio, itertools, json, sys, time
from chat_text_server.testing import running_server

EVENTS, DELAY = int(sys.argv[2]), float(sys.argv[3])
NUMBERS = itertools.count(1)

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    created, model, name = int(time.time()), "slow-model", f"slow-{next(NUMBERS)}"
    for i in range(EVENTS):
        if i:
            await asyncio.sleep(DELAY)
        last = i == EVENTS - 1
        chunk = {"id": name, "created": created, "model": model,
                 "choices": [{"index": 0,
                              "delta": ({"role": "assistant", "content": ""} if i == 0
                                        else {"content": " word"}),
                              "finish_reason": "stop" if last else None}],
                 "usage": ({"prompt_tokens": 5, "completion_tokens": EVENTS - 1,
                            "total_tokens": EVENTS + 4} if last else None)}
        await send({"type": "http.response.body", "more_body": True,
                    "body": b"data: " + json.dumps(chunk).encode() + b"\\n\\n"})
    await send({"type": "http.response.body", "body": b"data: [DONE]\\n\\n"})

with running_server(app, tokens=[sys.argv[1]]) as url:
    print(url, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def _proxy(upstream: str, report_dir: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``chat-text-conformance proxy`` in front of ``upstream``; yields its URL and, after the
    block, fills the dict with its exit status and report."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chat_text_conformance.cli",
            "proxy",
            "--upstream",
            upstream,
            "--listen",
            "127.0.0.1:0",
            "--report-dir",
            report_dir,
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outcome: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = next((w.rstrip(",") for w in line.split() if w.startswith("http://")), "")
        if not url:
            raise RuntimeError(f"the proxy did not start: {line!r}")
        yield url, outcome
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        outcome["exit"] = proc.returncode
        path = os.path.join(report_dir, "report.json")
        with contextlib.suppress(OSError, ValueError), open(path, encoding="utf-8") as fh:
            outcome["report"] = json.load(fh)


def _call(client: httpx.Client, url: str, payload: dict[str, Any]) -> tuple[float, float]:
    """(time to first body byte, total) in milliseconds."""
    start = time.perf_counter()
    with client.stream("POST", url, json=payload, headers=HEADERS) as response:
        chunks = response.iter_raw()
        next(chunks)
        first = time.perf_counter()
        for _ in chunks:
            pass
    end = time.perf_counter()
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered HTTP {response.status_code}")
    return (first - start) * 1000, (end - start) * 1000


def bench_case(
    direct: str, proxied: str, payload: dict[str, Any], rounds: int, block: int, warm: int
) -> dict[str, Any]:
    sides = {"direct": direct + OPERATION_PATH, "proxy": proxied + OPERATION_PATH}
    times: dict[str, list[list[tuple[float, float]]]] = {"direct": [], "proxy": []}
    with httpx.Client(timeout=60) as one, httpx.Client(timeout=60) as other:
        clients = {"direct": one, "proxy": other}
        for side, url in sides.items():
            for _ in range(warm):
                _call(clients[side], url, payload)
        for r in range(rounds):
            order = ("direct", "proxy") if r % 2 == 0 else ("proxy", "direct")
            for side in order:
                times[side].append(
                    [_call(clients[side], sides[side], payload) for _ in range(block)]
                )

    def med(side: str, r: int, k: int) -> float:
        return statistics.median(t[k] for t in times[side][r])

    result: dict[str, Any] = {"calls_per_side": rounds * block}
    for k, name in ((0, "ttfb"), (1, "total")):
        direct_ms = [med("direct", r, k) for r in range(rounds)]
        proxy_ms = [med("proxy", r, k) for r in range(rounds)]
        result[name] = {
            "direct_ms": statistics.median(direct_ms),
            "proxy_ms": statistics.median(proxy_ms),
            "overhead_ms": statistics.median(
                p - d for d, p in zip(direct_ms, proxy_ms, strict=True)
            ),
            "ratio": statistics.median(p / d for d, p in zip(direct_ms, proxy_ms, strict=True)),
            "overhead_ms_per_round": [
                round(p - d, 3) for d, p in zip(direct_ms, proxy_ms, strict=True)
            ],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds per case")
    parser.add_argument("--block", type=int, default=25, help="calls per side and round")
    parser.add_argument("--slow-rounds", type=int, default=4, help="rounds of the slow stream")
    parser.add_argument("--slow-events", type=int, default=20, help="events of the slow stream")
    parser.add_argument("--slow-delay-ms", type=float, default=25.0, help="between slow events")
    parser.add_argument(
        "--max-overhead-ms",
        type=float,
        default=5.0,
        help="fail when the median time-to-first-byte overhead is above this (default 5)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    for name in ("rounds", "block", "slow_rounds", "slow_events"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.slow_events < 2 or args.slow_delay_ms <= 0:
        parser.error("--slow-events must be at least 2 and --slow-delay-ms positive")

    plain = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}
    streamed = {**plain, "stream": True}
    slow = {"model": "slow-model", "messages": [{"role": "user", "content": "go"}], "stream": True}
    results: dict[str, Any] = {}
    proxies: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        reference = stack.enter_context(child_server(_SERVE_REFERENCE, TOKEN))
        slow_server = stack.enter_context(
            child_server(_SERVE_SLOW, TOKEN, str(args.slow_events), str(args.slow_delay_ms / 1000))
        )
        with _proxy(reference, os.path.join(tmp, "reference")) as (ref_proxy, ref_outcome):
            results["json"] = bench_case(reference, ref_proxy, plain, args.rounds, args.block, 50)
            results["stream"] = bench_case(
                reference, ref_proxy, streamed, args.rounds, args.block, 50
            )
        proxies["reference"] = ref_outcome
        with _proxy(slow_server, os.path.join(tmp, "slow")) as (slow_proxy, slow_outcome):
            results["slow"] = bench_case(slow_server, slow_proxy, slow, args.slow_rounds, 2, 1)
        proxies["slow"] = slow_outcome

    failures: list[str] = []
    for case in ("json", "stream"):
        overhead = results[case]["ttfb"]["overhead_ms"]
        if overhead > args.max_overhead_ms:
            failures.append(
                f"{case}: median time-to-first-byte overhead {overhead:.2f} ms > "
                f"{args.max_overhead_ms:g} ms"
            )
    duration = (args.slow_events - 1) * args.slow_delay_ms
    slow_first = results["slow"]["ttfb"]["proxy_ms"]
    results["slow"]["stream_ms"] = duration
    if slow_first > duration / 2:
        failures.append(
            f"slow: the first event came through the proxy after {slow_first:.1f} ms, the "
            f"stream lasts {duration:.0f} ms (buffered?)"
        )
    for name, outcome in proxies.items():
        report = outcome.get("report") or {}
        violations = sum(
            1 for e in report.get("exchanges", []) if e.get("outcome") not in ("pass",)
        )
        results.setdefault("proxies", {})[name] = {
            "exit": outcome.get("exit"),
            "exchanges": len(report.get("exchanges", [])),
            "not_pass": violations,
        }
        if outcome.get("exit") != 0 or violations:
            failures.append(
                f"the proxy in front of the {name} server exited {outcome.get('exit')} with "
                f"{violations} exchange(s) that did not pass"
            )

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"{'case':<7} {'calls':>6}  {'TTFB direct':>11}  {'proxy':>8}  {'overhead':>9}  "
            f"{'ratio':>6}   {'total direct':>12}  {'proxy':>8}  {'overhead':>9}"
        )
        for case in ("json", "stream", "slow"):
            r = results[case]
            t, w = r["ttfb"], r["total"]
            print(
                f"{case:<7} {r['calls_per_side']:>6}  {t['direct_ms']:>8.2f} ms  "
                f"{t['proxy_ms']:>5.2f} ms  {t['overhead_ms']:>+6.2f} ms  {t['ratio']:>5.2f}x   "
                f"{w['direct_ms']:>9.2f} ms  {w['proxy_ms']:>5.2f} ms  {w['overhead_ms']:>+6.2f} ms"
            )
        print(
            f"slow stream: {args.slow_events} events {args.slow_delay_ms:g} ms apart "
            f"({duration:.0f} ms); through the proxy the first arrives after {slow_first:.1f} ms"
        )
        for name, p in results["proxies"].items():
            print(
                f"proxy in front of the {name} server: {p['exchanges']} exchanges, "
                f"{p['not_pass']} not passing, exit {p['exit']}"
            )
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    print(
        f"OK: median time-to-first-byte overhead <= {args.max_overhead_ms:g} ms, no buffering",
        file=sys.stderr if args.json else sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
