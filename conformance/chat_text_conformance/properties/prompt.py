"""Properties of the prompt: truncation to prompt_truncate_len and the count of prompt tokens.

Nothing here assumes a tokenizer or a chat template: every count is compared with counts the
same server reported for other requests.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from ..checks.registry import spec, vendor
from ..engine.harness import PropertyRun, Violation, prop
from ._conversations import SEEDS, WORDS, conversations

__all__ = ["prompt_tokens_count_every_message", "truncation_keeps_newest_turns"]

_PTL = "/components/schemas/ChatTextRequest/properties/prompt_truncate_len/description"


@prop(
    "a truncated prompt costs exactly what the messages a correct truncation keeps cost "
    "(oldest user/assistant turns evicted first; system and last messages kept)",
    sources=[
        spec(_PTL),
        vendor(
            "Earlier user/assistant messages will be evicted to fit the prompt into this length."
        ),
    ],
)
def truncation_keeps_newest_turns(run: PropertyRun) -> None:
    """For a conversation, the server itself reports ``p[j]``: prompt_tokens of the conversation
    with its ``j`` oldest user/assistant turns removed (nothing evicted, ptl at its maximum).
    A correct server given ``prompt_truncate_len = L`` keeps the smallest such suffix that fits:
    ``prompt_tokens == p[j*]``, ``j* = min{j : p[j] <= L}``, or only the system messages and the
    last message when none fits. Limits are chosen at and next to the ``p[j]`` so that an
    off-by-one at the limit, newest-first eviction, evicting a system or the last message and
    ignoring the limit all give a different count. Removing turns never raises prompt_tokens.
    """
    max_turns, max_words = run.conversation_budget()
    ptl_min: int = run.bound("prompt_truncate_len", "minimum")

    def example(drawn: tuple[list[dict[str, str]], int]) -> None:
        messages, pick_seed = drawn
        # Choices that depend on the server's answers come from a seeded random, not from
        # hypothesis: its draws must not depend on anything outside the strategy.
        pick = random.Random(pick_seed)  # noqa: S311
        evictable = [i for i, m in enumerate(messages[:-1]) if m["role"] != "system"]
        costs: list[int] = []
        replies = []
        for j in range(len(evictable) + 1):
            gone = set(evictable[:j])
            cost, reply = run.measure([m for i, m in enumerate(messages) if i not in gone])
            costs.append(cost)
            replies.append(reply)
            if j and costs[j] > costs[j - 1]:
                raise Violation(
                    "removing an earlier turn increased prompt_tokens",
                    expected=f"prompt_tokens <= {costs[j - 1]} with {j} oldest turns removed",
                    actual=f"prompt_tokens == {costs[j]}",
                    reply=reply,
                    related=[replies[j - 1]],
                )
        kept_only = costs[-1]
        j = pick.randint(1, len(evictable))
        # at a boundary, just below it, below what the kept messages alone cost (only they
        # remain), and anywhere
        limits = [costs[j], costs[j] - 1, pick.randint(ptl_min, max(ptl_min, kept_only - 1))]
        limits.append(pick.randint(ptl_min, max(ptl_min, costs[0] + 5)))
        for limit in dict.fromkeys(x for x in limits if x >= ptl_min):
            fits = [k for k, cost in enumerate(costs) if cost <= limit]
            keep = fits[0] if fits else len(costs) - 1
            expected = costs[keep]
            answer = run.complete(
                messages,
                f"prompt_truncate_len={limit}",
                prompt_truncate_len=limit,
                max_tokens=run.min_tokens,
            )
            got = answer.usage.prompt
            if got == expected:
                continue
            if got < kept_only:
                why = "a message that must be kept (a system message or the last one) was evicted"
            elif got > expected and got > limit:
                why = "the prompt was not cut down to prompt_truncate_len (too few turns evicted)"
            elif got < expected:
                why = (
                    "more turns were evicted than needed (newest first, or off by one at the limit)"
                )
            else:
                why = "the kept turns are not the newest ones (evicted in the wrong order)"
            raise Violation(
                f"prompt_truncate_len={limit}: {why}",
                expected=(
                    f"prompt_tokens == {expected}: system messages, the last message and the "
                    f"{len(evictable) - keep} newest of {len(evictable)} user/assistant turns "
                    f"(the server's own counts with 0..{len(evictable)} oldest turns removed: "
                    f"{costs})"
                ),
                actual=f"prompt_tokens == {got}",
                reply=answer.reply,
                related=replies,
            )

    conversation = conversations(max_turns, max_words, min_turns=3)
    # an example: one measurement per evictable turn (up to 6) + 1, and up to 4 limits
    run.examples(st.tuples(conversation, SEEDS), example, budget=run.examples_for(10))


@prop(
    "every message counts: a longer system, middle or last message raises prompt_tokens",
    sources=[spec("/components/schemas/Usage/properties/prompt_tokens/description")],
)
def prompt_tokens_count_every_message(run: PropertyRun) -> None:
    """Nothing is evicted (prompt_truncate_len at its maximum). The first (system), a middle and
    the last message each get a few more words; each time prompt_tokens must grow. Catches a
    count that skips a role, the last message or the system prompt, or a constant count.
    """
    max_turns, max_words = run.conversation_budget()

    def example(drawn: tuple[list[dict[str, str]], int]) -> None:
        messages, extra = drawn
        base, base_reply = run.measure(messages)
        more = " " + " ".join(WORDS[-extra:])
        for i in sorted({0, len(messages) // 2, len(messages) - 1}):
            longer = [dict(m) for m in messages]
            longer[i]["content"] += more
            got, reply = run.measure(longer)
            if got <= base:
                raise Violation(
                    f"{extra} more words in message {i} ({messages[i]['role']}) did not raise "
                    "prompt_tokens",
                    expected=f"prompt_tokens > {base}",
                    actual=f"prompt_tokens == {got}",
                    reply=reply,
                    related=[base_reply],
                )

    strategy = st.tuples(conversations(max_turns, max_words), st.integers(3, 12))
    run.examples(strategy, example, budget=run.examples_for(6))
