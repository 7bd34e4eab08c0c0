from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.assistant_role import AssistantRole
from ..types import UNSET, Unset

T = TypeVar("T", bound="ChunkDelta")


@_attrs_define
class ChunkDelta:
    """The part of the message added by one chunk. `role` appears in the first chunk only; `content` holds the next piece
    of text.

        Attributes:
            role (AssistantRole | Unset): The author of a generated message, always `assistant`.
            content (str | Unset): The next piece of generated text.
    """

    role: AssistantRole | Unset = UNSET
    content: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        role: str | Unset = UNSET
        if not isinstance(self.role, Unset):
            role = self.role.value

        content = self.content

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if role is not UNSET:
            field_dict["role"] = role
        if content is not UNSET:
            field_dict["content"] = content

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _role = d.pop("role", UNSET)
        role: AssistantRole | Unset
        if isinstance(_role, Unset):
            role = UNSET
        else:
            role = AssistantRole(_role)

        content = d.pop("content", UNSET)

        chunk_delta = cls(
            role=role,
            content=content,
        )

        chunk_delta.additional_properties = d
        return chunk_delta

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
