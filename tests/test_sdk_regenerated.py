"""The SDK survives regeneration: it uses only the generated package's public names, and its
tests pass against a client freshly generated from openapi.yaml into a temporary folder.

The facade tests (every model, parse and error path) run against the fresh copy; the fault
tests exercise the transport and retry code, which does not depend on generated code."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from chat_text_spec import regenerate

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = {
    "chat_text_client",
    "chat_text_client.models",
    "chat_text_client.types",
    "chat_text_client.client",
    "chat_text_client.errors",
    "chat_text_client.api.inference.chat_text",
}
FACADE_FILES = [
    *sorted((ROOT / "chat_text").glob("*.py")),
    ROOT / "conformance" / "chat_text_conformance" / "clients" / "sdk.py",
]


def generated_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every import of chat_text_client in ``path``."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chat_text_client"):
            found += [(node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("chat_text_client")]
    return found


def test_facade_imports_only_public_generated_names() -> None:
    seen = 0
    for path in FACADE_FILES:
        for module, name in generated_imports(path):
            seen += 1
            public = module in PUBLIC_MODULES or f"{module}.{name}" in PUBLIC_MODULES
            assert public, f"{path.name} imports from a private module: {module}.{name}"
            assert not name.startswith("_"), f"{path.name} imports private {module}.{name}"
    assert seen > 0


def test_sdk_tests_pass_against_a_freshly_generated_client(tmp_path: Path) -> None:
    dest = tmp_path / "generated" / "python"
    regenerate.generate_python(ROOT / "openapi.yaml", ROOT / "generator-config.yml", dest)
    assert (dest / "chat_text_client" / "models" / "chat_text_response.py").is_file()
    env = {**os.environ, "PYTHONPATH": f"{dest}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import chat_text, chat_text_client; print(chat_text_client.__file__)",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve().is_relative_to(dest.resolve())
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_sdk_facade.py",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
