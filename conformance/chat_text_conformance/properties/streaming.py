"""Properties of streams compared with plain answers, and (strict) of determinism at
temperature 0. The framing of each stream is judged by the per-response rules."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ..checks.registry import OPERATION, spec, vendor
from ..engine.harness import PropertyRun, Violation, prop, same
from ..engine.target import Level
from ._conversations import conversations

__all__ = [
    "stream_matches_non_stream",
    "stream_usage_in_last_chunk",
    "temperature_zero_deterministic",
]

StreamCase = tuple[list[dict[str, str]], int, int | None]
_DETERMINISTIC = "lower values like 0.2 will make it more focused and deterministic."


def _stream_cases(run: PropertyRun) -> st.SearchStrategy[StreamCase]:
    """A conversation, max_tokens and (sometimes) a small prompt_truncate_len."""
    max_turns, max_words = run.conversation_budget()
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")
    return st.tuples(
        conversations(max_turns, max_words),
        st.integers(run.min_tokens, 60),
        st.none() | st.integers(ptl_min, 80),
    )


def _fields(run: PropertyRun, drawn: StreamCase) -> tuple[list[dict[str, str]], dict[str, Any]]:
    messages, max_tokens, ptl = drawn
    fields: dict[str, Any] = {"max_tokens": max_tokens, "temperature": run.cold}
    if ptl is not None:
        fields["prompt_truncate_len"] = ptl
    return messages, fields


@prop(
    "a stream of a request counts the same prompt_tokens as the same request unstreamed "
    "(its framing, usage and max_tokens are judged by the per-response rules)",
    sources=[
        spec(f"{OPERATION}/responses/200/description"),
        vendor(
            "For streaming responses, usage field is included in the very last response "
            "chunk returned."
        ),
    ],
)
def stream_usage_in_last_chunk(run: PropertyRun) -> None:
    """Truncation and prompt counting must not depend on the code path that answers."""

    def example(drawn: StreamCase) -> None:
        messages, fields = _fields(run, drawn)
        streamed = run.stream(messages, "the stream", **fields)
        plain = run.complete(messages, "the same request without stream", **fields)
        if plain.usage.prompt != streamed.usage.prompt:
            raise Violation(
                "the stream counts different prompt_tokens from the same request unstreamed",
                expected=f"prompt_tokens == {plain.usage.prompt}",
                actual=f"prompt_tokens == {streamed.usage.prompt}",
                reply=streamed.reply,
                related=[plain.reply],
            )

    run.examples(_stream_cases(run), example, budget=run.examples_for(3))


@prop(
    "strict: at temperature 0 the joined deltas, usage and finish_reason of a stream equal the "
    "same request's plain answer",
    sources=[spec(f"{OPERATION}/responses/200/description"), vendor(_DETERMINISTIC)],
    level=Level.STRICT,
)
def stream_matches_non_stream(run: PropertyRun) -> None:
    """Assumes temperature 0 is deterministic (the strict level's premise; the documents only
    say lower temperatures are "more focused and deterministic")."""

    def example(drawn: StreamCase) -> None:
        messages, fields = _fields(run, drawn)
        plain = run.complete(messages, "non-streamed", **fields)
        streamed = run.stream(messages, "streamed", **fields)
        same("the stream vs the same request unstreamed (temperature 0)", plain, streamed)

    run.examples(_stream_cases(run), example, budget=run.examples_for(2))


@prop(
    "strict: the same request at temperature 0 gives the same content, usage and finish_reason",
    sources=[vendor(_DETERMINISTIC)],
    level=Level.STRICT,
)
def temperature_zero_deterministic(run: PropertyRun) -> None:
    """The strict level's premise, checked directly: batched GPU servers need not keep it, so
    the semantic level never assumes it."""

    def example(drawn: StreamCase) -> None:
        messages, fields = _fields(run, drawn)
        first = run.complete(messages, "first", **fields)
        for attempt in range(2):
            again = run.complete(messages, f"repeat {attempt + 1}", **fields)
            same("the same request again at temperature 0", first, again)

    run.examples(_stream_cases(run), example, budget=run.examples_for(3))
