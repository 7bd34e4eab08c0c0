"""Properties of the context window (all but the short-prompt case need --context-length):
max_tokens lowered to the room left, one token of room is enough, no room is
``prompt_too_long``.

Prompts near the window are sized with the server's own counts of the very structure that is
sent (the long text is split into messages at the content limit, and each message may cost a
template overhead), so any tokenizer and any per-message overhead works. When no such prompt can
be built, the property is *not exercised*, with the reason; the server is never blamed for it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence

import chat_text_spec

from ..checks.registry import OPERATION, spec, vendor
from ..engine.harness import (
    NotExercised,
    PropertyRun,
    Reply,
    Violation,
    encode,
    error_body,
    expect_status,
    preview,
    prop,
)
from ._conversations import long_prompt, question

__all__ = [
    "context_window_boundary",
    "max_tokens_lowered_to_fit",
    "prompt_too_long_when_kept_messages_overflow",
]

_FIT_ATTEMPTS = 10


def _fit(run: PropertyRun, target: int, tolerance: int) -> tuple[list[dict[str, str]], int, Reply]:
    """A :func:`long_prompt` this server counts as ``target - tolerance <= cost <= target``.

    Each step measures the prompt actually sent and moves the word count by the measured slope
    (secant steps); a prompt refused as too long steps back.
    """
    base, per_word = run.calibration()  # a 40-word question: the first guess
    words = max(1, 40 + math.floor((target - base) / per_word))
    last: tuple[int, int] | None = None
    for _ in range(_FIT_ATTEMPTS):
        messages = long_prompt(words)
        if len(encode(run.body(messages))) > chat_text_spec.max_body_bytes():
            raise NotExercised(f"a prompt of {target} tokens does not fit x-max-body-bytes")
        cost, reply = run.measured(messages)
        if cost is None:  # over the window
            words = max(1, words - max(1, math.ceil(max(tolerance, target // 50) / per_word)))
            continue
        if target - tolerance <= cost <= target:
            return messages, cost, reply
        if last is not None and cost != last[1] and words != last[0]:
            per_word = max(1e-3, (cost - last[1]) / (words - last[0]))
        last = (words, cost)
        step = (target - tolerance // 2 - cost) / per_word
        words = max(1, words + (math.floor(step) if step > 0 else math.floor(step) - 1))
    raise NotExercised(
        f"could not build a prompt of {target - tolerance}..{target} tokens from this server's "
        f"counts in {_FIT_ATTEMPTS} measurements"
    )


def _padded(messages: Sequence[Mapping[str, str]], pad: str, times: int) -> list[dict[str, str]]:
    last = messages[-1]
    return [*map(dict, messages[:-1]), {**last, "content": last["content"] + pad * times}]


def _exact(run: PropertyRun, target: int) -> tuple[list[dict[str, str]], str]:
    """A prompt this server counts as exactly ``target`` tokens, and a piece that costs one
    token each time it is appended (checked). Built once per run and size: near-window prompts
    are the most expensive requests of a run."""
    with run.session.calibration:
        cached = run.session.near_window.get(target)
        if cached is None:
            cached = run.session.near_window[target] = _build_exact(run, target)
    if isinstance(cached, NotExercised):
        raise cached
    messages, pad = cached
    return messages, pad


def _build_exact(run: PropertyRun, target: int) -> tuple[list[dict[str, str]], str] | NotExercised:
    # fitted one token short at least, so that checking a piece (cost + 1) never measures a
    # prompt above ``target`` (a server refusing exactly there must not hide its own fault)
    try:
        messages, cost, _ = _fit(run, target - 1, tolerance=64)
    except NotExercised as reason:
        return reason
    missing = target - cost
    for pad in (" a", ".", " .", " x", "a", " abc"):
        if run.prompt_tokens(_padded(messages, pad, 1)) != cost + 1:
            continue
        padded = _padded(messages, pad, missing)
        if run.prompt_tokens(padded) == target:
            return padded, pad
    return NotExercised(f"no appended piece costs exactly one token per use near {target} tokens")


_LOWERED = (
    "If the token count of your prompt (previous messages) plus max_tokens exceed the model's "
    "context length,max_tokens will be lowered to fit in the context window instead of "
    "returning an error."
)


@prop(
    "max_tokens above the room left in the window is lowered, never an error",
    sources=[vendor(_LOWERED), spec(f"{OPERATION}/description")],
)
def max_tokens_lowered_to_fit(run: PropertyRun) -> None:
    """A short prompt with max_tokens at the spec's maximum always succeeds. With the context
    length, a prompt leaving ``room`` tokens of the window, asked for more than the room: 200,
    the per-response rules then check that the usage fits the window and finish_reason."""
    top: int = run.bound("max_tokens", "maximum")

    def short_prompt() -> None:
        run.complete(question(5), f"max_tokens={top}", max_tokens=top, temperature=run.cold)

    run.evaluate(short_prompt)
    context = run.target.context_length
    if context is None:
        run.result.note = "near-window cases not exercised: give --context-length"
        return

    def near() -> tuple[list[dict[str, str]], int]:
        messages, _ = _exact(run, context - 2)  # shared with context_window_boundary
        return messages, context - 2

    found = run.prepare(near)
    if found is None:
        return
    messages, cost = found

    def example(drawn: tuple[int, bool]) -> None:
        choice, streamed = drawn
        left = context - cost
        ask = [left + 1, top][choice]
        what = f"max_tokens={ask} with {left} tokens of room"
        body = run.body(messages, max_tokens=ask, temperature=run.cold)
        if streamed:
            body["stream"] = True
            what += ", streamed"
        reply = run.post(body)
        if reply.status == 400 and reply.error_code() == "prompt_too_long":
            raise Violation(
                f"{what}: refused as prompt_too_long instead of lowering max_tokens",
                expected=f"HTTP 200 with at most {left} completion tokens",
                actual=f"HTTP 400: {preview(reply.body)}",
                reply=reply,
            )
        answer = run.counted(body, what, reply)
        if answer.usage.prompt != cost:
            raise Violation(
                "prompt_tokens changed with max_tokens",
                expected=f"prompt_tokens == {cost} (same messages)",
                actual=f"prompt_tokens == {answer.usage.prompt}",
                reply=answer.reply,
            )

    # just over the room, and the spec's maximum (plain and streamed): the per-response rules
    # check each answer's usage against the window
    run.evaluate_all(
        [functools.partial(example, case) for case in ((0, False), (1, False), (1, True))]
    )


@prop(
    "a prompt leaving one token of room is answered (max_tokens lowered to 1); a prompt "
    "filling the window is prompt_too_long",
    sources=[spec(f"{OPERATION}/description")],
    needs_context_length=True,
)
def context_window_boundary(run: PropertyRun) -> None:
    """A prompt the server counts as ``context - 1`` tokens with max_tokens at the spec's maximum
    → 200, max_tokens lowered to 1. The same prompt plus one token (``context``) → 400
    ``prompt_too_long``. Catches off-by-ones at the window's edge."""
    context = run.target.context_length
    if context is None:
        run.result.note = "not exercised: give --context-length"
        return
    top: int = run.bound("max_tokens", "maximum")

    def check() -> None:
        messages, pad = _exact(run, context - 2)
        what = f"a prompt of {context - 1} tokens (1 token of room), max_tokens={top}"
        body = run.body(_padded(messages, pad, 1), max_tokens=top, temperature=run.cold)
        reply = run.post(body)
        if reply.status == 400 and reply.error_code() == "prompt_too_long":
            raise Violation(
                f"{what}: refused although one token of the window is left",
                expected="HTTP 200 with max_tokens lowered to 1",
                actual=f"HTTP 400: {preview(reply.body)}",
                reply=reply,
            )
        answer = run.counted(body, what, reply)
        if answer.usage.prompt != context - 1:
            raise NotExercised("the one-token piece did not add up on this server")
        reply = run.post(run.body(_padded(messages, pad, 2), max_tokens=run.min_tokens))
        what = f"a prompt of {context} tokens (no room left in a window of {context})"
        expect_status(reply, 400, what)
        code = error_body(reply, what).get("code")
        if code != "prompt_too_long":
            raise Violation(
                f"{what}: wrong error code",
                expected="error.code == prompt_too_long",
                actual=f"error.code == {code!r}",
                reply=reply,
            )

    run.evaluate(check)


