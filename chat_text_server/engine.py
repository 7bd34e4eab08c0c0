"""The reference server's deterministic "model": tokenizer, prompt fitting and generation.

Every step is a small module-level function so that a test (or a mutation test of the
conformance suite) can replace exactly one of them with ``monkeypatch.setattr``. The app
always calls them through this module (``engine.tokenize(...)``), never through a copy.

Tokenizer
    ``tokenize(text)`` splits text into runs of word characters (``\\w+``) and single
    non-space, non-word characters: ``"Hi, you!"`` → ``["Hi", ",", "you", "!"]``.
    Whitespace is not a token.

Prompt tokens
    Every message costs ``MESSAGE_OVERHEAD`` tokens (role and separators) plus the tokens of
    its content; ``prompt_tokens`` is the sum over the messages kept after truncation.

Prompt fitting (the seed's semantics, as the spec states them)
    1. ``truncate_messages``: while the prompt is longer than ``prompt_truncate_len``, evict the
       oldest ``user``/``assistant`` message that is not the last message. ``system``
       messages and the last message are never evicted.
    2. If the truncated prompt does not leave at least one token of room in the model's
       context window → :class:`PromptTooLong`.
    3. ``fit_max_tokens``: ``max_tokens`` is lowered to ``context_length - prompt_tokens``.

Generation
    The model's natural answer to a conversation is ``natural_length(messages)`` tokens long:
    ``ANSWER_BASE + ANSWER_PER_TOKEN * (tokens in the last message's content)``. So a short
    question ends on its own (``finish_reason: stop``) and a long last message, or a small
    ``max_tokens``, stops at ``max_tokens`` (``finish_reason: length``). The answer is
    sentences of words drawn from the conversation's own words and a fixed vocabulary, each
    sentence ending with ``"."``; the natural answer always ends with ``"."``.

    The words are picked by a pseudo-random generator. At temperature 0 it is seeded from a
    hash of the model name and the kept messages, so the same request always gives the same
    text, and a smaller ``max_tokens`` gives a prefix of the longer answer. At temperature > 0
    it is seeded from the operating system's random source, so answers vary (their length
    does not).

    The answer is returned as *pieces*, one token each: a word piece carries its leading
    space (except the very first), a punctuation piece has none. Joining the pieces gives
    the content, and ``tokenize(content)`` gives back exactly ``len(pieces)`` tokens, so
    ``completion_tokens == len(tokenize(content))``.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = [
    "ANSWER_BASE",
    "ANSWER_PER_TOKEN",
    "MESSAGE_OVERHEAD",
    "MODELS",
    "VOCABULARY",
    "FinishReason",
    "Message",
    "PromptTooLong",
    "count_message_tokens",
    "count_prompt_tokens",
    "fit_max_tokens",
    "generate",
    "natural_length",
    "seed_for",
    "tokenize",
    "truncate_messages",
]

Message = Mapping[str, str]
"""A chat message as the request carries it: ``{"role": ..., "content": ...}``."""

FinishReason = Literal["stop", "length"]

MODELS: Mapping[str, int] = {
    "chat-text-base": 8192,
    "chat-text-mini": 512,
}
"""The built-in models: name → context window in tokens (prompt + completion)."""

MESSAGE_OVERHEAD = 3
"""Tokens every message costs on top of its content (role marker and separators)."""

ANSWER_BASE = 3
"""Tokens of the natural answer to an empty last message."""

ANSWER_PER_TOKEN = 2
"""Tokens of natural answer per token of the last message's content."""

VOCABULARY: tuple[str, ...] = (
    "the", "a", "model", "answer", "river", "light", "sea", "word", "simple", "clear",
    "it", "is", "was", "and", "of", "to", "in", "that", "this", "every", "small", "large",
    "question", "reply", "keeper", "night", "morning", "story", "count", "three", "one",
    "two", "water", "mountain", "path", "stone", "idea", "short", "long", "true",
)  # fmt: skip
"""Words the generator uses besides the words of the conversation."""

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_SENTENCE_MIN = 4
_SENTENCE_SPAN = 9


