// The Go module of this repository: the client openapi-generator makes from openapi.yaml
// (generated/go, package chattext) and the handwritten helper beside it (go/chattextsdk:
// streaming, typed errors, retries). Standard library only. Its versions are this
// repository's release tags (vX.Y.Z = openapi.yaml's info.version); a major version 2 or
// higher needs the /vN suffix on this path (chat-text-release --dry-run checks it).
module github.com/chat-text/chat-text

go 1.19