@prop(
    "messages that cannot be evicted and overflow the window are refused with 400 prompt_too_long",
    sources=[
        vendor(
            'Note that even with this set, you may still receive "prompt too long" errors if '
            "individual messages are too long for the model context window."
        ),
        spec(f"{OPERATION}/description"),
    ],
    needs_context_length=True,
)
def prompt_too_long_when_kept_messages_overflow(run: PropertyRun) -> None:
    """The last message and system messages are made about twice the window (sized with the
    server's own counts of short questions), after an evictable turn and with the smallest
    prompt_truncate_len: no truncation can save it, so 200 (or a truncated last message) is a
    bug."""
    context = run.target.context_length
    if context is None:
        run.result.note = "not exercised: give --context-length"
        return

    def check() -> None:
        per_word = run.tokens_per_word()
        words = 10 + math.ceil(2 * context / max(per_word, 0.05))
        long = long_prompt(words)
        messages = [*long[:-1], {"role": "user", "content": "hello"}, long[-1]]
        ptl_min: int = run.bound("prompt_truncate_len", "minimum")
        body = run.body(messages, prompt_truncate_len=ptl_min)
        if len(json.dumps(body)) > chat_text_spec.max_body_bytes():
            raise NotExercised("twice the window does not fit in x-max-body-bytes")
        reply = run.post(body)
        _expect_too_long(reply, f"kept messages of about {2 * context} tokens")

    run.evaluate(check)


def _expect_too_long(reply: Reply, what: str) -> None:
    expect_status(reply, 400, what)
    code = error_body(reply, what).get("code")
    if code != "prompt_too_long":
        raise Violation(
            "the error code for an overflowing prompt is not prompt_too_long",
            expected="error.code == prompt_too_long",
            actual=f"error.code == {code!r}",
            reply=reply,
        )
