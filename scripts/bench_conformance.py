"""Benchmark the conformance suite's default run against a plain ``st run`` of the same spec.

Everything is measured in one run, interleaved round by round, against the reference server:

* ``default``: ``chat-text-conformance`` as a user runs it (embedded server, default level),
  wall time end to end (start-up included) and cases/s of its schemathesis part;
* ``st-run``: a plain ``st run openapi.yaml --url ... -H 'Authorization: Bearer ...'`` with the
  same ``--max-examples`` and seed, from a folder without ``schemathesis.toml`` (no hooks), and
  cases/s from schemathesis's own count and time;
* ``http`` / ``asgi``: the suite's schemathesis part alone, over the loopback port vs in-process,
  which is how the embedded default sends it.

The machine is shared, so absolute numbers are noisy: read the ratios (medians over rounds).

    python scripts/bench_conformance.py [--rounds 3] [--max-examples 25] [--seed 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-mini"


def _default_run(max_examples: int, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "chat_text_conformance.cli",
                "--max-examples",
                str(max_examples),
                "--seed",
                str(seed),
                "--report-json",
                str(report_path),
                "-q",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"the default run failed (exit {proc.returncode}):\n{proc.stdout}")
        report = json.loads(report_path.read_text())
    return {
        "wall_seconds": wall,
        "cases": report["cases"],
        "schemathesis_seconds": report["schemathesis_seconds"],
        "cases_per_second": report["cases"] / report["schemathesis_seconds"],
    }


_GENERATED = re.compile(r"(\d+) generated")
_ELAPSED = re.compile(r" in ([\d.]+)s =+")


def _plain_st_run(url: str, max_examples: int, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "openapi.yaml"
        spec.write_bytes((ROOT / "openapi.yaml").read_bytes())
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CHAT_TEXT_", "SCHEMATHESIS_"))
        }
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(spec),
                "--url",
                url,
                "-H",
                f"Authorization: Bearer {TOKEN}",
                "--max-examples",
                str(max_examples),
                "--seed",
                str(seed),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
            env=env,
        )
        wall = time.perf_counter() - started
    generated = _GENERATED.search(proc.stdout)
    elapsed = _ELAPSED.search(proc.stdout)
    if generated is None or elapsed is None:
        raise SystemExit(f"could not read st run's summary:\n{proc.stdout[-2000:]}")
    cases, seconds = int(generated.group(1)), float(elapsed.group(1))
    return {
        "wall_seconds": wall,
        "cases": cases,
        "schemathesis_seconds": seconds,
        "cases_per_second": cases / seconds,
        "exit_code": proc.returncode,
    }


def _schemathesis_part(url: str, app: Any, max_examples: int, seed: int) -> dict[str, float]:
    from chat_text_conformance import Level, Target
    from chat_text_conformance.engine.schemathesis_adapter import run_schemathesis

    from chat_text_server.engine import MODELS

    target = Target(url, TOKEN, MODEL, context_length=MODELS[MODEL])
    started = time.perf_counter()
    outcome = run_schemathesis(
        target, Level.SEMANTIC, max_examples=max_examples, seed=seed, app=app
    )
    seconds = time.perf_counter() - started
    failed = sorted(name for name, result in outcome.results.items() if not result.ok)
    if failed:
        raise SystemExit(f"the schemathesis part failed checks: {failed}")
    return {
        "cases": outcome.cases,
        "schemathesis_seconds": seconds,
        "cases_per_second": outcome.cases / seconds,
    }


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-examples", type=int, default=25, help="the CLI default is 25")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    import logging

    from chat_text_server import create_app
    from chat_text_server.testing import running_server

    runs: dict[str, list[dict[str, float]]] = {"default": [], "st-run": [], "http": [], "asgi": []}
    app = create_app([TOKEN])
    with running_server(app) as url:
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        for round_number in range(args.rounds):
            order = ["default", "st-run", "http", "asgi"]
            if round_number % 2:
                order.reverse()  # interleave, so drifting load hits every variant alike
            for name in order:
                if name == "default":
                    row = _default_run(args.max_examples, args.seed)
                elif name == "st-run":
                    row = _plain_st_run(url, args.max_examples, args.seed)
                else:
                    row = _schemathesis_part(
                        url, app if name == "asgi" else None, args.max_examples, args.seed
                    )
                runs[name].append(row)
                print(
                    f"round {round_number + 1} {name:8} "
                    + json.dumps({k: round(v, 2) for k, v in row.items()}),
                    flush=True,
                )

    default_wall = _median(runs["default"], "wall_seconds")
    ours = _median(runs["default"], "cases_per_second")
    plain = _median(runs["st-run"], "cases_per_second")
    http = _median(runs["http"], "cases_per_second")
    asgi = _median(runs["asgi"], "cases_per_second")
    summary = {
        "rounds": args.rounds,
        "max_examples": args.max_examples,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "default_run_wall_seconds": round(default_wall, 2),
        "default_run_cases": _median(runs["default"], "cases"),
        "default_run_cases_per_second": round(ours, 1),
        "plain_st_run_wall_seconds": round(_median(runs["st-run"], "wall_seconds"), 2),
        "plain_st_run_cases": _median(runs["st-run"], "cases"),
        "plain_st_run_cases_per_second": round(plain, 1),
        "ratio_cases_per_second_default_vs_plain": round(ours / plain, 2),
        "schemathesis_part_http_cases_per_second": round(http, 1),
        "schemathesis_part_asgi_cases_per_second": round(asgi, 1),
        "ratio_asgi_vs_http": round(asgi / http, 2),
        "target_default_wall_le_60s": default_wall <= 60,
        "target_cases_per_second_ge_plain": ours >= plain,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
