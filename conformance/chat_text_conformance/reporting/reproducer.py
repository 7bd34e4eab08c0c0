"""Reproducers a server team can paste: curl commands that use ``$CHAT_TEXT_API_KEY`` (never the
token itself), with request bodies over :data:`INLINE_BODY_LIMIT` bytes saved to files in the
report folder."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

from .results import TOKEN_FORMS, TOKEN_PLACEHOLDER, RequestRecord

__all__ = ["INLINE_BODY_LIMIT", "body_file_name", "curl_command"]

INLINE_BODY_LIMIT = 2048
"""Bodies up to this many bytes are written into the curl command itself."""


def body_file_name(body: bytes) -> str:
    """The name a long body is saved under in the report folder (stable: its hash)."""
    return f"bodies/{hashlib.sha256(body).hexdigest()[:16]}.json"


_TOKEN_FORM = re.compile("|".join(re.escape(form) for form, _ in TOKEN_FORMS))
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_]")


def _double_quoted(text: str) -> str:
    for char in ("\\", '"', "`", "$"):
        text = text.replace(char, "\\" + char)
    return text


def _quote_header(name: str, value: str) -> str:
    text = f"{name}: {value}"
    if not _TOKEN_FORM.search(text):
        return shlex.quote(text)
    # double quotes, so that the shell expands $CHAT_TEXT_API_KEY (and the forms derived from it)
    parts: list[str] = []
    position = 0
    for match in _TOKEN_FORM.finditer(text):
        parts.append(_double_quoted(text[position : match.start()]))
        form = match.group()
        if form == TOKEN_PLACEHOLDER and _IDENTIFIER_CHAR.match(text, match.end()):
            form = "${CHAT_TEXT_API_KEY}"  # "$CHAT_TEXT_API_KEYx" would name another variable
        parts.append(form)
        position = match.end()
    parts.append(_double_quoted(text[position:]))
    return '"' + "".join(parts) + '"'


def curl_command(
    base_url: str, request: RequestRecord, *, report_dir: str | Path | None = None
) -> str:
    """A curl command sending ``request`` again to ``base_url``.

    A body over :data:`INLINE_BODY_LIMIT` bytes is referenced as a file under ``report_dir``
    (the report writer saves it there); without a report folder the command says so.
    """
    url = base_url.rstrip("/") + request.path
    parts = ["curl", "-sS", "-N", "-X", request.method, shlex.quote(url)]
    for name, value in request.headers:
        parts += ["-H", _quote_header(name, value)]
    body = request.body
    if body is None:
        return " ".join(parts)
    if len(body) <= INLINE_BODY_LIMIT:
        try:
            parts += ["--data-binary", shlex.quote(body.decode("utf-8"))]
            return " ".join(parts)
        except UnicodeDecodeError:
            pass
    name = body_file_name(body)
    if report_dir is None:
        parts += ["--data-binary", f"@{name}"]
        return " ".join(parts) + (
            f"  # the {len(body)}-byte body is saved only with --report-dir DIR"
        )
    parts += ["--data-binary", shlex.quote(f"@{Path(report_dir) / name}")]
    return " ".join(parts)
