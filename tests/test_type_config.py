"""mypy's configuration (pyproject.toml): the packages it is told not to analyse
(``follow_imports = "skip"``, to halve its time) are imported by none of the code it checks, so
skipping them turns none of our types into ``Any``."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = [
    "chat_text",
    "chat_text_server",
    "chat_text_spec",
    "conformance/chat_text_conformance",
    "scripts",
    "typescript",
    "generated/python/chat_text_client",
]


def _skipped() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    skipped: list[str] = []
    for override in config["tool"]["mypy"]["overrides"]:
        if override.get("follow_imports") == "skip":
            skipped += [module.removesuffix(".*") for module in override["module"]]
    return skipped


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_packages_mypy_skips_are_imported_by_none_of_the_checked_code() -> None:
    skipped = _skipped()
    assert "rich" in skipped and "schemathesis" not in skipped
    offenders = []
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imports(path):
                if any(module == s or module.startswith(f"{s}.") for s in skipped):
                    offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert offenders == [], "mypy would read these imports as Any: " + ", ".join(offenders)


def test_the_check_finds_such_an_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom rich.console import Console\nfrom . import sibling\n")
    assert _imports(module) == {"os", "rich.console"}
