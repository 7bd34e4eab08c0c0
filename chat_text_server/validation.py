"""The server's names for request validation, which lives in :mod:`chat_text_spec.validation`.

The suite and the proxy judge requests with the same validator the server answers with, so it
lives in the spec package (the proxy need not import the server). These names keep working for
code written against the server: they raise :class:`~chat_text_server.errors.ApiError` (a 400
``invalid_request`` naming the field) as before. The app itself uses the spec package's names.
"""

from __future__ import annotations

from typing import Any

import chat_text_spec
from chat_text_spec.validation import field_path

from .errors import ApiError

__all__ = ["RequestValidator", "api_error", "field_path", "parse_json"]


def api_error(error: chat_text_spec.InvalidRequest) -> ApiError:
    """The error response for a request the spec refuses."""
    return ApiError(error.status, error.code, error.message, error.field)


class RequestValidator(chat_text_spec.RequestValidator):
    """:class:`chat_text_spec.RequestValidator` raising :class:`ApiError`."""

    def validate(self, document: Any) -> dict[str, Any]:
        try:
            return super().validate(document)
        except chat_text_spec.InvalidRequest as error:
            raise api_error(error) from None


def parse_json(body: bytes) -> Any:
    """:func:`chat_text_spec.parse_json` raising :class:`ApiError`."""
    try:
        return chat_text_spec.parse_json(body)
    except chat_text_spec.InvalidRequest as error:
        raise api_error(error) from None
