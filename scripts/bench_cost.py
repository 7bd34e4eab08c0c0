"""What the default level costs at four context windows, before and after the window work, in
one run.

Both versions of ``chat-text-conformance`` run as a user runs them (``--base-url``, seed 1,
default level, ``--context-length W``) against the reference server serving one model with a
window of W = 512, 8,192, 32,768 and 131,072 tokens. What they send is counted *by the server*
(``chat_text_server.testing.PromptCounter``): requests, request bytes and the prompt tokens of
every request's messages by the server's own tokenizer, refused requests included. Then each
version runs against the fault catalogue's window faults (``chat_text_testkit.mutations``:
max_tokens not lowered or lowered one too far, one token of room refused, the full window accepted,
prompt_too_long renamed, the truncation faults) at each window; a fault is caught when the run
fails one of the fault's rules.

"old" is the tree at ``--old REV`` (default: ``a13c6f6``, the suite before the window work),
extracted with ``git archive`` and run with this environment's dependencies; "new" is this
checkout. The run fails (exit 1) when the new version sends more than ``3 W + 80,000``
prompt tokens at any window, more than 4 MB at 131,072, or misses a fault the old one caught.

    tox -e bench   # or: python scripts/bench_cost.py [--windows 512,8192]
        [--faults N|all] [--old REV] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-cost-token-0123456789"  # noqa: S105 - a local benchmark server's token
MODEL = "chat-text-w"
OLD = "a13c6f6"
"""The suite before the window work: each near-window property built its own prompt."""
WINDOWS = (512, 8_192, 32_768, 131_072)
MAX_BYTES_AT_128K = 4_000_000
WINDOW_RULES = frozenset(
    {
        "max_tokens_lowered_to_fit",
        "context_window_boundary",
        "prompt_too_long_when_kept_messages_overflow",
        "usage_within_context_window",
    }
)


def _fault_catalogue() -> tuple[Any, Any, Any]:
    """The fault catalogue (``chat_text_testkit.mutations``, the test support tox installs): its
    mutations, the reference server's name and the mutation server. The one import of it."""
    from chat_text_testkit.mutations import MUTATIONS, REFERENCE, mutation_server

    return MUTATIONS, REFERENCE, mutation_server


def _tree(rev: str, into: Path) -> Path:
    archive = into / "tree.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), rev], cwd=ROOT, check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def _cli(
    tree: Path | None, url: str, model: str, context: int, token: str, report: Path
) -> tuple[int, set[str]]:
    """Run one version's CLI; (exit code, the rules that failed)."""
    env = dict(os.environ)
    if tree is not None:  # the old tree's packages first (the tests folder is not needed there)
        generated = tree / "generated"
        paths = [tree / "conformance", tree, generated / "python", generated]
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    command = [
        sys.executable,
        "-m",
        "chat_text_conformance.cli",
        *("--base-url", url, "--token", token, "--model", model),
        *("--context-length", str(context), "--seed", "1", "-q"),
        *("--report-json", str(report)),
    ]
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, cwd=tree or ROOT
    )
    failed: set[str] = set()
    if report.exists():
        data = json.loads(report.read_text(encoding="utf-8"))
        failed = {r["name"] for r in data.get("results", []) if not r.get("ok", True)}
        report.unlink()
    return proc.returncode, failed


def _quiet() -> None:
    """uvicorn (which configures its loggers when a server starts) warns of every malformed
    request the suite sends on purpose."""
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)


def _versions(old: Path) -> Iterator[tuple[str, Path | None]]:
    yield "old", old
    yield "new", None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--old", default=OLD, help=f"git revision of the old version (default {OLD})"
    )
    parser.add_argument("--windows", default=",".join(map(str, WINDOWS)))
    parser.add_argument("--faults", default="all", help="how many window faults, or 'all'")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    windows = [int(w) for w in args.windows.split(",")]

    from chat_text_conformance.engine.cost import window_bound

    from chat_text_server import create_app
    from chat_text_server.testing import PromptCounter, running_server

    mutations, reference, mutation_server = _fault_catalogue()
    faults = [m for m in mutations if m.rules & WINDOW_RULES or m.name.startswith("truncation_")]
    if args.faults != "all":
        faults = faults[: int(args.faults)]
    old_rev = args.old
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = _tree(old_rev, Path(tmp))
        report = Path(tmp) / "report.json"
        print(f"old = {old_rev[:12]} (git archive), new = this checkout; faults: {len(faults)}")
        for window in windows:
            rows[str(window)] = {}
            for name, tree in _versions(old_tree):
                counter = PromptCounter(create_app([TOKEN], models={MODEL: window}))
                with running_server(counter, tokens=[TOKEN]) as url:
                    _quiet()
                    started = time.perf_counter()
                    code, _ = _cli(tree, url, MODEL, window, TOKEN, report)
                    wall = time.perf_counter() - started
                row = {**asdict(counter.received), "exit_code": code, "wall_seconds": wall}
                rows[str(window)][name] = row
            caught: dict[str, list[str]] = {"old": [], "new": []}
            with mutation_server(reference, window=window) as server:
                _quiet()
                for fault in faults:
                    for name, tree in _versions(old_tree):
                        with server.mutated(fault):
                            code, failed = _cli(
                                tree, server.base_url, server.model, window, server.token, report
                            )
                        if code == 1 and failed & fault.rules:
                            caught[name].append(fault.name)
            for name in ("old", "new"):
                rows[str(window)][name]["faults_caught"] = caught[name]
                rows[str(window)][name]["faults_tried"] = len(faults)
            new = rows[str(window)]["new"]
            bound = window_bound(window)
            if new["prompt_tokens"] > bound:
                problems.append(f"W={window}: {new['prompt_tokens']} prompt tokens > {bound}")
            if window == 131_072 and new["request_bytes"] > MAX_BYTES_AT_128K:
                problems.append(f"W={window}: {new['request_bytes']} bytes > 4 MB")
            lost = sorted(set(caught["old"]) - set(caught["new"]))
            if lost:
                problems.append(f"W={window}: the new version misses {lost}")
            if new["exit_code"] != 0:
                problems.append(
                    f"W={window}: the new version's clean run exited {new['exit_code']}"
                )
            for name in ("old", "new"):
                row = rows[str(window)][name]
                print(
                    f"W={window:>7} {name}: {row['requests']:>4} requests, "
                    f"{row['prompt_tokens']:>9,} prompt tokens, {row['request_bytes']:>11,} "
                    f"bytes, faults caught {len(row['faults_caught'])}/{len(faults)}, "
                    f"exit {row['exit_code']}, {row['wall_seconds']:.1f}s",
                    flush=True,
                )
    print()
    print("| window | version | requests | prompt tokens | bound 3W+80k | request bytes | faults |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for window in windows:
        for name in ("old", "new"):
            row = rows[str(window)][name]
            print(
                f"| {window:,} | {name} | {row['requests']:,} | {row['prompt_tokens']:,} | "
                f"{window_bound(window):,} | {row['request_bytes'] / 1e6:.2f} MB | "
                f"{len(row['faults_caught'])}/{len(faults)} |"
            )
    print()
    print("faults: " + ", ".join(f.name for f in faults))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
