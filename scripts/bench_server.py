"""Benchmark the reference server against the stack's floor and the Prism mock, in one run.

For each target and each connection count (default 1 and 8) it runs ``wrk`` for a fixed
duration and records requests/s and p50/p99 latency:

* ``server``: ``chat-text-server`` answering ``POST /inference/chat_text`` (JSON);
* ``server-stream``: the same request with ``"stream": true`` (server-sent events);
* ``floor``: a bare Starlette route on the same uvicorn stack returning a fixed JSON body;
* ``prism``: ``prism mock openapi.yaml`` (Prism 5.16, pinned in tools/prism), same request.

Every server runs as its own process on 127.0.0.1 with access logs off, started and stopped
by this script. ``wrk`` is installed with apt-get if missing (as root), Prism with ``npm ci``.
The machine is shared and noisy: compare the ratios, which are measured in the same run.

The targets are measured in interleaved rounds (default 5); each cell reports the median, and
the ratios are the median of per-round ratios.

Usage: ``python scripts/bench_server.py [--duration 5] [--rounds 5] [--connections 1,8]
[--check]``.
``--check`` exits 1 when a target misses (>= 5x Prism and >= 0.6x the floor at 8 connections).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from chat_text_testkit.prism import prism_command

ROOT = Path(__file__).resolve().parent.parent
PATH = "/inference/chat_text"
TOKEN = "bench-token"  # noqa: S105 - a throwaway token for local benchmark servers
BODY = {
    "model": "chat-text-base",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "temperature": 0,
}
START_TIMEOUT = 60.0
TARGET_PRISM_RATIO = 5.0
TARGET_FLOOR_RATIO = 0.6

FLOOR_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"id": "chatcmpl-floor", "created": 0, "model": "chat-text-base", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "The capital of France is Paris."},
     "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}}

async def endpoint(request):
    return JSONResponse(BODY)

app = Starlette(routes=[Route("/inference/chat_text", endpoint, methods=["POST"])])
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


@dataclass
class Result:
    target: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit("bench: wrk is missing; install it (Debian: apt-get install wrk)")
    print("bench: installing wrk with apt-get ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run([apt, "install", "-y", "-qq", "wrk"], env=env, check=False).returncode:
        subprocess.run([apt, "update", "-qq"], env=env, check=True)
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench: wrk could not be installed")
    return found


def wait_ready(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    """Poll with a real request until the server answers 2xx (bounded)."""
    import httpx

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: {name} exited with status {proc.returncode} before it was ready")
        try:
            response = httpx.post(f"http://127.0.0.1:{port}{PATH}", json=BODY, timeout=2,
                                  headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"bench: {name} did not become ready within {START_TIMEOUT:.0f}s")


@contextmanager
def serve(name: str, command: Sequence[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        list(command), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(port, proc, name)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)


def _ms(value: str, unit: str) -> float:
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]
    return float(value) * scale


def _find(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match.groups()


def run_wrk(
    wrk: str, port: int, connections: int, duration: float, script: Path, name: str
) -> Result:
    # A short warm-up, then the measured run.
    base = [wrk, "-t1", f"-c{connections}", "-s", str(script), "--latency"]
    url = f"http://127.0.0.1:{port}{PATH}"
    subprocess.run([*base, "-d1s", url], capture_output=True, check=True, timeout=60)
    out = subprocess.run(
        [*base, f"-d{duration:g}s", "--timeout", "10s", url],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout  # fmt: skip
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", out)[0])
    p50 = _find(r"^\s+50%\s+([\d.]+)(\w+)$", out)
    p99 = _find(r"^\s+99%\s+([\d.]+)(\w+)$", out)
    errors_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(0)))
    return Result(name, connections, rps, _ms(*p50), _ms(*p99), errors)


def table(results: Sequence[Result]) -> str:
    floor = {r.connections: r.rps for r in results if r.target == "floor"}
    lines = [
        "| target | connections | req/s | p50 ms | p99 ms | errors | vs floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.rps / floor[r.connections]:.2f}x" if floor.get(r.connections) else "-"
        lines.append(
            f"| {r.target} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.errors} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--connections", default="1,8", help="comma-separated (default 1,8)")
    parser.add_argument("--targets", default="server,server-stream,floor,prism")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]

    wrk = ensure_wrk()
    server_cli = Path(sys.executable).parent / "chat-text-server"
    server_cmd = [str(server_cli)] if server_cli.exists() else [
        sys.executable, "-m", "chat_text_server.cli"]  # fmt: skip
    results: list[Result] = []
    samples: dict[tuple[str, int], list[Result]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        floor_dir = Path(tmp)
        (floor_dir / "bench_floor_app.py").write_text(FLOOR_APP)
        scripts = {}
        for stream in (False, True):
            body = json.dumps({**BODY, "stream": True} if stream else BODY)
            path = floor_dir / f"request_{int(stream)}.lua"
            path.write_text(WRK_SCRIPT.format(body=json.dumps(body), token=TOKEN))
            scripts[stream] = path

        def plan(name: str, port: int) -> tuple[str, list[str], Path]:
            if name in {"server", "server-stream"}:
                cmd = [*server_cmd, "--port", str(port), "--token", TOKEN,
                       "--log-level", "warning"]  # fmt: skip
                return "chat-text-server", cmd, scripts[name == "server-stream"]
            if name == "floor":
                cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(floor_dir),
                       "bench_floor_app:app", "--port", str(port), "--no-access-log",
                       "--log-level", "warning"]  # fmt: skip
                return "floor", cmd, scripts[False]
            if name == "prism":
                cmd = [*prism_command(ROOT), "mock", "openapi.yaml", "--port", str(port),
                       "--host", "127.0.0.1"]  # fmt: skip
                return "prism", cmd, scripts[False]
            raise SystemExit(f"bench: unknown target {name!r}")

        with ExitStack() as stack:
            ports: dict[str, int] = {}
            for name in targets:
                label, _, _ = plan(name, 0)
                if label not in ports:
                    ports[label] = free_port()
                    _, cmd, _ = plan(name, ports[label])
                    stack.enter_context(serve(label, cmd, ports[label]))
            # Interleave the targets round by round so that load from other processes on
            # this machine hits them alike; report the median of the rounds.
            for round_no in range(1, args.rounds + 1):
                for conns in connections:
                    for name in targets:
                        label, _, script = plan(name, 0)
                        result = run_wrk(wrk, ports[label], conns, args.duration, script, name)
                        samples.setdefault((name, conns), []).append(result)
                        print(
                            f"bench: round {round_no} {name:<14} c={conns:<3} "
                            f"{result.rps:>9,.0f} req/s  p50 {result.p50_ms:.2f} ms  "
                            f"p99 {result.p99_ms:.2f} ms  errors {result.errors}",
                            file=sys.stderr, flush=True,
                        )  # fmt: skip
    for name in targets:
        for conns in connections:
            runs = samples[(name, conns)]
            results.append(
                Result(
                    name, conns,
                    statistics.median(r.rps for r in runs),
                    statistics.median(r.p50_ms for r in runs),
                    statistics.median(r.p99_ms for r in runs),
                    sum(r.errors for r in runs),
                )
            )  # fmt: skip

    print(table(results))
    top = max(connections)
    missed = []
    print()
    for baseline, target_ratio, digits in (
        ("prism", TARGET_PRISM_RATIO, 1),
        ("floor", TARGET_FLOOR_RATIO, 2),
    ):
        ours, theirs = samples.get(("server", top)), samples.get((baseline, top))
        if not ours or not theirs:
            continue
        # Ratio of runs made in the same round (seconds apart), then the median over rounds:
        # steadier than a ratio of medians when the machine's load drifts.
        per_round = [a.rps / b.rps for a, b in zip(ours, theirs, strict=True)]
        ratio = statistics.median(per_round)
        rounds = ", ".join(f"{r:.{digits}f}" for r in per_round)
        print(f"server / {baseline} at {top} connections: {ratio:.{digits}f}x "
              f"(target >= {target_ratio:g}x; per round: {rounds})")  # fmt: skip
        if ratio < target_ratio:
            missed.append(f"{baseline} ratio")
    if any(r.errors for r in results):
        missed.append("errors")
        print("some requests failed (see the errors column)")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
