"""The project's one SSE decoder (chat_text_spec.sse), used by the SDK and the conformance suite.

Besides the examples, a property test compares the decoder with :func:`reference`: a second,
deliberately plain reading of the WHATWG HTML rules ("Server-sent events", "Parsing an event
stream" and "Interpreting an event stream") that decodes the whole body at once.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# The examples of the standard's "Parsing an event stream" section, and what it says they give.
_SPEC_EXAMPLES: list[tuple[bytes, list[tuple[str, str | None]], bool]] = [
    (b"data: YHOO\ndata: +2\ndata: 10\n\n", [("YHOO\n+2\n10", None)], False),
    (
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n",
        [("first event", "1"), ("second event", "")],
        True,  # the third event has no blank line after it: it is not dispatched
    ),
    (b"data\n\ndata\ndata\n\ndata:", [("", None), ("\n", None)], True),
    (b"data:test\n\ndata: test\n\n", [("test", None), ("test", None)], False),
]


@pytest.mark.parametrize(("raw", "expected", "pending"), _SPEC_EXAMPLES)
def test_the_standards_examples(
    raw: bytes, expected: list[tuple[str, str | None]], pending: bool
) -> None:
    for reading in (decode_events(raw), reference_events(raw)):
        events, unfinished = reading
        assert [(e.data, e.id) for e in events] == expected
        assert unfinished is pending


# -- the reference reading and the property test ------------------------------------------------

_LINE_END = re.compile("\r\n|\r|\n")
_ASCII_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class Reading:
    events: list[tuple[str, str, str | None, int | None]]
    """(data, event type, last event id, reconnection time) of each dispatched event."""
    pending: bool
    comments: int


def reference(raw: bytes) -> Reading:
    """The standard's rules, read literally, on a whole (valid UTF-8) body.

    ``id`` and ``retry`` are the stream's last event ID and reconnection time when the event is
    dispatched (``None`` before the stream sets them), as :class:`ServerSentEvent` keeps them.
    """
    # "Streams must be decoded using the UTF-8 decode algorithm": it drops one leading BOM
    # ("stream = [ bom ] *event"); a second one is text.
    text = raw.decode("utf-8").removeprefix("\ufeff")
    # "end-of-line = ( cr lf / cr / lf )"; what follows the last line end is an unfinished line.
    *lines, tail = _LINE_END.split(text)
    events: list[tuple[str, str, str | None, int | None]] = []
    data = event_type = ""
    last_id: str | None = None
    retry: int | None = None
    comments = 0
    for line in lines:
        if line == "":  # "If the line is empty (a blank line): Dispatch the event"
            if data == "":  # "If the data buffer is an empty string, set the data buffer and
                event_type = ""  # the event type buffer to the empty string and return."
                continue
            if data.endswith("\n"):  # "If the data buffer's last character is a U+000A LINE
                data = data[:-1]  # FEED (LF) character, then remove the last character"
            events.append((data, event_type or "message", last_id, retry))
            data = event_type = ""
            continue
        if line.startswith(":"):  # "If the line starts with a U+003A COLON character: Ignore"
            comments += 1
            continue
        if ":" in line:  # field: before the first colon; value: after it, minus one space
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:  # "using the whole line as the field name, and the empty string as the value"
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\0" not in value:  # "If the field value does not contain
            last_id = value  # U+0000 NULL, then set the last event ID buffer"
        elif field == "retry" and value and set(value) <= _ASCII_DIGITS:  # "only ASCII digits"
            retry = int(value)
        # "Otherwise: The field is ignored." (so are an id with NUL and a retry of non-digits)
    # "Once the end of the file is reached, any pending data must be discarded": an unfinished
    # line, or data lines without the blank line that would dispatch them.
    return Reading(events, pending=bool(tail) or data != "", comments=comments)


def reference_events(raw: bytes) -> tuple[list[ServerSentEvent], bool]:
    reading = reference(raw)
    return [ServerSentEvent(*event) for event in reading.events], reading.pending


def _reading(events: list[ServerSentEvent], decoder: SSEDecoder) -> Reading:
    return Reading(
        [(e.data, e.event, e.id, e.retry) for e in events], decoder.pending, decoder.comments
    )


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=6)
_VALUES = st.one_of(
    st.sampled_from(["", "a", "[DONE]", "{}", "message", ":", " ", "a\0b", "\ufeff", "²"]),
    st.text("ab :09\0\ufeff", max_size=5),
    _TEXT,
)
_RETRY_VALUES = st.one_of(
    st.text("0123456789", min_size=1, max_size=5),
    st.text("09²\u0661\uff11", min_size=1, max_size=3),  # str.isdigit() is true for all
    st.sampled_from(["", "1.5", "-1", "+5", " 5", "5 ", "0x10"]),
)
_ID_VALUES = st.one_of(_VALUES, st.sampled_from(["\0", "7\0", "a\0b"]))  # NUL: ignored
_KINDS = st.sampled_from(
    ["data", "data", "data", "data", "event", "id", "retry", "comment", "bare", "other"]
)
_OTHER_NAMES = st.one_of(
    st.sampled_from(["Data", "data ", " data", "\ufeffdata", "\uff44ata", "dat", "retry "]),
    _TEXT.map(lambda name: name.replace(":", "")),
)
_BARE = st.one_of(st.sampled_from(["data", "event", "id", "retry", "x"]), _OTHER_NAMES)
_COLONS = st.sampled_from([":", ": ", ": ", ":  "])
_LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])
_BOMS = st.sampled_from([0, 0, 1, 1, 2])
_BLANKS = st.sampled_from([1, 1, 1, 1, 0, 2])


@st.composite
def _line(draw: st.DrawFn) -> str:
    """A field (known, unknown, odd), a comment, or a line without a colon."""
    kind = draw(_KINDS)
    if kind == "comment":
        return ":" + draw(_VALUES)
    if kind == "bare":  # no colon: the whole line is the field name, the value is empty
        return draw(_BARE)
    name = draw(_OTHER_NAMES) if kind == "other" else kind
    values = {"retry": _RETRY_VALUES, "id": _ID_VALUES}.get(kind, _VALUES)
    return name + draw(_COLONS) + draw(values)


_EVENTS = st.lists(st.tuples(st.lists(_line(), max_size=5), _BLANKS), max_size=6)
_ENDS = st.one_of(st.just(""), st.just(""), _line())


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    """An event stream as servers may send it: zero, one or two BOMs; events of fields,
    comments, unknown fields and lines without a colon, each followed by usually one blank
    line (sometimes none or two); every line end LF, CRLF or CR; maybe an unfinished end."""
    lines: list[str] = []
    for event, blanks in draw(_EVENTS):
        lines += [*event, *[""] * blanks]
    text = "\ufeff" * draw(_BOMS) + "".join(line + draw(_LINE_ENDS) for line in lines)
    return (text + draw(_ENDS)).encode()


_EXAMPLES = 250  # enough to find each bug put back into the decoder (6 seeds), in ~1.5 s


@settings(max_examples=_EXAMPLES, deadline=None)
@given(raw=_streams(), data=st.data())
def test_the_decoder_reads_every_stream_like_the_standard(raw: bytes, data: st.DataObject) -> None:
    expected = reference(raw)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8), label="cuts"))
    bounds = [0, *cuts, len(raw)]
    pieces = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert _reading(*_feed(pieces)) == expected
    assert _reading(*_feed([raw[i : i + 1] for i in range(len(raw))])) == expected
    # a read ends after every CR, then an empty read: the LF of a CRLF may come reads later
    after_cr = [piece for part in re.split(b"(?<=\r)", raw) for piece in (part, b"")]
    assert _reading(*_feed(after_cr)) == expected
    events, pending = decode_events(raw)
    assert ([(e.data, e.event, e.id, e.retry) for e in events], pending) == (
        expected.events,
        expected.pending,
    )
