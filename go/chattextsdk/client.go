// Package chattextsdk is the handwritten layer over the generated client (package chattext,
// generated/go, made by openapi-generator from openapi.yaml and never edited): it sends
// requests built from the generated models and decodes answers into them, and adds what the
// generator cannot do: streaming (an iterator over the events of a `stream: true` answer),
// typed errors, retries that honour Retry-After, a finite default timeout and the
// CHAT_TEXT_API_KEY / CHAT_TEXT_BASE_URL environment variables. Standard library only.
//
//	client, err := chattextsdk.NewClient() // $CHAT_TEXT_API_KEY, $CHAT_TEXT_BASE_URL
//	answer, err := client.ChatText(ctx, chattext.ChatTextRequest{Model: ..., Messages: ...})
//	stream, err := client.ChatTextStream(ctx, request)
//	defer stream.Close()
//	for stream.Next() {
//		chunk := stream.Chunk()
//	}
//	err = stream.Err() // nil once `data: [DONE]` arrived; stream.Usage() is the final usage
package chattextsdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	chattext "github.com/chat-text/chat-text/generated/go"
)

const (
	// APIKeyEnv holds the bearer token when WithAPIKey is not given.
	APIKeyEnv = "CHAT_TEXT_API_KEY"
	// BaseURLEnv holds the base URL when WithBaseURL is not given (else the spec's first
	// server, from the generated Configuration).
	BaseURLEnv = "CHAT_TEXT_BASE_URL"
	// DefaultTimeout applies per attempt: to the whole answer of a JSON call; to a stream
	// until its answer arrives, then to each read (so a long stream is fine, a silent one is
	// not).
	DefaultTimeout = 60 * time.Second
	// DefaultMaxRetries: retries after the first attempt (so at most 3 attempts).
	DefaultMaxRetries = 2

	// operationPath is the generated client's path of the operation (a test checks it
	// against generated/go, so a change of the spec cannot leave it behind).
	operationPath = "/inference/chat_text"
	doneData      = "[DONE]"
	userAgent     = "chat-text-go"
)

// Client calls POST /inference/chat_text. It is safe for concurrent use.
type Client struct {
	apiKey     string
	baseURL    string
	endpoint   string
	timeout    time.Duration
	maxRetries int
	policy     RetryPolicy
	http       *http.Client
	headers    http.Header

	// for tests: how to wait, what time it is, the jitter's random draw
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
	rand  func() float64
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sets the bearer token (default $CHAT_TEXT_API_KEY).
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithBaseURL sets the base URL (default $CHAT_TEXT_BASE_URL, else the spec's first server).
func WithBaseURL(base string) Option { return func(c *Client) { c.baseURL = base } }

// WithTimeout sets the per-attempt timeout (default DefaultTimeout); it must be positive.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxRetries sets the number of retries after the first attempt (default 2; 0: none).
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithRetryPolicy sets the waits between attempts (default DefaultRetryPolicy).
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.policy = p } }

// WithHTTPClient sets the http.Client to send with. Leave its Timeout at zero: the timeout
// is this package's (WithTimeout), and an http.Client's Timeout would cut long streams.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithHeader adds a header to every request.
func WithHeader(key, value string) Option { return func(c *Client) { c.headers.Add(key, value) } }

