"""The project's one SSE decoder (chat_text_spec.sse), used by the SDK and the conformance suite."""

from __future__ import annotations

import pytest

from chat_text_spec.sse import ServerSentEvent, SSEDecodeError, SSEDecoder, decode_events

BOM = b"\xef\xbb\xbf"


def _feed_in_pieces(raw: bytes, size: int) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for i in range(0, len(raw), size):
        events += decoder.feed(raw[i : i + size])
    return events, decoder


def _feed(pieces: list[bytes]) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
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


# -- the byte-order mark ("stream = [ bom ] *event") -------------------------------------------

_ROLE_FIRST = (
    b'data: {"delta": {"role": "assistant"}}\r\n\r\n'
    b": ping - 2026-11-02 10:00:00.000000+00:00\r\n\r\n"
    b'data: {"delta": {"content": "Hi"}}\r\n\r\n'
    b"data: [DONE]\r\n\r\n"
)


def test_a_leading_bom_is_ignored_however_the_bytes_are_split() -> None:
    expected = [
        '{"delta": {"role": "assistant"}}',
        '{"delta": {"content": "Hi"}}',
        "[DONE]",
    ]
    raw = BOM + _ROLE_FIRST
    for size in (1, 2, 3, 4, 7, len(raw)):
        events, decoder = _feed_in_pieces(raw, size)
        assert [e.data for e in events] == expected, size
        assert decoder.comments == 1 and not decoder.pending
    events, decoder = _feed([b"", b"\xef", b"", b"\xbb", b"\xbf", b"", _ROLE_FIRST])
    assert [e.data for e in events] == expected
    assert decode_events(raw) == decode_events(_ROLE_FIRST)


def test_a_bom_alone_or_cut_short() -> None:
    assert decode_events(BOM) == ([], False)
    assert decode_events(BOM + b"\n\n") == ([], False)
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.pending  # a partial first line (here: of the BOM) is buffered
    assert decoder.feed(b"\xbf") == [] and not decoder.pending


def test_a_bom_anywhere_else_is_text() -> None:
    # A second BOM is part of the first line: its field name is "\ufeffdata", not "data".
    events, _ = decode_events(BOM + BOM + b"data: a\n\ndata: b\n\n")
    assert [e.data for e in events] == ["b"]
    # After the first event, and inside a value, a BOM is text too.
    events, _ = decode_events(b"data: a\n\n" + BOM + b"data: b\n\ndata: " + BOM + b"c\n\n")
    assert [e.data for e in events] == ["a", "\ufeffc"]
    # Not a BOM: the same first byte, then other bytes.
    with pytest.raises(SSEDecodeError):
        decode_events(b"\xef\xbbdata: a\n\n")


# -- the other grammar points --------------------------------------------------------------------


def test_retry_takes_only_ascii_digits() -> None:
    """The standard: "If the field value consists of only ASCII digits" ... "Otherwise, ignore
    the field." (``str.isdigit()`` is true for superscripts and other scripts' digits too.)"""
    for value in ("²", "\u0661\u0662", "\uff11", "1.5", "-1", "+5", " 5", "5 ", "", "0x10"):
        raw = f"retry: 100\n\nretry: {value}\ndata: x\n\n".encode()
        events, _ = decode_events(raw)
        assert [(e.data, e.retry) for e in events] == [("x", 100)], value
    events, _ = decode_events(b"retry:007\ndata: x\n\n")
    assert events[0].retry == 7


def test_an_empty_read_between_cr_and_lf_keeps_them_one_line_end() -> None:
    events, decoder = _feed([b"data: a\r", b"", b"\ndata: b\r\n\r\n"])
    assert [e.data for e in events] == ["a\nb"]
    assert not decoder.pending


def test_id_with_nul_is_ignored_and_an_empty_id_resets() -> None:
    events, _ = decode_events(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid\ndata: c\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "")]


def test_the_event_type_is_reset_after_each_blank_line() -> None:
    raw = b"event: add\ndata: a\n\ndata: b\n\nevent: gone\n\nevent:\ndata: c\n\n"
    events, _ = decode_events(raw)
    assert [(e.data, e.event) for e in events] == [("a", "add"), ("b", "message"), ("c", "message")]
