"""Conversations built for the properties: words (with non-ASCII text, quotes and escapes a
server must count, echo and stream like any other), drawn conversations and long prompts."""

from __future__ import annotations

from hypothesis import strategies as st

import chat_text_spec

__all__ = [
    "OTHER_WORDS",
    "SEEDS",
    "WORDS",
    "content_max_length",
    "conversation_budget",
    "conversations",
    "long_prompt",
    "question",
]

WORDS: tuple[str, ...] = (
    "river", "mountain", "lighthouse", "keeper", "harbour", "island", "forest", "winter",
    "summer", "morning", "evening", "garden", "window", "letter", "story", "question",
    "answer", "travel", "village", "bridge", "market", "silver", "golden", "quiet",
    "bright", "ancient", "gentle", "storm", "cloud", "thunder", "valley", "meadow",
    "please", "explain", "describe", "remember", "compare", "history", "science", "music",
)  # fmt: skip
# Drawn conversations also use these: non-ASCII text, punctuation and quotes that a server
# must count, echo and stream (JSON escaping, UTF-8 split across chunks) like any other.
OTHER_WORDS: tuple[str, ...] = (
    "café", "Zürich", "naïve", "東京", "🌊", "don't", '"quoted"', "a\\b", "x<y>", "tab\tbed",
)  # fmt: skip


def words_text(count: int, draw: st.DrawFn) -> str:
    words = st.sampled_from(WORDS + OTHER_WORDS)
    return " ".join(draw(st.lists(words, min_size=count, max_size=count)))


@st.composite
def conversations(
    draw: st.DrawFn, max_turns: int, max_words: int, min_turns: int = 1
) -> list[dict[str, str]]:
    """system + alternating user/assistant turns of distinct sizes + a last message.

    Distinct sizes make newest-first and oldest-first eviction cost different token counts.
    """
    turns = draw(st.integers(min(min_turns, max_turns), max_turns))
    sizes = draw(st.lists(st.integers(1, max_words), min_size=turns, max_size=turns, unique=True))
    messages = [{"role": "system", "content": words_text(draw(st.integers(1, 6)), draw)}]
    mid_system = draw(st.integers(0, turns)) if turns > 1 and draw(st.booleans()) else -1
    for i, size in enumerate(sizes):
        if i == mid_system:
            messages.append(
                {"role": "system", "content": words_text(draw(st.integers(1, 4)), draw)}
            )
        role = "user" if i % 2 == 0 else "assistant"
        messages.append({"role": role, "content": words_text(size, draw)})
    last_role = draw(st.sampled_from(["user", "user", "assistant"]))
    messages.append({"role": last_role, "content": words_text(draw(st.integers(1, 8)), draw)})
    return messages


SEEDS = st.integers(0, 2**32 - 1)


def question(words: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(WORDS[i % len(WORDS)] for i in range(words))}]


def long_prompt(words: int) -> list[dict[str, str]]:
    """A ``words``-word prompt no truncation can shorten: system messages + the last message.

    Split so that no message is longer than the spec's maxLength for content.
    """
    text = question(words)[0]["content"]
    size = content_max_length()
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", 0, size)
        parts.append(text[:cut])
        text = text[cut + 1 :]
    return [{"role": "system", "content": p} for p in parts] + [{"role": "user", "content": text}]


def content_max_length() -> int:
    items = chat_text_spec.resolve(
        chat_text_spec.request_schema()["properties"]["messages"]["items"]
    )
    limit: int = chat_text_spec.resolve(items["properties"]["content"])["maxLength"]
    return limit


def conversation_budget(context_length: int | None) -> tuple[int, int]:
    """(max turns, max words per turn) that keep a whole conversation well inside the model."""
    if context_length is None:
        return 6, 12
    words = max(2, min(12, context_length // 30))
    return min(6, words), words
