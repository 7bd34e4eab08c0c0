"""Fixtures shared by the test files, and the order the files are handed to pytest-xdist."""

from __future__ import annotations

import gc
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NPM_CI = ROOT / "scripts" / "ci" / "npm-ci.sh"

ORDER = (
    # long, and partly waiting (slow and hanging servers, timeouts): first, while the other tox
    # envs run beside the tests and use the time they wait
    "test_conformance_variants.py",
    "test_conformance_proxy.py",
    "test_variant_server.py",
    "test_conformance_hostile.py",
    "test_sdk_faults.py",
    "test_conformance_properties.py",
    # long and busy all the time
    "test_mutations.py",
    "test_contract_drift.py",
    "test_conformance_run.py",
    "test_cross_language.py",
    "test_conformance_cli.py",
    "test_spec_diff.py",
    "test_ci_action.py",
    "test_conformance_cost.py",
    "test_server_load.py",
    "test_spec_change_top_p.py",
    "test_conformance_replay.py",
    "test_sdk_regenerated.py",
    "test_client_conformance.py",
    "test_server_cli.py",
    "test_docs.py",
)
"""The order pytest-xdist hands whole files to the tests env's workers (``--dist loadfile
--no-loadscope-reorder``), from CPU and wall time measured per file; the other files follow in
their usual order, short ones last, so the workers finish together. A stale list costs time,
never a test."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """The garbage collector, tuned for a test process: what the imports and the collection
    made lives to the end (frozen: the collector no longer walks it), and a young generation
    of 20,000 objects instead of 700 (the suite's runs allocate millions of short-lived ones).
    About 5% less CPU for the conformance runs the tests make in-process; no test relies on
    when a cycle is collected."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(ORDER)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: keeps the rest


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """``node_modules/``, installed from package-lock.json.

    ``scripts/ci/npm-ci.sh`` runs ``npm ci`` only when ``node_modules/`` was not installed from
    these very files, one install at a time: when a tox env (or another pytest worker) is
    installing, this waits for it, so the tests that need Node's tools can start with the rest
    instead of waiting for ``npm ci`` first. Skips, saying why, where Node or npm is missing.
    """
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
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
