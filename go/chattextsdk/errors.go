package chattextsdk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	chattext "github.com/chat-text/chat-text/generated/go"
)

// Every error this package returns is one of three types, told apart with errors.As:
//
//	*APIError         the server answered an error status (4xx, 5xx); errors.Is matches
//	                  the sentinel of its status (ErrBadRequest, ErrRateLimited, ...)
//	*ConnectionError  no complete answer arrived: connect, timeout, a connection that broke
//	                  (Timeout tells a timeout); one that broke in the middle of an event
//	                  stream also matches ErrIncompleteStream
//	*ResponseError    an answer arrived but is not what the spec allows (not JSON, the wrong
//	                  media type, an event that is not a ChatTextChunk); a stream that ended
//	                  before `data: [DONE]` matches ErrIncompleteStream
//
// Messages never contain the API key.

// Sentinels for errors.Is. An *APIError matches the one of its status: statuses without a
// sentinel of their own match none (check APIError.StatusCode), every other 5xx matches
// ErrInternalServer.
var (
	ErrBadRequest           = errors.New("400 bad request")
	ErrAuthentication       = errors.New("401 authentication failed")
	ErrNotFound             = errors.New("404 not found")
	ErrRequestTooLarge      = errors.New("413 request too large")
	ErrUnsupportedMediaType = errors.New("415 unsupported media type")
	ErrRateLimited          = errors.New("429 rate limited")
	ErrInternalServer       = errors.New("5xx internal server error")
	ErrServiceUnavailable   = errors.New("503 service unavailable")

	// ErrIncompleteStream: an event stream stopped before `data: [DONE]` (a *ResponseError
	// when the server ended it, a *ConnectionError when the connection broke).
	ErrIncompleteStream = errors.New("the event stream ended before 'data: [DONE]'")
	// ErrMissingAPIKey: no WithAPIKey option and no $CHAT_TEXT_API_KEY.
	ErrMissingAPIKey = errors.New("no API key: use WithAPIKey or set " + APIKeyEnv)
)

var byStatus = map[int]error{
	400: ErrBadRequest,
	401: ErrAuthentication,
	404: ErrNotFound,
	413: ErrRequestTooLarge,
	415: ErrUnsupportedMediaType,
	429: ErrRateLimited,
	500: ErrInternalServer,
	503: ErrServiceUnavailable,
}

// APIError is an error status from the server. Body is the spec's ErrorResponse when the
// answer had that shape (else nil, and Raw holds what came).
type APIError struct {
	StatusCode int
	Header     http.Header
	Body       *chattext.ErrorResponse
	Raw        []byte
}

// Code is Body.Error.Code, or "" when the body was not an ErrorResponse.
func (e *APIError) Code() string {
	if e.Body == nil {
		return ""
	}
	return e.Body.Error.Code
}

func (e *APIError) Error() string {
	status := fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != nil {
		return fmt.Sprintf("%s: %s: %s", status, e.Body.Error.Code, e.Body.Error.Message)
	}
	return fmt.Sprintf("%s: (the body is not an ErrorResponse) %q", status, excerpt(e.Raw))
}

// Is matches the sentinel of the error's status.
func (e *APIError) Is(target error) bool {
	if sentinel, ok := byStatus[e.StatusCode]; ok {
		return target == sentinel
	}
	return e.StatusCode >= 500 && target == ErrInternalServer
}

// ConnectionError: no complete answer arrived.
type ConnectionError struct {
	Message string
	Timeout bool
	// MidStream: the connection broke while an event stream was being read.
	MidStream bool
	Err       error
}

func (e *ConnectionError) Error() string { return e.Message }
func (e *ConnectionError) Unwrap() error { return e.Err }

// Is: a connection that broke in the middle of a stream is an incomplete stream too.
func (e *ConnectionError) Is(target error) bool {
	return e.MidStream && target == ErrIncompleteStream
}

// ResponseError: an answer the spec does not allow. StatusCode is the answer's status, Raw
// the body (or the offending event).
type ResponseError struct {
	Message    string
	StatusCode int
	Raw        []byte
	incomplete bool
}

func (e *ResponseError) Error() string { return e.Message }

// Is: a stream the server ended before `data: [DONE]` matches ErrIncompleteStream.
func (e *ResponseError) Is(target error) bool {
	return e.incomplete && target == ErrIncompleteStream
}

func excerpt(raw []byte) string {
	const limit = 200
	if len(raw) > limit {
		return string(raw[:limit]) + "..."
	}
	return string(raw)
}

// redact replaces the API key in text from outside (the server, net/http).
func redact(text, secret string) string {
	if secret == "" {
		return text
	}
	return strings.ReplaceAll(text, secret, "***")
}
