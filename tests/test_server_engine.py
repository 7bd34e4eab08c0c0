"""The reference server's deterministic engine, function by function (no HTTP)."""

from __future__ import annotations

import pytest

from chat_text_server import engine
from chat_text_server.engine import PromptTooLong


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def test_tokenize_splits_words_and_punctuation() -> None:
    assert engine.tokenize("Hi, you!") == ["Hi", ",", "you", "!"]
    assert engine.tokenize("  spaced   out\n") == ["spaced", "out"]
    assert engine.tokenize("") == []
    assert engine.tokenize("...") == [".", ".", "."]
    assert engine.tokenize("snake_case 42") == ["snake_case", "42"]
    assert engine.tokenize("café noir") == ["café", "noir"]


def test_prompt_tokens_are_overhead_plus_content() -> None:
    messages = [msg("system", "Be brief."), msg("user", "Hello there")]
    expected = 2 * engine.MESSAGE_OVERHEAD + 3 + 2
    assert engine.count_prompt_tokens(messages) == expected
    assert engine.count_message_tokens(msg("user", "")) == engine.MESSAGE_OVERHEAD


def test_truncation_keeps_everything_when_it_fits() -> None:
    messages = [msg("user", "one two"), msg("assistant", "three"), msg("user", "four")]
    kept, tokens = engine.truncate_messages(messages, 1000, 8192)
    assert kept == messages
    assert tokens == engine.count_prompt_tokens(messages)


def test_truncation_evicts_oldest_user_and_assistant_first_and_keeps_system_and_last() -> None:
    system = msg("system", "rules " * 5)
    old_user = msg("user", "first question " * 5)
    old_assistant = msg("assistant", "first answer " * 5)
    newer_user = msg("user", "second")
    last = msg("user", "final question")
    messages = [system, old_user, old_assistant, newer_user, last]
    limit = engine.count_prompt_tokens([system, newer_user, last])
    kept, tokens = engine.truncate_messages(messages, limit, 8192)
    assert kept == [system, newer_user, last]
    assert tokens == limit


def test_truncation_never_evicts_system_or_last_even_when_over_the_limit() -> None:
    system = msg("system", "word " * 50)
    last = msg("user", "word " * 50)
    messages = [system, msg("user", "x"), last]
    kept, tokens = engine.truncate_messages(messages, 10, 8192)
    assert kept == [system, last]
    assert tokens > 10


def test_kept_messages_longer_than_the_context_window_are_prompt_too_long() -> None:
    with pytest.raises(PromptTooLong) as info:
        engine.truncate_messages([msg("user", "word " * 600)], 1500, 512)
    assert info.value.prompt_tokens == 600 + engine.MESSAGE_OVERHEAD
    assert info.value.context_length == 512


def test_a_prompt_exactly_filling_the_window_leaves_no_room() -> None:
    content = "w " * (512 - engine.MESSAGE_OVERHEAD)
    with pytest.raises(PromptTooLong):
        engine.truncate_messages([msg("user", content)], 1500, 512)


def test_fit_max_tokens_lowers_to_the_room_left() -> None:
    assert engine.fit_max_tokens(100, 50, 512) == 50
    assert engine.fit_max_tokens(500, 50, 512) == 12
    assert engine.fit_max_tokens(511, 50, 512) == 1
    with pytest.raises(PromptTooLong):
        engine.fit_max_tokens(512, 50, 512)


def test_natural_length_grows_with_the_last_message() -> None:
    short = engine.natural_length([msg("user", "Hi")])
    long = engine.natural_length([msg("user", "word " * 100)])
    assert short == engine.ANSWER_BASE + engine.ANSWER_PER_TOKEN
    assert long == engine.ANSWER_BASE + 100 * engine.ANSWER_PER_TOKEN


def test_generation_stops_on_its_own_or_at_max_tokens() -> None:
    messages = [msg("user", "What is the capital of France?")]
    natural = engine.natural_length(messages)
    pieces, finish = engine.generate(messages, 200, 0)
    assert (len(pieces), finish) == (natural, "stop")
    assert pieces[-1] == "."
    pieces, finish = engine.generate(messages, natural - 1, 0)
    assert (len(pieces), finish) == (natural - 1, "length")
    pieces, finish = engine.generate(messages, natural, 0)
    assert (len(pieces), finish) == (natural, "stop")


def test_temperature_zero_is_deterministic_and_shorter_answers_are_prefixes() -> None:
    messages = [msg("system", "Be kind."), msg("user", "Tell me about rivers and the sea")]
    first, _ = engine.generate(messages, 200, 0, model="chat-text-base")
    again, _ = engine.generate(messages, 200, 0, model="chat-text-base")
    short, _ = engine.generate(messages, 7, 0, model="chat-text-base")
    assert first == again
    assert short == first[:7]
    other, _ = engine.generate([msg("user", "Something else entirely")], 200, 0)
    assert other != first


