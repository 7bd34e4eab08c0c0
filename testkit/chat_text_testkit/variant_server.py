"""An independent implementation of ``POST /inference/chat_text``, with a switch per open choice.

The conformance suite must pass against *any* server that follows ``openapi.yaml`` and the
vendor document, not only against our reference server (``chat_text_server``). This module is a
second, independently written server for the tests: it shares no code with the reference server
(only the spec facts read through :mod:`chat_text_spec`), and each :class:`Variant` switch makes
one choice the documents leave open in a different way from it. ``VARIANTS`` names one variant per
switch, a few extra values of the multi-valued switches (``"chunking=single"``), ``"default"``
and ``"all"`` (every switch on at once).

What the documents fix, every variant does (see DESIGN.md, "Reference semantics"):

* bearer auth (401 + ``WWW-Authenticate: Bearer``), 415, 413 (``x-max-body-bytes``), 400 for
  invalid JSON or a request the spec's schema refuses (naming the field), 404 ``model_not_found``;
* server-applied defaults (omitted or ``null`` means the spec's default);
* prompt tokens = ``reply_overhead + sum(message_overhead + tokens(content))`` over the kept
  messages; truncation evicts the oldest user/assistant message that is not the last while the
  prompt is longer than ``prompt_truncate_len``; ``prompt_too_long`` when nothing fits;
  ``max_tokens`` lowered to the room left;
* ``finish_reason`` ``length`` when the answer was cut at the (lowered) ``max_tokens``, ``stop``
  when it ended on its own (either, by switch, when it ended exactly there);
* ``completion_tokens`` is the token count of the content under the variant's own tokenizer;
* streams: same ``id``/``created``/``model`` in every chunk, ``role`` in the first delta only,
  ``finish_reason`` in the last choice-carrying chunk only, ``usage`` ``null`` except in the last
  chunk, then ``data: [DONE]``; joined deltas are the non-stream answer (when deterministic).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import hmac
import itertools
import json
import math
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import chat_text_spec

__all__ = [
    "FAULTS",
    "VARIANTS",
    "Variant",
    "completion_budget",
    "count_tokens",
    "create_variant_app",
    "fit_prompt",
    "generate",
    "running_variant",
    "running_variants",
]

Tokenizer = Literal["regex", "chars4", "bytes"]
Chunking = Literal["token", "word", "sentence", "single"]
LineEnding = Literal["lf", "crlf", "cr"]
IdStyle = Literal["uuid", "counter", "long"]
FinishReason = Literal["stop", "length"]


FAULTS: frozenset[str] = frozenset(
    {
        # prompt fitting (fit_prompt)
        "truncation_evicts_system",
        "truncation_newest_first",
        "truncation_ignores_limit",
        "truncation_off_by_one",
        "truncation_evicts_last",
        "prompt_tokens_before_truncation",
        "prompt_tokens_skip_last_message",
        "full_window_accepted",
        # the completion budget (the room left in the window)
        "max_tokens_off_by_one",
        "max_tokens_not_lowered",
        "max_tokens_lowered_one_too_far",
        "one_token_of_room_refused",
        # generation (generate)
        "finish_reason_always_stop",
        "nondeterministic_at_temperature_0",
        "empty_message_crashes",
    }
)
"""Bugs a ``Variant`` can be told to have (``faults=``), for the suite's mutation tests
(``chat_text_testkit.mutations``). Each is the same bug as the reference server's engine fault
of that name, written for this server's own code; none is a legal choice."""


def _default_models() -> dict[str, int]:
    return {"acme-large": 4096}


