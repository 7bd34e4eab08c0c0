"""pytest plugin for running the chat-text conformance checks (placeholder until the plugin lands)."""