def test_positive_temperature_varies() -> None:
    messages = [msg("user", "Tell me a story about the lighthouse keeper and the sea " * 3)]
    answers = {"".join(engine.generate(messages, 60, 1.0)[0]) for _ in range(5)}
    assert len(answers) > 1


def test_an_explicit_seed_reproduces_a_positive_temperature_answer() -> None:
    messages = [msg("user", "Count to three")]
    assert engine.generate(messages, 50, 1.5, seed=7) == engine.generate(messages, 50, 1.5, seed=7)


@pytest.mark.parametrize(
    "content",
    [
        "What is the capital of France?",
        "ΐ ǰ ß İstanbul ﬁsh naïve 東京 snake_case 3.14 !!",
        "",
        "word " * 300,
    ],
)
def test_the_content_retokenizes_to_exactly_the_pieces(content: str) -> None:
    pieces, _ = engine.generate([msg("user", content)], 1000, 0)
    assert engine.tokenize("".join(pieces)) == [p.strip() for p in pieces]
    assert all(p.strip() for p in pieces)


# -- top_p: nucleus sampling narrows the word choice ------------------------------------------


def _words(pieces: list[str]) -> set[str]:
    """The distinct words of an answer, lower-cased (sentence capitals undone)."""
    return {p.strip().lower() for p in pieces if p.strip()[:1].isalnum()}


@pytest.mark.parametrize(
    ("pool", "top_p", "kept"),
    [(40, 1, 40), (40, 1.0, 40), (40, 0.5, 20), (40, 0.1, 4), (43, 0.5, 22), (40, 0.01, 1),
     (40, 1e-9, 1), (1, 0.3, 1), (64 + 40, 0.25, 26)],
)  # fmt: skip
def test_nucleus_size_is_the_ceiling_of_top_p_times_the_pool(
    pool: int, top_p: float, kept: int
) -> None:
    assert engine.nucleus_size(pool, top_p) == kept


def test_top_p_one_keeps_the_whole_pool() -> None:
    messages = [msg("user", "Tell me about rivers and the sea")]
    for seed in (1, 2, 3):
        whole = engine.generate(messages, 120, 1.0, seed=seed)
        assert engine.generate(messages, 120, 1.0, top_p=1, seed=seed) == whole
        assert engine.generate(messages, 120, 1.0, top_p=1.0, seed=seed) == whole


def test_a_small_top_p_draws_only_the_most_likely_words() -> None:
    content = "Tell me about rivers and the sea"
    messages = [msg("user", content)]
    own = [w.lower() for w in engine.tokenize(content)]  # the pool's first, most likely words
    pool_size = len(own) + len(engine.VOCABULARY)
    # 7 own words + 40 vocabulary words: top_p 0.1 keeps ceil(4.7) = 5 words, all the message's.
    assert engine.nucleus_size(pool_size, 0.1) == 5
    for seed in range(20):
        pieces, _ = engine.generate(messages, 150, 1.0, top_p=0.1, seed=seed)
        assert _words(pieces) <= set(own[:5])
    # Under 1 / len(pool) only the very first word is left: the answer repeats it.
    pieces, _ = engine.generate(messages, 150, 0, top_p=0.01)
    assert _words(pieces) == {"tell"}
    # At the default the vocabulary is drawn from too.
    pieces, _ = engine.generate(messages, 150, 0, top_p=1)
    assert _words(pieces) - set(own)


def test_top_p_changes_the_words_never_the_length_or_finish_reason() -> None:
    messages = [msg("system", "Be kind."), msg("user", "Name three colours of the sea")]
    whole, whole_finish = engine.generate(messages, 200, 0, model="chat-text-base")
    for top_p in (0.9, 0.5, 0.2, 0.05):
        pieces, finish = engine.generate(messages, 200, 0, top_p=top_p, model="chat-text-base")
        assert (len(pieces), finish) == (len(whole), whole_finish)
        assert engine.tokenize("".join(pieces)) == [p.strip() for p in pieces]
    narrowed, _ = engine.generate(messages, 200, 0, top_p=0.2, model="chat-text-base")
    assert narrowed != whole
    # Deterministic at temperature 0, and a smaller max_tokens still gives a prefix.
    again, _ = engine.generate(messages, 200, 0, top_p=0.2, model="chat-text-base")
    short, finish = engine.generate(messages, 9, 0, top_p=0.2, model="chat-text-base")
    assert again == narrowed
    assert (short, finish) == (narrowed[:9], "length")
