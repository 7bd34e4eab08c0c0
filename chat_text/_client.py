"""``ChatText`` and ``AsyncChatText``: the generated models behind retries, timeouts, typed
errors, streaming and token redaction."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Literal, Self, overload

import attrs
import httpx
from chat_text_client.models import ChatTextRequest, ChatTextResponse, Message, Role
from chat_text_client.types import UNSET, Unset

import chat_text_spec

from ._config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    TimeoutTypes,
    resolve_api_key,
    resolve_base_url,
    to_timeout,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ResponseValidationError,
    redact,
    status_error_class,
)
from ._parsing import parse_completion, parse_error
from ._retries import RetryPolicy, is_retryable_status
from ._streaming import AsyncStream, Stream

__all__ = ["AsyncChatText", "ChatText", "MessageParam"]

logger = logging.getLogger("chat_text")

MessageParam = Message | Mapping[str, str]
"""A message: the generated ``Message`` model or a mapping ``{"role": ..., "content": ...}``."""

_MESSAGE_KEYS = frozenset(f.name for f in attrs.fields(Message))
_ROLE_VALUES = frozenset(r.value for r in Role)
_ROLES = ", ".join(sorted(_ROLE_VALUES))


def _to_message(index: int, item: object) -> Message:
    if isinstance(item, Message):
        return item
    if type(item) is dict and item.keys() == _MESSAGE_KEYS and item["role"] in _ROLE_VALUES:
        return Message(role=Role(item["role"]), content=item["content"])
    if not isinstance(item, Mapping):
        raise TypeError(
            f"messages[{index}] must be a Message or a mapping, got {type(item).__name__}"
        )
    unknown = set(item) - _MESSAGE_KEYS
    missing = _MESSAGE_KEYS - set(item)
    if unknown or missing:
        raise ValueError(
            f"messages[{index}] must have exactly the keys {sorted(_MESSAGE_KEYS)}"
            + (f"; unknown: {sorted(map(str, unknown))}" if unknown else "")
            + (f"; missing: {sorted(missing)}" if missing else "")
        )
    try:
        return Message.from_dict(item)
    except ValueError:
        raise ValueError(
            f"messages[{index}].role: {item.get('role')!r} is not one of {_ROLES}"
        ) from None


def build_request_body(
    *,
    model: str,
    messages: Iterable[MessageParam],
    max_tokens: int | Unset | None = UNSET,
    prompt_truncate_len: int | Unset | None = UNSET,
    temperature: float | Unset | None = UNSET,
    top_p: float | Unset | None = UNSET,
    stream: bool | Unset | None = UNSET,
) -> bytes:
    """The JSON body the SDK sends: the generated ``ChatTextRequest.to_dict()``, so an unset
    argument is left out, ``None`` is sent as ``null`` (both mean "server default")."""
    if isinstance(messages, str | bytes | Mapping):
        raise TypeError("messages must be a list of messages, not a single string or mapping")
    request = ChatTextRequest(
        model=model,
        messages=[_to_message(i, m) for i, m in enumerate(messages)],
        max_tokens=max_tokens,
        prompt_truncate_len=prompt_truncate_len,
        temperature=temperature,
        top_p=top_p,
        stream=stream,
    )
    try:
        return json.dumps(
            request.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
    except ValueError as exc:  # NaN or infinity
        raise ValueError(f"request arguments must be finite numbers: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"request arguments must be JSON values: {exc}") from None


class _BaseClient:
    """Settings and response handling shared by the sync and async clients."""

    _api_key: str
    _owns_http: bool

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | httpx.URL | None,
        timeout: TimeoutTypes,
        max_retries: int,
        retry_policy: RetryPolicy | None,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self._api_key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        self.timeout = to_timeout(timeout)
        self.max_retries = max_retries
        self.retry_policy = retry_policy or RetryPolicy()
        # parsed once: httpx re-parses a str URL on every request
        self._url = httpx.URL(self.base_url + chat_text_spec.OPERATION_PATH)
        self._default_headers = dict(default_headers or {})
        self._headers = {
            **self._default_headers,
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "User-Agent": f"chat-text-python/{chat_text_spec.api_version()}",
        }
        self._json_headers = httpx.Headers({**self._headers, "Accept": "application/json"})
        self._sse_headers = httpx.Headers({**self._headers, "Accept": "text/event-stream"})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, api_key='***', "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    # -- helpers shared by both loops ---------------------------------------------------------
    def _options(
        self, timeout: TimeoutTypes | None, max_retries: int | None
    ) -> tuple[httpx.Timeout, int]:
        t = self.timeout if timeout is None else to_timeout(timeout)
        if max_retries is None:
            return t, self.max_retries
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        return t, max_retries

    def _transport_error(self, exc: httpx.HTTPError, request: httpx.Request | None) -> APIError:
        text = redact(str(exc) or type(exc).__name__, self._api_key)
        error: APIError
        if isinstance(exc, httpx.TimeoutException):
            error = APITimeoutError(f"request timed out: {text}", request=request)
        else:
            error = APIConnectionError(f"connection error: {text}", request=request)
        error.__cause__ = exc
        return error

    def _undecodable(self, exc: Exception, request: httpx.Request) -> ResponseValidationError:
        text = redact(str(exc) or type(exc).__name__, self._api_key)
        return ResponseValidationError(
            f"the response body could not be decoded: {text}", request=request
        )

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        error = parse_error(response.content)
        status = response.status_code
        if error is not None:
            detail = f"{error.error.code}: {error.error.message}"
        else:
            detail = f"(body is not an ErrorResponse) {response.content[:200]!r}"
        message = redact(f"HTTP {status} {response.reason_phrase}: {detail}", self._api_key)
        return status_error_class(status)(message, response=response, error=error)

    def _unexpected(self, response: httpx.Response, why: str) -> ResponseValidationError:
        try:
            content = response.content
        except httpx.ResponseNotRead:
            content = b""
        return ResponseValidationError(
            redact(f"{why} (HTTP {response.status_code})", self._api_key),
            request=response.request,
            status_code=response.status_code,
            body=content,
        )

    def _completion(self, response: httpx.Response) -> ChatTextResponse:
        ctype = response.headers.get("content-type", "")
        if ctype and not ctype.startswith("application/json"):
            raise self._unexpected(response, f"expected application/json, got {ctype!r}")
        try:
            return parse_completion(response.content)
        except ResponseValidationError as exc:
            exc.request, exc.status_code = response.request, response.status_code
            raise

    def _decide(
        self, retry_number: int, max_retries: int, headers: Mapping[str, str] | None
    ) -> float | None:
        """Seconds to sleep before the next attempt, or ``None`` to give up."""
        if retry_number >= max_retries:
            return None
        return self.retry_policy.delay(retry_number, headers)

    def _build(
        self,
        http: httpx.Client | httpx.AsyncClient,
        body: bytes,
        stream: bool,
        timeout: httpx.Timeout,
    ) -> httpx.Request:
        return http.build_request(
            "POST",
            self._url,
            content=body,
            headers=self._sse_headers if stream else self._json_headers,
            timeout=timeout,
        )


class ChatText(_BaseClient):
    """Synchronous chat-text client.

    Args:
        api_key: bearer token; default ``$CHAT_TEXT_API_KEY``.
        base_url: default ``$CHAT_TEXT_BASE_URL``, else the first server of ``openapi.yaml``.
        timeout: seconds or an ``httpx.Timeout``, per attempt (default 60 s, 5 s to connect).
        max_retries: retries after the first attempt (default 2).
        retry_policy: backoff settings (:class:`RetryPolicy`).
        http_client: an ``httpx.Client`` to use; it is not closed by this client.
        default_headers: extra headers sent with every request.
        sleep: the function used to wait between attempts (default ``time.sleep``).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise TypeError("http_client must be an httpx.Client (use AsyncChatText for async)")
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=self.timeout)
        self._sleep = sleep

    def with_options(
        self,
        *,
        timeout: TimeoutTypes | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> ChatText:
        """A client with other settings that shares this one's connection pool."""
        return ChatText(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout if timeout is None else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            retry_policy=retry_policy or self.retry_policy,
            http_client=self._http,
            default_headers=self._default_headers,
            sleep=self._sleep,
        )

    def close(self) -> None:
        """Close the connection pool, if this client opened it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @overload
    def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = ...,
        prompt_truncate_len: int | Unset | None = ...,
        temperature: float | Unset | None = ...,
        top_p: float | Unset | None = ...,
        stream: Literal[False] | Unset | None = ...,
        timeout: TimeoutTypes | None = ...,
        max_retries: int | None = ...,
    ) -> ChatTextResponse: ...

    @overload
    def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = ...,
        prompt_truncate_len: int | Unset | None = ...,
        temperature: float | Unset | None = ...,
        top_p: float | Unset | None = ...,
        stream: Literal[True],
        timeout: TimeoutTypes | None = ...,
        max_retries: int | None = ...,
    ) -> Stream: ...

    @overload
    def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = ...,
        prompt_truncate_len: int | Unset | None = ...,
        temperature: float | Unset | None = ...,
        top_p: float | Unset | None = ...,
        stream: bool | Unset | None = ...,
        timeout: TimeoutTypes | None = ...,
        max_retries: int | None = ...,
    ) -> ChatTextResponse | Stream: ...

    def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = UNSET,
        prompt_truncate_len: int | Unset | None = UNSET,
        temperature: float | Unset | None = UNSET,
        top_p: float | Unset | None = UNSET,
        stream: bool | Unset | None = UNSET,
        timeout: TimeoutTypes | None = None,
        max_retries: int | None = None,
    ) -> ChatTextResponse | Stream:
        """Create a chat completion (``POST /inference/chat_text``).

        Arguments left out are not sent; the server applies the spec's defaults. With
        ``stream=True`` the result is a :class:`Stream` of ``ChatTextChunk``; otherwise the
        ``ChatTextResponse``. ``timeout`` and ``max_retries`` override the client's settings
        for this call.
        """
        body = build_request_body(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            prompt_truncate_len=prompt_truncate_len,
            temperature=temperature,
            top_p=top_p,
            stream=stream,
        )
        call_timeout, call_retries = self._options(timeout, max_retries)
        streaming = stream is True
        response = self._send(body, streaming, call_timeout, call_retries)
        if streaming:
            ctype = response.headers.get("content-type", "")
            if not ctype.startswith("text/event-stream"):
                try:
                    response.read()
                except httpx.HTTPError:
                    pass
                finally:
                    response.close()
                raise self._unexpected(response, f"expected text/event-stream, got {ctype!r}")
            return Stream(response, secret=self._api_key)
        return self._completion(response)

    def _send(
        self, body: bytes, stream: bool, call_timeout: httpx.Timeout, max_retries: int
    ) -> httpx.Response:
        retry_number = 0
        while True:
            request = self._build(self._http, body, stream, call_timeout)
            logger.debug("POST %s (attempt %d)", request.url, retry_number + 1)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.DecodingError as exc:  # a body whose Content-Encoding is broken
                raise self._undecodable(exc, request) from None
            except httpx.HTTPError as exc:
                error: APIError = self._transport_error(exc, request)
                delay = self._decide(retry_number, max_retries, None)
            else:
                if response.status_code == 200:
                    return response
                if stream:
                    try:
                        response.read()
                    except httpx.HTTPError as exc:
                        response.close()
                        error = self._transport_error(exc, request)
                        delay = self._decide(retry_number, max_retries, None)
                        retry_number = self._wait(retry_number, delay, error)
                        continue
                    finally:
                        response.close()
                if response.status_code < 400:
                    raise self._unexpected(response, "unexpected status")
                error = self._status_error(response)
                retryable = is_retryable_status(response.status_code)
                delay = (
                    self._decide(retry_number, max_retries, response.headers) if retryable else None
                )
            retry_number = self._wait(retry_number, delay, error)

    def _wait(self, retry_number: int, delay: float | None, error: APIError) -> int:
        if delay is None:
            raise error
        logger.debug("retrying in %.3f s after: %s", delay, error.message)
        self._sleep(delay)
        return retry_number + 1


class AsyncChatText(_BaseClient):
    """Asynchronous chat-text client; the same arguments as :class:`ChatText`, with an
    ``httpx.AsyncClient`` and an async ``sleep`` (default ``asyncio.sleep``)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError("http_client must be an httpx.AsyncClient (use ChatText for sync)")
        self._owns_http = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=self.timeout)
        )
        self._sleep = sleep

    def with_options(
        self,
        *,
        timeout: TimeoutTypes | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> AsyncChatText:
        """A client with other settings that shares this one's connection pool."""
        return AsyncChatText(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout if timeout is None else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            retry_policy=retry_policy or self.retry_policy,
            http_client=self._http,
            default_headers=self._default_headers,
            sleep=self._sleep,
        )

    async def close(self) -> None:
        """Close the connection pool, if this client opened it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @overload
    async def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = ...,
        prompt_truncate_len: int | Unset | None = ...,
        temperature: float | Unset | None = ...,
        top_p: float | Unset | None = ...,
        stream: Literal[False] | Unset | None = ...,
        timeout: TimeoutTypes | None = ...,  # noqa: ASYNC109
        max_retries: int | None = ...,
    ) -> ChatTextResponse: ...

    @overload
    async def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = ...,
        prompt_truncate_len: int | Unset | None = ...,
        temperature: float | Unset | None = ...,
        top_p: float | Unset | None = ...,
        stream: Literal[True],
        timeout: TimeoutTypes | None = ...,  # noqa: ASYNC109
        max_retries: int | None = ...,
    ) -> AsyncStream: ...

    @overload
    async def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = ...,
        prompt_truncate_len: int | Unset | None = ...,
        temperature: float | Unset | None = ...,
        top_p: float | Unset | None = ...,
        stream: bool | Unset | None = ...,
        timeout: TimeoutTypes | None = ...,  # noqa: ASYNC109
        max_retries: int | None = ...,
    ) -> ChatTextResponse | AsyncStream: ...

    async def chat_text(
        self,
        *,
        model: str,
        messages: Iterable[MessageParam],
        max_tokens: int | Unset | None = UNSET,
        prompt_truncate_len: int | Unset | None = UNSET,
        temperature: float | Unset | None = UNSET,
        top_p: float | Unset | None = UNSET,
        stream: bool | Unset | None = UNSET,
        timeout: TimeoutTypes | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
    ) -> ChatTextResponse | AsyncStream:
        """Create a chat completion; see :meth:`ChatText.chat_text`. With ``stream=True``
        the result is an :class:`AsyncStream` (``async for chunk in stream``)."""
        body = build_request_body(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            prompt_truncate_len=prompt_truncate_len,
            temperature=temperature,
            top_p=top_p,
            stream=stream,
        )
        call_timeout, call_retries = self._options(timeout, max_retries)
        streaming = stream is True
        response = await self._send(body, streaming, call_timeout, call_retries)
        if streaming:
            ctype = response.headers.get("content-type", "")
            if not ctype.startswith("text/event-stream"):
                try:
                    await response.aread()
                except httpx.HTTPError:
                    pass
                finally:
                    await response.aclose()
                raise self._unexpected(response, f"expected text/event-stream, got {ctype!r}")
            return AsyncStream(response, secret=self._api_key)
        return self._completion(response)

    async def _send(
        self, body: bytes, stream: bool, call_timeout: httpx.Timeout, max_retries: int
    ) -> httpx.Response:
        retry_number = 0
        while True:
            request = self._build(self._http, body, stream, call_timeout)
            logger.debug("POST %s (attempt %d)", request.url, retry_number + 1)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.DecodingError as exc:  # a body whose Content-Encoding is broken
                raise self._undecodable(exc, request) from None
            except httpx.HTTPError as exc:
                error: APIError = self._transport_error(exc, request)
                delay = self._decide(retry_number, max_retries, None)
            else:
                if response.status_code == 200:
                    return response
                if stream:
                    try:
                        await response.aread()
                    except httpx.HTTPError as exc:
                        error = self._transport_error(exc, request)
                        delay = self._decide(retry_number, max_retries, None)
                        retry_number = await self._wait(retry_number, delay, error)
                        continue
                    finally:
                        await response.aclose()
                if response.status_code < 400:
                    raise self._unexpected(response, "unexpected status")
                error = self._status_error(response)
                retryable = is_retryable_status(response.status_code)
                delay = (
                    self._decide(retry_number, max_retries, response.headers) if retryable else None
                )
            retry_number = await self._wait(retry_number, delay, error)

    async def _wait(self, retry_number: int, delay: float | None, error: APIError) -> int:
        if delay is None:
            raise error
        logger.debug("retrying in %.3f s after: %s", delay, error.message)
        await self._sleep(delay)
        return retry_number + 1
