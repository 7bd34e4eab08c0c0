"""``chat-text-spec-lint``: validate OpenAPI documents with openapi-spec-validator.

    chat-text-spec-lint openapi.yaml [more.yaml ...]

The pre-commit hook ``chat-text-spec-lint`` runs this on the spec files a commit touches. Each
file is read and validated on its own (a bad file does not hide the next one) against the
OpenAPI version it declares (2.0, 3.0, 3.1 or 3.2), and every problem the validator finds is
printed with the file's name, once. Exit status: 0 every file is valid; 1 a file is not valid
(or not an OpenAPI document); 2 bad arguments, an unreadable file, or the validator is not
installed (``pip install 'chat-text[spec-lint]'``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "LintError", "lint_file", "main"]

INSTALL_HINT = "pip install 'chat-text[spec-lint]'"


class LintError(Exception):
    """A file could not be read or parsed, or the validator is missing."""


def _problems(spec: Any, uri: str) -> Iterator[str]:
    from jsonschema.exceptions import ValidationError
    from openapi_spec_validator.shortcuts import get_validator_cls
    from openapi_spec_validator.validation.exceptions import ValidatorDetectError

    if not isinstance(spec, dict):
        yield "not an OpenAPI document (the top level is not a mapping)"
        return
    try:
        validator_cls = get_validator_cls(spec)
    except ValidatorDetectError:
        yield "not an OpenAPI document (no 'openapi' or 'swagger' version at the top level)"
        return
    try:
        for error in validator_cls(spec, base_uri=uri).iter_errors():
            yield str(error)
    except ValidationError as error:  # some validators raise instead of yielding
        yield str(error)
    except Exception as error:  # a $ref the validator cannot follow, ...
        yield f"{type(error).__name__}: {error}"


def lint_file(path: Path) -> list[str]:
    """Every distinct problem openapi-spec-validator finds in ``path`` (empty: valid)."""
    try:
        from openapi_spec_validator.readers import read_from_filename
    except ImportError:
        raise LintError(f"openapi-spec-validator is not installed: {INSTALL_HINT}") from None
    if not path.is_file():
        raise LintError(f"{path}: no such file")
    try:
        spec, uri = read_from_filename(str(path))
    except OSError as exc:
        raise LintError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError
        detail = str(exc).replace("<urllib response>", str(path))
        raise LintError(f"{path}: not valid YAML or JSON: {detail}") from None
    return list(dict.fromkeys(_problems(spec, uri)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chat-text-spec-lint",
        description="Validate OpenAPI documents (2.0, 3.0, 3.1, 3.2) with openapi-spec-validator;"
        " every file is checked and every problem printed.",
        epilog="exit 0: valid; 1: a document is not valid; 2: bad arguments, an unreadable file"
        f" or the validator is missing ({INSTALL_HINT})",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="OpenAPI documents")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            problems = lint_file(path)
        except LintError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        if not problems:
            print(f"{path}: OK")
            continue
        status = max(status, 1)
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"{path}: {len(problems)} {noun} (openapi-spec-validator)")
        for problem in problems:
            print(f"{path}: {problem}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
