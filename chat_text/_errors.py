"""Every exception the SDK raises, in one place.

Hierarchy::

    ChatTextError                       base of everything raised by chat_text
    ├── MissingAPIKeyError              no api_key argument and no CHAT_TEXT_API_KEY
    └── APIError                        something went wrong talking to the API
        ├── APIConnectionError          could not connect / connection dropped (retried)
        │   └── APITimeoutError         connect/read/write/pool timeout (retried)
        ├── ResponseValidationError     a response that does not match openapi.yaml
        │   └── IncompleteStreamError   an event stream that ended before ``data: [DONE]``
        │       └── StreamConnectionError   ... because the connection broke (also an
        │                                    APIConnectionError)
        └── APIStatusError              a 4xx/5xx answer; carries status, headers, parsed error
            ├── BadRequestError             400
            ├── AuthenticationError         401
            ├── NotFoundError               404
            ├── RequestTooLargeError        413
            ├── UnsupportedMediaTypeError   415
            ├── RateLimitError              429 (retried)
            ├── InternalServerError         500 and any other 5xx (retried)
            └── ServiceUnavailableError     503 (retried)

Statuses without a class of their own (e.g. 408, 409) raise a plain ``APIStatusError``.
Messages never contain the API key: :func:`redact` scrubs it from any text that comes from the
server or from httpx before it reaches an exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from chat_text_client.models import ErrorResponse

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatTextError",
    "IncompleteStreamError",
    "InternalServerError",
    "MissingAPIKeyError",
    "NotFoundError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseValidationError",
    "ServiceUnavailableError",
    "StreamConnectionError",
    "UnsupportedMediaTypeError",
    "redact",
    "status_error_class",
]

REDACTED = "***"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    if secret:
        return text.replace(secret, REDACTED)
    return text


class ChatTextError(Exception):
    """Base class of every exception raised by the chat_text SDK."""


class MissingAPIKeyError(ChatTextError):
    """Neither the ``api_key`` argument nor the ``CHAT_TEXT_API_KEY`` variable was given."""


class APIError(ChatTextError):
    """A request to the API failed. ``request`` is the last request sent, when there was one."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APIConnectionError(APIError):
    """The connection could not be made or was lost before a response arrived."""


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout fired."""


class ResponseValidationError(APIError):
    """The server answered with something the spec does not allow: malformed JSON, a body
    that fails the response schema (wrong type, missing field, unknown enum value), a wrong
    content type, or a malformed event stream.

    ``body`` holds the raw bytes (or the offending event) for diagnosis.
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        status_code: int | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, request=request)
        self.status_code = status_code
        self.body = body


class IncompleteStreamError(ResponseValidationError):
    """An event stream stopped (connection closed or broken) before ``data: [DONE]``."""


class StreamConnectionError(IncompleteStreamError, APIConnectionError):
    """The connection broke in the middle of an event stream (a reset, a chunked body cut
    short). The stream is incomplete, and the cause is the network: ``except
    IncompleteStreamError`` and ``except APIConnectionError`` both catch it. A server that
    ends its stream cleanly without ``data: [DONE]`` raises a plain
    :class:`IncompleteStreamError`."""


class APIStatusError(APIError):
    """The API answered with a 4xx or 5xx status.

    ``error`` is the parsed :class:`chat_text_client.models.ErrorResponse` (``None`` when the
    body did not match the spec's error schema, e.g. an HTML page from a proxy); ``code`` is
    ``error.error.code`` when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        error: ErrorResponse | None,
    ) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.error = error
        self.code: str | None = error.error.code if error is not None else None


class BadRequestError(APIStatusError):
    """400: the request is invalid, or the prompt cannot fit the context window."""


class AuthenticationError(APIStatusError):
    """401: the bearer token is missing, malformed or unknown."""


class NotFoundError(APIStatusError):
    """404: the model does not exist."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is larger than the spec's ``x-max-body-bytes``."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the body was not sent as JSON."""


class RateLimitError(APIStatusError):
    """429: too many requests (retried, honouring ``Retry-After``)."""


class InternalServerError(APIStatusError):
    """500, or any other 5xx without a class of its own (retried)."""


class ServiceUnavailableError(APIStatusError):
    """503: the service is overloaded (retried, honouring ``Retry-After``)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    413: RequestTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an error status."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return InternalServerError
    return APIStatusError
