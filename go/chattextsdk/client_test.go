package chattextsdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	chattext "github.com/chat-text/chat-text/generated/go"
)

const answerJSON = `{"id": "c1", "created": 1764086400, "model": "chat-text-base",
 "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there."}, "finish_reason": "stop"}],
 "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}`

const chunkHead = `{"id": "c1", "created": 1764086400, "model": "chat-text-base", `

// reply is one scripted answer: status, headers and body parts (each flushed on its own).
type reply struct {
	status int
	header map[string]string
	parts  []string
	hang   bool // after the parts, wait until the client goes away
}

type recorded struct {
	path   string
	header http.Header
	body   map[string]any
}

// server answers each request with the next reply (the last one again when they run out)
// on 127.0.0.1, and is closed when the test ends.
func server(t *testing.T, replies ...reply) (*httptest.Server, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		mu.Lock()
		seen = append(seen, recorded{r.URL.Path, r.Header.Clone(), body})
		next := replies[len(replies)-1]
		if len(seen) <= len(replies) {
			next = replies[len(seen)-1]
		}
		mu.Unlock()
		for key, value := range next.header {
			w.Header().Set(key, value)
		}
		w.WriteHeader(next.status)
		for _, part := range next.parts {
			_, _ = io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
		if next.hang {
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), seen...)
	}
}

var jsonHeader = map[string]string{"Content-Type": "application/json"}
var sseHeader = map[string]string{"Content-Type": "text/event-stream"}

// waits records the waits between attempts instead of sleeping.
type waits struct{ got []time.Duration }

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.got = append(w.got, d)
	return nil
}

func newTestClient(t *testing.T, base string, options ...Option) (*Client, *waits) {
	t.Helper()
	c, err := NewClient(append([]Option{WithAPIKey("sk-test"), WithBaseURL(base)}, options...)...)
	if err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	c.sleep = w.sleep
	c.rand = func() float64 { return 0.5 }
	c.now = func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }
	return c, w
}

func hello() chattext.ChatTextRequest {
	request := chattext.ChatTextRequest{
		Model:    "chat-text-base",
		Messages: []chattext.Message{{Role: chattext.ROLE_USER, Content: "Hi"}},
	}
	request.SetMaxTokens(16)
	return request
}

