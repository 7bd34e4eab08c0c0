// chat-text from Go: one answer, then the same question streamed.
// Reads CHAT_TEXT_BASE_URL and CHAT_TEXT_API_KEY (and CHAT_TEXT_MODEL, default chat-text-base).
package main

import (
	"context"
	"fmt"
	"os"

	chattext "github.com/chat-text/chat-text/generated/go"
	"github.com/chat-text/chat-text/go/chattextsdk"
)

func show(usage *chattext.Usage) string {
	if usage == nil {
		return "(none)"
	}
	return fmt.Sprintf("prompt_tokens=%d completion_tokens=%d total_tokens=%d",
		usage.PromptTokens, usage.CompletionTokens, usage.TotalTokens)
}

func run() error {
	client, err := chattextsdk.NewClient() // CHAT_TEXT_API_KEY, CHAT_TEXT_BASE_URL
	if err != nil {
		return err
	}
	model := os.Getenv("CHAT_TEXT_MODEL")
	if model == "" {
		model = "chat-text-base"
	}
	request := chattext.ChatTextRequest{
		Model:    model,
		Messages: []chattext.Message{{Role: chattext.ROLE_USER, Content: "Say hello in three words."}},
	}
	request.SetMaxTokens(16)
	ctx := context.Background()

	answer, err := client.ChatText(ctx, request)
	if err != nil {
		return err
	}
	fmt.Printf("answer: %s\n", answer.Choices[0].Message.Content)
	usage, _ := answer.GetUsageOk()
	fmt.Printf("usage: %s\n", show(usage))

	stream, err := client.ChatTextStream(ctx, request)
	if err != nil {
		return err
	}
	defer stream.Close()
	text := ""
	for stream.Next() {
		for _, choice := range stream.Chunk().Choices {
			text += choice.Delta.GetContent()
		}
	}
	if err := stream.Err(); err != nil {
		return err
	}
	fmt.Printf("stream: %s\n", text)
	fmt.Printf("usage: %s\n", show(stream.Usage()))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
