"""chat_text: the Python SDK for the chat-text API (``POST /inference/chat_text``).

A thin layer over the generated client ``chat_text_client``: it returns the generated
``ChatTextResponse``, yields the generated ``ChatTextChunk`` and parses errors into the generated
``ErrorResponse``, and adds timeouts, retries with backoff, typed errors, streaming, environment
variables and token redaction::

    from chat_text import ChatText

    with ChatText() as client:  # CHAT_TEXT_API_KEY, CHAT_TEXT_BASE_URL
        reply = client.chat_text(
            model="chat-text-base", messages=[{"role": "user", "content": "Hi"}]
        )
        print(reply.choices[0].message.content)
"""

from chat_text_client.models import (
    ChatTextChunk,
    ChatTextResponse,
    ErrorResponse,
    Message,
    Role,
    Usage,
)
from chat_text_client.types import UNSET, Unset

from ._client import AsyncChatText, ChatText, MessageParam, build_request_body
from ._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatTextError,
    IncompleteStreamError,
    InternalServerError,
    MissingAPIKeyError,
    NotFoundError,
    RateLimitError,
    RequestTooLargeError,
    ResponseValidationError,
    ServiceUnavailableError,
    StreamConnectionError,
    UnsupportedMediaTypeError,
    status_error_class,
)
from ._retries import RetryPolicy
from ._streaming import AsyncStream, Stream

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "UNSET",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChatText",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatText",
    "ChatTextChunk",
    "ChatTextError",
    "ChatTextResponse",
    "ErrorResponse",
    "IncompleteStreamError",
    "InternalServerError",
    "Message",
    "MessageParam",
    "MissingAPIKeyError",
    "NotFoundError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "Role",
    "ServiceUnavailableError",
    "Stream",
    "StreamConnectionError",
    "Unset",
    "UnsupportedMediaTypeError",
    "Usage",
    "build_request_body",
    "status_error_class",
]
