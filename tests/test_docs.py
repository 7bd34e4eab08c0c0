"""The published API reference: one offline HTML page built from openapi.yaml by Redocly
(``build-docs --inlineBundle``, pinned in package.json; ``tox -e docs``).

``tox -e docs`` builds ``build/docs/index.html`` and runs this file with ``CHAT_TEXT_DOCS_HTML``
pointing at it (a missing page is then a failure). Without that variable the test builds the
page itself into a temporary folder, with ``node_modules/`` from the ``node_tools`` fixture
(tests/conftest.py: installed when missing, skipped where Node is not installed).

Redoc renders operations in the browser from the definition the page embeds
(``const __redoc_definition = {...}``, hydrated by the inlined Redoc bundle), so the checks read
that embedded definition, as the page's script does, plus the server-rendered overview text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"
DEFINITION = "const __redoc_definition = "


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    built = os.environ.get("CHAT_TEXT_DOCS_HTML")
    if built:
        path = Path(built)
        assert path.is_file(), f"CHAT_TEXT_DOCS_HTML={built} does not exist: the build failed"
        return path.read_text(encoding="utf-8")
    # only here: `tox -e docs` runs this file with --noconftest, on the page it built
    request.getfixturevalue("node_tools")
    out = tmp_path_factory.mktemp("docs") / "index.html"
    proc = subprocess.run(
        [str(REDOCLY), "build-docs", "openapi.yaml", "--inlineBundle", "-o", str(out)],
        cwd=ROOT,
        env={**os.environ, "REDOCLY_TELEMETRY": "off"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def definition(page: str) -> dict[str, Any]:
    """The OpenAPI definition the page embeds and renders."""
    start = page.find(DEFINITION)
    assert start >= 0, "the page embeds no __redoc_definition"
    embedded, _ = json.JSONDecoder().raw_decode(page, start + len(DEFINITION))
    assert isinstance(embedded, dict)
    return embedded


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def visible_text(page: str) -> str:
    body = re.sub(r"(?is)<script\b.*?</script>|<style\b.*?</style>", " ", page)
    return " ".join(re.sub(r"(?s)<[^>]+>", " ", body).split())


def spec_operation() -> tuple[str, str, dict[str, Any]]:
    [(path, item)] = SPEC["paths"].items()
    [(method, op)] = ((m, o) for m, o in item.items() if m in {"get", "post", "put", "delete"})
    return path, method, op


def test_page_is_offline_and_self_contained(page: str) -> None:
    assert "<html" in page.lower()
    assert not re.search(r"<script\b[^>]*\bsrc=", page, re.I), "scripts must be inlined"
    assert not re.search(r"<link\b[^>]*\bhref=[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"@import\s+url\(\s*[\"']?(https?:)?//", page, re.I)
    assert "hydrate(__redoc_definition" in page, "the inlined Redoc bundle renders the definition"
    options = re.search(r"const __redoc_options = (\{.*?\});", page)
    assert options is not None
    assert json.loads(options.group(1)).get("disableTelemetry") is True


def test_page_names_the_api(page: str) -> None:
    text = visible_text(page)
    assert SPEC["info"]["title"] in text
    assert f"({SPEC['info']['version']})" in text


def test_page_names_the_operation(page: str, definition: dict[str, Any]) -> None:
    path, method, op = spec_operation()
    assert f"{method.upper()} {path}" in visible_text(page)
    embedded = definition["paths"][path][method]
    assert embedded["operationId"] == op["operationId"]
    assert embedded["summary"] == op["summary"]


def test_page_names_every_request_field(definition: dict[str, Any]) -> None:
    path, method, op = spec_operation()
    want = resolve(SPEC, resolve(SPEC, op["requestBody"])["content"]["application/json"]["schema"])
    body = resolve(definition, definition["paths"][path][method]["requestBody"])
    have = resolve(definition, body["content"]["application/json"]["schema"])
    assert list(have["properties"]) == list(want["properties"])
    assert set(have["properties"]) >= {"model", "messages", "max_tokens", "temperature"}
    assert have.get("required") == want.get("required")


def test_page_names_every_status_code(definition: dict[str, Any]) -> None:
    path, method, op = spec_operation()
    have = definition["paths"][path][method]["responses"]
    assert sorted(have) == sorted(op["responses"])
    assert {"200", "400", "401"} <= set(have)
    assert "text/event-stream" in resolve(definition, have["200"])["content"]


# --- README.md and docs/*.md: relative links resolve, the README's test command is CI's ---------

LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def markdown_pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked out."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, re.sub(r"`[^`\n]*`", "``", line)))
    return lines


def heading_anchors(text: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation but '-' and '_' dropped, spaces to '-',
    repeats suffixed -1, -2, ..."""
    anchors: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def broken_links(pages: list[Path], root: Path = ROOT) -> list[str]:
    broken = []
    for page in pages:
        for number, line in prose_lines(page.read_text(encoding="utf-8")):
            for link in LINK.finditer(line):
                target = link.group("target")
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # https:, mailto:, ...: not checked (no network in tests)
                where = f"{page.relative_to(root)}:{number}: {target}"
                path_part, _, anchor = target.partition("#")
                linked = (page.parent / path_part).resolve() if path_part else page
                if root.resolve() not in (linked, *linked.parents):
                    broken.append(f"{where} (outside the repository)")
                elif not linked.exists():
                    broken.append(f"{where} (no such file)")
                elif (
                    anchor
                    and linked.suffix == ".md"
                    and anchor not in heading_anchors(linked.read_text(encoding="utf-8"))
                ):
                    broken.append(f"{where} (no heading #{anchor})")
    return broken