func TestChatTextSendsOnlyWhatIsSetAndDecodesTheAnswer(t *testing.T) {
	srv, seen := server(t, reply{status: 200, header: jsonHeader, parts: []string{answerJSON}})
	c, _ := newTestClient(t, srv.URL+"/")
	answer, err := c.ChatText(context.Background(), hello())
	if err != nil {
		t.Fatal(err)
	}
	if answer.Choices[0].Message.Content != "Hi there." || answer.GetUsage().TotalTokens != 5 {
		t.Fatalf("unexpected answer %+v", answer)
	}
	got := seen()[0]
	want := map[string]any{"model": "chat-text-base", "max_tokens": float64(16),
		"messages": []any{map[string]any{"role": "user", "content": "Hi"}}}
	if !jsonEqual(got.body, want) {
		t.Fatalf("request body %v, want %v (unset fields left out)", got.body, want)
	}
	if got.header.Get("Authorization") != "Bearer sk-test" || got.header.Get("Accept") != "application/json" ||
		got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("unexpected headers %v", got.header)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestTheOperationPathIsTheGeneratedClients(t *testing.T) {
	srv, seen := server(t, reply{status: 200, header: jsonHeader, parts: []string{answerJSON}})
	cfg := chattext.NewConfiguration()
	cfg.Servers = chattext.ServerConfigurations{{URL: srv.URL}}
	request := hello()
	if _, _, err := chattext.NewAPIClient(cfg).InferenceAPI.ChatText(context.Background()).ChatTextRequest(request).Execute(); err != nil {
		t.Fatal(err)
	}
	if got := seen()[0].path; got != operationPath {
		t.Fatalf("the generated client calls %q, this package %q: update operationPath", got, operationPath)
	}
}

func TestStreamYieldsTypedChunksThenTheUsage(t *testing.T) {
	first := "data: " + chunkHead + `"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": null}], "usage": null}`
	last := "data:" + chunkHead + `"choices": [{"index": 0, "delta": {"content": " there."}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}`
	// a BOM, CR line ends, a comment, the CR of a line end at the end of one write
	parts := []string{"\ufeff: ping\r", "\r" + first[:20], first[20:] + "\r", "\r" + last + "\r\n\r\n", "data: [DONE]\r\r"}
	srv, seen := server(t, reply{status: 200, header: sseHeader, parts: parts})
	c, _ := newTestClient(t, srv.URL)
	stream, err := c.ChatTextStream(context.Background(), hello())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	text := ""
	for stream.Next() {
		for _, choice := range stream.Chunk().Choices {
			text += choice.Delta.GetContent()
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text != "Hi there." || !stream.Done() || stream.Usage() == nil || stream.Usage().TotalTokens != 5 {
		t.Fatalf("text %q done %v usage %+v", text, stream.Done(), stream.Usage())
	}
	got := seen()[0]
	if got.body["stream"] != true || got.header.Get("Accept") != "text/event-stream" {
		t.Fatalf("a stream request must send stream: true and accept text/event-stream: %v %v", got.body, got.header)
	}
}

func TestAStreamThatEndsBeforeDoneIsIncomplete(t *testing.T) {
	event := "data: " + chunkHead + `"choices": [], "usage": null}` + "\n\n"
	srv, _ := server(t, reply{status: 200, header: sseHeader, parts: []string{event}})
	c, _ := newTestClient(t, srv.URL)
	stream, err := c.ChatTextStream(context.Background(), hello())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for stream.Next() {
		n++
	}
	var respErr *ResponseError
	var connErr *ConnectionError
	err = stream.Err()
	if n != 1 || !errors.Is(err, ErrIncompleteStream) || !errors.As(err, &respErr) || errors.As(err, &connErr) {
		t.Fatalf("got %d chunks and %v (%T)", n, err, err)
	}
}

func TestABadEventIsAResponseError(t *testing.T) {
	srv, _ := server(t, reply{status: 200, header: sseHeader, parts: []string{"data: {\"id\": 1}\n\ndata: [DONE]\n\n"}})
	c, _ := newTestClient(t, srv.URL)
	stream, err := c.ChatTextStream(context.Background(), hello())
	if err != nil {
		t.Fatal(err)
	}
	var respErr *ResponseError
	if stream.Next() || !errors.As(stream.Err(), &respErr) || errors.Is(stream.Err(), ErrIncompleteStream) {
		t.Fatalf("want a ResponseError, got %v", stream.Err())
	}
}

func TestErrorStatusesAreTyped(t *testing.T) {
	body := `{"error": {"code": "invalid_request", "message": "temperature must be <= 2", "field": "temperature"}}`
	srv, _ := server(t,
		reply{status: 400, header: jsonHeader, parts: []string{body}},
		reply{status: 502, header: map[string]string{"Content-Type": "text/html"}, parts: []string{"<h1>bad gateway</h1>"}},
	)
	c, _ := newTestClient(t, srv.URL, WithMaxRetries(0))
	_, err := c.ChatText(context.Background(), hello())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrRateLimited) {
		t.Fatalf("want a 400 APIError, got %v", err)
	}
	if apiErr.Code() != "invalid_request" || apiErr.Body.Error.GetField() != "temperature" {
		t.Fatalf("the ErrorResponse was not decoded: %+v", apiErr.Body)
	}
	_, err = c.ChatText(context.Background(), hello())
	if !errors.As(err, &apiErr) || apiErr.Body != nil || !errors.Is(err, ErrInternalServer) ||
		!strings.Contains(string(apiErr.Raw), "bad gateway") {
		t.Fatalf("want a 502 APIError without a body, got %v", err)
	}
}

func TestRetriesHonourRetryAfterThenBackOff(t *testing.T) {
	date := time.Date(2026, 11, 1, 12, 0, 3, 0, time.UTC).Format(http.TimeFormat) // now + 3 s
	srv, seen := server(t,
		reply{status: 429, header: map[string]string{"Retry-After": "2"}},
		reply{status: 503, header: map[string]string{"Retry-After": date}},
		reply{status: 503, header: map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}},
		reply{status: 500},
		reply{status: 200, header: jsonHeader, parts: []string{answerJSON}},
	)
	c, w := newTestClient(t, srv.URL, WithMaxRetries(4))
	if _, err := c.ChatText(context.Background(), hello()); err != nil {
		t.Fatal(err)
	}
	// the fourth wait is backoff: min(8 s, 0.5 s * 2^3) * (1 - 0.25 * 0.5)
	want := []time.Duration{2 * time.Second, 3 * time.Second, 250 * time.Millisecond, 3500 * time.Millisecond}
	if len(seen()) != 5 || !sameWaits(w.got, want) {
		t.Fatalf("attempts %d, waits %v, want 5 and %v", len(seen()), w.got, want)
	}
}

func sameWaits(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWhatIsNotRetried(t *testing.T) {
	cases := []struct {
		name     string
		reply    reply
		attempts int
	}{
		{"a 400", reply{status: 400}, 1},
		{"a Retry-After beyond 60 s", reply{status: 429, header: map[string]string{"Retry-After": "120"}}, 1},
		{"a 503 until the retries run out", reply{status: 503, header: map[string]string{"Retry-After": "0"}}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := server(t, tc.reply)
			c, _ := newTestClient(t, srv.URL)
			_, err := c.ChatText(context.Background(), hello())
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.reply.status || len(seen()) != tc.attempts {
				t.Fatalf("got %v after %d attempts, want status %d after %d", err, len(seen()), tc.reply.status, tc.attempts)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond, true},
		{map[string]string{"Retry-After": "Sun, 01 Nov 2026 11:00:00 GMT"}, 0, true}, // in the past
		{map[string]string{"retry-after-ms": "20"}, 20 * time.Millisecond, true},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{"Retry-After": "-1"}, 0, false},
		{map[string]string{}, 0, false},
	} {
		header := http.Header{}
		for k, v := range tc.header {
			header.Set(k, v)
		}
		got, ok := ParseRetryAfter(header, now)
		if got != tc.want || ok != tc.ok {
			t.Fatalf("%v: got %v %v, want %v %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTimeouts(t *testing.T) {
	silent, _ := server(t, reply{status: 200, header: jsonHeader, parts: []string{`{"id": `}, hang: true})
	c, _ := newTestClient(t, silent.URL, WithTimeout(100*time.Millisecond), WithMaxRetries(0))
	_, err := c.ChatText(context.Background(), hello())
	var connErr *ConnectionError
	if !errors.As(err, &connErr) || !connErr.Timeout {
		t.Fatalf("want a timeout, got %v", err)
	}
	event := "data: " + chunkHead + `"choices": [], "usage": null}` + "\n\n"
	stalled, _ := server(t, reply{status: 200, header: sseHeader, parts: []string{event}, hang: true})
	c, _ = newTestClient(t, stalled.URL, WithTimeout(100*time.Millisecond))
	stream, err := c.ChatTextStream(context.Background(), hello())
	if err != nil {
		t.Fatal(err)
	}
	for stream.Next() {
	}
	if !errors.As(stream.Err(), &connErr) || !connErr.Timeout || !errors.Is(stream.Err(), ErrIncompleteStream) {
		t.Fatalf("want a timeout in the middle of the stream, got %v", stream.Err())
	}
}

func TestSettingsFromTheEnvironmentAndTheirErrors(t *testing.T) {
	t.Setenv(APIKeyEnv, "sk-from-env")
	t.Setenv(BaseURLEnv, "http://127.0.0.1:9/v1/")
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != "http://127.0.0.1:9/v1" || c.apiKey != "sk-from-env" || strings.Contains(c.String(), "sk-from-env") {
		t.Fatalf("unexpected settings %s", c)
	}
	t.Setenv(APIKeyEnv, "")
	if _, err := NewClient(); !errors.Is(err, ErrMissingAPIKey) {
		t.Fatalf("want ErrMissingAPIKey, got %v", err)
	}
	for _, option := range []Option{WithBaseURL("ftp://x"), WithTimeout(0), WithMaxRetries(-1)} {
		if _, err := NewClient(WithAPIKey("k"), option); err == nil {
			t.Fatal("want an error for a bad setting")
		}
	}
}
