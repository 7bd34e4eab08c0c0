"""The schemathesis built-in checks the suite runs, each a rule with its code, judged on one
exchange the same way by every front end (the suite's schemathesis engines, the properties, the
validation proxy, ``replay``, the load generator).

Where schemathesis's own check can judge one recorded exchange, the rule calls it
(:mod:`.._internals` rebuilds the case and response it takes from the exchange):
``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
``response_headers_conformance``, ``response_schema_conformance``. Where schemathesis's check
needs its own generation's metadata (whether it meant the case to be valid, which coverage
scenario made it), the rule judges the request as it was sent instead, with the spec's request
validator (:mod:`.request`): ``positive_data_acceptance``, ``negative_data_rejection``,
``missing_required_header``, ``ignored_auth``, ``unsupported_method``,
``allow_header_conformance``.

What a run knows and a single exchange does not (the token it was given, the model it pins, the
window) comes from the exchange's :class:`~.exchange.RunContext`: with them a 401 to the right
token or a 404 for the pinned model is a failure; without them (the proxy) it is a documented
refusal a proxy cannot judge.

schemathesis's stateful checks (``use_after_free``, ``ensure_resource_availability``,
``object_level_authorization``) need resources created by other operations; this API has one
operation, so they are switched off rather than reported as passing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..engine.target import Level
from .exchange import CheckFailed, Exchange, NotApplicable, excerpt
from .registry import OPERATION, rule, spec

if TYPE_CHECKING:
    from .._internals import CheckFailure

__all__ = [
    "DISABLED_BUILTINS",
    "MAX_TOKENS_PER_MESSAGE_OVERHEAD",
    "PREFLIGHT",
    "TRANSPORT",
    "documented_refusal",
    "prompt_surely_fits",
]

_RESPONSES = f"{OPERATION}/responses"
_REQUEST = "/components/schemas/ChatTextRequest"
_AUTH = "/components/securitySchemes/bearerAuth/description"
_PATH = "/paths/~1inference~1chat_text"

DISABLED_BUILTINS = ("use_after_free", "ensure_resource_availability", "object_level_authorization")

MAX_TOKENS_PER_MESSAGE_OVERHEAD = 8
"""Tokens a chat template may add per message (role markers, separators) on top of its text."""


def prompt_surely_fits(body: object, context_length: int | None) -> bool:
    """Whether the whole conversation certainly fits the context window, for any tokenizer.

    A tokenizer never makes more tokens than the UTF-8 bytes of the text (byte-level BPE is the
    worst case); templates add a few tokens per message. When even that bound is below the
    window, ``prompt_too_long`` is wrong: the prompt fits and at least one token of room is left.
    """
    if context_length is None or not isinstance(body, dict):
        return False
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    bound = MAX_TOKENS_PER_MESSAGE_OVERHEAD
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            return False
        bound += len(content.encode("utf-8")) + MAX_TOKENS_PER_MESSAGE_OVERHEAD
    return bound < context_length


def _call(ex: Exchange) -> None:
    """Only a call of the operation (``POST`` on its path) is judged by the response rules;
    another method there is ``unsupported_method``'s to judge."""
    if not ex.recorded:
        raise NotApplicable("the request was not recorded")
    if not ex.facts.is_call:
        raise NotApplicable(f"{ex.facts.method} is not the operation (unsupported_method)")


@functools.cache
def _builtin_checks() -> Callable[[str, Exchange], CheckFailure | None]:
    """``_internals.run_builtin_check``, imported once (an import statement run again for
    every check of every exchange costs more than most rules)."""
    # lazy: schemathesis (~0.2 s of imports) is loaded by the first exchange judged, not by
    # what only reads the catalogue (--list-checks, the docs tables) or starts the proxy
    from .._internals import run_builtin_check

    return run_builtin_check


def _run_builtin(name: str, ex: Exchange) -> CheckFailure | None:
    """schemathesis's check ``name`` on ``ex`` (``None`` when it holds)."""
    return _builtin_checks()(name, ex)


def _schemathesis(name: str, ex: Exchange) -> bool:
    _call(ex)
    failure = _run_builtin(name, ex)
    if failure is not None:
        raise CheckFailed(failure.message, expected=failure.expected, actual=failure.actual)
    return True