def test_every_relative_link_in_the_docs_resolves() -> None:
    pages = markdown_pages()
    assert len(pages) > 1, "docs/*.md is missing"
    assert broken_links(pages) == []


def test_the_link_check_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Slow servers: `--workers`\n\n## Same\n\n## Same\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md) [ok](docs/a.md#slow-servers---workers) [ok](docs/a.md#same-1)\n"
        "[ok](https://example.com/x) `[code](missing.md)`\n"
        "```\n[fenced](missing.md)\n```\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#slow-servers) [out](../elsewhere.md)\n"
    )
    broken = broken_links(markdown_pages(tmp_path), tmp_path)
    assert broken == [
        "README.md:6: docs/b.md (no such file)",
        "README.md:6: docs/a.md#slow-servers (no heading #slow-servers)",
        "README.md:6: ../elsewhere.md (outside the repository)",
    ]


def test_readme_test_command_is_what_ci_runs() -> None:
    """.ci/run runs the README's test command (the Quick start's second one): tox in a virtual
    environment (PEP 668: Debian's and Ubuntu's own Python refuse `pip install` outside one),
    with the pins tox.ini requires."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = re.search(r"## Quick start\n.*?```sh\n(.*?)```", readme, re.S)
    assert quick is not None, "README.md has no Quick start commands"
    commands = [line for line in quick.group(1).splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    setup, _, test_command = commands[1].rpartition(" && ")
    assert test_command.startswith(".venv/bin/tox"), test_command
    assert commands[0] == f"{setup} && .venv/bin/tox -e conformance"
    venv, _, install = setup.partition(" && ")
    assert venv == "python3 -m venv .venv", venv
    pins = re.fullmatch(r'\.venv/bin/pip install((?: "[\w-]+==[\w.]+")+)', install)
    assert pins is not None, install
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == commands[1]
    for pin in re.findall(r'"([\w-]+==[\w.]+)"', pins.group(1)):
        assert re.search(rf"^requires\s*=(\s+\S+)*?\s+{re.escape(pin)}\s", TOX_INI, re.M), pin


TOX_INI = (ROOT / "tox.ini").read_text(encoding="utf-8")
