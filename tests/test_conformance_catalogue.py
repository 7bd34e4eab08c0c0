"""The rule catalogue: one declaration per rule, each with a source that exists, listed by
``--list-checks`` and in docs/conformance.md (generated; a test fails on drift)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from chat_text_conformance.catalogue import catalogue
from chat_text_conformance.checks import declare, spec
from chat_text_conformance.checks.registry import SPEC_FILE, VENDOR_DOCUMENT
from chat_text_conformance.cli import catalogue_markdown, levels_markdown, main
from chat_text_conformance.engine.target import Level

from chat_text_spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
SEED_DOCUMENT = ROOT.parent / "shared" / "seed" / "chat_text_api.txt"


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_every_rule_has_a_source_that_exists_in_openapi_yaml() -> None:
    document = load_spec()
    rules = catalogue()
    assert len(rules) >= 50
    for rule in rules:
        assert rule.sources, rule.id
        for source in rule.sources:
            if source.document == SPEC_FILE:
                node = _resolve(document, source.where)  # raises KeyError when it is gone
                assert node not in (None, "", {}), (rule.id, source.where)


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.skipif(not SEED_DOCUMENT.is_file(), reason=f"{SEED_DOCUMENT} is not here")
def test_every_vendor_sentence_is_quoted_verbatim() -> None:
    seed = _normalized(SEED_DOCUMENT.read_text(encoding="utf-8"))
    quoted = [
        (rule.id, source.where)
        for rule in catalogue()
        for source in rule.sources
        if source.document == VENDOR_DOCUMENT
    ]
    assert quoted
    for rule_id, sentence in quoted:
        assert _normalized(sentence) in seed, (rule_id, sentence)


def test_a_rule_without_a_source_or_declared_twice_differently_is_refused() -> None:
    with pytest.raises(ValueError, match="no source"):
        declare(
            "rule_without_source", "it holds", level=Level.SEMANTIC, kind="response", sources=[]
        )
    existing = catalogue(kind="response")[0]
    with pytest.raises(ValueError, match="declared twice"):
        declare(
            existing.id,
            "another statement",
            level=existing.level,
            kind="response",
            sources=[spec("/info")],
        )


def test_each_rule_id_once_and_levels_nest() -> None:
    ids = [rule.id for rule in catalogue()]
    assert len(ids) == len(set(ids))
    schema, semantic, strict = (
        {r.id for r in catalogue(level=level)}
        for level in (Level.SCHEMA, Level.SEMANTIC, Level.STRICT)
    )
    assert schema < semantic < strict
    assert all(r.kind == "schema" for r in catalogue(level=Level.SCHEMA) if r.kind != "client")


def test_docs_tables_are_generated_from_the_catalogue() -> None:
    page = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- catalogue:begin -->\n(.*?)\n<!-- catalogue:end -->", page, re.S)
    assert block is not None, "docs/conformance.md has no catalogue block"
    expected = levels_markdown() + "\n\n" + catalogue_markdown()
    assert block.group(1) == expected, (
        "docs/conformance.md's rule tables drifted from the catalogue: replace the block with the "
        "output of `chat-text-conformance --list-checks --format markdown`"
    )


def test_list_checks_json_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-checks", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["id"] for item in listed] == [rule.id for rule in catalogue()]
    assert all(item["sources"] and item["statement"] and item["level"] for item in listed)


def test_list_checks_text_names_every_rule_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-checks"]) == 0
    text = capsys.readouterr().out
    for rule in catalogue():
        assert f"{rule.id}  [{rule.kind}, {rule.level.value}]" in text
    assert text.count("source: ") == sum(len(rule.sources) for rule in catalogue())
