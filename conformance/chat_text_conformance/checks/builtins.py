"""The schemathesis built-in checks the suite runs, and the suite's own run-level rules, declared
in the catalogue with the part of ``openapi.yaml`` each one enforces.

schemathesis's stateful checks (``use_after_free``, ``ensure_resource_availability``,
``object_level_authorization``) need resources created by other operations; this API has one
operation, so they are switched off rather than reported as passing.
"""

from __future__ import annotations

from ..target import Level
from .registry import OPERATION, declare, spec

__all__ = ["BUILTIN_CHECKS", "DISABLED_BUILTINS", "PREFLIGHT", "TRANSPORT"]

_RESPONSES = f"{OPERATION}/responses"
_REQUEST = "/components/schemas/ChatTextRequest"
_AUTH = "/components/securitySchemes/bearerAuth/description"

DISABLED_BUILTINS = ("use_after_free", "ensure_resource_availability", "object_level_authorization")

_BUILTINS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("not_a_server_error", "no request, valid or not, is answered 5xx", (f"{_RESPONSES}/500",)),
    (
        "status_code_conformance",
        "every status code is one the operation documents",
        (_RESPONSES,),
    ),
    (
        "content_type_conformance",
        "every response's Content-Type is one documented for its status",
        (_RESPONSES,),
    ),
    (
        "response_headers_conformance",
        "documented response headers are present and valid (WWW-Authenticate on 401, "
        "Retry-After on 429 and 503)",
        (f"{_RESPONSES}/401/headers", f"{_RESPONSES}/429/headers"),
    ),
    (
        "positive_data_acceptance",
        "a request valid against the request schema is accepted (2xx), unless refused for a "
        "documented reason (prompt_too_long that may not fit, 413 over x-max-body-bytes)",
        (_REQUEST, f"{OPERATION}/requestBody/x-max-body-bytes"),
    ),
    (
        "negative_data_rejection",
        "a request invalid against the request schema is rejected with a 4xx",
        (_REQUEST, f"{_RESPONSES}/400/description"),
    ),
    (
        "missing_required_header",
        "a request without the Authorization header is answered 401",
        (_AUTH, f"{_RESPONSES}/401/description"),
    ),
    (
        "ignored_auth",
        "a request with a missing or wrong token is not answered 2xx",
        (_AUTH,),
    ),
    (
        "unsupported_method",
        "methods other than POST on the path are answered 405",
        ("/paths/~1inference~1chat_text",),
    ),
    (
        "allow_header_conformance",
        "a 405 answer names the allowed methods in an Allow header",
        ("/paths/~1inference~1chat_text",),
    ),
)

BUILTIN_CHECKS = (*(name for name, _, _ in _BUILTINS), "response_schema_conformance")
"""Every schemathesis built-in the suite runs (``response_schema_conformance`` is declared in
:mod:`.schema`, which also evaluates it outside schemathesis)."""

for _name, _statement, _pointers in _BUILTINS:
    declare(
        _name,
        _statement,
        level=Level.SCHEMA,
        kind="schema",
        sources=[spec(p) for p in _pointers],
    )

PREFLIGHT = declare(
    "server_accepts_the_target",
    "one valid request (the spec's first example, pinned to --model) is answered 2xx with the "
    "given token",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(f"{OPERATION}/requestBody/content/application~1json/examples/minimal")],
).id

TRANSPORT = declare(
    "server_answers_every_request",
    "every request gets an HTTP response within the request timeout",
    level=Level.SCHEMA,
    kind="schema",
    sources=[spec(_RESPONSES)],
).id
