"""Properties of the context window (all but the short-prompt cases need --context-length):
max_tokens lowered to the room left, one token of room is enough, no room is
``prompt_too_long``.

Prompts near the window are the most expensive requests of a run (a 131,072-token window makes
each one about 131,000 tokens), so the three properties share one **edge**, built once per run
and in this order, cheap proofs first:

1. *the filler* (a few short requests): the piece of text that costs this server exactly one
   token per repetition in the fewest bytes (``.`` on most word/punctuation tokenizers), and what
   one message and each further message cost, all from the server's own usage counts;
2. *one token of room* (one request near the window): a prompt predicted at ``context - 1``
   tokens with max_tokens at the spec's maximum. Its answer's usage is the measurement (a
   prediction that missed is corrected from it and sent again); the same answer shows
   max_tokens lowered to the room (``max_tokens_lowered_to_fit``) and one token of room answered
   (``context_window_boundary``). Only a refusal costs more requests: the same prompt with
   max_tokens 1, and two units shorter, tell the server's fault from a prompt that was too long;
3. *no room* (one request): the same prompt plus one unit (``context`` tokens), after an
   evictable turn, with the smallest prompt_truncate_len: a correct server evicts the turn and
   refuses what is left with ``prompt_too_long``. The one answer judges the window's edge
   (``context_window_boundary``) and kept messages that overflow
   (``prompt_too_long_when_kept_messages_overflow``).

So a run spends about two windows of prompt tokens near the edge. Any tokenizer and per-message
overhead works; when no such prompt can be built (no one-token piece, a body over
``x-max-body-bytes``), the properties are *not exercised*, with the reason, and the server is
never blamed for it. With a ``--max-tokens`` budget a near-window request is sent only when its
property's share still covers its prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import chat_text_spec

from ..checks.registry import OPERATION, spec, vendor
from ..engine.harness import (
    Answer,
    BudgetSpent,
    NotExercised,
    PropertyRun,
    Reply,
    Violation,
    _Reported,
    encode,
    error_body,
    expect_status,
    preview,
    prop,
)
from ._conversations import content_max_length, question

__all__ = [
    "context_window_boundary",
    "max_tokens_lowered_to_fit",
    "prompt_too_long_when_kept_messages_overflow",
]

_FIT_ATTEMPTS = 4
_UNITS = (".", " .", ",", " a", " x", " the")
"""Filler candidates, fewest bytes first: the first that costs exactly one token per use wins."""
_PROBE_UNITS = 48
"""Units in the calibration prompts (small: a few hundred tokens at most)."""
_EVICTABLE = {"role": "user", "content": "hello"}
_LAST = question(3)[0]
T = TypeVar("T")


@dataclass(frozen=True)
class _Filler:
    """A piece of text this server counts as one token each time it is repeated, and what a
    prompt of ``units`` of it costs (measured with short prompts; near-window answers correct
    the prediction). The units fill system messages; a short question is the last message."""

    unit: str
    base: int
    """Tokens of the prompt besides the units and the system messages' overheads (the last
    message, the prompt's own)."""
    per_message: int
    """Tokens each system message costs besides its units."""

    @property
    def per_message_units(self) -> int:
        return content_max_length() // len(self.unit)

    def _count(self, units: int) -> int:
        return max(1, -(-units // self.per_message_units))

    def messages(self, units: int) -> list[dict[str, str]]:
        """``units`` units in system messages of at most the spec's content maxLength, then
        the last message (:data:`_LAST`)."""
        cap = self.per_message_units
        count = self._count(units)
        head = [{"role": "system", "content": self.unit * cap} for _ in range(count - 1)]
        rest = units - cap * (count - 1)
        return [*head, {"role": "system", "content": self.unit * rest}, dict(_LAST)]

    def cost(self, units: int) -> int:
        """The predicted prompt tokens of :meth:`messages`."""
        return self.base + self._count(units) * self.per_message + units

    def units_for(self, tokens: int) -> int:
        """The most units whose predicted cost is at most ``tokens`` (0: none fits)."""
        units = max(0, tokens - self.base - self.per_message)
        while units > 0 and self.cost(units) > tokens:
            units -= 1
        return units


@dataclass(frozen=True)
class _Edge:
    """A prompt this server counts as exactly ``context - 1`` tokens, and how the server
    answered it with max_tokens at the spec's maximum (one token of room)."""

    filler: _Filler
    units: int
    answer: Answer | None
    """The answer (max_tokens lowered to the one token of room); ``None`` when refused."""
    refused: Reply | None = None
    """The refusal (``prompt_too_long``) of that request, when the server refused it."""
    answered_with_one: Reply | None = None
    """When refused: the same prompt with max_tokens 1, answered (so the prompt fits)."""

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.filler.messages(self.units)


def _shared(run: PropertyRun, key: object, build: Callable[[], T]) -> T:
    """``build()`` once per run (under the session's lock); what stopped it is kept too, so the
    other properties do not send the same requests again. A budget refusal is not kept (a
    property with a larger share may afford it)."""
    with run.session.calibration:
        if key not in run.session.near_window:
            try:
                run.session.near_window[key] = build()
            except BudgetSpent:
                raise
            except (NotExercised, _Reported) as stopped:
                run.session.near_window[key] = stopped
                raise
            except Violation as violation:  # reported by this property; the others are blocked
                run.session.near_window[key] = NotExercised(
                    f"blocked by the failure of {run.result.name} (building the near-window "
                    f"prompt: {violation.message})"
                )
                raise
        found = run.session.near_window[key]
    if isinstance(found, NotExercised | _Reported):
        raise found
    value: T = found
    return value


def _afford(run: PropertyRun, tokens: int, what: str) -> None:
    """Refuse to send ``tokens`` of prompt that the property's share of ``--max-tokens`` does
    not cover (not exercised: budget)."""
    meter = run.session.meter
    left = None if meter is None else meter.tokens_left(f"property {run.result.name}")
    if left is not None and tokens > left:
        raise BudgetSpent(
            f"(budget) {what} needs about {tokens} prompt tokens, more than the {left} left of "
            "this rule's share of --max-tokens"
        )


def _filler(run: PropertyRun) -> _Filler:
    return _shared(run, "filler", lambda: _measure_filler(run))


def _measure_filler(run: PropertyRun) -> _Filler:
    n = _PROBE_UNITS

    def cost(*sizes: int) -> int:
        messages = [*({"role": "system", "content": unit * size} for size in sizes), _LAST]
        tokens = run.prompt_tokens(messages)
        if tokens is None:
            raise NotExercised(f"a prompt of {sum(sizes)} short pieces does not fit this model")
        return tokens

    for unit in _UNITS:
        small, large = cost(n), cost(2 * n)
        if large - small != n:
            continue  # merged by the tokenizer, or more than one token per piece
        two = cost(n, n)
        return _Filler(unit, base=small - n - (two - large), per_message=two - large)
    raise NotExercised(
        f"no piece of {', '.join(repr(u) for u in _UNITS)} costs exactly one token per use on "
        "this server, so no prompt of an exact size near the window can be built"
    )


def _edge(run: PropertyRun, context: int) -> _Edge:
    filler = _filler(run)  # the cheap proofs first: a few short requests
    return _shared(run, ("edge", context), lambda: _build_edge(run, filler, context))


def _build_edge(run: PropertyRun, filler: _Filler, context: int) -> _Edge:
    """Find the prompt of ``context - 1`` tokens with max_tokens at the maximum: each answer's
    usage measures the prompt sent, and a missed prediction is corrected by the difference."""
    target = context - 1
    top: int = run.bound("max_tokens", "maximum")
    offset = 0  # tokens this server counts beyond the prediction, learnt from its answers
    for _ in range(_FIT_ATTEMPTS):
        units = filler.units_for(target - offset)
        if units < 1:
            raise NotExercised(f"a prompt of {target} tokens is shorter than one filler message")
        messages = filler.messages(units)
        body = run.body(
            messages, max_tokens=top, temperature=run.cold, prompt_truncate_len=run.max_ptl
        )
        if len(encode(body)) > chat_text_spec.max_body_bytes():
            raise NotExercised(f"a prompt of {target} tokens does not fit x-max-body-bytes")
        what = f"a prompt predicted at {target} tokens (1 token of room), max_tokens={top}"
        _afford(run, target, what)
        reply = run.post({**body, "stream": True} if run.session.usage_from_streams else body)
        if reply.status == 400 and reply.error_code() == "prompt_too_long":
            cost, answered = _cost_of_refused(run, filler, units, context)
            if cost == target:
                return _Edge(filler, units, None, refused=reply, answered_with_one=answered)
            if cost is None:  # well over the window: step back by a fiftieth
                offset += max(64, context // 50)
                continue
        else:
            answer = run.counted(body, what, reply)
            cost = answer.usage.prompt
            if cost == target:
                return _Edge(filler, units, answer)
        offset += cost - filler.cost(units)  # re-measured: the server's count, not a guess
    raise NotExercised(
        f"could not build a prompt of exactly {target} tokens from this server's counts in "
        f"{_FIT_ATTEMPTS} near-window requests"
    )


def _cost_of_refused(
    run: PropertyRun, filler: _Filler, units: int, context: int
) -> tuple[int | None, Reply | None]:
    """What the server counts for the refused prompt of ``units``: the same prompt with
    max_tokens 1 (answered when the refusal was not lowering max_tokens), else two units less
    plus their two tokens; ``None`` when both are refused too."""
    _afford(run, context, "measuring a refused near-window prompt")
    cost, reply = run.measured(filler.messages(units))
    if cost is not None:
        return cost, reply
    _afford(run, context, "measuring a refused near-window prompt")
    shorter = run.prompt_tokens(filler.messages(units - 2))
    if shorter is None:
        return None, None
    return shorter + filler.cost(units) - filler.cost(units - 2), None


def _no_room(run: PropertyRun, context: int) -> Reply:
    """The edge plus one unit (``context`` tokens once truncated) after an evictable turn, with
    the smallest prompt_truncate_len and max_tokens: sent once, judged by two rules."""
    edge = _edge(run, context)

    def build() -> Reply:
        *kept, last = edge.filler.messages(edge.units + 1)  # the last: a short question
        body = run.body(
            [*kept, _EVICTABLE, last],
            prompt_truncate_len=run.bound("prompt_truncate_len", "minimum"),
            max_tokens=run.min_tokens,
        )
        _afford(run, context, f"a prompt of {context} tokens")
        return run.post(body)

    return _shared(run, ("no room", context), build)


def _no_room_answer(run: PropertyRun, reply: Reply, what: str) -> Answer:
    """The 200 answer to the no-room request, with its usage (streamed when plain answers carry
    ``usage: null``)."""
    request = reply.request_json
    if not isinstance(request, dict):  # never: the suite sent JSON
        raise NotExercised(f"{what}: the request sent is not a JSON object")
    return run.counted(request, what, reply)


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
    """A short prompt with max_tokens at the spec's maximum, plain and streamed, always succeeds
    (the cheap proof: the maximum is at least any window). With the context length, the edge's
    prompt leaves one token of room and asks for the maximum: 200, the per-response rules then
    check that the usage fits the window and finish_reason. When the server refused it, the
    same prompt is answered with max_tokens 1 (so max_tokens was not lowered), or else two
    tokens of room with the maximum tell whether lowering works at all."""
    top: int = run.bound("max_tokens", "maximum")

    def short_prompt(streamed: bool) -> None:
        what = f"max_tokens={top}" + (", streamed" if streamed else "")
        fields = {"max_tokens": top, "temperature": run.cold}
        if streamed:
            run.stream(question(5), what, **fields)
        else:
            run.complete(question(5), what, **fields)

    run.evaluate(lambda: short_prompt(False))
    run.evaluate(lambda: short_prompt(True))
    context = run.target.context_length
    if context is None:
        run.result.note = "near-window cases not exercised: give --context-length"
        return

    def near() -> None:
        edge = _edge(run, context)  # shared with the two other window rules
        what = f"max_tokens={top} with 1 token of room (a prompt of {context - 1} tokens)"
        if edge.answer is not None:
            if edge.answer.usage.completion > 1:  # the per-response rules say so too
                raise Violation(
                    f"{what}: max_tokens was not lowered to the room left",
                    expected="completion_tokens <= 1",
                    actual=f"completion_tokens == {edge.answer.usage.completion}",
                    reply=edge.answer.reply,
                )
            return
        if edge.refused is not None and edge.answered_with_one is not None:
            raise Violation(
                f"{what}: refused as prompt_too_long instead of lowering max_tokens (the same "
                "prompt with max_tokens=1 is answered)",
                expected="HTTP 200 with at most 1 completion token",
                actual=f"HTTP 400: {preview(edge.refused.body)}",
                reply=edge.refused,
                related=[edge.answered_with_one],
            )
        # one token of room is refused whatever max_tokens (context_window_boundary's failure):
        # two tokens of room show whether max_tokens is lowered
        body = run.body(edge.filler.messages(edge.units - 1), max_tokens=top, temperature=run.cold)
        _afford(run, context, "a prompt leaving 2 tokens of room")
        reply = run.post(body)
        if reply.status == 400 and reply.error_code() == "prompt_too_long":
            raise Violation(
                f"max_tokens={top} with 2 tokens of room: refused as prompt_too_long instead "
                "of lowering max_tokens",
                expected="HTTP 200 with at most 2 completion tokens",
                actual=f"HTTP 400: {preview(reply.body)}",
                reply=reply,
            )
        run.counted(body, f"max_tokens={top} with 2 tokens of room", reply)

    run.evaluate(near)


@prop(
    "a prompt leaving one token of room is answered (max_tokens lowered to 1); a prompt "
    "filling the window is prompt_too_long",
    sources=[spec(f"{OPERATION}/description")],
    needs_context_length=True,
)
def context_window_boundary(run: PropertyRun) -> None:
    """A prompt the server counts as ``context - 1`` tokens with max_tokens at the spec's maximum
    → 200, max_tokens lowered to 1 (the edge's answer). The same prompt plus one token
    (``context``; sent after an evictable turn with the smallest prompt_truncate_len, so the
    same answer also judges ``prompt_too_long_when_kept_messages_overflow``) → 400
    ``prompt_too_long``. Catches off-by-ones at the window's edge."""
    context = run.target.context_length
    if context is None:
        run.result.note = "not exercised: give --context-length"
        return
    top: int = run.bound("max_tokens", "maximum")

    def one_token_of_room() -> None:
        edge = _edge(run, context)
        if edge.refused is not None:
            raise Violation(
                f"a prompt of {context - 1} tokens (1 token of room), max_tokens={top}: refused "
                "although one token of the window is left",
                expected="HTTP 200 with max_tokens lowered to 1",
                actual=f"HTTP 400: {preview(edge.refused.body)}",
                reply=edge.refused,
            )

    def no_room() -> None:
        reply = _no_room(run, context)
        what = (
            f"a prompt of {context} tokens once truncated (no room left in a window of {context})"
        )
        if reply.status == 200:
            answer = _no_room_answer(run, reply, what)
            if answer.usage.prompt < context:
                raise NotExercised(
                    f"the server kept {answer.usage.prompt} of the {context} tokens that must "
                    "be kept (a truncation fault: prompt_too_long_when_kept_messages_overflow "
                    "judges it), so no prompt filling the window was answered"
                )
            raise Violation(
                f"{what}: answered instead of refused as prompt_too_long",
                expected="HTTP 400 with error.code == prompt_too_long",
                actual=f"HTTP 200 with prompt_tokens == {answer.usage.prompt}",
                reply=reply,
            )
        expect_status(reply, 400, what)
        code = error_body(reply, what).get("code")
        if code != "prompt_too_long":
            raise Violation(
                f"{what}: wrong error code",
                expected="error.code == prompt_too_long",
                actual=f"error.code == {code!r}",
                reply=reply,
            )

    run.evaluate(one_token_of_room)
    run.evaluate(no_room)


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
    """System messages and a last message that fill the whole window (the edge plus one token,
    sized with the server's own counts), after an evictable turn and with the smallest
    prompt_truncate_len: no truncation can save them, so 200 (a kept message evicted, or the
    full window answered) is a bug. The request is the one ``context_window_boundary`` sends
    for its no-room case: one answer, two rules."""
    context = run.target.context_length
    if context is None:
        run.result.note = "not exercised: give --context-length"
        return

    def check() -> None:
        reply = _no_room(run, context)
        what = f"kept messages of {context} tokens after an evictable turn"
        if reply.status == 200:
            answer = _no_room_answer(run, reply, what)
            raise Violation(
                f"{what}, prompt_truncate_len at its minimum: answered instead of refused",
                expected="HTTP 400 with error.code == prompt_too_long",
                actual=(
                    f"HTTP 200 with prompt_tokens == {answer.usage.prompt} (a kept message "
                    "evicted, or the full window answered)"
                ),
                reply=reply,
            )
        _expect_too_long(reply, what)

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
