package chattextsdk

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"
)

// Event is one server-sent event: its data lines joined with "\n", its type ("message"
// unless an `event:` field named another), the last event ID and reconnection time seen so
// far (Retry is -1 until a `retry:` field set it).
type Event struct {
	Data  string
	Type  string
	ID    string
	Retry int
}

var bom = []byte("\xef\xbb\xbf")

// errNotUTF8: a line of the stream is not UTF-8 (the Python SDK refuses such a stream too).
var errNotUTF8 = errors.New("the event stream is not valid UTF-8")

// Decoder frames server-sent events as the WHATWG HTML "event stream" rules say; what an
// event means (`[DONE]`, a chunk) is the caller's business. Feed it the bytes as they arrive,
// split anywhere:
//
//   - a byte order mark (U+FEFF) at the very start is dropped;
//   - lines end in LF, CRLF or CR, mixed; a CR at the end of one read and an LF at the start
//     of the next are one line end;
//   - a line starting with ':' is a comment;
//   - "field: value" or "field:value" (one leading space is dropped from the value); a line
//     without ':' is a field with an empty value;
//   - `data` lines of one event are joined with "\n"; `event` sets the event's type, `id` the
//     last event ID (unless the value holds a NUL), `retry` the reconnection time (digits
//     only); other fields are ignored;
//   - a blank line dispatches the event when it has data (an event without data is dropped)
//     and resets its data and type;
//   - an event not ended by a blank line when the stream ends is discarded.
type Decoder struct {
	buf       []byte
	started   bool // the BOM check is done
	pendingCR bool
	data      []string
	hasData   bool
	eventType string
	lastID    string
	retry     int
	// Comments counts comment lines (keep-alives).
	Comments int
}

// NewDecoder returns a decoder at the start of a stream.
func NewDecoder() *Decoder { return &Decoder{retry: -1} }

// Feed takes the next bytes of the stream and returns every event they complete.
func (d *Decoder) Feed(p []byte) ([]Event, error) {
	if d.pendingCR && len(p) > 0 {
		if p[0] == '\n' {
			p = p[1:]
		}
		d.pendingCR = false
	}
	d.buf = append(d.buf, p...)
	if !d.started {
		if len(d.buf) < len(bom) && bytes.HasPrefix(bom, d.buf) {
			return nil, nil // maybe the start of a BOM: wait for more
		}
		d.buf = bytes.TrimPrefix(d.buf, bom)
		d.started = true
	}
	var events []Event
	start := 0
	for start < len(d.buf) {
		i := bytes.IndexAny(d.buf[start:], "\r\n")
		if i < 0 {
			break
		}
		end := start + i
		next := end + 1
		if d.buf[end] == '\r' {
			if next < len(d.buf) && d.buf[next] == '\n' {
				next++
			} else if next == len(d.buf) {
				d.pendingCR = true
			}
		}
		event, ok, err := d.line(d.buf[start:end])
		if err != nil {
			return events, err
		}
		if ok {
			events = append(events, event)
		}
		start = next
	}
	d.buf = append(d.buf[:0], d.buf[start:]...)
	return events, nil
}

// Pending: a partial line or an event without its blank line is buffered.
func (d *Decoder) Pending() bool { return len(d.buf) > 0 || d.hasData }

func (d *Decoder) line(raw []byte) (Event, bool, error) {
	if len(raw) == 0 {
		if !d.hasData {
			d.eventType = ""
			return Event{}, false, nil
		}
		event := Event{Data: strings.Join(d.data, "\n"), Type: d.eventType, ID: d.lastID, Retry: d.retry}
		if event.Type == "" {
			event.Type = "message"
		}
		d.data, d.hasData, d.eventType = nil, false, ""
		return event, true, nil
	}
	if !utf8.Valid(raw) {
		return Event{}, false, errNotUTF8
	}
	line := string(raw)
	if line[0] == ':' {
		d.Comments++
		return Event{}, false, nil
	}
	field, value, found := strings.Cut(line, ":")
	if found {
		value = strings.TrimPrefix(value, " ")
	}
	switch field {
	case "data":
		d.data = append(d.data, value)
		d.hasData = true
	case "event":
		d.eventType = value
	case "id":
		if !strings.ContainsRune(value, 0) {
			d.lastID = value
		}
	case "retry":
		if n, ok := digits(value); ok {
			d.retry = n
		}
	}
	return Event{}, false, nil
}

func digits(value string) (int, bool) {
	if value == "" || len(value) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range value {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