@dataclass(frozen=True)
class Variant:
    """One legal server: every field is a choice the documents leave open."""

    name: str = "default"
    models: Mapping[str, int] = field(default_factory=_default_models, hash=False)
    """Model name -> context window in tokens (prompt + completion)."""
    tokenizer: Tokenizer = "regex"
    """regex: ``\\w+|[^\\w\\s]``; chars4: ceil(len/4) per whitespace-separated word; bytes: one
    token per UTF-8 byte (spaces included)."""
    message_overhead: int = 4
    """Tokens every message costs on top of its content (chat template)."""
    reply_overhead: int = 0
    """Tokens added once per prompt (e.g. an ``assistant:`` primer)."""
    chunking: Chunking = "word"
    """What one stream event carries: one token, one word, one sentence, or the whole answer."""
    line_ending: LineEnding = "lf"
    """SSE line ends. With crlf, each event is also written in two pieces, cut between the
    final ``\\r`` and ``\\n``."""
    sse_extras: bool = False
    """Comment lines, ``retry:``, ``event: message``, ``id: N`` and ``data:`` without the space."""
    bom: bool = False
    """Every event stream starts with a byte-order mark (U+FEFF: the bytes ``EF BB BF``), as a
    write of its own before anything else (the standard's ``stream = [ bom ] *event``)."""
    pings: bool = False
    """sse-starlette's keep-alives (what FastAPI servers send by default): a write of its own,
    ``: ping - <UTC time>`` and a blank line, with CRLF line ends whatever ``line_ending`` says
    (so with ``lf`` or ``cr`` the stream mixes line ends), between every two events."""
    extra_fields: bool = False
    """Extra properties wherever the response schemas allow them."""
    created_fractional: bool = False
    id_style: IdStyle = "uuid"
    """uuid: a bare uuid4; counter: ``resp-17``; long: a 100-character random string."""
    content_type_params: bool = False
    """``; charset=utf-8`` on every Content-Type the server sends."""
    usage_null: bool = False
    """Non-stream answers carry ``"usage": null``; streams still send usage in their last chunk."""
    stop_at_exact_max: FinishReason = "length"
    """finish_reason when the natural answer ends exactly at the (lowered) max_tokens."""
    finish_in_separate_chunk: bool = False
    """finish_reason in a chunk of its own, with an empty delta ``{}``."""
    usage_only_final_chunk: bool = False
    """After the finish chunk, one more chunk with ``"choices": []`` carrying usage."""
    nondeterministic: bool = False
    """Temperature 0 is not deterministic: random words (and a random length) every call."""
    error_wording: bool = False
    """Other error messages (same codes, fields and body shape)."""
    stream_delay: float = 0.0
    """Seconds between stream events."""
    latency: float = 0.0
    """Seconds before any response."""
    long_answers: bool = False
    """Natural answers of 1,100..1,599 tokens (so a token-chunked stream has 1,000+ events)."""
    faults: frozenset[str] = frozenset()
    """Bugs to have, from :data:`FAULTS` (none by default: every variant is a legal server)."""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("a variant needs at least one model")
        for model, context in self.models.items():
            if not model or not isinstance(context, int) or context < 2:
                raise ValueError(f"bad model {model!r}: context window {context!r}")
        if self.message_overhead < 0 or self.reply_overhead < 0:
            raise ValueError("overheads must be >= 0")
        if self.stream_delay < 0 or self.latency < 0:
            raise ValueError("delays must be >= 0")
        checks: tuple[tuple[str, object, tuple[object, ...]], ...] = (
            ("tokenizer", self.tokenizer, ("regex", "chars4", "bytes")),
            ("chunking", self.chunking, ("token", "word", "sentence", "single")),
            ("line_ending", self.line_ending, ("lf", "crlf", "cr")),
            ("id_style", self.id_style, ("uuid", "counter", "long")),
            ("stop_at_exact_max", self.stop_at_exact_max, ("stop", "length")),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        unknown = set(self.faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")


# -- tokenizers --------------------------------------------------------------------------------

_REGEX_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")
_CHARS_PER_TOKEN = 4


def count_tokens(text: str, tokenizer: Tokenizer) -> int:
    """How many tokens ``text`` is under ``tokenizer``."""
    if tokenizer == "regex":
        return len(_REGEX_TOKEN.findall(text))
    if tokenizer == "chars4":
        return sum(-(-len(word) // _CHARS_PER_TOKEN) for word in text.split())
    return len(text.encode("utf-8", "surrogatepass"))


def _pieces(text: str, tokenizer: Tokenizer) -> list[str]:
    """``text`` (ASCII, no trailing space) cut into one-token pieces.

    Joining the first ``k`` pieces gives a text of exactly ``k`` tokens, for every ``k``.
    Whitespace travels with the piece after it.
    """
    if tokenizer == "bytes":
        return list(text)
    pattern = _REGEX_TOKEN if tokenizer == "regex" else _WORD
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if tokenizer == "regex":
            pieces.append(text[start : match.end()])
        else:
            word = match.group()
            parts = [word[i : i + _CHARS_PER_TOKEN] for i in range(0, len(word), _CHARS_PER_TOKEN)]
            parts[0] = text[start : match.start()] + parts[0]
            pieces += parts
        start = match.end()
    return pieces


# -- prompt fitting and generation -------------------------------------------------------------

_VOCABULARY: tuple[str, ...] = (
    "a", "of", "to", "is", "the", "sea", "oak", "ink", "map", "tide", "lamp", "wind", "bell",
    "north", "quiet", "stone", "river", "acorn", "harbour", "mountain", "lantern",
    "lighthouse", "cartography", "afternoon", "compass", "I", "we", "it", "and", "but",
)  # fmt: skip
_SHORT_ANSWER = (8, 57)  # natural length: 8 + (h % 57) tokens
_LONG_ANSWER = (1100, 500)


class PromptTooLong(Exception):
    """The kept messages leave no room in the context window."""

    def __init__(self, prompt_tokens: int, context: int) -> None:
        super().__init__(prompt_tokens, context)
        self.prompt_tokens = prompt_tokens
        self.context = context


def fit_prompt(
    variant: Variant, messages: Sequence[Mapping[str, str]], truncate_len: int, context: int
) -> tuple[list[Mapping[str, str]], int]:
    """Evict oldest user/assistant messages (not the last) while over ``truncate_len``.

    Returns the kept messages and the prompt's token count; raises :class:`PromptTooLong` when
    the kept prompt leaves not even one token of room in ``context``. (``variant.faults`` can
    break each of these rules: see :data:`FAULTS`.)
    """
    faults = variant.faults
    costs = [
        variant.message_overhead + count_tokens(m["content"], variant.tokenizer) for m in messages
    ]
    total = full = variant.reply_overhead + sum(costs)
    keep = [True] * len(messages)
    last = len(messages) - 1
    order: Sequence[int] = range(len(messages))
    if "truncation_newest_first" in faults:
        order = range(last, -1, -1)
    elif "truncation_ignores_limit" in faults:
        order = ()
    for i in order:
        fits = total < truncate_len if "truncation_off_by_one" in faults else total <= truncate_len
        if fits:
            break
        protected = (i == last and "truncation_evicts_last" not in faults) or (
            messages[i]["role"] == "system" and "truncation_evicts_system" not in faults
        )
        if not protected:
            keep[i] = False
            total -= costs[i]
    if total > context or (total == context and "full_window_accepted" not in faults):
        raise PromptTooLong(total, context)
    if "prompt_tokens_before_truncation" in faults:
        total = full
    if "prompt_tokens_skip_last_message" in faults:
        total -= costs[last]
    return [m for m, kept in zip(messages, keep, strict=True) if kept], total


def completion_budget(variant: Variant, prompt_tokens: int, max_tokens: int, context: int) -> int:
    """``max_tokens`` lowered to the room the prompt leaves in ``context`` (``fit_prompt`` has
    made sure there is some), or a fault's idea of it."""
    room = context - prompt_tokens
    faults = variant.faults
    if "max_tokens_not_lowered" in faults and max_tokens > room:
        raise PromptTooLong(prompt_tokens + max_tokens, context)
    if "one_token_of_room_refused" in faults and room <= 1:
        raise PromptTooLong(prompt_tokens, context)
    if "max_tokens_lowered_one_too_far" in faults:
        room += 1
    budget = min(max_tokens, room)
    return budget + 1 if "max_tokens_off_by_one" in faults else budget


def _compose(rng: random.Random, words: int) -> str:
    """Sentences of at least ``words`` vocabulary words."""
    out: list[str] = []
    while len(out) < words:
        sentence = [rng.choice(_VOCABULARY) for _ in range(rng.randint(3, 11))]
        sentence[0] = sentence[0][:1].upper() + sentence[0][1:]
        if len(sentence) > 5 and rng.random() < 0.3:
            sentence[len(sentence) // 2] += ","
        sentence[-1] += rng.choice((".", ".", ".", "!", "?"))
        out += sentence
    return " ".join(out)


def generate(
    variant: Variant,
    model: str,
    kept: Sequence[Mapping[str, str]],
    max_tokens: int,
    temperature: float,
) -> tuple[list[str], FinishReason]:
    """The answer as one-token pieces (at most ``max_tokens``) and its finish_reason.

    The natural length comes from a hash of the model and the kept messages (random with
    ``nondeterministic``); the words from the same hash at temperature 0, from the OS random
    source otherwise. A smaller ``max_tokens`` gives a prefix of the natural answer.
    """
    key = json.dumps([model, [[m["role"], m["content"]] for m in kept]]).encode()
    digest = hashlib.sha256(key).digest()
    if "empty_message_crashes" in variant.faults:
        last_word = _REGEX_TOKEN.findall(kept[-1]["content"])[-1]  # IndexError when empty
        del last_word
    if variant.nondeterministic:
        length_draw = secrets.randbits(64)
        word_seed = secrets.randbits(64)
    else:
        length_draw = int.from_bytes(digest[:8], "big")
        seeded = temperature == 0 and "nondeterministic_at_temperature_0" not in variant.faults
        word_seed = int.from_bytes(digest[8:16], "big") if seeded else secrets.randbits(64)
    base, span = _LONG_ANSWER if variant.long_answers else _SHORT_ANSWER
    natural = base + length_draw % span
    text = _compose(random.Random(word_seed), natural)
    pieces = _pieces(text, variant.tokenizer)[:natural]
    if natural > max_tokens:
        return pieces[:max_tokens], (
            "stop" if "finish_reason_always_stop" in variant.faults else "length"
        )
    if natural < max_tokens:
        return pieces, "stop"
    return pieces, variant.stop_at_exact_max


def _groups(pieces: Sequence[str], chunking: Chunking) -> list[str]:
    """The stream's ``delta.content`` values: pieces grouped by token, word, sentence or all."""
    if chunking == "token":
        return list(pieces)
    if chunking == "single":
        return ["".join(pieces)]
    groups: list[list[str]] = []
    for piece in pieces:
        if not groups:
            groups.append([piece])
        elif chunking == "word":
            if piece[:1].isspace():
                groups.append([piece])
            else:
                groups[-1].append(piece)
        else:  # sentence: a group ends after a piece that ends one
            if groups[-1][-1][-1:] in {".", "!", "?"}:
                groups.append([piece])
            else:
                groups[-1].append(piece)
    return ["".join(group) for group in groups]


# -- the spec's request schema -----------------------------------------------------------------


class _SpecFacts:
    """What the server reads from ``openapi.yaml``: schema, defaults, size limit."""

    def __init__(self) -> None:
        spec = chat_text_spec.load_spec()
        schema = dict(chat_text_spec.request_schema())
        # $refs inlined once: resolving them on every request was most of the validation cost
        self.validator = jsonschema.Draft202012Validator(_inline_refs(schema, spec))
        self.defaults: dict[str, Any] = chat_text_spec.request_defaults()
        self.max_body_bytes = chat_text_spec.max_body_bytes()
        self.integer_fields = frozenset(
            name
            for name, prop in schema["properties"].items()
            if any(
                alt.get("type") == "integer"
                for alt in [chat_text_spec.resolve(prop, spec), *prop.get("anyOf", [])]
            )
        )
        # body bytes -> the schema's first error (None: valid). A verdict is a function of the
        # bytes alone, so every variant in the process shares it: the suite sends the same seeded
        # requests to each, and jsonschema's walk was a third of a variant's own CPU.
        self._verdicts: dict[bytes, tuple[str | None, str] | None] = {}

    def schema_error(self, body: bytes, document: dict[str, Any]) -> tuple[str | None, str] | None:
        """The field path and reason of ``document``'s first schema error (``body`` is the
        bytes it was parsed from), or None when it is valid."""
        if body in self._verdicts:
            return self._verdicts[body]
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(document))
        verdict = None if error is None else _explain(error)
        if len(self._verdicts) >= 20_000:
            self._verdicts.clear()
        self._verdicts[body] = verdict
        return verdict


def _inline_refs(node: Any, spec: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at (the request schema
    has no recursive reference; one would be an error here)."""
    if isinstance(node, list):
        return [_inline_refs(item, spec, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            raise ValueError(f"recursive $ref {ref}")
        target: Any = spec
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _inline_refs({**target, **siblings}, spec, (*seen, ref))
    return {key: _inline_refs(value, spec, seen) for key, value in node.items()}


@functools.cache
def _spec_facts() -> _SpecFacts:
    return _SpecFacts()


def _path(parts: Sequence[object]) -> str | None:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _explain(error: jsonschema.ValidationError) -> tuple[str | None, str]:
    """The field path at fault and a short reason, for one schema error."""
    if error.validator == "anyOf" and error.context:
        # Optional fields are anyOf [value, null]: explain the value branch.
        useful = [
            e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        if useful:
            error = useful[0]
    path = list(error.absolute_path)
    rule = str(error.validator)
    value: Any = error.validator_value
    instance = error.instance
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(str(k) for k in instance if k not in known)
        return _path([*path, extra[0] if extra else "?"]), "not a known field"
    if rule == "required" and isinstance(instance, dict):
        missing = [str(k) for k in value if k not in instance]
        return _path([*path, missing[0] if missing else "?"]), "required but missing"
    reasons = {
        "type": lambda: f"must be of type {value}, not {_json_type(instance)}",
        "enum": lambda: "must be one of " + ", ".join(json.dumps(v) for v in value),
        "minimum": lambda: f"must be at least {value}",
        "maximum": lambda: f"must be at most {value}",
        "minLength": lambda: f"must have at least {value} characters",
        "maxLength": lambda: f"must have at most {value} characters",
        "minItems": lambda: f"must have at least {value} items",
        "maxItems": lambda: f"must have at most {value} items",
    }
    reason = reasons.get(rule)
    return _path(path), (reason() if reason else error.message[:200])


# -- errors ------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: status, the spec's code, a message naming the field, the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


_WORDING: dict[str, tuple[str, str]] = {
    # situation: (default wording, error_wording wording)
    "missing_token": (
        "Authorization required: send 'Authorization: Bearer <token>'.",
        "No credentials were presented.",
    ),
    "malformed_token": (
        "The Authorization header must look like 'Bearer <token>'.",
        "Credentials are not in the bearer format.",
    ),
    "unknown_token": ("This bearer token is not valid.", "Access denied for these credentials."),
    "media": (
        "Expected a JSON body (Content-Type: application/json), got {got}.",
        "Unsupported body format {got}; only application/json is accepted.",
    ),
    "too_large": (
        "Request bodies may not exceed {limit} bytes.",
        "Payload rejected: over the {limit}-byte ceiling.",
    ),
    "bad_json": ("Could not parse the body as JSON ({detail}).", "Malformed JSON: {detail}"),
    "not_object": (
        "The body must be a JSON object, not {kind}.",
        "Top-level JSON value is a(n) {kind}; an object was expected.",
    ),
    "field": ("{field}: {reason}.", "Rejected field '{field}' ({reason})."),
    "unknown_model": (
        "model: there is no model called {model}.",
        "Requested model {model} is unavailable (check the 'model' field).",
    ),
    "prompt_too_long": (
        "messages: the prompt is {tokens} tokens after truncation; model {model} has a "
        "{context}-token context window, so no room is left for an answer.",
        "Cannot fit the messages into {model}: {tokens} prompt tokens vs a {context}-token window.",
    ),
    "not_found": ("Nothing at {path}.", "Unknown endpoint {path}."),
    "method": ("{method} is not supported here; use POST.", "Method {method} not permitted."),
    "internal": ("Something went wrong on our side.", "Internal failure."),
}


def _say(variant: Variant, situation: str, **values: object) -> str:
    template = _WORDING[situation][1 if variant.error_wording else 0]
    return template.format(**values)


# -- responses ---------------------------------------------------------------------------------

_ID_COUNTER = itertools.count(1)


def _new_id(style: IdStyle) -> str:
    if style == "counter":
        return f"resp-{next(_ID_COUNTER)}"
    if style == "long":
        return secrets.token_urlsafe(75)  # 100 characters
    return str(uuid.uuid4())


def _dumps(document: object) -> bytes:
    # json's default separators and ASCII escapes: a different byte shape from the reference.
    return json.dumps(document, ensure_ascii=True, allow_nan=False).encode("ascii")


class _Server:
    """The operation, for one variant and one set of tokens."""

    def __init__(self, variant: Variant, tokens: Sequence[str]) -> None:
        self.variant = variant
        self.tokens = [t.encode("utf-8") for t in tokens]
        self.facts = _spec_facts()
        charset = "; charset=utf-8" if variant.content_type_params else ""
        self.json_type = "application/json" + charset
        self.sse_type = "text/event-stream" + charset

    # -- plumbing --

    def json_response(
        self, status: int, document: object, headers: Mapping[str, str] | None = None
    ) -> Response:
        all_headers = {"content-type": self.json_type, **(headers or {})}
        if self.variant.extra_fields:
            all_headers["x-request-id"] = uuid.uuid4().hex
        return Response(_dumps(document), status_code=status, headers=all_headers)

    def error_response(self, error: ApiError) -> Response:
        detail: dict[str, Any] = {
            "code": error.code,
            "message": error.message,
            "field": error.field,
        }
        if self.variant.extra_fields:
            detail["type"] = "invalid_request_error" if error.status < 500 else "server_error"
            detail["param"] = error.field
        return self.json_response(error.status, {"error": detail}, error.headers)

    # -- checks, in order: auth, size, media type, JSON, schema, model, prompt --

    def authorize(self, request: Request) -> None:
        value = request.headers.get("authorization", "").strip()
        challenge = 'Bearer realm="variant"'
        if not value:
            raise ApiError(
                401,
                "unauthorized",
                _say(self.variant, "missing_token"),
                headers={"WWW-Authenticate": challenge},
            )
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
            raise ApiError(
                401,
                "unauthorized",
                _say(self.variant, "malformed_token"),
                headers={"WWW-Authenticate": challenge + ', error="invalid_request"'},
            )
        raw = token.encode("latin-1", "replace")
        matched = False
        for known in self.tokens:
            matched |= hmac.compare_digest(raw, known)
        if not matched:
            raise ApiError(
                401,
                "unauthorized",
                _say(self.variant, "unknown_token"),
                headers={"WWW-Authenticate": challenge + ', error="invalid_token"'},
            )

    def too_large(self) -> ApiError:
        return ApiError(
            413,
            "request_too_large",
            _say(self.variant, "too_large", limit=self.facts.max_body_bytes),
        )

    async def read_body(self, request: Request) -> bytes:
        limit = self.facts.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise self.too_large()
        media, *params = request.headers.get("content-type", "").split(";")
        charsets = {
            p.partition("=")[2].strip().strip('"').lower()
            for p in params
            if p.partition("=")[0].strip().lower() == "charset"
        }
        if media.strip().lower() != "application/json" or charsets - {"utf-8", "utf8"}:
            got = request.headers.get("content-type", "").strip()[:80] or "no Content-Type"
            raise ApiError(415, "unsupported_media_type", _say(self.variant, "media", got=got))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise self.too_large()
        return bytes(body)

    def parse(self, body: bytes) -> dict[str, Any]:
        def no_constant(name: str) -> Any:
            raise ValueError(f"{name} is not a JSON value")

        def finite(text: str) -> float:
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(f"number {text[:40]} is out of range")
            return number

        try:
            document = json.loads(
                body.decode("utf-8"), parse_constant=no_constant, parse_float=finite
            )
        except (ValueError, RecursionError) as exc:
            detail = str(exc)[:120] or type(exc).__name__
            raise ApiError(
                400, "invalid_request", _say(self.variant, "bad_json", detail=detail)
            ) from None
        if not isinstance(document, dict):
            kind = _json_type(document)
            raise ApiError(400, "invalid_request", _say(self.variant, "not_object", kind=kind))
        return document

    def validate(self, body: bytes, document: dict[str, Any]) -> dict[str, Any]:
        error = self.facts.schema_error(body, document)
        if error is not None:
            path, reason = error
            name = path or "request body"
            raise ApiError(
                400, "invalid_request", _say(self.variant, "field", field=name, reason=reason), path
            )
        request = dict(document)
        for name, default in self.facts.defaults.items():
            if request.get(name) is None:
                request[name] = default
        for name in self.facts.integer_fields:
            if isinstance(request.get(name), float):
                request[name] = int(request[name])
        return request

    # -- the operation --

    async def handle(self, request: Request) -> Response:
        try:
            self.authorize(request)
            body = await self.read_body(request)
            return self.answer(self.validate(body, self.parse(body)))
        except ApiError as error:
            return self.error_response(error)

    def answer(self, request: dict[str, Any]) -> Response:
        variant = self.variant
        model: str = request["model"]
        context = variant.models.get(model)
        if context is None:
            raise ApiError(
                404, "model_not_found", _say(variant, "unknown_model", model=model), "model"
            )
        try:
            kept, prompt_tokens = fit_prompt(
                variant, request["messages"], request["prompt_truncate_len"], context
            )
            max_tokens = completion_budget(variant, prompt_tokens, request["max_tokens"], context)
        except PromptTooLong as exc:
            message = _say(
                variant, "prompt_too_long", tokens=exc.prompt_tokens, model=model, context=context
            )
            raise ApiError(400, "prompt_too_long", message, "messages") from None
        pieces, finish = generate(variant, model, kept, max_tokens, request["temperature"])
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        if variant.extra_fields:
            usage["cached_tokens"] = 0
            usage["completion_tokens_details"] = {"reasoning_tokens": 0}
        head: dict[str, Any] = {
            "id": _new_id(variant.id_style),
            "created": time.time() if variant.created_fractional else int(time.time()),
            "model": model,
        }
        if request["stream"]:
            return self.stream(head, pieces, finish, usage)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(pieces)},
            "finish_reason": finish,
        }
        document: dict[str, Any] = {}
        if variant.extra_fields:
            document["object"] = "chat.completion"
            choice["logprobs"] = None
            choice["message"]["refusal"] = None
        document |= head
        document["choices"] = [choice]
        document["usage"] = None if variant.usage_null else usage
        if variant.extra_fields:
            document["system_fingerprint"] = "fp_variant_0001"
        return self.json_response(200, document)

    def stream(
        self, head: dict[str, Any], pieces: Sequence[str], finish: str, usage: dict[str, Any]
    ) -> Response:
        variant = self.variant
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "content": text} if i == 0 else {"content": text}
            for i, text in enumerate(_groups(pieces, variant.chunking) or [""])
        ]
        if variant.extra_fields:
            deltas[0]["refusal"] = None
        if variant.finish_in_separate_chunk:
            deltas.append({})
        chunks: list[dict[str, Any]] = []
        for i, delta in enumerate(deltas):
            last = i == len(deltas) - 1
            choice: dict[str, Any] = {
                "index": 0,
                "delta": delta,
                "finish_reason": finish if last else None,
            }
            if variant.extra_fields:
                choice["logprobs"] = None
            with_usage = last and not variant.usage_only_final_chunk
            chunks.append(self.chunk(head, [choice], usage if with_usage else None))
        if variant.usage_only_final_chunk:
            chunks.append(self.chunk(head, [], usage))
        datas = [_dumps(c).decode("ascii") for c in chunks] + ["[DONE]"]
        headers = {"content-type": self.sse_type, "cache-control": "no-cache"}
        if variant.extra_fields:
            headers["x-request-id"] = uuid.uuid4().hex
        return StreamingResponse(self.events(datas), headers=headers)

    def chunk(
        self, head: dict[str, Any], choices: list[dict[str, Any]], usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = (
            {"object": "chat.completion.chunk"} if self.variant.extra_fields else {}
        )
        chunk |= head
        chunk["choices"] = choices
        chunk["usage"] = usage
        if self.variant.extra_fields:
            chunk["system_fingerprint"] = "fp_variant_0001"
        return chunk

    async def events(self, datas: Sequence[str]) -> AsyncIterator[bytes]:
        variant = self.variant
        eol = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}[variant.line_ending]
        if variant.bom:
            yield "\ufeff".encode()
        if variant.sse_extras:
            yield f": keep-alive{eol}retry: 3000{eol}{eol}".encode()
        for n, data in enumerate(datas, 1):
            if n > 1 and variant.pings:
                yield f": ping - {datetime.datetime.now(datetime.UTC)}\r\n\r\n".encode()
            if n > 1 and variant.stream_delay:
                await asyncio.sleep(variant.stream_delay)
            if variant.sse_extras:
                lines = ["event: message", f"id: {n}", f": event {n}", "data:" + data]
            else:
                lines = ["data: " + data]
            block = (eol.join(lines) + eol + eol).encode()
            if variant.line_ending == "crlf":
                yield block[:-1]  # ends in "\r": the "\n" comes in the next write
                yield block[-1:]
            else:
                yield block
            if variant.sse_extras and n % 7 == 0:
                yield f": keep-alive{eol}{eol}".encode()


# -- the app -----------------------------------------------------------------------------------


class _Latency:
    """Waits ``delay`` seconds before handing an HTTP request to the app."""

    def __init__(self, app: ASGIApp, delay: float) -> None:
        self.app = app
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


def create_variant_app(variant: Variant, tokens: Sequence[str]) -> ASGIApp:
    """The variant as an ASGI app accepting the bearer ``tokens``."""
    if isinstance(tokens, str | bytes):
        raise TypeError("tokens must be a sequence of strings")
    token_list = [t for t in tokens if t]
    if not token_list:
        raise ValueError("at least one non-empty token is needed")
    server = _Server(variant, token_list)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path[:200]
        if exc.status_code == 405:
            message = _say(variant, "method", method=request.method)
            error = ApiError(405, "method_not_allowed", message, headers={"Allow": "POST"})
        elif exc.status_code == 404:
            error = ApiError(404, "not_found", _say(variant, "not_found", path=path))
        else:
            error = ApiError(exc.status_code, "http_error", str(exc.detail)[:200] or "HTTP error")
        return server.error_response(error)

    async def internal_error(request: Request, exc: Exception) -> Response:
        return server.error_response(ApiError(500, "internal_error", _say(variant, "internal")))

    app = Starlette(
        routes=[Route(chat_text_spec.OPERATION_PATH, server.handle, methods=["POST"])],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.router.redirect_slashes = False
    app.state.variant = variant
    if variant.latency > 0:
        return _Latency(app, variant.latency)
    return app


_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


class _ServerThread:
    """One uvicorn server for one variant, in a daemon thread, on a free 127.0.0.1 port."""

    def __init__(self, variant: Variant, token: str) -> None:
        self.variant = variant
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            create_variant_app(variant, [token]),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(_STOP_TIMEOUT // 2),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name=f"variant-server:{variant.name}:{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def wait_started(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"variant server {self.variant.name!r} did not start on port {self.port}"
                )
            time.sleep(0.005)

    def ask_to_stop(self) -> None:
        self.server.should_exit = True

    def join(self) -> None:
        if self.thread.is_alive():
            self.thread.join(_STOP_TIMEOUT)
        if self.thread.is_alive():  # pragma: no cover - a stuck server
            self.server.force_exit = True
            self.thread.join(_STOP_TIMEOUT)
        self.sock.close()


@contextlib.contextmanager
def running_variants(variants: Sequence[Variant], token: str) -> Iterator[list[str]]:
    """Serve several variants at once; yields their base URLs (in order), stops them together.

    Starting and stopping in parallel costs one server's start and stop time, not one per
    variant (a stop waits for uvicorn's 0.1 s ticks).
    """
    threads = [_ServerThread(v, token) for v in variants]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.wait_started()
        yield [t.url for t in threads]
    finally:
        for thread in threads:
            thread.ask_to_stop()
        for thread in threads:
            thread.join()


@contextlib.contextmanager
def running_variant(variant: Variant, token: str) -> Iterator[str]:
    """Serve ``variant`` (accepting ``token``) with uvicorn on a free 127.0.0.1 port.

    Yields the base URL; the server runs in a daemon thread and stops when the block ends
    (graceful shutdown, then a forced one, each with a bounded wait).
    """
    with running_variants([variant], token) as (url,):
        yield url


# -- the named variants ------------------------------------------------------------------------


def _variants() -> dict[str, Variant]:
    alone: dict[str, dict[str, Any]] = {
        "default": {},
        "models": {"models": {"vendor/Acme-7B:chat-v1.2": 1024, "acme-tiny": 160}},
        "tokenizer": {"tokenizer": "chars4"},
        "tokenizer=bytes": {"tokenizer": "bytes"},
        "message_overhead": {"message_overhead": 0},
        "reply_overhead": {"reply_overhead": 3},
        "chunking": {"chunking": "token"},
        "chunking=sentence": {"chunking": "sentence"},
        "chunking=single": {"chunking": "single"},
        "line_ending": {"line_ending": "crlf"},
        "line_ending=cr": {"line_ending": "cr"},
        "sse_extras": {"sse_extras": True},
        "bom": {"bom": True},
        "pings": {"pings": True},
        "extra_fields": {"extra_fields": True},
        "created_fractional": {"created_fractional": True},
        "id_style": {"id_style": "long"},
        "id_style=counter": {"id_style": "counter"},
        "content_type_params": {"content_type_params": True},
        "usage_null": {"usage_null": True},
        "stop_at_exact_max": {"stop_at_exact_max": "stop"},
        "finish_in_separate_chunk": {"finish_in_separate_chunk": True},
        "usage_only_final_chunk": {"usage_only_final_chunk": True},
        "nondeterministic": {"nondeterministic": True},
        "error_wording": {"error_wording": True},
        "stream_delay": {"stream_delay": 0.01},
        "latency": {"latency": 0.03},
        "long_answers": {"long_answers": True},
        "all": {
            "models": {"vendor/Acme-XL:chat-v2.1": 8192, "acme-small": 700},
            "tokenizer": "bytes",
            "message_overhead": 7,
            "reply_overhead": 3,
            "chunking": "token",
            "line_ending": "cr",
            "sse_extras": True,
            "bom": True,
            "pings": True,
            "extra_fields": True,
            "created_fractional": True,
            "id_style": "long",
            "content_type_params": True,
            "usage_null": True,
            "stop_at_exact_max": "stop",
            "finish_in_separate_chunk": True,
            "usage_only_final_chunk": True,
            "nondeterministic": True,
            "error_wording": True,
            "stream_delay": 0.001,
            "latency": 0.01,
            "long_answers": True,
        },
    }
    variants = {name: Variant(name=name, **switches) for name, switches in alone.items()}
    # "all" has usage_null, so a suite that reads usage from non-stream answers exercises few
    # semantics on it, and nondeterministic, which the strict level may not judge: two more
    # "all" variants keep every other switch on.
    every = alone["all"]
    variants["all-with-usage"] = Variant(name="all-with-usage", **{**every, "usage_null": False})
    variants["all-deterministic"] = Variant(
        name="all-deterministic", **{**every, "usage_null": False, "nondeterministic": False}
    )
    return variants


VARIANTS: dict[str, Variant] = _variants()
"""One variant per switch (each alone; ``"switch=value"`` for further values), ``"default"``,
``"all"`` (every switch on at once), ``"all-with-usage"`` (all but ``usage_null``) and
``"all-deterministic"`` (all but ``usage_null`` and ``nondeterministic``)."""
