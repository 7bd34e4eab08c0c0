module example.com/chat-text-example

go 1.19

require github.com/chat-text/chat-text v0.0.0

// Until the module is published: the path of your copy of the chat-text repository.
replace github.com/chat-text/chat-text => ../..
