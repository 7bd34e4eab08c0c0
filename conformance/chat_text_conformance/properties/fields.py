"""Properties of the request fields' meaning: null ≡ omitted ≡ the spec's default, and (strict)
finish_reason ``length`` when max_tokens cut an answer short."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from ..checks.registry import spec, vendor
from ..engine.harness import Answer, PropertyRun, Violation, prop, same
from ..engine.target import Level
from ._conversations import SEEDS, conversations, question

__all__ = ["finish_reason_matches_max_tokens", "null_and_omitted_mean_default"]


@prop(
    "for every optional field, omitted, null and the spec's default value mean the same: the "
    "same prompt_tokens, the default max_tokens respected (strict: the same answer)",
    sources=[
        spec("/info/description"),
        spec("/components/schemas/ChatTextRequest/properties/max_tokens/description"),
    ],
)
def null_and_omitted_mean_default(run: PropertyRun) -> None:
    """Defaults come from the spec. Each variant succeeds as JSON (the default of ``stream``);
    the per-response rules check completion_tokens against the default max_tokens for omitted
    and null alike (``null`` read as "no limit" shows up there), and the identical repeat of a
    request gets a new id. Prompt tokens do not depend on sampling, so all variants count the
    same. At the strict level the answers at temperature 0 are identical too.
    """
    defaults = run.defaults
    max_turns, max_words = run.conversation_budget()
    default_cap = defaults.get("max_tokens")
    context = run.target.context_length
    # The max_tokens question is as long as the window allows while leaving more than the
    # default of room: a long answer then runs past the default on a server that reads null
    # (or its own default) as a larger number.
    room = 300 if context is None or not isinstance(default_cap, int) else context - default_cap
    long_question = max(5, min(400, run.words_for(room - 16)))

    def example(drawn: tuple[list[dict[str, str]], int]) -> None:
        conversation, words = drawn
        for name, value in defaults.items():
            fixed = {} if name == "temperature" else {"temperature": run.cold}
            messages = question(words) if name == "max_tokens" else conversation
            answers: list[tuple[str, Answer]] = []
            variants: list[tuple[str, dict[str, Any]]] = [
                ("omitted", {}),
                ("null", {name: None}),
                (f"{value!r}", {name: value}),
            ]
            if name == "max_tokens":  # the same request twice: a new id, the same count
                variants.insert(1, ("omitted, sent again", {}))
            for label, extra in variants:
                what = f"{name} {label}"
                answers.append((what, run.complete(messages, what, **fixed, **extra)))
            (base_what, base), *others = answers
            for what, other in others:
                if other.usage.prompt != base.usage.prompt:
                    raise Violation(
                        f"{what} and {base_what} count different prompt_tokens",
                        expected=f"prompt_tokens == {base.usage.prompt}",
                        actual=f"prompt_tokens == {other.usage.prompt}",
                        reply=other.reply,
                        related=[base.reply],
                    )
                if run.level is Level.STRICT and name != "temperature":
                    same(f"{what} vs {base_what} at temperature 0", base, other)

    strategy = st.tuples(
        conversations(max_turns, max_words),
        st.integers(long_question * 3 // 4, long_question),
    )
    per_example = 3 * len(defaults) + 1
    run.examples(strategy, example, budget=run.examples_for(per_example))


@prop(
    "strict: an answer cut short by max_tokens (a prefix of the same request's longer answer "
    "at temperature 0) has finish_reason length and completion_tokens == max_tokens",
    sources=[
        spec("/components/schemas/FinishReason/description"),
        vendor("lower values like 0.2 will make it more focused and deterministic."),
    ],
    level=Level.STRICT,
)
def finish_reason_matches_max_tokens(run: PropertyRun) -> None:
    """Assumes temperature 0 is deterministic (the strict level's premise): a first answer shows
    how long the model's answer runs; asked again with a smaller max_tokens, an answer that is a
    proper prefix of the first was cut by max_tokens, so it must be exactly max_tokens long and
    say ``length``."""

    def example(drawn: tuple[int, int, int]) -> None:
        words, first_cap, pick_seed = drawn
        messages = question(words)
        pick = random.Random(pick_seed)  # noqa: S311
        first = run.complete(
            messages, f"max_tokens={first_cap}", max_tokens=first_cap, temperature=run.cold
        )
        if first.usage.completion < 2:
            return
        cap = pick.randint(run.min_tokens, first.usage.completion - 1)
        second = run.complete(messages, f"max_tokens={cap}", max_tokens=cap, temperature=run.cold)
        cut = second.content != first.content and first.content.startswith(second.content)
        if cut and (second.finish_reason != "length" or second.usage.completion != cap):
            raise Violation(
                f"max_tokens={cap}: the answer was cut short of the model's own answer "
                f"({first.usage.completion} tokens at max_tokens={first_cap}) but does not "
                "report reaching max_tokens",
                expected=f"finish_reason length and completion_tokens == {cap}",
                actual=(
                    f"finish_reason {second.finish_reason}, "
                    f"completion_tokens {second.usage.completion}"
                ),
                reply=second.reply,
                related=[first.reply],
            )

    strategy = st.tuples(st.integers(1, 20), st.integers(run.min_tokens, 80), SEEDS)
    run.examples(strategy, example)  # strict only: the whole budget
