// Command driver is the Go driver of `chat-text-conformance clients`: it makes every
// call it reads from stdin (JSON lines {case, base_url, token, stream, request})
// through the Go client openapi-generator made from openapi.yaml (generated/go, used
// unmodified) and prints one normalized outcome per call (JSON lines {case, outcome}
// or {case, crash}):
//
//	{value: <the answer as the client returns it, marshalled again>}
//	{error: "status", status, code, body}  GenericOpenAPIError of a status >= 300
//	                                       (body: its ErrorResponse model, or null)
//	{error: "validation"}                  the answer arrived but was not decoded
//	{error: "transport"}                   no complete answer arrived
//
// The generated client decodes only application/json: for `stream: true` it returns
// the error "undefined response type" (or, for an empty body, no error and no model)
// together with the response, whose body it has read in full and put back. For a
// 200 text/event-stream answer this driver frames the server-sent events itself
// (readEvents, the WHATWG rules the API uses) and decodes each event with the
// generated ChatTextChunk model, to `data: [DONE]`; a stream that ends before it is
// a validation error, as in the other languages.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	chattext "github.com/chat-text/chat-text-go"
)

const timeout = 10 * time.Second

type call struct {
	Case    string          `json:"case"`
	BaseURL string          `json:"base_url"`
	Token   string          `json:"token"`
	Stream  bool            `json:"stream"`
	Request json.RawMessage `json:"request"`
}

type outcome map[string]any

func client(baseURL, token string) *chattext.APIClient {
	cfg := chattext.NewConfiguration()
	cfg.Servers = chattext.ServerConfigurations{{URL: baseURL}}
	cfg.AddDefaultHeader("Authorization", "Bearer "+token)
	cfg.HTTPClient = &http.Client{Timeout: timeout}
	return chattext.NewAPIClient(cfg)
}

func detail(err error) string {
	text := err.Error()
	if len(text) > 300 {
		text = text[:297] + "..."
	}
	return text
}

// value re-marshals what the client returned (through the models' MarshalJSON).
func value(v any) outcome {
	raw, err := json.Marshal(v)
	if err != nil {
		return outcome{"error": "validation", "detail": "cannot marshal the model again: " + detail(err)}
	}
	return outcome{"value": json.RawMessage(raw)}
}

func status(resp *http.Response, apiErr *chattext.GenericOpenAPIError) outcome {
	out := outcome{"error": "status", "status": resp.StatusCode, "code": nil, "body": nil,
		"detail": detail(apiErr)}
	if body, ok := apiErr.Model().(chattext.ErrorResponse); ok {
		out["code"] = body.Error.Code
		raw, err := json.Marshal(body)
		if err != nil {
			out["detail"] = "cannot marshal the ErrorResponse again: " + detail(err)
		} else {
			out["body"] = json.RawMessage(raw)
		}
	}
	return out
}

func run(c call) outcome {
	var request chattext.ChatTextRequest
	if err := json.Unmarshal(c.Request, &request); err != nil {
		panic(fmt.Sprintf("the request does not decode as ChatTextRequest: %v", err))
	}
	api := client(c.BaseURL, c.Token).InferenceAPI
	answer, resp, err := api.ChatText(context.Background()).ChatTextRequest(request).Execute()
	if resp == nil {
		return outcome{"error": "transport", "detail": detail(err)}
	}
	var apiErr *chattext.GenericOpenAPIError
	if err != nil && !errors.As(err, &apiErr) {
		// the generated code returns io.ReadAll's error as is: the body broke off
		return outcome{"error": "transport", "detail": detail(err)}
	}
	if resp.StatusCode >= 300 && apiErr != nil {
		return status(resp, apiErr)
	}
	if c.Stream && resp.StatusCode == 200 &&
		strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// the generated code has read the whole body and put it back in resp.Body
		body, readErr := io.ReadAll(resp.Body)
		if readErr != nil {
			return outcome{"error": "transport", "detail": detail(readErr)}
		}
		return stream(body)
	}
	if err != nil {
		return outcome{"error": "validation", "detail": detail(err)}
	}
	return value(answer)
}

// stream decodes each event's data with the generated ChatTextChunk, to [DONE].
func stream(body []byte) outcome {
	chunks := []chattext.ChatTextChunk{}
	var usage *chattext.Usage
	for _, data := range readEvents(string(body)) {
		if data == "[DONE]" {
			return value(map[string]any{"chunks": chunks, "usage": usage})
		}
		var chunk chattext.ChatTextChunk
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return outcome{"error": "validation", "detail": "an event is not a ChatTextChunk: " + detail(err)}
		}
		if chunk.Usage.IsSet() && chunk.Usage.Get() != nil {
			usage = chunk.Usage.Get()
		}
		chunks = append(chunks, chunk)
	}
	return outcome{"error": "validation", "detail": "the event stream ended before 'data: [DONE]'"}
}

// readEvents frames server-sent events: lines end with CRLF, LF or CR; a line
// starting with ':' is a comment; "data" lines of one event are joined with "\n";
// an event ends at a blank line; an event not ended when the stream ends is dropped.
func readEvents(text string) []string {
	var events, data []string
	seen := false
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"), "\n")
	// the text after the last line end is an unfinished line: never a blank line
	for _, line := range lines[:len(lines)-1] {
		switch {
		case line == "":
			if seen {
				events = append(events, strings.Join(data, "\n"))
			}
			data, seen = nil, false
		case strings.HasPrefix(line, ":"):
		default:
			field, val, found := strings.Cut(line, ":")
			if found {
				val = strings.TrimPrefix(val, " ")
			}
			if field == "data" {
				data = append(data, val)
				seen = true
			}
		}
	}
	return events
}

func safeRun(c call) (out outcome, crash string) {
	defer func() {
		if r := recover(); r != nil {
			crash = fmt.Sprint(r)
		}
	}()
	return run(c), ""
}

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	encoder := json.NewEncoder(os.Stdout)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var c call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			fmt.Fprintln(os.Stderr, "driver: not a call:", err)
			os.Exit(2)
		}
		out, crash := safeRun(c)
		var result map[string]any
		if crash != "" {
			result = map[string]any{"case": c.Case, "crash": crash}
		} else {
			result = map[string]any{"case": c.Case, "outcome": out}
		}
		if err := encoder.Encode(result); err != nil {
			fmt.Fprintln(os.Stderr, "driver:", err)
			os.Exit(1)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "driver: reading stdin:", err)
		os.Exit(1)
	}
}
