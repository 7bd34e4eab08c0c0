"""The project's one SSE decoder (chat_text_spec.sse), used by the SDK and the conformance suite."""

from __future__ import annotations

import pytest

from chat_text_spec.sse import ServerSentEvent, SSEDecodeError, SSEDecoder, decode_events


def _feed_in_pieces(raw: bytes, size: int) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for i in range(0, len(raw), size):
        events += decoder.feed(raw[i : i + size])
    return events, decoder


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_and_every_split(eol: bytes) -> None:
    lines = [
        b": keep-alive",
        b"event: message",
        b"id: 7",
        b"retry: 3000",
        b"data: a",
        b"data:b",
        b"",
        b"data: c",
        b"",
        b"data: [DONE]",
        b"",
    ]
    raw = eol.join(lines) + eol
    for size in (1, 2, 3, 5, len(raw)):
        events, decoder = _feed_in_pieces(raw, size)
        assert [e.data for e in events] == ["a\nb", "c", "[DONE]"], size
        assert events[0].id == "7" and events[0].retry == 3000 and events[0].event == "message"
        assert events[1].id == "7"  # the last event id persists, as the standard says
        assert decoder.comments == 1
        assert not decoder.pending


def test_events_without_data_are_dropped_and_unfinished_tail_reported() -> None:
    events, unfinished = decode_events(b"event: ping\n\ndata: x\n\ndata: half")
    assert [e.data for e in events] == ["x"]
    assert unfinished


def test_only_one_leading_space_is_removed() -> None:
    events, _ = decode_events(b"data:  two spaces\n\ndata\n\n")
    assert [e.data for e in events] == [" two spaces", ""]


def test_invalid_utf8_is_an_error() -> None:
    with pytest.raises(SSEDecodeError):
        SSEDecoder().feed(b"data: \xff\xfe\n\n")
