from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.message import Message


T = TypeVar("T", bound="ChatTextRequest")


@_attrs_define
class ChatTextRequest:
    """A chat completion request. Unknown fields are rejected with `400`, so that a misspelt setting is never silently
    ignored.

        Attributes:
            model (str): The name of the model to use.
            messages (list[Message]): The conversation so far, oldest message first. The last message is the one the model
                answers.
            max_tokens (int | None | Unset): The most tokens to generate. When the prompt's tokens plus this number would
                exceed the model's context window, the server lowers it to the room that is left instead of failing. Omitted or
                `null` means the default.
            prompt_truncate_len (int | None | Unset): The token length to cut the prompt down to. While the prompt is
                longer, the earliest user and assistant messages are evicted; system messages and the last message are kept.
                Keep it well below the model's context window to leave room for the answer. Even with it set, a request whose
                kept messages are too long for the context window fails with `prompt_too_long`. Omitted or `null` means the
                default.
            temperature (float | None | Unset): Sampling temperature between 0 and 2. Higher values give more varied output,
                lower values more focused and deterministic output. Identical output for identical requests is not promised, not
                even at 0 (batched servers need not keep it). Change either this or `top_p`, not both. Omitted or `null` means
                the default.
            top_p (float | None | Unset): Nucleus sampling: the share of the probability mass that the next token is drawn
                from. The candidate tokens are ranked from most to least likely, and only the smallest set of top candidates
                whose probabilities add up to `top_p` is kept; `1` keeps every token, `0.1` only those that make up the most
                likely 10%. Greater than 0 and at most 1. Change either this or `temperature`, not both. Omitted or `null` means
                the default.
            stream (bool | None | Unset): When `true`, the answer is sent as server-sent events (`text/event-stream`) of
                `ChatTextChunk` documents instead of one JSON document. Omitted or `null` means the default.
    """

    model: str
    messages: list[Message]
    max_tokens: int | None | Unset = UNSET
    prompt_truncate_len: int | None | Unset = UNSET
    temperature: float | None | Unset = UNSET
    top_p: float | None | Unset = UNSET
    stream: bool | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        model = self.model

        messages = []
        for messages_item_data in self.messages:
            messages_item = messages_item_data.to_dict()
            messages.append(messages_item)

        max_tokens: int | None | Unset
        if isinstance(self.max_tokens, Unset):
            max_tokens = UNSET
        else:
            max_tokens = self.max_tokens

        prompt_truncate_len: int | None | Unset
        if isinstance(self.prompt_truncate_len, Unset):
            prompt_truncate_len = UNSET
        else:
            prompt_truncate_len = self.prompt_truncate_len

        temperature: float | None | Unset
        if isinstance(self.temperature, Unset):
            temperature = UNSET
        else:
            temperature = self.temperature

        top_p: float | None | Unset
        if isinstance(self.top_p, Unset):
            top_p = UNSET
        else:
            top_p = self.top_p

        stream: bool | None | Unset
        if isinstance(self.stream, Unset):
            stream = UNSET
        else:
            stream = self.stream

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "model": model,
                "messages": messages,
            }
        )
        if max_tokens is not UNSET:
            field_dict["max_tokens"] = max_tokens
        if prompt_truncate_len is not UNSET:
            field_dict["prompt_truncate_len"] = prompt_truncate_len
        if temperature is not UNSET:
            field_dict["temperature"] = temperature
        if top_p is not UNSET:
            field_dict["top_p"] = top_p
        if stream is not UNSET:
            field_dict["stream"] = stream

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.message import Message  # noqa: PLC0415

        d = dict(src_dict)
        model = d.pop("model")

        messages = []
        _messages = d.pop("messages")
        for messages_item_data in _messages:
            messages_item = Message.from_dict(messages_item_data)

            messages.append(messages_item)

        def _parse_max_tokens(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_tokens = _parse_max_tokens(d.pop("max_tokens", UNSET))

        def _parse_prompt_truncate_len(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        prompt_truncate_len = _parse_prompt_truncate_len(d.pop("prompt_truncate_len", UNSET))

        def _parse_temperature(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        temperature = _parse_temperature(d.pop("temperature", UNSET))

        def _parse_top_p(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        top_p = _parse_top_p(d.pop("top_p", UNSET))

        def _parse_stream(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        stream = _parse_stream(d.pop("stream", UNSET))

        chat_text_request = cls(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            prompt_truncate_len=prompt_truncate_len,
            temperature=temperature,
            top_p=top_p,
            stream=stream,
        )

        return chat_text_request