def _error_code(ex: Exchange) -> str | None:
    error = ex.document.get("error") if ex.document is not None else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _body_excerpt(ex: Exchange, limit: int = 200) -> str:
    text = ex.body[:limit].decode("utf-8", errors="replace")
    return text + ("..." if len(ex.body) > limit else "")


@rule(
    "no request, valid or not, is answered 5xx",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(f"{_RESPONSES}/500")],
)
def not_a_server_error(ex: Exchange) -> bool:
    if not ex.recorded:
        raise NotApplicable("the request was not recorded")
    failure = _run_builtin("not_a_server_error", ex)
    if failure is not None:
        raise CheckFailed(
            f"{ex.facts.method} {ex.facts.path} was answered HTTP {ex.status}",
            expected="a status below 500",
            actual=f"HTTP {ex.status}: {_body_excerpt(ex)}",
        )
    return True


@rule(
    "every status code is one the operation documents",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_RESPONSES)],
)
def status_code_conformance(ex: Exchange) -> bool:
    return _schemathesis("status_code_conformance", ex)


@rule(
    "every response's Content-Type is one documented for its status",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_RESPONSES)],
)
def content_type_conformance(ex: Exchange) -> bool:
    return _schemathesis("content_type_conformance", ex)


@rule(
    "documented response headers are present and valid (WWW-Authenticate on 401, "
    "Retry-After on 429 and 503)",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(f"{_RESPONSES}/401/headers"), spec(f"{_RESPONSES}/429/headers")],
)
def response_headers_conformance(ex: Exchange) -> bool:
    return _schemathesis("response_headers_conformance", ex)


def documented_refusal(
    status: int, error_code: str | None, request: object, context_length: int | None
) -> str | None:
    """Why a valid request's non-2xx answer is a refusal the documents allow whatever the token
    and model (``None``: it is not one): 413 (``x-max-body-bytes`` counts the body as the server
    received it), or ``prompt_too_long`` for a prompt that may not fit."""
    if status == 413:
        return "answered 413 (x-max-body-bytes counts the body as the server received it)"
    prompt_too_long = status == 400 and error_code == "prompt_too_long"
    if prompt_too_long and not prompt_surely_fits(request, context_length):
        return "answered prompt_too_long: the prompt may not fit the model's window"
    return None


def _refusal(ex: Exchange) -> str | None:
    """Why a non-2xx answer to a valid request is a documented refusal (``None``: it is not)."""
    status, facts, context = ex.status, ex.facts, ex.context
    if status == 401 and (context.token is None or facts.token != context.token):
        return "answered 401: the token may not be one the server accepts"
    unknown_model = context.model is None or facts.model != context.model
    if status == 404 and _error_code(ex) == "model_not_found" and unknown_model:
        return "answered 404 model_not_found: the model may not be one the server has"
    return documented_refusal(status, _error_code(ex), facts.document, ex.context_length)


@rule(
    "a request valid against the request schema is accepted (2xx), unless refused for a "
    "documented reason (prompt_too_long that may not fit, 413 over x-max-body-bytes)",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_REQUEST), spec(f"{OPERATION}/requestBody/x-max-body-bytes")],
)
def positive_data_acceptance(ex: Exchange) -> bool:
    _call(ex)
    facts = ex.facts
    if facts.problem is not None:
        raise NotApplicable("the request is invalid")
    if facts.authorization != "bearer":
        raise NotApplicable("no well-formed bearer token")
    if ex.ok:
        return True
    why = _refusal(ex)
    if why is not None:
        raise NotApplicable(why)
    raise CheckFailed(
        f"a request valid against the spec was refused with HTTP {ex.status}",
        expected="2xx, or a documented refusal (401 to a token the server need not accept, "
        "404 model_not_found, 413, prompt_too_long that may not fit)",
        actual=f"HTTP {ex.status}: {_body_excerpt(ex)}",
    )


