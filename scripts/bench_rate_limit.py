"""Benchmark the suite behind a rate limiter: the default level against the reference server
behind a gateway-like token bucket (``--rate`` requests per second, a burst of as many, 429 with
``Retry-After`` in whole seconds, in front of auth), once with the defaults (the busy answers
waited out as they say) and once with ``--max-rate`` set just under the quota (no busy answer
expected).

    python scripts/bench_rate_limit.py [--rate 10] [--seed 1] [--json PATH]

Prints, for each run: wall time, requests the limiter saw, the busy answers it gave, what the
run waited, and the verdict; exits 1 when a run is not green or the verdicts differ.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "bench-rate-limit-token-0123456789"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-mini"


def _one(rate: float, seed: int, max_rate: float | None) -> dict[str, Any]:
    from chat_text_conformance import Level, Target, run
    from chat_text_testkit.deployments import RateLimiter

    from chat_text_server import create_app
    from chat_text_server.engine import MODELS
    from chat_text_server.testing import running_server

    limiter = RateLimiter(create_app([TOKEN]), rate=rate, burst=int(rate), retry="seconds")
    with running_server(limiter) as url:
        target = Target(url, TOKEN, MODEL, context_length=MODELS[MODEL], request_timeout=30)
        started = time.perf_counter()
        report = run(
            target, Level.SEMANTIC, max_examples=25, seed=seed, workers="auto", max_rate=max_rate
        )
        wall = time.perf_counter() - started
    assert report.pacing is not None
    return {
        "max_rate": max_rate,
        "wall_seconds": round(wall, 1),
        "requests": limiter.passed + limiter.busy,
        "busy_answers": limiter.busy,
        "waited_seconds": round(report.pacing.waited, 1),
        "gave_up": report.pacing.gave_up,
        "ok": report.ok,
        "verdicts": {r.name: r.verdict for r in report.results},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    runs = [_one(args.rate, args.seed, None), _one(args.rate, args.seed, args.rate * 0.95)]
    for item in runs:
        label = "defaults" if item["max_rate"] is None else f"--max-rate {item['max_rate']:g}"
        print(
            f"{label:<16} wall {item['wall_seconds']:6.1f}s  requests {item['requests']:4}  "
            f"429s {item['busy_answers']:4}  waited {item['waited_seconds']:5.1f}s  "
            f"left unanswered {item['gave_up']}  {'PASSED' if item['ok'] else 'NOT GREEN'}",
            flush=True,
        )
    same = runs[0]["verdicts"] == runs[1]["verdicts"]
    print(f"limiter: {args.rate:g} requests/s, burst {int(args.rate)}; same verdicts: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    return 0 if same and all(item["ok"] for item in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
