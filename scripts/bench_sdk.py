"""Benchmark the SDK against raw httpx, in one run, against the same local reference server.

    python scripts/bench_sdk.py                 # defaults: 2,000 calls, 16 async callers
    python scripts/bench_sdk.py --calls 500 --streams 100 --max-ratio 1.10

Three comparisons, each reported as a ratio SDK / raw (lower is better, 1.00 = no overhead):

* sync: sequential calls through ``ChatText.chat_text`` vs ``httpx.Client.post`` + ``json.loads``;
* async: 16 concurrent callers through ``AsyncChatText`` vs ``httpx.AsyncClient.post`` +
  ``json.loads``, same total number of calls;
* stream: time to first chunk through ``ChatText.chat_text(stream=True)`` (first parsed
  ``ChatTextChunk``) vs ``httpx.Client.stream`` up to the first parsed ``data:`` line.

The server is ``chat_text_server.testing.running_server`` (uvicorn), started in a child process
so that it does not compete with the benchmark for this process's GIL (``--in-process`` runs it
in a thread here instead). Both sides use one keep-alive connection pool, the same request body
and the same server. To be fair under noise, the calls are split into small blocks that
alternate raw / SDK (ABBA...) after a warm-up; a comparison's ratio is the median of the
per-block-pair ratios (streams: of per-block median times to first chunk). Exit status 1 when
a ratio is above ``--max-ratio``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
from bench_child import child_server

from chat_text import AsyncChatText, ChatText
from chat_text_spec import OPERATION_PATH

TOKEN = "bench-token"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-base"
MESSAGES = [{"role": "user", "content": "Name three rivers."}]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _blocks(total: int, size: int) -> list[int]:
    sizes = [size] * (total // size)
    if total % size:
        sizes.append(total % size)
    return sizes


def _median_ratio(raw: list[float], sdk: list[float]) -> float:
    return statistics.median(s / r for r, s in zip(raw, sdk, strict=True))


def bench_sync(base_url: str, calls: int, block: int, max_tokens: int) -> dict[str, Any]:
    url = base_url + OPERATION_PATH
    payload = {"model": MODEL, "messages": MESSAGES, "max_tokens": max_tokens}
    with httpx.Client() as http, ChatText(api_key=TOKEN, base_url=base_url) as sdk:

        def raw_call() -> None:
            response = http.post(url, json=payload, headers=HEADERS)
            response.raise_for_status()
            json.loads(response.content)

        def sdk_call() -> None:
            sdk.chat_text(model=MODEL, messages=MESSAGES, max_tokens=max_tokens)

        for _ in range(min(50, calls)):  # warm-up: connections, caches, validators
            raw_call()
            sdk_call()
        raw_times: list[float] = []
        sdk_times: list[float] = []
        sides = [(raw_call, raw_times), (sdk_call, sdk_times)]
        for i, n in enumerate(_blocks(calls, block)):
            for fn, times in sides if i % 2 == 0 else sides[::-1]:  # ABBA: cancels drift
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                times.append(time.perf_counter() - start)
    return {
        "calls": calls,
        "raw_us_per_call": sum(raw_times) / calls * 1e6,
        "sdk_us_per_call": sum(sdk_times) / calls * 1e6,
        "ratio": _median_ratio(raw_times, sdk_times),
        "ratio_of_totals": sum(sdk_times) / sum(raw_times),
    }


async def _bench_async(
    base_url: str, calls: int, block: int, concurrency: int, max_tokens: int
) -> dict[str, Any]:
    url = base_url + OPERATION_PATH
    payload = {"model": MODEL, "messages": MESSAGES, "max_tokens": max_tokens}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        httpx.AsyncClient(limits=limits) as http,
        httpx.AsyncClient(limits=limits) as sdk_http,
    ):
        sdk = AsyncChatText(api_key=TOKEN, base_url=base_url, http_client=sdk_http)

        async def raw_call() -> None:
            response = await http.post(url, json=payload, headers=HEADERS)
            response.raise_for_status()
            json.loads(response.content)

        async def sdk_call() -> None:
            await sdk.chat_text(model=MODEL, messages=MESSAGES, max_tokens=max_tokens)

        async def run(fn: Callable[[], Awaitable[None]], n: int) -> float:
            per_worker = [
                n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)
            ]

            async def worker(k: int) -> None:
                for _ in range(k):
                    await fn()

            start = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in per_worker))
            return time.perf_counter() - start

        await run(raw_call, min(4 * concurrency, calls))
        await run(sdk_call, min(4 * concurrency, calls))
        raw_times: list[float] = []
        sdk_times: list[float] = []
        for i, n in enumerate(_blocks(calls, block)):
            if i % 2 == 0:
                raw_times.append(await run(raw_call, n))
                sdk_times.append(await run(sdk_call, n))
            else:
                sdk_times.append(await run(sdk_call, n))
                raw_times.append(await run(raw_call, n))
    return {
        "calls": calls,
        "concurrency": concurrency,
        "raw_calls_per_s": calls / sum(raw_times),
        "sdk_calls_per_s": calls / sum(sdk_times),
        "ratio": _median_ratio(raw_times, sdk_times),
        "ratio_of_totals": sum(sdk_times) / sum(raw_times),
    }


def bench_stream(base_url: str, streams: int, block: int, max_tokens: int) -> dict[str, Any]:
    url = base_url + OPERATION_PATH
    payload = {"model": MODEL, "messages": MESSAGES, "max_tokens": max_tokens, "stream": True}
    with httpx.Client() as http, ChatText(api_key=TOKEN, base_url=base_url) as sdk:

        def raw_ttfc() -> float:
            start = time.perf_counter()
            with http.stream("POST", url, json=payload, headers=HEADERS) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        json.loads(line[6:])
                        break
                elapsed = time.perf_counter() - start
            return elapsed

        def sdk_ttfc() -> float:
            start = time.perf_counter()
            with sdk.chat_text(
                model=MODEL, messages=MESSAGES, max_tokens=max_tokens, stream=True
            ) as stream:
                next(stream)
                elapsed = time.perf_counter() - start
            return elapsed

        for _ in range(min(20, streams)):
            raw_ttfc()
            sdk_ttfc()
        raw_medians: list[float] = []
        sdk_medians: list[float] = []
        stream_sides = [(raw_ttfc, raw_medians), (sdk_ttfc, sdk_medians)]
        for i, n in enumerate(_blocks(streams, block)):
            for ttfc, medians in stream_sides if i % 2 == 0 else stream_sides[::-1]:
                medians.append(statistics.median(ttfc() for _ in range(n)))
    return {
        "streams": streams,
        "raw_ttfc_us": statistics.median(raw_medians) * 1e6,
        "sdk_ttfc_us": statistics.median(sdk_medians) * 1e6,
        "ratio": _median_ratio(raw_medians, sdk_medians),
    }


_SERVE = """
import sys
from chat_text_server.testing import running_server
with running_server(tokens=[sys.argv[1]]) as url:
    print(url, flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin (or dies)
"""


@contextlib.contextmanager
def _server(*, in_process: bool) -> Iterator[str]:
    """The reference server (``running_server``), by default in a child process so that it
    does not share the benchmark's GIL; it stops when the ``with`` block ends."""
    if in_process:
        from chat_text_server.testing import running_server

        with running_server(tokens=[TOKEN]) as url:
            yield url
        return
    with child_server(_SERVE, TOKEN) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per side (sync and async)")
    parser.add_argument("--streams", type=int, default=300, help="streams per side")
    parser.add_argument("--concurrency", type=int, default=16, help="async concurrent callers")
    parser.add_argument("--block", type=int, default=50, help="calls per alternating block")
    parser.add_argument("--max-tokens", type=int, default=8, help="max_tokens of each request")
    parser.add_argument("--max-ratio", type=float, default=1.10, help="fail above this ratio")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the server in a thread of this process (it then competes for the GIL)",
    )
    args = parser.parse_args(argv)
    for name in ("calls", "streams", "concurrency", "block", "max_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    with _server(in_process=args.in_process) as base_url:
        results = {
            "sync": bench_sync(base_url, args.calls, args.block, args.max_tokens),
            "async": asyncio.run(
                _bench_async(base_url, args.calls, args.block, args.concurrency, args.max_tokens)
            ),
            "stream": bench_stream(
                base_url, args.streams, max(1, args.block // 5), args.max_tokens
            ),
        }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        s, a, t = results["sync"], results["async"], results["stream"]
        print(
            f"sync   {s['calls']} sequential calls: raw {s['raw_us_per_call']:.0f} us/call, "
            f"SDK {s['sdk_us_per_call']:.0f} us/call, ratio {s['ratio']:.3f}"
        )
        print(
            f"async  {a['calls']} calls, {a['concurrency']} callers: raw "
            f"{a['raw_calls_per_s']:.0f} calls/s, SDK {a['sdk_calls_per_s']:.0f} calls/s, "
            f"ratio {a['ratio']:.3f}"
        )
        print(
            f"stream time to first chunk over {t['streams']} streams: raw {t['raw_ttfc_us']:.0f} "
            f"us, SDK {t['sdk_ttfc_us']:.0f} us, ratio {t['ratio']:.3f}"
        )
    worst = {k: v["ratio"] for k, v in results.items() if v["ratio"] > args.max_ratio}
    if worst:
        print(f"FAIL: ratio above {args.max_ratio}: {worst}", file=sys.stderr)
        return 1
    print(f"OK: every ratio <= {args.max_ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
