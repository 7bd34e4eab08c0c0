"""Server-sent events: the sync/async chunk iterators over the project's one SSE decoder
(:mod:`chat_text_spec.sse`: LF, CRLF or CR line ends, comments, ``data:`` lines joined;
``event``, ``id`` and ``retry`` carry no meaning for this API and are ignored).

A stream is complete only when the event ``data: [DONE]`` has arrived; anything else
(connection closed early, broken connection, bad UTF-8, an event that is not a valid
``ChatTextChunk``) raises ``ResponseValidationError`` (``IncompleteStreamError`` for an early
end). Streams are never retried.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from types import TracebackType
from typing import Self

import httpx
from chat_text_client.models import ChatTextChunk, Usage

from chat_text_spec.sse import SSEDecodeError, SSEDecoder

from ._errors import (
    APITimeoutError,
    IncompleteStreamError,
    ResponseValidationError,
    StreamConnectionError,
    redact,
)
from ._parsing import parse_chunk

__all__ = ["DONE", "AsyncStream", "SSEDecoder", "Stream"]  # SSEDecoder re-exported

DONE = "[DONE]"


class _StreamState:
    """What both iterators share: decoding, validation, the final usage."""

    def __init__(self, response: httpx.Response, secret: str | None) -> None:
        self.response = response
        self.usage: Usage | None = None
        self.done = False
        self._decoder = SSEDecoder()
        self._secret = secret

    def events(self, chunk: bytes) -> list[ChatTextChunk]:
        out: list[ChatTextChunk] = []
        try:
            decoded = self._decoder.feed(chunk)
        except SSEDecodeError as exc:
            raise ResponseValidationError(str(exc), body=exc.raw) from None
        for event in decoded:
            data = event.data
            if self.done:
                break
            if data == DONE:
                self.done = True
                break
            parsed = parse_chunk(data)
            if isinstance(parsed.usage, Usage):
                self.usage = parsed.usage
            out.append(parsed)
        return out

    def ended(self) -> IncompleteStreamError:
        return IncompleteStreamError(
            "the event stream ended before 'data: [DONE]'", request=self.response.request
        )

    def broken(self, exc: httpx.TransportError | httpx.DecodingError) -> Exception:
        text = redact(str(exc) or type(exc).__name__, self._secret)
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(
                f"timed out while reading the event stream: {text}", request=self.response.request
            )
        message = f"the event stream broke before 'data: [DONE]': {text}"
        if isinstance(exc, httpx.TransportError):
            return StreamConnectionError(message, request=self.response.request)
        return IncompleteStreamError(message, request=self.response.request)


class Stream:
    """An iterator of :class:`ChatTextChunk` for ``chat_text(..., stream=True)``.

    Use it as a context manager (or call :meth:`close`) to release the connection when you stop
    early. ``usage`` holds the usage of the last chunk once it has arrived.
    """

    def __init__(self, response: httpx.Response, *, secret: str | None = None) -> None:
        self._state = _StreamState(response, secret)
        self._iterator = self._iterate()

    @property
    def response(self) -> httpx.Response:
        return self._state.response

    @property
    def usage(self) -> Usage | None:
        return self._state.usage

    def _iterate(self) -> Generator[ChatTextChunk]:
        state = self._state
        try:
            raw = state.response.iter_bytes()
            while not state.done:
                try:
                    chunk = next(raw)
                except StopIteration:
                    raise state.ended() from None
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise state.broken(exc) from None
                yield from state.events(chunk)
        finally:
            state.response.close()

    def __iter__(self) -> Iterator[ChatTextChunk]:
        return self

    def __next__(self) -> ChatTextChunk:
        return next(self._iterator)

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._iterator.close()
        self._state.response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Stream status={self.response.status_code} done={self._state.done}>"


class AsyncStream:
    """The async twin of :class:`Stream`: an async iterator of :class:`ChatTextChunk`."""

    def __init__(self, response: httpx.Response, *, secret: str | None = None) -> None:
        self._state = _StreamState(response, secret)
        self._iterator = self._iterate()

    @property
    def response(self) -> httpx.Response:
        return self._state.response

    @property
    def usage(self) -> Usage | None:
        return self._state.usage

    async def _iterate(self) -> AsyncGenerator[ChatTextChunk]:
        state = self._state
        try:
            raw = state.response.aiter_bytes()
            while not state.done:
                try:
                    chunk = await anext(raw)
                except StopAsyncIteration:
                    raise state.ended() from None
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise state.broken(exc) from None
                for event in state.events(chunk):
                    yield event
        finally:
            await state.response.aclose()

    def __aiter__(self) -> AsyncIterator[ChatTextChunk]:
        return self

    async def __anext__(self) -> ChatTextChunk:
        return await anext(self._iterator)

    async def close(self) -> None:
        """Stop reading and release the connection."""
        await self._iterator.aclose()
        await self._state.response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncStream status={self.response.status_code} done={self._state.done}>"
