"""The drivers: one small program per client, each run as one process for a whole list of calls.

A driver reads calls as JSON lines on stdin (``{"case", "base_url", "token", "stream",
"request"}``) and prints one JSON line per call: ``{"case", "outcome"}`` (the normalized
outcome, see :mod:`.python_driver`), ``{"case", "crash"}`` (the client raised something the
driver cannot classify) or ``{"case", "skip"}`` (the client cannot make this call at all, e.g. a
generated client without streaming).

==================== ================================================= =======================
column               client                                            driver
==================== ================================================= =======================
``python``           the SDK ``chat_text`` (the reference column)      :mod:`.python_driver`
``python-generated`` ``chat_text_client`` alone (openapi-python-client) :mod:`.python_driver`
``typescript``       the npm package ``chat-text`` (``typescript/``),  ``typescript/driver/
                     packed and unpacked as users install it           driver.mjs`` (Node)
``go``               ``go/chattextsdk`` over ``generated/go``          ``go/driver`` (Go)
                     (openapi-generator ``go``), this repository's
                     Go module
==================== ================================================= =======================

The TypeScript package is packed with ``npm pack`` (its ``prepack`` compiles it with the pinned
``tsc --strict``; or ``--release-dir`` names a tarball already packed), the Go driver is built
with the local Go toolchain, offline (``GOPROXY=off``: the module needs only the standard
library). A driver whose tools are missing is skipped with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DRIVERS",
    "REFERENCE",
    "BuildError",
    "Driver",
    "DriverRun",
    "Result",
    "run_driver",
]

REFERENCE = "python"
_RUN_TIMEOUT = 180.0
_BUILD_TIMEOUT = 600.0
_MAX_RESTARTS = 10


class BuildError(Exception):
    """A driver could not be compiled (the message holds the compiler's output)."""


@dataclass(frozen=True)
class Driver:
    name: str
    language: str
    client: str
    """What the column calls (shown in the table's legend)."""

    def missing(self, root: Path) -> str | None:
        """Why this driver cannot run here, or ``None``."""
        del root
        return None

    def build(self, root: Path, work: Path) -> list[str]:
        """Compile what is needed; the command that runs the driver."""
        raise NotImplementedError


@dataclass(frozen=True)
class PythonDriver(Driver):
    variant: str = "sdk"

    def build(self, root: Path, work: Path) -> list[str]:
        del root, work
        module = "chat_text_conformance.clients.matrix.python_driver"
        return [sys.executable, "-m", module, "--client", self.variant]


@dataclass(frozen=True)
class TypeScriptDriver(Driver):
    tarball: Path | None = None
    """A packed ``chat-text`` tarball to use (``--release-dir``); else ``npm pack`` makes one."""

    def missing(self, root: Path) -> str | None:
        if shutil.which("node") is None:
            return "node is not installed (Node 20: apt-get install nodejs, or nodejs.org)"
        if self.tarball is not None:
            return None
        if shutil.which("npm") is None:
            return "npm is not installed (apt-get install npm)"
        if not any(
            (folder / "node_modules" / "typescript").is_dir()
            for folder in (root / "typescript", root)
        ):
            return "TypeScript is not installed to build the package: run `npm ci`"
        return None

    def build(self, root: Path, work: Path) -> list[str]:
        """The package as users install it: packed (``npm pack``, whose ``prepack`` builds it
        with tsc --strict), unpacked into a project of its own beside the driver."""
        # lazy: the release tool (~35 ms of imports) only when a package is built
        from chat_text_spec import release

        try:
            tarball = self.tarball or release.pack_typescript(root, work / "typescript-pack")
            project = work / "typescript-driver"
            release.unpack_typescript(tarball, project)
        except (release.ReleaseError, OSError) as exc:
            raise BuildError(f"the npm package: {exc}") from None
        driver = project / "driver.mjs"
        shutil.copyfile(root / "typescript" / "driver" / "driver.mjs", driver)
        return ["node", str(driver)]


@dataclass(frozen=True)
class GoDriver(Driver):
    def missing(self, root: Path) -> str | None:
        del root
        if shutil.which("go") is None:
            return "the Go toolchain is not installed (apt-get install golang-go)"
        return None

    def build(self, root: Path, work: Path) -> list[str]:
        from chat_text_spec.release import go_env  # lazy: as in TypeScriptDriver.build

        binary = work / "chat-text-go-driver"
        proc = _run_tool(
            ["go", "build", "-o", str(binary), "."], cwd=root / "go" / "driver", env=go_env(root)
        )
        if proc.returncode != 0:
            raise BuildError(f"go build (go/driver) failed:\n{proc.stdout}{proc.stderr}")
        return [str(binary)]


def _run_tool(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{args[0]}: {exc}") from None


DRIVERS: dict[str, Driver] = {
    d.name: d
    for d in (
        PythonDriver("python", "python", "the SDK chat_text (reference)", variant="sdk"),
        PythonDriver(
            "python-generated",
            "python",
            "chat_text_client, openapi-python-client 0.29.1",
            variant="generated",
        ),
        TypeScriptDriver(
            "typescript",
            "typescript",
            "the npm package chat-text (fetch), typed by openapi-typescript 7.13.0",
        ),
        GoDriver(
            "go", "go", "go/chattextsdk over the openapi-generator 7.26.0 go client (generated/go)"
        ),
    )
}
"""Every column, in table order; the first is the reference."""


@dataclass(frozen=True)
class Result:
    """What one driver reported for one call."""

    outcome: dict[str, Any] | None = None
    crash: str | None = None
    skip: str | None = None


@dataclass
class DriverRun:
    results: dict[str, Result] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Process-level trouble: exits, stray output, restarts (each also a crash of a case)."""
    seconds: float = 0.0


def _parse_line(line: str) -> tuple[str, Result] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("case"), str):
        return None
    if isinstance(data.get("outcome"), dict):
        return data["case"], Result(outcome=data["outcome"])
    if isinstance(data.get("crash"), str):
        return data["case"], Result(crash=data["crash"])
    if isinstance(data.get("skip"), str):
        return data["case"], Result(skip=data["skip"])
    return None


def _tail(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def run_driver(
    command: Sequence[str],
    calls: Sequence[dict[str, Any]],
    *,
    cwd: Path,
    timeout: float = _RUN_TIMEOUT,
) -> DriverRun:
    """Feed ``calls`` to the driver; collect one :class:`Result` per call. A driver that dies,
    hangs or prints something that is not a result line crashes the call it was on; it is
    started again for the calls after it."""
    run = DriverRun()
    started = time.monotonic()
    pending = list(calls)
    restarts = 0
    while pending:
        payload = "".join(json.dumps(call) + "\n" for call in pending)
        try:
            proc = subprocess.run(
                list(command),
                input=payload,
                cwd=cwd,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
            )
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = _text(exc.stdout)
            stderr = _text(exc.stderr) + f"\n(timed out after {timeout:.0f} s)"
            code = None
        except OSError as exc:
            stdout, stderr, code = "", f"cannot start {command[0]}: {exc}", None
        wanted = {call["case"] for call in pending}
        for line in stdout.split("\n"):
            if not line.strip():
                continue
            parsed = _parse_line(line)
            if parsed is None or parsed[0] not in wanted:
                run.problems.append(f"output that is not a result line: {line[:200]!r}")
                continue
            run.results.setdefault(parsed[0], parsed[1])
        pending = [call for call in pending if call["case"] not in run.results]
        if not pending:
            if code not in (0, None):
                run.problems.append(f"exit status {code} after its last result: {_tail(stderr)}")
            break
        how = "timed out" if code is None else f"exited with status {code}"
        first = pending.pop(0)["case"]
        run.results[first] = Result(crash=f"the driver {how} on this call: {_tail(stderr)}")
        run.problems.append(f"{how} on {first}")
        restarts += 1
        if restarts > _MAX_RESTARTS:
            for call in pending:
                run.results[call["case"]] = Result(crash="not run: the driver kept failing")
            run.problems.append(f"gave up after {_MAX_RESTARTS} restarts")
            break
    run.seconds = time.monotonic() - started
    return run


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