// NewClient returns a client; an error names the setting that is wrong (no API key, a base
// URL that is not http(s), a timeout or retry count out of range).
func NewClient(options ...Option) (*Client, error) {
	c := &Client{
		timeout:    DefaultTimeout,
		maxRetries: DefaultMaxRetries,
		policy:     DefaultRetryPolicy,
		http:       &http.Client{},
		headers:    http.Header{},
		sleep:      sleepContext,
		now:        time.Now,
		rand:       rand.Float64,
	}
	for _, option := range options {
		option(c)
	}
	if c.apiKey == "" {
		c.apiKey = os.Getenv(APIKeyEnv)
	}
	if c.apiKey == "" {
		return nil, ErrMissingAPIKey
	}
	if strings.ContainsAny(c.apiKey, "\r\n") {
		return nil, errors.New("the API key must be a single line of text")
	}
	if c.baseURL == "" {
		c.baseURL = os.Getenv(BaseURLEnv)
	}
	if c.baseURL == "" {
		c.baseURL = chattext.NewConfiguration().Servers[0].URL
	}
	c.baseURL = strings.TrimRight(c.baseURL, "/")
	parsed, err := url.Parse(c.baseURL)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, fmt.Errorf("the base URL must be an http(s) URL with a host, got %q", c.baseURL)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("the timeout must be positive, got %v", c.timeout)
	}
	if c.maxRetries < 0 {
		return nil, fmt.Errorf("the number of retries must be >= 0, got %d", c.maxRetries)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	c.endpoint = c.baseURL + operationPath
	return c, nil
}

// BaseURL is the URL requests go to (without the operation's path).
func (c *Client) BaseURL() string { return c.baseURL }

// String never shows the API key.
func (c *Client) String() string {
	return fmt.Sprintf("chattextsdk.Client{BaseURL: %q, APIKey: \"***\", Timeout: %v, MaxRetries: %d}",
		c.baseURL, c.timeout, c.maxRetries)
}

// ChatText makes one call and returns the whole answer. The request is sent as the
// generated model marshals it: a field left unset is not sent (the server applies the spec's
// default). For `stream: true` use ChatTextStream.
func (c *Client) ChatText(ctx context.Context, request chattext.ChatTextRequest) (*chattext.ChatTextResponse, error) {
	if stream, ok := request.GetStreamOk(); ok && stream != nil && *stream {
		return nil, errors.New("the request has stream: true: use ChatTextStream")
	}
	body, err := json.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("the request cannot be sent as JSON: %w", err)
	}
	answer, err := c.send(ctx, body, false)
	if err != nil {
		return nil, err
	}
	return c.decodeAnswer(answer)
}

// ChatTextStream sends the request with `stream: true` and returns the stream of chunks once
// the answer has arrived. Close it when you stop early.
func (c *Client) ChatTextStream(ctx context.Context, request chattext.ChatTextRequest) (*Stream, error) {
	request.SetStream(true)
	body, err := json.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("the request cannot be sent as JSON: %w", err)
	}
	answer, err := c.send(ctx, body, true)
	if err != nil {
		return nil, err
	}
	ctype := answer.response.Header.Get("Content-Type")
	if !strings.HasPrefix(ctype, "text/event-stream") {
		answer.timer.Reset(c.timeout)
		raw, _ := io.ReadAll(answer.response.Body)
		answer.finish()
		return nil, &ResponseError{
			Message:    fmt.Sprintf("expected text/event-stream, got %q (HTTP %d)", ctype, answer.response.StatusCode),
			StatusCode: answer.response.StatusCode,
			Raw:        raw,
		}
	}
	return newStream(answer, c.timeout, c.apiKey), nil
}

// attempt is one request in flight: its context is cancelled when the timer fires (the
// timeout) or when the answer is finished with.
type attempt struct {
	response *http.Response
	body     []byte // the whole body, for a JSON call
	cancel   context.CancelFunc
	timer    *time.Timer
	timedOut *atomic.Bool
}

func (a *attempt) finish() {
	a.timer.Stop()
	if a.response != nil {
		a.response.Body.Close()
	}
	a.cancel()
}

func (c *Client) decodeAnswer(a *attempt) (*chattext.ChatTextResponse, error) {
	status := a.response.StatusCode
	ctype := a.response.Header.Get("Content-Type")
	if ctype != "" && !strings.HasPrefix(ctype, "application/json") {
		return nil, c.invalid(fmt.Sprintf("expected application/json, got %q", ctype), status, a.body)
	}
	var answer chattext.ChatTextResponse
	if err := decodeObject(a.body, &answer); err != nil {
		return nil, c.invalid("the answer is not a ChatTextResponse: "+err.Error(), status, a.body)
	}
	return &answer, nil
}

