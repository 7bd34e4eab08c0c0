from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.chat_text_request import ChatTextRequest
from ...models.chat_text_response import ChatTextResponse
from ...models.error_response import ErrorResponse
from ...types import Response


def _get_kwargs(
    *,
    body: ChatTextRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/inference/chat_text",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ChatTextResponse | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = ChatTextResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorResponse.from_dict(response.json())

        return response_415

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ChatTextResponse | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: ChatTextRequest,
) -> Response[ChatTextResponse | ErrorResponse]:
    """Create a chat completion

     Generates the next assistant message for the conversation in `messages`.

    Before generating, the server fits the conversation into the model:

    1. **Prompt truncation.** If the prompt is longer than `prompt_truncate_len`
       tokens, the earliest `user` and `assistant` messages are dropped, oldest
       first, until it fits. `system` messages and the final message are never
       dropped. If the messages that must be kept are, on their own, longer than
       the model's context window, the request fails with `400` and code
       `prompt_too_long`.
    2. **Completion budget.** If prompt tokens plus `max_tokens` would overflow
       the model's context window, `max_tokens` is reduced to the room that is
       left rather than failing. Only when no room at all is left does the request
       fail with `400` and code `prompt_too_long`.

    `finish_reason` is `length` when generation stopped because it reached the
    (possibly reduced) `max_tokens`, and `stop` when the model ended the message on
    its own before that. A message the model ends on its own at exactly
    `max_tokens` tokens may be reported either way.

    With `stream: true` the response is `text/event-stream` instead of JSON; see
    the `200` response and the `ChatTextChunk` schema.

    Args:
        body (ChatTextRequest): A chat completion request. Unknown fields are rejected with `400`,
            so that a misspelt setting is never silently ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ChatTextResponse | ErrorResponse]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: ChatTextRequest,
) -> ChatTextResponse | ErrorResponse | None:
    """Create a chat completion

     Generates the next assistant message for the conversation in `messages`.

    Before generating, the server fits the conversation into the model:

    1. **Prompt truncation.** If the prompt is longer than `prompt_truncate_len`
       tokens, the earliest `user` and `assistant` messages are dropped, oldest
       first, until it fits. `system` messages and the final message are never
       dropped. If the messages that must be kept are, on their own, longer than
       the model's context window, the request fails with `400` and code
       `prompt_too_long`.
    2. **Completion budget.** If prompt tokens plus `max_tokens` would overflow
       the model's context window, `max_tokens` is reduced to the room that is
       left rather than failing. Only when no room at all is left does the request
       fail with `400` and code `prompt_too_long`.

    `finish_reason` is `length` when generation stopped because it reached the
    (possibly reduced) `max_tokens`, and `stop` when the model ended the message on
    its own before that. A message the model ends on its own at exactly
    `max_tokens` tokens may be reported either way.

    With `stream: true` the response is `text/event-stream` instead of JSON; see
    the `200` response and the `ChatTextChunk` schema.

    Args:
        body (ChatTextRequest): A chat completion request. Unknown fields are rejected with `400`,
            so that a misspelt setting is never silently ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ChatTextResponse | ErrorResponse
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: ChatTextRequest,
) -> Response[ChatTextResponse | ErrorResponse]:
    """Create a chat completion

     Generates the next assistant message for the conversation in `messages`.

    Before generating, the server fits the conversation into the model:

    1. **Prompt truncation.** If the prompt is longer than `prompt_truncate_len`
       tokens, the earliest `user` and `assistant` messages are dropped, oldest
       first, until it fits. `system` messages and the final message are never
       dropped. If the messages that must be kept are, on their own, longer than
       the model's context window, the request fails with `400` and code
       `prompt_too_long`.
    2. **Completion budget.** If prompt tokens plus `max_tokens` would overflow
       the model's context window, `max_tokens` is reduced to the room that is
       left rather than failing. Only when no room at all is left does the request
       fail with `400` and code `prompt_too_long`.

    `finish_reason` is `length` when generation stopped because it reached the
    (possibly reduced) `max_tokens`, and `stop` when the model ended the message on
    its own before that. A message the model ends on its own at exactly
    `max_tokens` tokens may be reported either way.

    With `stream: true` the response is `text/event-stream` instead of JSON; see
    the `200` response and the `ChatTextChunk` schema.

    Args:
        body (ChatTextRequest): A chat completion request. Unknown fields are rejected with `400`,
            so that a misspelt setting is never silently ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ChatTextResponse | ErrorResponse]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: ChatTextRequest,
) -> ChatTextResponse | ErrorResponse | None:
    """Create a chat completion

     Generates the next assistant message for the conversation in `messages`.

    Before generating, the server fits the conversation into the model:

    1. **Prompt truncation.** If the prompt is longer than `prompt_truncate_len`
       tokens, the earliest `user` and `assistant` messages are dropped, oldest
       first, until it fits. `system` messages and the final message are never
       dropped. If the messages that must be kept are, on their own, longer than
       the model's context window, the request fails with `400` and code
       `prompt_too_long`.
    2. **Completion budget.** If prompt tokens plus `max_tokens` would overflow
       the model's context window, `max_tokens` is reduced to the room that is
       left rather than failing. Only when no room at all is left does the request
       fail with `400` and code `prompt_too_long`.

    `finish_reason` is `length` when generation stopped because it reached the
    (possibly reduced) `max_tokens`, and `stop` when the model ended the message on
    its own before that. A message the model ends on its own at exactly
    `max_tokens` tokens may be reported either way.

    With `stream: true` the response is `text/event-stream` instead of JSON; see
    the `200` response and the `ChatTextChunk` schema.

    Args:
        body (ChatTextRequest): A chat completion request. Unknown fields are rejected with `400`,
            so that a misspelt setting is never silently ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ChatTextResponse | ErrorResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
