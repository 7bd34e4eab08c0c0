from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.finish_reason import FinishReason

if TYPE_CHECKING:
    from ..models.chunk_delta import ChunkDelta


T = TypeVar("T", bound="ChunkChoice")


@_attrs_define
class ChunkChoice:
    """The progress of one choice within a chunk.

    Attributes:
        index (int): The position of the choice, starting at 0.
        delta (ChunkDelta): The part of the message added by one chunk. `role` appears in the first chunk only;
            `content` holds the next piece of text.
        finish_reason (FinishReason | None): `null` until the final chunk of the choice.
    """

    index: int
    delta: ChunkDelta
    finish_reason: FinishReason | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        index = self.index

        delta = self.delta.to_dict()

        finish_reason: None | str
        if isinstance(self.finish_reason, FinishReason):
            finish_reason = self.finish_reason.value
        else:
            finish_reason = self.finish_reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "index": index,
                "delta": delta,
                "finish_reason": finish_reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.chunk_delta import ChunkDelta  # noqa: PLC0415

        d = dict(src_dict)
        index = d.pop("index")

        delta = ChunkDelta.from_dict(d.pop("delta"))

        def _parse_finish_reason(data: object) -> FinishReason | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finish_reason_type_0 = FinishReason(data)

                return finish_reason_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FinishReason | None, data)

        finish_reason = _parse_finish_reason(d.pop("finish_reason"))

        chunk_choice = cls(
            index=index,
            delta=delta,
            finish_reason=finish_reason,
        )

        chunk_choice.additional_properties = d
        return chunk_choice

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
