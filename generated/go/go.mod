module github.com/chat-text/chat-text-go/chattext

go 1.23

require (
)
