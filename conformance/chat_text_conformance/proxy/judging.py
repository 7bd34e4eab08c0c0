"""How the proxy judges one exchange: every rule of the catalogue that one exchange can show,
through ``checks.judge`` — the same functions, on the same :class:`~..checks.Exchange`, as the
suite, ``replay`` and the load generator — with the request's facts classified once, before it is
relayed (:func:`~..checks.request.classify_request`), and a stream watched event by event as it
is relayed by the stream rules' own watches (:class:`~..checks.watch.StreamJudge`).

What the proxy cannot know (the token the server accepts, its models) stays unknown to the rules:
a 401 or a ``model_not_found`` to a valid request is then a refusal the proxy cannot judge, and a
well-formed bearer token may be a good one. A busy answer (429, 503) is judged by no rule.

Rules that compare several answers (properties) and the suite's pre-flight cannot apply to one
exchange: the report lists them as not exercised, with that reason.
"""

from __future__ import annotations

import orjson

import chat_text_spec

from .. import checks
from ..checks import CheckFailed, Exchange, Outcome
from ..checks.request import RequestFacts, classify_request
from ..checks.watch import StreamJudge
from ..engine.target import Level

__all__ = ["TRANSPORT_RULE", "RequestFacts", "classify_request", "judge_exchange", "warm_up"]

TRANSPORT_RULE = checks.builtins.TRANSPORT
"""The rule an upstream error (refused, reset, timed out) fails."""


def judge_exchange(
    facts: RequestFacts,
    ex: Exchange,
    level: Level,
    *,
    watch: StreamJudge | None = None,
    body_read: bool = True,
) -> dict[str, Outcome]:
    """Every rule of ``level`` one exchange can show, with its outcome.

    The rules judge the body the proxy kept. Where it was cut short (the proxy's cap, the client
    or the upstream going away) the rules that need its end are inconclusive, and a failure the
    stream's watches saw on events past the cut still counts. A body the proxy could not read
    (an encoding it does not decode): only the schema-level rules, which read the status and
    headers (the body's schema is inconclusive)."""
    if not facts.on_operation:
        return {}
    rules = None if body_read else [r for r in checks.PER_RESPONSE_RULES if r.kind == "schema"]
    outcome = checks.judge(ex, level, rules, relayed=True)
    if watch is not None and ex.cut_short is not None:
        for rule, failure in watch.failures.items():
            if rule in outcome and not isinstance(outcome[rule], CheckFailed):
                outcome[rule] = failure
    return outcome


def warm_up(level: Level) -> None:
    """Compile every validator and load every module the judging needs, by judging the spec's
    own examples (a plain answer and a stream) once: so the first real exchange is not slowed
    by it."""
    operation = chat_text_spec.operation()
    request = orjson.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    )
    headers = (("content-type", "application/json"),)
    facts = classify_request("POST", chat_text_spec.OPERATION_PATH, headers, request)
    content = chat_text_spec.resolve(operation["responses"]["200"]).get("content", {})
    for media, entry in content.items():
        for example in entry.get("examples", {}).values():
            value = chat_text_spec.resolve(example).get("value")
            body = value.encode() if isinstance(value, str) else orjson.dumps(value)
            exchange = Exchange(
                facts.document, 200, checks.media_type(media), body, known_facts=facts
            )
            judge_exchange(facts, exchange, level, watch=StreamJudge(facts.document, level))
            break
