"""The one server-sent-events decoder of the project (SDK, conformance suite, proxy).

It only frames events, as the WHATWG HTML "Server-sent events" rules say (parsing and
interpreting an event stream); what an event *means* (``[DONE]``, a ``ChatTextChunk``) is the
caller's policy:

* one byte-order mark (``EF BB BF``) at the very start of the stream is dropped, however the
  reads cut it (``stream = [ bom ] *event``); a BOM anywhere else is text;
* lines end in LF, CRLF or CR, mixed (a CR at the end of one read and an LF at the start of the
  next, empty reads between them included, are one line end);
* a line starting with ``:`` is a comment;
* ``field: value`` or ``field:value`` (one leading space is dropped from the value); a line
  without ``:`` is a field with an empty value (so a bare ``data`` line is an empty data line);
* ``data`` lines of one event are joined with LF; ``event``, ``id`` and ``retry`` are kept on the
  event but carry no meaning for this API; other field names are ignored;
* ``id`` is the stream's last event ID: it persists across events, and a value with a NUL is
  ignored; ``retry`` is the stream's reconnection time, set only by a value of ASCII digits;
* a blank line dispatches the event if it has data (an empty ``event`` means ``"message"``); an
  event without data is dropped and its event type reset;
* at the end of the stream an event that was not ended by a blank line is discarded.

The one deliberate difference: bytes that are not UTF-8 raise :class:`SSEDecodeError` (the
standard's decoder would put U+FFFD in their place) -- the standard also says a stream "must"
be UTF-8, and a server that breaks this is a finding, not something to paper over.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecodeError", "SSEDecoder", "ServerSentEvent", "decode_events"]

_BOM = b"\xef\xbb\xbf"  # U+FEFF in UTF-8


class SSEDecodeError(ValueError):
    """The bytes are not an event stream (a line that is not UTF-8)."""

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    """The stream's last event ID when the event was dispatched (``None``: never set)."""
    retry: int | None = None
    """The stream's reconnection time (ms) when the event was dispatched (``None``: never set)."""


class SSEDecoder:
    """Feed bytes as they arrive; get every event completed by them."""

    __slots__ = (
        "_at_start",
        "_buffer",
        "_data",
        "_event",
        "_id",
        "_pending_cr",
        "_retry",
        "comments",
    )

    def __init__(self) -> None:
        self._at_start = True
        """Nothing but (a prefix of) a BOM has arrived yet: it is held in ``_buffer``."""
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False
        self.comments = 0
        """Comment lines seen so far (keep-alives)."""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._at_start:
            head = self._buffer + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._buffer = head  # maybe a BOM: wait for more
                return []
            self._at_start = False
            self._buffer = b""
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
        elif self._pending_cr:
            if not chunk:
                return []  # the LF of a CRLF may still come
            self._pending_cr = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
        buffer = self._buffer + chunk
        events: list[ServerSentEvent] = []
        start = 0
        n = len(buffer)
        while start < n:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start, lf if lf != -1 else n)
            if cr != -1:
                end, nxt = cr, cr + 1
                if nxt < n and buffer[nxt] == 0x0A:
                    nxt += 1
                elif nxt == n:
                    self._pending_cr = True
            elif lf != -1:
                end, nxt = lf, lf + 1
            else:
                break
            self._line(buffer[start:end], events)
            start = nxt
        self._buffer = buffer[start:]
        return events

    @property
    def pending(self) -> bool:
        """True when a partial line or an event without its blank line is buffered."""
        return bool(self._buffer) or bool(self._data)

    def _line(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        if not raw:
            if self._data:
                events.append(
                    ServerSentEvent(
                        "\n".join(self._data), self._event or "message", self._id, self._retry
                    )
                )
            self._data = []
            self._event = ""
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SSEDecodeError(
                f"the event stream is not valid UTF-8: {raw[:80]!r}", raw
            ) from None
        if line.startswith(":"):
            self.comments += 1
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit() and value.isascii():  # "²".isdigit() too
            self._retry = int(value)


def decode_events(body: bytes) -> tuple[list[ServerSentEvent], bool]:
    """Every complete event of a whole stream body, and whether an unfinished one was left over
    (bytes after the last blank line)."""
    decoder = SSEDecoder()
    events = decoder.feed(body)
    return events, decoder.pending
