"""What the changes mean for ``info.version``: the bump they need, the bump that was made,
and the version to propose.

``required_bump`` is ``major`` when any change is breaking, ``minor`` when any is
non-breaking, ``patch`` when there are only ``info`` changes, and ``none`` when the documents
say the same thing. Below 1.0.0 (semver 0.x) anything may change in a minor release, so a
breaking change needs only a minor bump there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from chat_text_spec.diff.changes import Change, SpecDiffError

__all__ = [
    "BUMP_ORDER",
    "Bump",
    "actual_bump",
    "bump_is_enough",
    "parse_version",
    "propose_version",
    "required_bump",
]

Bump = Literal["major", "minor", "patch", "none"]
BUMP_ORDER: dict[str, int] = {"none": 0, "patch": 1, "minor": 2, "major": 3}
_FOR_SEVERITY: dict[str, Bump] = {"breaking": "major", "non-breaking": "minor", "info": "patch"}
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")


def required_bump(changes: Iterable[Change]) -> Bump:
    """The smallest bump that covers every change."""
    needed: Bump = "none"
    for change in changes:
        bump = _FOR_SEVERITY[change.severity]
        if BUMP_ORDER[bump] > BUMP_ORDER[needed]:
            needed = bump
    return needed


def parse_version(version: Any) -> tuple[int, int, int]:
    match = _SEMVER.match(str(version).strip())
    if not match:
        raise SpecDiffError(f"info.version {version!r} is not a semantic version (X.Y.Z)")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def actual_bump(old_version: Any, new_version: Any) -> Bump:
    """How ``info.version`` moved; a lower version is an error."""
    old, new = parse_version(old_version), parse_version(new_version)
    if new < old:
        raise SpecDiffError(f"info.version went down: {old_version} -> {new_version}")
    if new[0] > old[0]:
        return "major"
    if new[1] > old[1]:
        return "minor"
    if new[2] > old[2]:
        return "patch"
    return "none"


def _effective(required: Bump, old_version: Any) -> Bump:
    """Semver 0.x: anything may change in a minor release, so breaking needs only minor."""
    if parse_version(old_version)[0] == 0 and required == "major":
        return "minor"
    return required


def bump_is_enough(required: Bump, old_version: Any, new_version: Any) -> bool:
    needed = _effective(required, old_version)
    return BUMP_ORDER[actual_bump(old_version, new_version)] >= BUMP_ORDER[needed]


def propose_version(old_version: Any, required: Bump) -> str:
    major, minor, patch = parse_version(old_version)
    needed = _effective(required, old_version)
    if needed == "major":
        return f"{major + 1}.0.0"
    if needed == "minor":
        return f"{major}.{minor + 1}.0"
    if needed == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return f"{major}.{minor}.{patch}"
