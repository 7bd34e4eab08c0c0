"""Module attributes imported on first use (PEP 562), for the package ``__init__`` modules: a
process that needs one part of the package (a cross-language driver, the proxy, ``--help``)
does not pay for the others' imports (schemathesis, hypothesis)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each name to the submodule
    (relative, e.g. ``".runner"``) it is imported from the first time it is asked for."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