func (c *Client) invalid(message string, status int, raw []byte) *ResponseError {
	return &ResponseError{Message: redact(fmt.Sprintf("%s (HTTP %d)", message, status), c.apiKey), StatusCode: status, Raw: raw}
}

// decodeObject decodes a JSON object (UTF-8, nothing after it) into a generated model, whose
// UnmarshalJSON checks the required properties and enum values.
func decodeObject(raw []byte, into any) error {
	if !utf8.Valid(raw) {
		return errors.New("the body is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(trimmed, into)
}

// send makes the attempts: it returns the first 200 answer (with its whole body for a JSON
// call, open for a stream), or the error of the last attempt.
func (c *Client) send(ctx context.Context, body []byte, stream bool) (*attempt, error) {
	for retry := 0; ; retry++ {
		answer, err := c.try(ctx, body, stream)
		if err == nil {
			return answer, nil
		}
		var header http.Header
		var apiErr *APIError
		var connErr *ConnectionError
		switch {
		case errors.As(err, &apiErr):
			if !retryableStatus(apiErr.StatusCode) {
				return nil, err
			}
			header = apiErr.Header
		case errors.As(err, &connErr):
			if ctx.Err() != nil { // the caller gave up
				return nil, err
			}
		default:
			return nil, err
		}
		if retry >= c.maxRetries {
			return nil, err
		}
		wait, ok := c.policy.Delay(retry, header, c.now(), c.rand())
		if !ok {
			return nil, err
		}
		if sleepErr := c.sleep(ctx, wait); sleepErr != nil {
			return nil, &ConnectionError{Message: "gave up waiting to retry: " + sleepErr.Error(), Err: sleepErr}
		}
	}
}

func (c *Client) try(ctx context.Context, body []byte, stream bool) (*attempt, error) {
	attemptCtx, cancel := context.WithCancel(ctx)
	timedOut := &atomic.Bool{}
	a := &attempt{cancel: cancel, timedOut: timedOut}
	a.timer = time.AfterFunc(c.timeout, func() {
		timedOut.Store(true)
		cancel()
	})
	request, err := http.NewRequestWithContext(attemptCtx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		a.finish()
		return nil, fmt.Errorf("cannot build the request: %w", err)
	}
	for key, values := range c.headers {
		request.Header[key] = append([]string(nil), values...)
	}
	request.Header.Set("Authorization", "Bearer "+c.apiKey)
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("User-Agent", userAgent)
	if stream {
		request.Header.Set("Accept", "text/event-stream")
	} else {
		request.Header.Set("Accept", "application/json")
	}
	response, err := c.http.Do(request)
	if err != nil {
		a.finish()
		return nil, c.transportError(err, timedOut.Load(), false)
	}
	a.response = response
	if response.StatusCode == http.StatusOK && stream {
		a.timer.Stop() // from here the Stream times each read
		return a, nil
	}
	raw, err := io.ReadAll(response.Body)
	a.finish()
	if err != nil {
		return nil, c.transportError(err, timedOut.Load(), false)
	}
	switch {
	case response.StatusCode == http.StatusOK:
		a.body = raw
		return a, nil
	case response.StatusCode >= 400:
		apiErr := &APIError{StatusCode: response.StatusCode, Header: response.Header, Raw: raw}
		var parsed chattext.ErrorResponse
		if decodeObject(raw, &parsed) == nil {
			apiErr.Body = &parsed
		}
		return nil, apiErr
	default:
		return nil, c.invalid("unexpected status", response.StatusCode, raw)
	}
}

func (c *Client) transportError(err error, timedOut, midStream bool) *ConnectionError {
	text := redact(err.Error(), c.apiKey)
	if timedOut {
		return &ConnectionError{Message: fmt.Sprintf("timed out after %v: %s", c.timeout, text), Timeout: true, MidStream: midStream, Err: err}
	}
	if midStream {
		return &ConnectionError{Message: "the event stream broke before 'data: [DONE]': " + text, MidStream: true, Err: err}
	}
	return &ConnectionError{Message: "connection error: " + text, Err: err}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