@rule(
    "a request invalid against the request schema is rejected with a 4xx",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_REQUEST), spec(f"{_RESPONSES}/400/description")],
)
def negative_data_rejection(ex: Exchange) -> bool:
    _call(ex)
    problem = ex.facts.problem
    if problem is None:
        raise NotApplicable("the request is valid")
    if 400 <= ex.status < 500:
        return True
    raise CheckFailed(
        f"a request the spec forbids was answered HTTP {ex.status}: {problem}",
        expected="a 4xx refusal",
        actual=f"HTTP {ex.status}: {_body_excerpt(ex)}",
    )


@rule(
    "a request without the Authorization header is answered 401",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_AUTH), spec(f"{_RESPONSES}/401/description")],
)
def missing_required_header(ex: Exchange) -> bool:
    _call(ex)
    facts = ex.facts
    if facts.authorization != "missing":
        raise NotApplicable("the request has Authorization")
    if facts.problem is not None:
        raise NotApplicable(
            "the body is invalid too: the documents do not say which error comes first"
        )
    if ex.status == 401:
        return True
    raise CheckFailed(
        f"a request without Authorization was answered HTTP {ex.status}",
        expected="HTTP 401",
        actual=f"HTTP {ex.status}: {_body_excerpt(ex)}",
    )


@rule(
    "a request with a missing or wrong token is not answered 2xx",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_AUTH)],
)
def ignored_auth(ex: Exchange) -> bool:
    _call(ex)
    facts, token = ex.facts, ex.context.token
    if facts.authorization == "bearer":
        if token is None:
            raise NotApplicable(
                "a well-formed bearer token, and the accepted one is unknown here (a proxy)"
            )
        if facts.token == token:
            raise NotApplicable("the request carries the accepted token")
    if not ex.ok:
        return True
    what = (
        "a wrong bearer token"
        if facts.authorization == "bearer"
        else (f"a {facts.authorization} Authorization header")
    )
    raise CheckFailed(
        f"a request with {what} was answered HTTP {ex.status}",
        expected="not 2xx (401)",
        actual=f"HTTP {ex.status}",
    )


@rule(
    "methods other than POST on the path are answered 405",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_PATH)],
)
def unsupported_method(ex: Exchange) -> bool:
    if not ex.recorded or not ex.facts.on_operation:
        raise NotApplicable("not a request to the operation's path")
    if ex.facts.is_call:
        raise NotApplicable("POST is the operation's method")
    if ex.status == 405:
        return True
    raise CheckFailed(
        f"{ex.facts.method} on {ex.facts.path} was answered HTTP {ex.status}, not 405",
        expected="HTTP 405 (the path documents only POST)",
        actual=f"HTTP {ex.status}",
    )


@rule(
    "a 405 answer names the allowed methods in an Allow header",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_PATH)],
)
def allow_header_conformance(ex: Exchange) -> bool:
    if ex.status != 405:
        raise NotApplicable("not a 405 answer")
    if any(name == "allow" for name, _ in ex.headers):
        return True
    raise CheckFailed(
        "a 405 answer without an Allow header", expected="Allow: POST", actual="no Allow header"
    )


@rule(
    "one valid request (the spec's first example, pinned to --model) is answered 2xx with the "
    "given token",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(f"{OPERATION}/requestBody/content/application~1json/examples/minimal")],
    id="server_accepts_the_target",
    per_exchange=False,
)
def _preflight(ex: Exchange) -> bool:
    if ex.ok:
        return True
    raise CheckFailed(
        f"a minimal valid request was answered HTTP {ex.status}",
        expected="HTTP 2xx",
        actual=f"HTTP {ex.status}: {excerpt(_body_excerpt(ex))}",
    )


@rule(
    "every request gets an HTTP response within the request timeout",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_RESPONSES)],
    id="server_answers_every_request",
)
def _answered(ex: Exchange) -> bool:
    """An exchange is an answer: this rule fails where a sender got none (recorded there)."""
    return True


@rule(
    "every response body matches the schema documented for its status and media type "
    "(each stream event against ChatTextChunk)",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_RESPONSES), spec("/components/schemas/ChatTextChunk")],
)
def response_schema_conformance(ex: Exchange) -> bool:
    ex.require_whole_stream()  # a body read only in part (a stream cut, a body not decoded)
    return _schemathesis("response_schema_conformance", ex)


PREFLIGHT = "server_accepts_the_target"
TRANSPORT = "server_answers_every_request"
