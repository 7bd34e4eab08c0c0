"""Client settings: environment variables, the default timeout and the base URL.

The base URL falls back to the first ``servers`` entry of ``openapi.yaml`` (read through
``chat_text_spec``), never to a URL written here.
"""

from __future__ import annotations

import os

import httpx

import chat_text_spec

from ._errors import MissingAPIKeyError

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "TimeoutTypes",
    "resolve_api_key",
    "resolve_base_url",
    "to_timeout",
]

API_KEY_ENV = "CHAT_TEXT_API_KEY"
BASE_URL_ENV = "CHAT_TEXT_BASE_URL"

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""60 s to read/write/wait for a pooled connection, 5 s to connect. Applies per attempt."""

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt (so at most 3 attempts)."""

TimeoutTypes = float | httpx.Timeout
"""A number of seconds (every phase) or an ``httpx.Timeout``."""


def to_timeout(value: TimeoutTypes) -> httpx.Timeout:
    """Normalise a timeout argument; ``None`` (wait forever) is refused on purpose."""
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(
            f"timeout must be a positive number of seconds or an httpx.Timeout, got {value!r}"
        )
    return httpx.Timeout(float(value))


def resolve_api_key(api_key: str | None) -> str:
    """The explicit key, else ``$CHAT_TEXT_API_KEY``; a clear error when neither is set."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"api_key must be a string, got {type(key).__name__}")
    if not key:
        raise MissingAPIKeyError(
            f"no API key: pass api_key=... or set the {API_KEY_ENV} environment variable"
        )
    if any(c in key for c in "\r\n"):
        raise MissingAPIKeyError("the API key must be a single line of text")
    return key


def resolve_base_url(base_url: str | httpx.URL | None) -> str:
    """The explicit URL, else ``$CHAT_TEXT_BASE_URL``, else the spec's first server URL."""
    url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    if not url:
        url = chat_text_spec.server_url()
    text = str(url).rstrip("/")
    parsed = httpx.URL(text)
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {text!r}")
    return text
