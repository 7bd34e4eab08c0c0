"""The published API reference: one offline HTML page built from openapi.yaml by Redocly
(``build-docs --inlineBundle``, pinned in package.json; ``tox -e docs``).

``tox -e docs`` builds ``build/docs/index.html`` and runs this file with ``CHAT_TEXT_DOCS_HTML``
pointing at it (a missing page is then a failure). Without that variable the test builds the
page itself into a temporary folder when ``node_modules/`` is installed, and skips otherwise.

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
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    built = os.environ.get("CHAT_TEXT_DOCS_HTML")
    if built:
        path = Path(built)
        assert path.is_file(), f"CHAT_TEXT_DOCS_HTML={built} does not exist: the build failed"
        return path.read_text(encoding="utf-8")
    if not REDOCLY.exists():
        pytest.skip("node_modules/ is not installed (npm ci); tox -e docs builds and checks it")
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
