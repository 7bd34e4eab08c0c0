"""Fixtures shared by the test files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NPM_CI = ROOT / "scripts" / "ci" / "npm-ci.sh"


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """``node_modules/``, installed from package-lock.json.

    ``scripts/ci/npm-ci.sh`` runs ``npm ci`` only when ``node_modules/`` was not installed from
    these very files, one install at a time: when a tox env (or another pytest worker) is
    installing, this waits for it, so the tests that need Node's tools can start with the rest
    instead of waiting for ``npm ci`` first. Skips, saying why, where Node or npm is missing.
    """
    missing = [tool for tool in ("node", "npm", "flock") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: node_modules/ (npm ci) cannot be set up")
    proc = subprocess.run(
        ["bash", str(NPM_CI)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"{NPM_CI.relative_to(ROOT)} failed:\n{proc.stdout}{proc.stderr}")
    return ROOT / "node_modules"
