package chattextsdk

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	chattext "github.com/chat-text/chat-text/generated/go"
)

// Stream is the answer to ChatTextStream: an iterator over its chunks (Go 1.19 has no
// range-over-func):
//
//	for stream.Next() {
//		chunk := stream.Chunk()
//	}
//	if err := stream.Err(); err != nil { ... }
//
// The stream is complete only when `data: [DONE]` arrived: a stream that ends before it, or
// an event that is not a ChatTextChunk, ends the iteration with an error. Usage is the usage
// of the last chunk that carried one (the spec puts it in the last chunk).
type Stream struct {
	attempt *attempt
	timeout time.Duration
	secret  string
	decoder *Decoder
	queue   []chattext.ChatTextChunk
	current chattext.ChatTextChunk
	usage   *chattext.Usage
	err     error
	done    bool
	closed  bool
	buf     []byte
}

func newStream(a *attempt, timeout time.Duration, secret string) *Stream {
	return &Stream{attempt: a, timeout: timeout, secret: secret, decoder: NewDecoder(), buf: make([]byte, 32*1024)}
}

// Next reads up to the next chunk; false at the end of the stream or on an error (see Err).
func (s *Stream) Next() bool {
	for len(s.queue) == 0 {
		if s.done || s.err != nil || s.closed {
			return false
		}
		s.read()
	}
	s.current, s.queue = s.queue[0], s.queue[1:]
	return true
}

// Chunk is the chunk Next moved to.
func (s *Stream) Chunk() chattext.ChatTextChunk { return s.current }

// Err is why the iteration stopped early: nil after `data: [DONE]` (or Close).
func (s *Stream) Err() error { return s.err }

// Usage is the final usage once it has arrived, else nil.
func (s *Stream) Usage() *chattext.Usage { return s.usage }

// Done tells whether `data: [DONE]` has arrived.
func (s *Stream) Done() bool { return s.done }

// Response is the HTTP answer (status and headers; its body is the stream's).
func (s *Stream) Response() *http.Response { return s.attempt.response }

// Close stops reading and releases the connection; safe to call more than once.
func (s *Stream) Close() error {
	if !s.closed {
		s.closed = true
		s.attempt.finish()
	}
	return nil
}

func (s *Stream) read() {
	s.attempt.timer.Reset(s.timeout) // the timeout applies to each read
	n, readErr := s.attempt.response.Body.Read(s.buf)
	if n > 0 {
		events, err := s.decoder.Feed(s.buf[:n])
		if err != nil {
			s.fail(&ResponseError{Message: err.Error(), StatusCode: http.StatusOK, Raw: append([]byte(nil), s.buf[:n]...)})
			return
		}
		for _, event := range events {
			if s.take(event) {
				break
			}
		}
		if s.done || s.err != nil {
			s.Close()
			return
		}
	}
	switch {
	case readErr == nil:
	case errors.Is(readErr, io.EOF):
		s.fail(&ResponseError{Message: ErrIncompleteStream.Error(), StatusCode: http.StatusOK, incomplete: true})
	default:
		timedOut := s.attempt.timedOut.Load()
		text := redact(readErr.Error(), s.secret)
		if timedOut {
			s.fail(&ConnectionError{
				Message: fmt.Sprintf("timed out after %v while reading the event stream: %s", s.timeout, text),
				Timeout: true, MidStream: true, Err: readErr,
			})
		} else {
			s.fail(&ConnectionError{Message: "the event stream broke before 'data: [DONE]': " + text, MidStream: true, Err: readErr})
		}
	}
}

// take handles one event; true when the stream is over ([DONE] or a bad event).
func (s *Stream) take(event Event) bool {
	if event.Data == doneData {
		s.done = true
		return true
	}
	var chunk chattext.ChatTextChunk
	if err := decodeObject([]byte(event.Data), &chunk); err != nil {
		s.err = &ResponseError{
			Message:    redact("an event is not a ChatTextChunk: "+err.Error(), s.secret),
			StatusCode: http.StatusOK,
			Raw:        []byte(event.Data),
		}
		return true
	}
	if usage, ok := chunk.GetUsageOk(); ok && usage != nil {
		s.usage = usage
	}
	s.queue = append(s.queue, chunk)
	return false
}

func (s *Stream) fail(err error) {
	s.err = err
	s.Close()
}
