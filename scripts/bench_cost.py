"""What the default level costs, before and after the cost work, measured in one run.

Both versions of ``chat-text-conformance`` run as a user runs them (``--base-url``, seed 1,
default level) against the same reference server (``chat-text-base``, 8,192-token window,
``--context-length 8192``). What they spend is counted *by the server* (a counting middleware),
the same way for both: requests, 200 answers, prompt and completion tokens from the answers'
usage, request bytes. Then each version runs against injected faults
(``chat_text_testkit.mutations``, the semantic-level ones) and the faults each catches (exit
code 1) are counted.

"before" is the tree at ``--before REV`` (default: the last commit before the rule catalogue,
whose default level the cost issue measured), extracted with ``git archive`` and run with this
environment's dependencies.

    python scripts/bench_cost.py [--before REV] [--faults N|all] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-cost-token-0123456789"  # noqa: S105 - a local benchmark server's token
BEFORE = "5398751"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Spent:
    requests: int = 0
    answers_200: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    request_bytes: int = 0


class Counting:
    """An ASGI app that counts what passes through to ``app``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.spent = Spent()
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = 0
        status = 0
        content_type = ""
        body = bytearray()

        async def counting_receive() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"").decode()
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, counting_receive, counting_send)
        from chat_text_conformance.engine.cost import usage_of

        prompt, completion = usage_of(status, content_type, bytes(body))
        with self.lock:
            self.spent.requests += 1
            self.spent.request_bytes += size
            self.spent.answers_200 += status == 200
            self.spent.prompt_tokens += prompt
            self.spent.completion_tokens += completion


def _tree(rev: str, into: Path) -> Path:
    archive = into / "tree.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), rev],
        cwd=ROOT,
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def _cli(tree: Path | None, url: str, model: str, context: int, token: str = TOKEN) -> int:
    env = dict(os.environ)
    if tree is not None:
        generated = tree / "generated"
        paths = [tree / "conformance", tree, generated / "python", generated]
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    command = [
        sys.executable,
        "-m",
        "chat_text_conformance.cli",
        "--base-url",
        url,
        "--token",
        token,
        "--model",
        model,
        "--context-length",
        str(context),
        "--seed",
        "1",
        "-q",
    ]
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, cwd=tree or ROOT
    )
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help=f"git revision (default {BEFORE})")
    parser.add_argument("--faults", default="12", help="how many semantic faults, or 'all'")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    from chat_text_conformance import Level
    from chat_text_testkit.mutations import (  # the fault catalogue (test support, not shipped)
        MUTATIONS,
        REFERENCE,
        mutation_server,
    )

    from chat_text_server import create_app
    from chat_text_server.testing import running_server

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        before_tree = _tree(args.before, Path(tmp))
        versions: dict[str, Path | None] = {"before": before_tree, "after": None}
        for name, tree in versions.items():
            counting = Counting(create_app([TOKEN]))
            with running_server(counting, tokens=[TOKEN]) as url:
                started = time.perf_counter()
                code = _cli(tree, url, "chat-text-base", 8192)
                wall = time.perf_counter() - started
            results[name] = {**asdict(counting.spent), "exit_code": code, "wall_seconds": wall}
            print(f"{name:<6} {json.dumps(results[name])}", flush=True)

        faults = [m for m in MUTATIONS if m.level is Level.SEMANTIC]
        if args.faults != "all":
            faults = faults[:: max(1, len(faults) // int(args.faults))][: int(args.faults)]
        caught = {name: 0 for name in versions}
        with mutation_server(REFERENCE) as server:
            for fault in faults:
                row = []
                for name, tree in versions.items():
                    with server.mutated(fault):
                        code = _cli(
                            tree,
                            server.base_url,
                            server.model,
                            server.context_length,
                            server.token,
                        )
                    caught[name] += code == 1
                    row.append(f"{name}={'caught' if code == 1 else f'MISSED (exit {code})'}")
                print(f"  {fault.name:<40} {'  '.join(row)}", flush=True)
    for name in versions:
        results[name]["faults_caught"] = caught[name]
        results[name]["faults_tried"] = len(faults)
    print()
    print(f"{'':<22}{'before':>12}{'after':>12}")
    for key in ("requests", "answers_200", "prompt_tokens", "completion_tokens", "request_bytes"):
        print(f"{key:<22}{results['before'][key]:>12}{results['after'][key]:>12}")
    print(
        f"{'wall seconds':<22}{results['before']['wall_seconds']:>12.1f}"
        f"{results['after']['wall_seconds']:>12.1f}"
    )
    tried = len(faults)
    print(f"{'faults caught':<22}{caught['before']:>9}/{tried:<2}{caught['after']:>9}/{tried}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
