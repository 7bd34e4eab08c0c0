"""Rules on token accounting: usage arithmetic, max_tokens, the context window, finish_reason."""

from __future__ import annotations

from ..engine.target import Level
from .exchange import CheckFailed, Exchange, NotApplicable
from .registry import OPERATION, rule, spec, vendor

__all__ = [
    "completion_tokens_cover_content",
    "completion_within_max_tokens",
    "finish_reason_matches_usage",
    "usage_total_is_sum",
    "usage_within_context_window",
]

_MAX_TOKENS = "/components/schemas/ChatTextRequest/properties/max_tokens/description"
_LOWERED = (
    "If the token count of your prompt (previous messages) plus max_tokens exceed the model's "
    "context length,max_tokens will be lowered to fit in the context window instead of "
    "returning an error."
)


@rule(
    "usage.total_tokens equals usage.prompt_tokens + usage.completion_tokens",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/Usage/description")],
)
def usage_total_is_sum(ex: Exchange) -> bool:
    _, (prompt, completion, total) = ex.answer_with_usage()
    if total != prompt + completion:
        raise CheckFailed(
            f"usage.total_tokens is {total}, but prompt_tokens + completion_tokens is "
            f"{prompt} + {completion} = {prompt + completion}",
            expected=f"total_tokens == {prompt + completion}",
            actual=f"total_tokens == {total}",
        )
    return True


@rule(
    "usage.completion_tokens is at most the requested max_tokens (the spec's default when "
    "omitted or null)",
    level=Level.SEMANTIC,
    kind="response",
    sources=[
        spec(_MAX_TOKENS),
        vendor("The maximum number of tokens to generate in the completion."),
    ],
)
def completion_within_max_tokens(ex: Exchange) -> bool:
    _, (_, completion, _) = ex.answer_with_usage()
    limit = ex.requested_max_tokens()
    if limit is None:
        raise NotApplicable("the request's max_tokens is not an integer")
    if completion > limit:
        source = "requested" if ex.request_fields.get("max_tokens") is not None else "default"
        raise CheckFailed(
            f"usage.completion_tokens is {completion}, more than max_tokens {limit} ({source})",
            expected=f"completion_tokens <= {limit}",
            actual=f"completion_tokens == {completion}",
        )
    return True


@rule(
    "prompt_tokens + completion_tokens never exceed the model's context window (needs "
    "--context-length)",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec(f"{OPERATION}/description"), vendor(_LOWERED)],
)
def usage_within_context_window(ex: Exchange) -> bool:
    if ex.context_length is None:
        raise NotApplicable("the context length is unknown (give --context-length)")
    _, (prompt, completion, _) = ex.answer_with_usage()
    if prompt + completion > ex.context_length:
        raise CheckFailed(
            f"prompt_tokens + completion_tokens = {prompt} + {completion} = "
            f"{prompt + completion} exceeds the model's context window of {ex.context_length}: "
            "max_tokens was not lowered to the room left",
            expected=f"prompt_tokens + completion_tokens <= {ex.context_length}",
            actual=f"{prompt + completion}",
        )
    return True


@rule(
    "finish_reason 'length' only when completion_tokens reached the (lowered) max_tokens; "
    "below it, 'stop'; at it, either",
    level=Level.SEMANTIC,
    kind="response",
    sources=[
        spec("/components/schemas/FinishReason/description"),
        spec(f"{OPERATION}/description"),
    ],
)
def finish_reason_matches_usage(ex: Exchange) -> bool:
    """With one choice, completion_tokens is that choice's length. Fewer tokens than the
    effective max_tokens means the model stopped on its own (``stop``); exactly the effective
    max_tokens may say ``length`` or ``stop`` (an answer that ends naturally there: the
    documents do not decide). Without the context window, a ``length`` below max_tokens may be
    a lowered max_tokens, unless the run's own answers prove the window larger than that: an
    answer of prompt + completion = B shows the window holds B, so max_tokens is at least
    min(max_tokens, B - prompt)."""
    answer, (prompt, completion, _) = ex.answer_with_usage()
    if len(answer.choices) != 1:
        raise NotApplicable("the answer does not have exactly one choice")
    reason = answer.choices[0]["finish_reason"]
    if reason not in ("stop", "length"):
        raise NotApplicable("finish_reason is not stop or length (a schema rule reports it)")
    effective = ex.effective_max_tokens(prompt)
    if effective is None:
        raise NotApplicable("the request's max_tokens is not an integer")
    if reason == "length" and completion < effective:
        if ex.context_length is None:
            # the window is unknown, but at least as large as the run's answers proved: below
            # that, "lowered to fit" cannot explain a short 'length'
            bound = ex.window_at_least()
            lowest = None if bound is None else min(effective, bound - prompt)
            if lowest is None or completion >= lowest:
                raise NotApplicable(
                    "finish_reason length below max_tokens: the window is unknown, and no "
                    "answer of the run proves it large enough to rule out a lowered max_tokens"
                )
            raise CheckFailed(
                f"finish_reason is 'length' but completion_tokens {completion} is below "
                f"max_tokens {effective}, and the run's own answers prove the window holds at "
                f"least {bound} tokens: with prompt {prompt}, max_tokens could not have been "
                f"lowered below {lowest}",
                expected=f"finish_reason 'stop' when completion_tokens < {lowest}",
                actual="finish_reason 'length'",
            )
        raise CheckFailed(
            f"finish_reason is 'length' but completion_tokens {completion} is below the "
            f"effective max_tokens {effective} (min(max_tokens, context "
            f"{ex.context_length} - prompt {prompt}))",
            expected=f"finish_reason 'stop' when completion_tokens < {effective}",
            actual="finish_reason 'length'",
        )
    return True


@rule(
    "a non-empty generated message costs at least one completion token",
    level=Level.SEMANTIC,
    kind="response",
    sources=[spec("/components/schemas/Usage/properties/completion_tokens/description")],
)
def completion_tokens_cover_content(ex: Exchange) -> bool:
    answer, (_, completion, _) = ex.answer_with_usage()
    if completion == 0 and any(choice["content"] for choice in answer.choices):
        raise CheckFailed(
            "usage.completion_tokens is 0 but the answer has generated text",
            expected="completion_tokens >= 1 for a non-empty message",
            actual="completion_tokens == 0",
        )
    return True
