package chattextsdk

import (
	"reflect"
	"testing"
)

func feedAll(t *testing.T, parts ...string) ([]Event, *Decoder) {
	t.Helper()
	d := NewDecoder()
	var events []Event
	for _, part := range parts {
		got, err := d.Feed([]byte(part))
		if err != nil {
			t.Fatalf("Feed(%q): %v", part, err)
		}
		events = append(events, got...)
	}
	return events, d
}

func datas(events []Event) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.Data)
	}
	return out
}

func TestDecoderLineEndsMixed(t *testing.T) {
	events, _ := feedAll(t, "data: a\n\ndata: b\r\rdata: c\r\n\r\ndata: d\r\n\n")
	if got, want := datas(events), []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDecoderCRAtTheEndOfAReadThenLFIsOneLineEnd(t *testing.T) {
	// as two line ends the "\n" would be a blank line and dispatch "a" alone
	events, _ := feedAll(t, "data: a\r", "\ndata: b\r", "\n\r", "\n")
	if got, want := datas(events), []string{"a\nb"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDecoderLeadingBOMIsDropped(t *testing.T) {
	stream := "\ufeffdata: x\n\n"
	whole, _ := feedAll(t, stream)
	split, _ := feedAll(t, stream[:1], stream[1:2], stream[2:])
	for _, events := range [][]Event{whole, split} {
		if got := datas(events); !reflect.DeepEqual(got, []string{"x"}) {
			t.Fatalf("got %q, want [x]", got)
		}
	}
	// only at the very start: later it is part of the line (an unknown field here)
	later, _ := feedAll(t, "data: x\n\n\ufeffdata: y\n\n")
	if got := datas(later); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("a BOM after the start must not be dropped, got %q", got)
	}
}

func TestDecoderFieldsAndComments(t *testing.T) {
	events, d := feedAll(t,
		": keep-alive\n",
		"id: 7\nevent: chunk\nretry: 1500\ndata:no space\n: a comment between data lines\ndata:  two spaces\n\n",
		"id: bad\x00id\nretry: 10s\ndata\n\n",
		"event: lone\n\n", // an event without data is dropped, and its type is reset
		"data: last\n\n",
	)
	want := []Event{
		{Data: "no space\n two spaces", Type: "chunk", ID: "7", Retry: 1500},
		{Data: "", Type: "message", ID: "7", Retry: 1500},
		{Data: "last", Type: "message", ID: "7", Retry: 1500},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("got %+v, want %+v", events, want)
	}
	if d.Comments != 2 {
		t.Fatalf("comments: got %d, want 2", d.Comments)
	}
}

func TestDecoderEventsSplitAtEveryByte(t *testing.T) {
	stream := "\ufeff: hi\r\nid: 1\r\ndata: {\"a\": 1}\r\n\r\ndata:b\rdata: c\r\rdata: [DONE]\n\n"
	whole, _ := feedAll(t, stream)
	want := []string{`{"a": 1}`, "b\nc", "[DONE]"}
	if !reflect.DeepEqual(datas(whole), want) {
		t.Fatalf("whole: got %q, want %q", datas(whole), want)
	}
	for cut := 0; cut <= len(stream); cut++ {
		got, _ := feedAll(t, stream[:cut], stream[cut:])
		if !reflect.DeepEqual(got, whole) {
			t.Fatalf("cut at %d: got %+v, want %+v", cut, got, whole)
		}
	}
	parts := make([]string, 0, len(stream))
	for i := 0; i < len(stream); i++ { // bytes, not runes: the BOM arrives in three reads
		parts = append(parts, stream[i:i+1])
	}
	if got, _ := feedAll(t, parts...); !reflect.DeepEqual(got, whole) {
		t.Fatalf("byte by byte: got %+v, want %+v", got, whole)
	}
}

func TestDecoderUnfinishedEventIsPending(t *testing.T) {
	events, d := feedAll(t, "data: a\n\ndata: b\n")
	if !reflect.DeepEqual(datas(events), []string{"a"}) || !d.Pending() {
		t.Fatalf("got %q pending=%v, want [a] and a pending event", datas(events), d.Pending())
	}
}

func TestDecoderRefusesBytesThatAreNotUTF8(t *testing.T) {
	_, err := NewDecoder().Feed([]byte("data: \xff\n\n"))
	if err == nil {
		t.Fatal("want an error for a line that is not UTF-8")
	}
}
