"""The traffic mix: what each simulated user sends next, drawn from a seeded generator (the same
``--seed``, user and worker give the same requests, whatever the machine).

Each user is a person chatting: most of the time a short question, sometimes a long document
to work on, often a conversation that goes on over several turns (the model's own answers sent
back as ``assistant`` messages), about half of it streamed; and a share of requests the spec
forbids (a client bug: a bound exceeded, a role that does not exist, an unknown field, no
message at all), to which the answer must be a 4xx with the spec's error body.

Every bound is read from ``openapi.yaml`` (no literal of the spec's here).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass, field
from typing import Any

import chat_text_spec

__all__ = ["MIX", "Conversation", "Plan", "Traffic"]

MIX: dict[str, float] = {"short": 0.45, "long": 0.12, "turn": 0.35, "invalid": 0.08}
"""Shares of the kinds of request (``turn``: the next turn of a conversation)."""
STREAM_SHARE = 0.5
"""Share of the valid requests that ask for a stream."""
MAX_TURNS = 6
"""Turns of a conversation before the user starts a new one."""

_WORDS = [
    "the",
    "model",
    "answers",
    "every",
    "question",
    "about",
    "rivers",
    "mountains",
    "stars",
    "and",
    "the",
    "history",
    "of",
    "maps",
    "while",
    "a",
    "careful",
    "reader",
    "checks",
    "each",
    "number",
    "twice",
    "before",
    "trusting",
    "any",
    "summary",
    "of",
    "long",
    "reports",
    "on",
    "weather",
    "trade",
    "music",
    "gardens",
    "bridges",
    "and",
    "the",
    "quiet",
    "art",
    "of",
    "writing",
    "clear",
    "code",
]


@functools.cache
def _roles() -> tuple[str, ...]:
    messages = chat_text_spec.resolve(chat_text_spec.request_schema()["properties"]["messages"])
    message = chat_text_spec.resolve(messages["items"])
    role = chat_text_spec.resolve(message["properties"]["role"])
    return tuple(str(value) for value in role.get("enum", ("user",)))


@dataclass(frozen=True)
class Plan:
    """One request to send."""

    kind: str
    """``short``, ``long``, ``turn`` or ``invalid`` (the name in Locust's statistics is this,
    with ``/stream`` for streamed requests)."""
    document: Any
    body: bytes
    stream: bool
    invalid: bool = False
    """Deliberately invalid: the expected answer is a 4xx."""

    @property
    def name(self) -> str:
        return f"{self.kind}/stream" if self.stream else self.kind


@dataclass
class Conversation:
    messages: list[dict[str, str]] = field(default_factory=list)
    turns: int = 0


class Traffic:
    """One user's requests, drawn from ``random.Random(seed)``."""

    def __init__(self, seed: str, model: str, context_length: int | None) -> None:
        self.random = random.Random(seed)  # noqa: S311 - a seeded mix, not a secret
        self.model = model
        self.context_length = context_length
        self.conversation = Conversation()
        self._kinds = list(MIX)
        self._weights = [MIX[k] for k in self._kinds]

    def _words(self, count: int) -> str:
        pick = self.random.choice
        return " ".join(pick(_WORDS) for _ in range(count))

    def _long_words(self) -> int:
        """A long prompt: most of the window when it is known (so answers get max_tokens
        lowered), else a page of text."""
        if self.context_length is None:
            return self.random.randint(150, 400)
        return max(8, int(self.context_length * self.random.uniform(0.4, 0.8)))

    def _sampling(self, document: dict[str, Any]) -> None:
        temperature = chat_text_spec.field_bounds("temperature")
        if self.random.random() < 0.5:
            low, high = temperature.get("minimum", 0), temperature.get("maximum", 1)
            document["temperature"] = round(self.random.uniform(low, high), 2)
        roll = self.random.random()
        if roll < 0.4:
            document["max_tokens"] = self.random.randint(1, 32)
        elif roll < 0.6:
            document["max_tokens"] = self.random.randint(33, 400)
        # else: the server's default

    def next(self) -> Plan:
        kind = self.random.choices(self._kinds, self._weights)[0]
        if kind == "invalid":
            return self._invalid()
        stream = self.random.random() < STREAM_SHARE
        document: dict[str, Any] = {"model": self.model}
        if kind == "turn":
            conversation = self.conversation
            if conversation.turns >= MAX_TURNS or not conversation.messages:
                conversation = self.conversation = Conversation()
                if self.random.random() < 0.5:
                    conversation.messages.append(
                        {"role": "system", "content": "You are terse. " + self._words(6)}
                    )
            conversation.messages.append({"role": "user", "content": self._words(12) + "?"})
            conversation.turns += 1
            document["messages"] = list(conversation.messages)
        elif kind == "long":
            document["messages"] = [
                {"role": "user", "content": "Summarise: " + self._words(self._long_words())}
            ]
        else:
            document["messages"] = [
                {"role": "user", "content": self._words(self.random.randint(3, 20)) + "?"}
            ]
        self._sampling(document)
        if stream:
            document["stream"] = True
        body = json.dumps(document, separators=(",", ":")).encode()
        return Plan(kind, document, body, stream)

    def answered(self, plan: Plan, content: str | None) -> None:
        """The answer to ``plan`` (its first choice's text, ``None``: no answer): a
        conversation goes on with it, or starts again when it got none."""
        if plan.kind != "turn":
            return
        if content is None:
            self.conversation = Conversation()
            return
        self.conversation.messages.append({"role": "assistant", "content": content})

    def _invalid(self) -> Plan:
        """A request the spec forbids, one way among several (each a bug clients ship)."""
        message = {"role": "user", "content": self._words(5)}
        document: dict[str, Any] = {"model": self.model, "messages": [message]}
        way = self.random.randrange(6)
        if way == 0:
            maximum = chat_text_spec.field_bounds("temperature").get("maximum", 2)
            document["temperature"] = maximum + 1
        elif way == 1:
            minimum = chat_text_spec.field_bounds("max_tokens").get("minimum", 1)
            document["max_tokens"] = minimum - 1
        elif way == 2:
            document["messages"] = []
        elif way == 3:
            bogus = "robot" if "robot" not in _roles() else "-"
            document["messages"] = [{**message, "role": bogus}]
        elif way == 4:
            document["n_choices"] = 2  # not a field of the request
        else:
            del document["messages"]
        stream = self.random.random() < STREAM_SHARE
        if stream:
            document["stream"] = True
        body = json.dumps(document, separators=(",", ":")).encode()
        return Plan("invalid", document, body, stream, invalid=True)
