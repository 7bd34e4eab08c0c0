// Command smoke calls a running chat-text server through the Go client that
// openapi-generator made from openapi.yaml (generated/go, used unmodified): a JSON
// answer, a 401 and a 400 as typed errors carrying the spec's ErrorResponse, and a
// `stream: true` call, which the generated client cannot read (it decodes only
// application/json). Prints one JSON line with what it saw.
//
//	go run . BASE_URL TOKEN MODEL
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	chattext "github.com/chat-text/chat-text-go"
)

type statusOutcome struct {
	Status int                     `json:"status"`
	Code   string                  `json:"code"`
	Body   *chattext.ErrorResponse `json:"body"`
	Error  string                  `json:"error,omitempty"`
}

func client(baseURL, token string) *chattext.APIClient {
	cfg := chattext.NewConfiguration()
	cfg.Servers = chattext.ServerConfigurations{{URL: baseURL}}
	cfg.AddDefaultHeader("Authorization", "Bearer "+token)
	return chattext.NewAPIClient(cfg)
}

// request builds the body as a struct literal: the generated constructor
// NewChatTextRequest would set every server-applied default client-side.
func request(model string) chattext.ChatTextRequest {
	req := chattext.ChatTextRequest{
		Model:    model,
		Messages: []chattext.Message{{Role: chattext.ROLE_USER, Content: "Say hello in three words."}},
	}
	req.SetMaxTokens(16)
	return req
}

func statusOf(err error, httpStatus int) statusOutcome {
	out := statusOutcome{Status: httpStatus}
	var apiErr *chattext.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		if body, ok := apiErr.Model().(chattext.ErrorResponse); ok {
			out.Body = &body
			out.Code = body.Error.Code
		}
	} else if err != nil {
		out.Error = err.Error()
	}
	return out
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: smoke BASE_URL TOKEN MODEL")
		os.Exit(2)
	}
	baseURL, token, model := os.Args[1], os.Args[2], os.Args[3]
	ctx := context.Background()
	api := client(baseURL, token).InferenceAPI

	answer, _, err := api.ChatText(ctx).ChatTextRequest(request(model)).Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "JSON answer failed:", err)
		os.Exit(1)
	}

	wrong := client(baseURL, token+"-wrong").InferenceAPI
	_, resp401, err401 := wrong.ChatText(ctx).ChatTextRequest(request(model)).Execute()
	bad := request(model)
	bad.SetTemperature(5)
	_, resp400, err400 := api.ChatText(ctx).ChatTextRequest(bad).Execute()

	streaming := request(model)
	streaming.SetStream(true)
	_, respStream, errStream := api.ChatText(ctx).ChatTextRequest(streaming).Execute()
	stream := map[string]any{"error": fmt.Sprint(errStream)}
	if respStream != nil {
		stream["status"] = respStream.StatusCode
		stream["content_type"] = respStream.Header.Get("Content-Type")
	}

	out := map[string]any{
		"answer":       answer,
		"unauthorized": statusOf(err401, status(resp401)),
		"badRequest":   statusOf(err400, status(resp400)),
		"stream":       stream,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

func status(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
