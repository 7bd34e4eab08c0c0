module chattext.local/driver

go 1.19

require github.com/chat-text/chat-text v0.0.0

replace github.com/chat-text/chat-text => ../..
