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
    sentences of words drawn from the last message's (lower-cased) words and a fixed
    vocabulary. A sentence's first word is capitalised and decides the sentence's length
    (``4 + len(word) % 9`` words, then ``"."``); the natural answer always ends with ``"."``.

    Word ``i`` is ``pool[draw_i % len(pool)]``, where the draws are 32-bit numbers read from
    SHAKE-256 of a 64-bit seed (an extendable-output hash: one draw per token). At
    temperature 0 the seed is a hash of the model name and the kept messages (``seed_for``),
    so the same request always gives the same text, and a smaller ``max_tokens`` gives a
    prefix of the longer answer. At temperature > 0 the seed comes from the operating
    system's random source, so answers vary (their length does not). The pool is the last
    message's lower-cased words (its last 64) followed by ``VOCABULARY``.

    ``top_p`` (nucleus sampling) narrows the word choice. The pool counts as ranked from most
    to least likely, each entry an equal share of the probability: the last message's words
    first, then the vocabulary in its order. Only the first ``ceil(top_p * len(pool))``
    entries (``nucleus_size``; at least one) can be drawn, so ``top_p: 1`` (the spec's default)
    keeps the whole pool and a small ``top_p`` makes the answer repeat the last message's own
    words; a ``top_p`` under ``1 / len(pool)`` leaves only the first of them.
    The draws and the answer's length do not depend on ``top_p``, so it changes which words
    are said, never how many tokens.

    The answer is returned as *pieces*, one token each: a word piece carries its leading
    space (except the very first), a punctuation piece has none. Joining the pieces gives
    the content, and ``tokenize(content)`` gives back exactly ``len(pieces)`` tokens, so
    ``completion_tokens == len(tokenize(content))``.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from array import array
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
    "nucleus_size",
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
_POOL_WORDS = 64
_MASK64 = (1 << 64) - 1
_VOCABULARY_SPACED = tuple(" " + w for w in VOCABULARY)
_CAPITALS: dict[str, str] = {}
_CAPITALS_MAX = 4096
_ARRAY_I_IS_32_BITS = array("I").itemsize == 4
_NATIVE_DRAWS = _ARRAY_I_IS_32_BITS and sys.byteorder == "little"


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
    if total <= prompt_truncate_len:  # the usual case: nothing to evict
        if total >= context_length:
            raise PromptTooLong(total, context_length)
        return list(messages), total
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


def nucleus_size(pool_size: int, top_p: float) -> int:
    """How many of the ranked pool's ``pool_size`` words ``top_p`` keeps:
    ``ceil(top_p * pool_size)``, at least 1 and at most ``pool_size``."""
    # round() first: 0.1 * 40 is 4.000000000000001 in binary floating point, not 5 words.
    return min(pool_size, max(1, math.ceil(round(top_p * pool_size, 9))))


def seed_for(model: str, messages: Sequence[Message]) -> int:
    """The temperature-0 seed: a stable hash of the model name and the kept messages."""
    # One hash call over the joined parts: the same digest as one update() per part.
    parts = [model.encode("utf-8", "surrogatepass")]
    for message in messages:
        parts += (
            b"\x00",
            message["role"].encode(),
            b"\x01",
            message["content"].encode("utf-8", "surrogatepass"),
        )
    return int.from_bytes(hashlib.blake2b(b"".join(parts), digest_size=8).digest(), "big")


def _capitalised(word: str) -> str:
    """``word`` with a capital first letter, unless that would not be one token any more."""
    capital = _CAPITALS.get(word)
    if capital is None:
        capital = word[:1].upper() + word[1:]
        capital = capital if _TOKEN_RE.fullmatch(capital) else word
        if len(_CAPITALS) < _CAPITALS_MAX:
            _CAPITALS[word] = capital
    return capital


def _draws(seed: int, count: int) -> Sequence[int]:
    """``count`` pseudo-random 32-bit numbers from ``seed`` (SHAKE-256 output, little-endian).

    An extendable-output hash: the first ``k`` draws are the same for every ``count >= k``.
    """
    stream = hashlib.shake_256((seed & _MASK64).to_bytes(8, "big")).digest(4 * count)
    if _NATIVE_DRAWS:
        return array("I", stream)
    return _portable_draws(stream)  # pragma: no cover - big-endian or exotic platforms


def _portable_draws(stream: bytes) -> Sequence[int]:  # pragma: no cover - see _draws
    """Little-endian 32-bit numbers from ``stream`` where ``array("I")`` is not exactly that."""
    if _ARRAY_I_IS_32_BITS:  # big-endian: the same answers after a byte swap
        draws = array("I", stream)
        draws.byteswap()
        return draws
    return [int.from_bytes(stream[i : i + 4], "little") for i in range(0, len(stream), 4)]


def generate(
    messages: Sequence[Message],
    max_tokens: int,
    temperature: float,
    *,
    top_p: float | None = None,
    model: str = "",
    seed: int | None = None,
) -> tuple[list[str], FinishReason]:
    """Generate the answer to ``messages`` as one-token pieces, at most ``max_tokens`` of them.

    ``top_p`` keeps the first :func:`nucleus_size` words of the ranked pool (``None``: the
    whole pool; the server always passes the request's value, the spec's default applied).
    ``seed`` overrides the seed (by default: :func:`seed_for` at temperature 0, the OS random
    source otherwise). Returns the pieces and ``"length"`` if generation stopped at
    ``max_tokens``, ``"stop"`` if the answer ended on its own.
    """
    if seed is None:
        seed = seed_for(model, messages) if temperature == 0 else int.from_bytes(os.urandom(8))
    # The pool's words, each with its leading space: word i of the pool is spaced[i][1:].
    own = [" " + t for t in tokenize(messages[-1]["content"].lower()) if t[0].isalnum()]
    spaced = (*own[-_POOL_WORDS:], *_VOCABULARY_SPACED)
    if top_p is not None:
        spaced = spaced[: nucleus_size(len(spaced), top_p)]
    natural = natural_length(messages)
    count = min(natural, max_tokens)
    size = len(spaced)
    words = [spaced[i % size] for i in _draws(seed, count)]
    pieces: list[str] = []
    at = 0
    while at < count:
        # A sentence: its first word (capitalised) decides how many words it has; then ".".
        first = words[at][1:]
        end = min(at + _SENTENCE_MIN + len(first) % _SENTENCE_SPAN, count)
        capital = _capitalised(first)
        pieces.append(" " + capital if at else capital)
        pieces += words[at + 1 : end]
        at = end
        if at < count:
            pieces.append(".")
            at += 1
    if count == natural:
        pieces[-1] = "."  # the natural answer ends its last sentence
    finish: FinishReason = "length" if count < natural else "stop"
    return pieces, finish
