"""Benchmark the load generator itself (``chat-text-conformance load``), in one run:

1. judging on vs off at the same user count: rounds of ``--run-time`` seconds alternate
   (on, off, off, on, ...) against one reference server; the ratio of the request rates
   (on / off) and the generator's CPU per request each way. Judging's cost is
   ``1 - rate ratio`` (what it takes from the achievable request rate); it must stay within
   ``--max-cost`` (default 15%).
   Judging runs in a judge process beside each engine process (lowest priority while the load
   runs, then normal priority for what is left): each judged run also prints the judge's CPU
   per answer, the answers left to judge when the load stopped, and how long they took.
2. the same at a model's latency: the reference server answering ``--latency`` seconds late
   (before its first byte, as a model's time to first token; default 0.1 s), judging on vs
   off, the same users: what judging takes from the request rate when the generator waits on
   the model, as it does against a real one (reported; the budget is judged on part 1, where
   the generator is never idle and every microsecond of judging shows).
3. the highest request rate one worker (one local engine process) sustains against the reference
   server, judging on: users doubled from ``--users`` until the rate stops growing by 5%, or
   errors appear.

The reference server runs in a child process of its own (its own GIL), the generator in the
command's engine process: on a 2-core machine, one core each. Each run's figures come from its
report.json (``load.requests_per_second``, ``load.generator.cpu_us_per_request``).

    python scripts/bench_load.py                     # defaults: 16 users, 2 rounds of 6 s
    python scripts/bench_load.py --users 32 --rounds 3 --run-time 10

Exit status 1 when judging costs more than ``--max-cost`` of the request rate, or when a run
reports a violation (the reference server has none) or leaves answers unjudged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_child import child_server

TOKEN = "bench-load-token"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-mini"

_SERVE_REFERENCE = """
import logging, sys
from chat_text_server.testing import running_server
with running_server(tokens=[sys.argv[1]]) as url:
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    print(url, flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin (or dies)
"""

_SERVE_SLOW = """
import logging, sys
from chat_text_server import create_app
from chat_text_server.testing import running_server
from chat_text_testkit.deployments import Slow
app = Slow(create_app([sys.argv[1]]), float(sys.argv[2]))
with running_server(app, tokens=[sys.argv[1]]) as url:
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    print(url, flush=True)
    sys.stdin.read()
"""


def _run(url: str, users: int, seconds: float, judge: bool, folder: Path) -> dict[str, Any]:
    """One load run (the CLI, as users run it); its report's load section."""
    command = [
        sys.executable,
        "-m",
        "chat_text_conformance.cli",
        "load",
        "--base-url",
        url,
        "--model",
        MODEL,
        "--users",
        str(users),
        "--spawn-rate",
        str(min(users * 4, 100)),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "2",
        "--report-dir",
        str(folder),
        "-q",
        "--judge" if judge else "--no-judge",
    ]
    env = {**os.environ, "CHAT_TEXT_API_KEY": TOKEN}
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False, timeout=seconds + 180)
    report = json.loads((folder / "report.json").read_text())
    load: dict[str, Any] = report["load"]
    if load["requests"]["violations"]:
        raise SystemExit(f"a run reported {load['requests']['violations']} violation(s)")
    judging = load.get("judging")
    if judging and judging["error"]:  # every answer judged, or the run's figures mean nothing
        raise SystemExit(f"a run left answers unjudged: {judging['error']}")
    return load


def _judging(load: dict[str, Any]) -> str:
    """What the judge process of a judged run did (its cost is not the generator's)."""
    judging = load.get("judging")
    if not judging:
        return ""
    return (
        f"; judge: {judging['judged']} answers, {judging['cpu_us_per_answer']} us CPU each, "
        f"{judging['backlog_at_stop']} left at the load's end, judged in "
        f"{judging['drain_seconds']:.1f}s"
    )


def _at_latency(args: argparse.Namespace, root: Path) -> None:
    """Judging on vs off against the reference server behind a model's latency."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    with child_server(_SERVE_SLOW, TOKEN, str(args.latency)) as url:
        for number, judge in enumerate(
            ([True, False, False, True] * args.rounds)[: 2 * args.rounds]
        ):
            load = _run(url, args.users, args.run_time, judge, root / f"slow{number}")
            rates[judge].append(load["requests_per_second"])
            if judge:
                print(f"  at {args.latency:g} s{_judging(load)}", flush=True)
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    ratio = on / off if off else 0.0
    print(
        f"{args.users} users, the model answering {args.latency:g} s late: judging on {on:.1f} "
        f"req/s, off {off:.1f} req/s: ratio {ratio:.3f} (judging costs "
        f"{max(0.0, 1 - ratio) * 100:.1f}% of the request rate)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--run-time", type=float, default=6.0)
    parser.add_argument("--max-cost", type=float, default=0.15)
    parser.add_argument("--max-users", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, child_server(_SERVE_REFERENCE, TOKEN) as url:
        root = Path(tmp)
        rates: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        order = [True, False, False, True] * args.rounds
        _run(url, args.users, 2.0, True, root / "warm")  # the server's and caches' first costs
        for number, judge in enumerate(order[: 2 * args.rounds]):
            load = _run(url, args.users, args.run_time, judge, root / f"r{number}")
            rates[judge].append(load["requests_per_second"])
            cpu[judge].append(load["generator"]["cpu_us_per_request"])
            print(
                f"judging {'on ' if judge else 'off'}: {load['requests_per_second']:8.1f} req/s, "
                f"generator {load['generator']['cpu_us_per_request']:7.1f} us CPU/request "
                f"({load['generator']['cpu_share'] * 100:.0f}% of a core)" + _judging(load),
                flush=True,
            )
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        ratio = on / off if off else 0.0
        cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
        print(
            f"{args.users} users: judging on {on:.1f} req/s, off {off:.1f} req/s: ratio "
            f"{ratio:.3f} (judging costs {max(0.0, 1 - ratio) * 100:.1f}% of the request rate; "
            f"budget {args.max_cost * 100:.0f}%); generator CPU per request {cpu_on:.0f} us "
            f"judged vs {cpu_off:.0f} us not"
        )
        _at_latency(args, root)
        best, best_users, users = 0.0, 0, max(1, args.users // 4)
        while users <= args.max_users:
            load = _run(url, users, args.run_time, True, root / f"max{users}")
            rate = load["requests_per_second"]
            print(
                f"one worker, {users:3d} users, judging on: {rate:8.1f} req/s, errors "
                f"{load['requests']['errors']}, TTFT p95 {load['ttft_ms']['p95']} ms",
                flush=True,
            )
            if load["requests"]["errors"]:
                break
            grew = rate >= best * 1.05
            if rate > best:
                best, best_users = rate, users
            if not grew:
                break
            users *= 2
        print(f"highest rate one worker sustained: {best:.1f} req/s ({best_users} users)")
    return 0 if 1 - ratio <= args.max_cost else 1


if __name__ == "__main__":
    sys.exit(main())