class PromptTooLong(Exception):
    """The prompt cannot fit the model's context window (spec code ``prompt_too_long``)."""

    def __init__(self, prompt_tokens: int, context_length: int, model: str = "") -> None:
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        self.model = model
        name = f"model {model}" if model else "the model"
        super().__init__(
            f"The prompt needs {prompt_tokens} tokens after truncation but {name} has a "
            f"context window of {context_length} tokens, leaving no room for an answer."
        )


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens: runs of word characters and single other non-space chars."""
    return _TOKEN_RE.findall(text)


def count_message_tokens(message: Message) -> int:
    """Tokens one message costs in the prompt: overhead plus its content's tokens."""
    return MESSAGE_OVERHEAD + len(tokenize(message["content"]))


def count_prompt_tokens(messages: Sequence[Message]) -> int:
    """Tokens of a whole prompt: the sum of :func:`count_message_tokens`."""
    return sum(count_message_tokens(m) for m in messages)


def truncate_messages(
    messages: Sequence[Message], prompt_truncate_len: int, context_length: int
) -> tuple[list[Message], int]:
    """Evict the oldest evictable messages until the prompt fits ``prompt_truncate_len``.

    Returns the kept messages (in order) and their prompt token count. Raises
    :class:`PromptTooLong` when the kept prompt leaves no room in ``context_length``.
    """
    costs = [count_message_tokens(m) for m in messages]
    total = sum(costs)
    evicted: set[int] = set()
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if total <= prompt_truncate_len:
            break
        if i == last or message["role"] == "system":
            continue
        evicted.add(i)
        total -= costs[i]
    if total >= context_length:
        raise PromptTooLong(total, context_length)
    kept = [m for i, m in enumerate(messages) if i not in evicted]
    return kept, total


def fit_max_tokens(prompt_tokens: int, max_tokens: int, context_length: int) -> int:
    """``max_tokens`` lowered to the room left in the context window (at least 1)."""
    room = context_length - prompt_tokens
    if room < 1:
        raise PromptTooLong(prompt_tokens, context_length)
    return min(max_tokens, room)


def natural_length(messages: Sequence[Message]) -> int:
    """How many tokens the model's answer has when nothing stops it early."""
    return ANSWER_BASE + ANSWER_PER_TOKEN * len(tokenize(messages[-1]["content"]))


def _lower(word: str) -> str:
    lowered = word.lower()
    return lowered if _TOKEN_RE.fullmatch(lowered) else word


def seed_for(model: str, messages: Sequence[Message]) -> int:
    """The temperature-0 seed: a stable hash of the model name and the kept messages."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(model.encode("utf-8", "surrogatepass"))
    for message in messages:
        digest.update(b"\x00" + message["role"].encode())
        digest.update(b"\x01" + message["content"].encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest(), "big")


def generate(
    messages: Sequence[Message],
    max_tokens: int,
    temperature: float,
    *,
    model: str = "",
    seed: int | None = None,
) -> tuple[list[str], FinishReason]:
    """Generate the answer to ``messages`` as one-token pieces, at most ``max_tokens`` of them.

    ``seed`` overrides the seed (by default: :func:`seed_for` at temperature 0, the OS random
    source otherwise). Returns the pieces and ``"length"`` if generation stopped at
    ``max_tokens``, ``"stop"`` if the answer ended on its own.
    """
    if seed is None:
        seed = seed_for(model, messages) if temperature == 0 else int.from_bytes(os.urandom(8))
    rng = random.Random(seed)  # noqa: S311 - a toy language model, not cryptography
    words = [_lower(t) for m in messages for t in tokenize(m["content"]) if t[0].isalnum()]
    pool = tuple(words[-64:]) + VOCABULARY
    natural = natural_length(messages)
    count = min(natural, max_tokens)
    pieces: list[str] = []
    left_in_sentence = 0
    for i in range(count):
        if i == natural - 1 or left_in_sentence == 1:
            pieces.append(".")
            left_in_sentence = 0
            continue
        word = rng.choice(pool)
        if left_in_sentence == 0:
            capital = word[:1].upper() + word[1:]
            word = capital if _TOKEN_RE.fullmatch(capital) else word
            left_in_sentence = _SENTENCE_MIN + rng.randrange(_SENTENCE_SPAN)
        else:
            left_in_sentence -= 1
        pieces.append(word if i == 0 else " " + word)
    finish: FinishReason = "length" if count < natural else "stop"
    return pieces, finish
