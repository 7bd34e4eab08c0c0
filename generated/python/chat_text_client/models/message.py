from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.role import Role

T = TypeVar("T", bound="Message")


@_attrs_define
class Message:
    """One message of the conversation.

    Attributes:
        role (Role): Who wrote a message.
        content (str): The text of the message.
    """

    role: Role
    content: str

    def to_dict(self) -> dict[str, Any]:
        role = self.role.value

        content = self.content

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
                "content": content,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        role = Role(d.pop("role"))

        content = d.pop("content")

        message = cls(
            role=role,
            content=content,
        )

        return message
