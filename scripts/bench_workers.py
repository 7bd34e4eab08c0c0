"""Benchmark ``--workers`` against a slow server: the default level against the reference
server with an injected latency per response (800 ms by default, a slow model's time to first
token), once with 1 worker and once with N (default ``auto``, the CLI's default: adaptive, from
8 in flight), and compare the verdicts.

    python scripts/bench_workers.py [--latency 0.8] [--workers auto|N] [--seed 1]
        [--skip-sequential]

Prints the wall time of each run, their ratio, the requests each sent, and whether every check
got the same verdict; exits 1 when the verdicts differ or the N-worker run is over its budget
(--budget seconds, default 60).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

Workers = int | Literal["auto"]
TOKEN = "bench-workers-token-0123456789"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-mini"


def slow(app: App, latency: float) -> App:
    """``app`` answering every HTTP request ``latency`` seconds late (before its first byte)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(latency)
        await app(scope, receive, send)

    return wrapped


def _run(
    url: str, workers: Workers, seed: int, max_examples: int, verbose: bool = False
) -> tuple[float, Any]:
    from chat_text_conformance import Level, Target, run

    from chat_text_server.engine import MODELS

    target = Target(url, TOKEN, MODEL, context_length=MODELS[MODEL], request_timeout=30)
    started = time.perf_counter()

    def say(line: str) -> None:
        if verbose:
            print(f"  {time.perf_counter() - started:6.1f}s {line}", flush=True)

    report = run(
        target, Level.SEMANTIC, max_examples=max_examples, seed=seed, workers=workers, progress=say
    )
    return time.perf_counter() - started, report


def _workers(text: str) -> Workers:
    return "auto" if text == "auto" else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.8)
    parser.add_argument("--workers", type=_workers, default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress with times")
    args = parser.parse_args(argv)

    from chat_text_server import create_app
    from chat_text_server.testing import running_server

    runs: dict[Workers, tuple[float, Any]] = {}
    with running_server(slow(create_app([TOKEN]), args.latency), tokens=[TOKEN]) as url:
        order = [args.workers] if args.skip_sequential else [args.workers, 1]
        for workers in order:
            runs[workers] = _run(url, workers, args.seed, args.max_examples, args.verbose)
            wall, report = runs[workers]
            requests = report.cases
            print(
                f"workers={workers!s:<4} wall {wall:7.1f}s  verdict "
                f"{'PASSED' if report.ok else 'FAILED'}  schemathesis requests {requests}",
                flush=True,
            )
    verdicts = {
        workers: {r.name: r.verdict for r in report.results}
        for workers, (_, report) in runs.items()
    }
    same = len({json.dumps(v, sort_keys=True) for v in verdicts.values()}) == 1
    fast = runs[args.workers][0]
    result: dict[str, Any] = {
        "latency_seconds": args.latency,
        "workers": args.workers,
        "wall_seconds": {str(w): round(t, 1) for w, (t, _) in runs.items()},
        "same_verdicts": same,
        "budget_seconds": args.budget,
    }
    if 1 in runs:
        result["speedup"] = round(runs[1][0] / fast, 2)
        print(f"speed-up {result['speedup']}x; same verdicts: {same}")
        if not same:
            for name in verdicts[1]:
                if verdicts[1][name] != verdicts[args.workers].get(name):
                    print(f"  {name}: {verdicts[1][name]} vs {verdicts[args.workers].get(name)}")
    print(f"{args.workers} workers: {fast:.1f}s (budget {args.budget:g}s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0 if same and fast <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
