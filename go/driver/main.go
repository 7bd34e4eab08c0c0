// Command driver is the Go driver of `chat-text-conformance clients`: it makes every
// call it reads from stdin (JSON lines {case, base_url, token, stream, request})
// through the Go client users install, the module of this repository: the helper
// go/chattextsdk over the generated package (generated/go, openapi-generator's output,
// unmodified) — ChatText for a JSON answer, ChatTextStream and its iterator for
// `stream: true` — and prints one normalized outcome per call (JSON lines {case,
// outcome} or {case, crash}):
//
//	{value: <the answer as the client returns it, marshalled again>}, for a stream
//	       {value: {chunks, usage}}
//	{error: "status", status, code, body}  *chattextsdk.APIError (body: its
//	                                       ErrorResponse, or null)
//	{error: "validation"}                  *chattextsdk.ResponseError
//	{error: "transport"}                   *chattextsdk.ConnectionError
//
// Anything else is a crash of this client.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	chattext "github.com/chat-text/chat-text/generated/go"
	"github.com/chat-text/chat-text/go/chattextsdk"
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

func classify(err error) outcome {
	var apiErr *chattextsdk.APIError
	var connErr *chattextsdk.ConnectionError
	var respErr *chattextsdk.ResponseError
	switch {
	case errors.As(err, &apiErr):
		out := outcome{"error": "status", "status": apiErr.StatusCode, "code": nil, "body": nil,
			"detail": detail(err)}
		if apiErr.Body != nil {
			out["code"] = apiErr.Code()
			raw, marshalErr := json.Marshal(apiErr.Body)
			if marshalErr != nil {
				out["detail"] = "cannot marshal the ErrorResponse again: " + detail(marshalErr)
			} else {
				out["body"] = json.RawMessage(raw)
			}
		}
		return out
	case errors.As(err, &connErr): // first: a stream that broke is also an incomplete stream
		return outcome{"error": "transport", "detail": detail(err)}
	case errors.As(err, &respErr):
		return outcome{"error": "validation", "detail": detail(err)}
	}
	panic(fmt.Sprintf("an error the client does not type: %T: %v", err, err))
}

func run(c call) outcome {
	var request chattext.ChatTextRequest
	if err := json.Unmarshal(c.Request, &request); err != nil {
		panic(fmt.Sprintf("the request does not decode as ChatTextRequest: %v", err))
	}
	client, err := chattextsdk.NewClient(
		chattextsdk.WithAPIKey(c.Token),
		chattextsdk.WithBaseURL(c.BaseURL),
		chattextsdk.WithMaxRetries(0),
		chattextsdk.WithTimeout(timeout),
	)
	if err != nil {
		panic(err.Error())
	}
	ctx := context.Background()
	if !c.Stream {
		answer, err := client.ChatText(ctx, request)
		if err != nil {
			return classify(err)
		}
		return value(answer)
	}
	stream, err := client.ChatTextStream(ctx, request)
	if err != nil {
		return classify(err)
	}
	defer stream.Close()
	chunks := []chattext.ChatTextChunk{}
	for stream.Next() {
		chunks = append(chunks, stream.Chunk())
	}
	if err := stream.Err(); err != nil {
		return classify(err)
	}
	return value(map[string]any{"chunks": chunks, "usage": stream.Usage()})
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
