"""The breaking-change gate for OpenAPI documents (``chat-text-spec-diff``).

What changed between two documents, what each change means for clients (one rule of the
catalogue in :mod:`~chat_text_spec.diff.rules` per verdict), which semver bump that needs,
and a team's policy on top (severity overrides, accepted changes). Needs only PyYAML.

Modules: ``rules`` (the catalogue), ``schema`` and ``document`` (the comparison),
``semver``, ``policy``, ``sources`` (files and git), ``report`` (JSON, text, Markdown,
JUnit), ``cli``.
"""

from __future__ import annotations

from chat_text_spec.diff.changes import Change, SpecDiffError
from chat_text_spec.diff.document import diff_specs
from chat_text_spec.diff.policy import IgnoreEntry, Policy, load_policy
from chat_text_spec.diff.report import REPORT_SCHEMA, build_report, changelog
from chat_text_spec.diff.rules import CATALOGUE, SEVERITIES, Rule, get_rule
from chat_text_spec.diff.semver import (
    Bump,
    actual_bump,
    bump_is_enough,
    propose_version,
    required_bump,
)
from chat_text_spec.diff.sources import find_baseline, git_spec, load_spec_file, load_spec_text

__all__ = [
    "CATALOGUE",
    "REPORT_SCHEMA",
    "SEVERITIES",
    "Bump",
    "Change",
    "IgnoreEntry",
    "Policy",
    "Rule",
    "SpecDiffError",
    "actual_bump",
    "build_report",
    "bump_is_enough",
    "changelog",
    "diff_specs",
    "find_baseline",
    "get_rule",
    "git_spec",
    "load_policy",
    "load_spec_file",
    "load_spec_text",
    "propose_version",
    "required_bump",
]
