"""Every error the server answers with, as the spec's ``ErrorResponse`` body.

One exception type, :class:`ApiError`, carries the HTTP status, the spec's machine-readable
``code``, a human ``message`` that names the offending field, and that ``field`` (a path such
as ``messages[2].role``) or ``None``. Handlers raise it; the app turns it into a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "ApiError",
    "error_body",
]


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The spec's ``ErrorResponse`` document."""
    return {"error": {"code": code, "message": message, "field": field}}


class ApiError(Exception):
    """An error response: status, spec error code, message, field and extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> bytes:
        """The JSON body of the response."""
        return orjson.dumps(error_body(self.code, self.message, self.field))

    @classmethod
    def invalid(cls, message: str, field: str | None = None) -> ApiError:
        """400 ``invalid_request``."""
        return cls(400, "invalid_request", message, field)

    @classmethod
    def unauthorized(cls, message: str) -> ApiError:
        """401 ``unauthorized`` with the RFC 6750 challenge."""
        challenge = 'Bearer realm="chat-text"'
        if "invalid" in message.lower() or "malformed" in message.lower():
            challenge += ', error="invalid_token"'
        return cls(401, "unauthorized", message, None, {"WWW-Authenticate": challenge})

    @classmethod
    def internal(cls) -> ApiError:
        """500 ``internal_error`` (never carries details of the failure)."""
        return cls(500, "internal_error", "The server failed to complete the request.")
