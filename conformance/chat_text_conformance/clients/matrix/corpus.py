"""The corpus: server answers drawn from the spec's own schemas, saved as data.

Every case is one scripted answer to ``POST /inference/chat_text``: a status, headers and the
exact body bytes (or a transport fault), plus whether the request asks for a stream. The bodies
come from the client-conformance strategies (:mod:`chat_text_conformance.clients.sdk`:
schemathesis positive and negative draws of ``ChatTextResponse``, ``ChatTextChunk`` and
``ErrorResponse``, malformed JSON, framed, cut and malformed event streams), drawn with a fixed
hypothesis seed, so the same seed and the same tool versions give the same bytes.

Which draws become cases is decided here, deterministically: duplicates and bodies over
:data:`MAX_BODY_BYTES` are dropped, every feature (unicode, numbers beyond 32 or 53 bits,
``usage`` omitted / ``null`` / set, line endings, the schema keyword an invalid body breaks,
each documented error status, ...) found in the first draws gets at least one case, and the rest
of the kind's quota is filled in draw order.

The committed file (``clients/corpus.json``) is what every driver is replayed; regenerate it
with ``chat-text-conformance clients --write-corpus`` after the spec changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import chat_text_spec

__all__ = [
    "CORPUS_PATH",
    "DEFAULT_SEED",
    "MAX_BODY_BYTES",
    "REQUEST",
    "Case",
    "Corpus",
    "CorpusError",
    "check_corpus",
    "generate_corpus",
    "load_corpus",
    "spec_fingerprint",
    "tool_versions",
]

CORPUS_PATH = Path("clients") / "corpus.json"
DEFAULT_SEED = 1
MAX_BODY_BYTES = 2048
"""Bodies longer than this are skipped when choosing cases (the corpus stays readable)."""

REQUEST: dict[str, Any] = {
    "model": "chat-text-base",
    "messages": [{"role": "user", "content": "cross-language conformance"}],
}
"""The request every driver sends for every case (``stream: true`` added for stream cases)."""

_JSON = "application/json"
_SSE = "text/event-stream"
_FORMAT = 1
_DRAWS_PER_CASE = 3
_INT32_MAX = 2**31 - 1
_SAFE_INTEGER = 2**53


class CorpusError(Exception):
    """The corpus file cannot be read or does not describe valid cases."""


@dataclass(frozen=True)
class Case:
    """One scripted answer."""

    id: str
    kind: str
    exercises: str
    stream: bool
    """The request sets ``stream: true`` (the client reads an event stream)."""
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    transport: str | None = None
    """``None``: answer normally. ``"close"``: close the connection without answering.
    ``"short"``: announce more bytes than ``body`` (Content-Length), send ``body``, close."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "exercises": self.exercises,
            "stream": self.stream,
        }
        if self.transport is not None:
            out["transport"] = self.transport
        out["status"] = self.status
        out["headers"] = dict(self.headers)
        try:
            out["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            out["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> Case:
        if not isinstance(data, dict):
            raise CorpusError(f"{where}: a case must be an object")
        try:
            case_id, kind, exercises = data["id"], data["kind"], data["exercises"]
            stream, status, headers = data["stream"], data["status"], data["headers"]
        except KeyError as exc:
            raise CorpusError(f"{where}: missing key {exc}") from None
        if not (isinstance(case_id, str) and case_id and "/" not in case_id):
            raise CorpusError(f"{where}: 'id' must be a non-empty string without '/'")
        if not isinstance(kind, str) or not isinstance(exercises, str):
            raise CorpusError(f"{where}: 'kind' and 'exercises' must be strings")
        if not isinstance(stream, bool):
            raise CorpusError(f"{where}: 'stream' must be true or false")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise CorpusError(f"{where}: 'status' must be an HTTP status code")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise CorpusError(f"{where}: 'headers' must map names to strings")
        transport = data.get("transport")
        if transport not in (None, "close", "short"):
            raise CorpusError(f"{where}: 'transport' must be 'close' or 'short'")
        if ("body" in data) == ("body_base64" in data):
            raise CorpusError(f"{where}: give exactly one of 'body' and 'body_base64'")
        if "body" in data:
            if not isinstance(data["body"], str):
                raise CorpusError(f"{where}: 'body' must be a string")
            body = data["body"].encode("utf-8")
        else:
            try:
                body = base64.b64decode(str(data["body_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise CorpusError(f"{where}: 'body_base64' is not base64") from None
        return cls(
            id=case_id,
            kind=kind,
            exercises=exercises,
            stream=stream,
            status=status,
            headers=tuple(headers.items()),
            body=body,
            transport=transport,
        )


@dataclass(frozen=True)
class Corpus:
    seed: int
    spec_fingerprint: str
    tools: dict[str, str]
    cases: tuple[Case, ...]
    request: dict[str, Any] = field(default_factory=lambda: dict(REQUEST))

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise CorpusError(f"case id {case.id!r} appears twice")
            seen.add(case.id)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)

    def kinds(self) -> list[str]:
        """Every kind, in corpus order."""
        return list(dict.fromkeys(case.kind for case in self.cases))

    def request_for(self, case: Case) -> dict[str, Any]:
        return {**self.request, "stream": True} if case.stream else dict(self.request)

    def to_text(self) -> str:
        head = {
            "format": _FORMAT,
            "about": (
                "Scripted answers to POST /inference/chat_text, replayed to every client by "
                "chat-text-conformance clients. Generated from openapi.yaml's schemas by the "
                "client-conformance strategies; do not edit by hand."
            ),
            "regenerate": "chat-text-conformance clients --write-corpus",
            "seed": self.seed,
            "spec_fingerprint": self.spec_fingerprint,
            "generated_with": self.tools,
            "request": self.request,
        }
        lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [']
        lines.append(
            ",\n".join("  " + json.dumps(case.to_json(), ensure_ascii=False) for case in self.cases)
        )
        lines.append(" ]\n}\n")
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str, source: str) -> Corpus:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CorpusError(f"{source}: not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise CorpusError(f"{source}: not a corpus file (format {_FORMAT})")
        cases = data.get("cases")
        if not isinstance(cases, list) or not cases:
            raise CorpusError(f"{source}: 'cases' must be a non-empty list")
        request = data.get("request")
        if not isinstance(request, dict):
            raise CorpusError(f"{source}: 'request' must be an object")
        seed, fingerprint, tools = (
            data.get("seed"),
            data.get("spec_fingerprint"),
            data.get("generated_with"),
        )
        if not isinstance(seed, int) or not isinstance(fingerprint, str):
            raise CorpusError(f"{source}: 'seed' and 'spec_fingerprint' are required")
        if not isinstance(tools, dict):
            raise CorpusError(f"{source}: 'generated_with' must be an object")
        parsed = tuple(
            Case.from_json(case, f"{source}: cases[{i}]") for i, case in enumerate(cases)
        )
        try:
            return cls(
                seed=seed,
                spec_fingerprint=fingerprint,
                tools={str(k): str(v) for k, v in tools.items()},
                cases=parsed,
                request=request,
            )
        except CorpusError as exc:
            raise CorpusError(f"{source}: {exc}") from None


def load_corpus(path: Path) -> Corpus:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not UTF-8") from None
    return Corpus.parse(text, str(path))


def spec_fingerprint() -> str:
    """What the corpus depends on in the spec: the component schemas and the documented
    statuses (a description edit elsewhere does not make it stale)."""
    spec = chat_text_spec.load_spec()
    relevant = {
        "schemas": spec["components"]["schemas"],
        "statuses": sorted(chat_text_spec.operation()["responses"]),
    }
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def tool_versions() -> dict[str, str]:
    """The versions that decide which bodies a seed draws."""
    out = {}
    for name in ("hypothesis", "schemathesis"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - both are dependencies
            out[name] = "missing"
    return out


# --------------------------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------------------------
@dataclass
class _Draft:
    kind: str
    status: int
    body: bytes
    content_type: str
    exercises: str
    features: frozenset[str]
    stream: bool = False


_Build = Callable[[Any, int, Any], _Draft | None]


@dataclass(frozen=True)
class _Kind:
    name: str
    quota: int
    strategy: Callable[[Any], Any]
    build: _Build
    draws_per_case: int = _DRAWS_PER_CASE


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _value_features(value: Any) -> set[str]:
    found: set[str] = set()
    for item in _walk(value):
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if abs(item) > _SAFE_INTEGER:
                found.add("integer beyond 2^53")
            elif abs(item) > _INT32_MAX:
                found.add("integer beyond int32")
        elif isinstance(item, float):
            if item.is_integer():
                found.add("whole number written with a fraction")
            else:
                found.add("fractional number")
            if item and not 1e-6 < abs(item) < 1e15:
                found.add("number with a large exponent")
        elif isinstance(item, str):
            if not item:
                found.add("empty string")
            if any(ord(c) > 0xFFFF for c in item):
                found.add("characters beyond the BMP")
            elif any(ord(c) > 0x7F for c in item):
                found.add("non-ASCII text")
            if any(ord(c) < 0x20 for c in item):
                found.add("control characters")
    return found


def _response_features(body: Any) -> set[str]:
    found = _value_features(body)
    if isinstance(body, dict):
        usage = body.get("usage", ...)
        found.add(
            "usage omitted" if usage is ... else "usage null" if usage is None else "usage set"
        )
        choices = body.get("choices")
        if isinstance(choices, list):
            found.add(
                "no choices" if not choices else "one choice" if len(choices) == 1 else "choices"
            )
    return found


def _encode(body: Any, index: int) -> tuple[bytes, str]:
    """Even cases as raw UTF-8, odd ones with ``\\u`` escapes (both are JSON)."""
    if index % 2 == 0:
        try:
            return json.dumps(body, ensure_ascii=False).encode("utf-8"), "raw UTF-8"
        except UnicodeEncodeError:
            pass
    raw = json.dumps(body).encode("utf-8")
    return raw, ("\\u escapes" if b"\\u" in raw else "ASCII")


def _schema_problem(schemas: Any, name: str, raw: bytes | str) -> tuple[str, str]:
    """(keyword, message) of the first way ``raw`` breaks schema ``name``."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return "not JSON", f"not JSON ({str(exc).split(':')[0]})"
    errors = list(schemas.validators[name].iter_errors(data))
    if not errors:  # pragma: no cover - the strategies filter valid bodies out
        return "valid", "valid"
    first = errors[0]
    where = "/" + "/".join(map(str, first.instance_path))
    message = first.message if len(first.message) <= 80 else first.message[:77] + "..."
    return type(first.kind).__name__, f"at {where}: {message}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _describe(base: str, features: Iterable[str]) -> str:
    listed = sorted(features)
    return f"{base}; {', '.join(listed)}" if listed else base


def _valid_response(_: Any, index: int, body: Any) -> _Draft:
    raw, encoding = _encode(body, index)
    features = _response_features(body) | {encoding}
    return _Draft(
        "json-200",
        200,
        raw,
        _JSON,
        _describe("a valid ChatTextResponse", features),
        frozenset(features),
    )


def _extra_response(_: Any, index: int, drawn: tuple[Any, Any]) -> _Draft:
    body, top = drawn
    raw, encoding = _encode(body, index)
    features = _response_features(body) | {encoding}
    return _Draft(
        "json-200-extra",
        200,
        raw,
        _JSON,
        _describe(
            f"a valid ChatTextResponse with fields the spec does not name ({', '.join(top)})",
            features,
        ),
        frozenset(features),
    )


def _invalid_response(schemas: Any, _: int, raw: bytes) -> _Draft:
    keyword, problem = _schema_problem(schemas, "ChatTextResponse", raw)
    return _Draft(
        "invalid-200",
        200,
        raw,
        _JSON,
        f"a 200 body that breaks ChatTextResponse {problem}",
        frozenset({keyword}),
    )


def _malformed(_: Any, __: int, raw: bytes) -> _Draft | None:
    try:
        json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).split(":")[0]
    else:
        return None  # junk inserted into a string is still JSON: not this kind
    features = {reason}
    if not raw:
        features.add("empty body")
    return _Draft(
        "malformed-json",
        200,
        raw,
        _JSON,
        f"a 200 application/json body that is not JSON: {reason}",
        frozenset(features),
    )


def _error(_: Any, index: int, drawn: tuple[int, Any]) -> _Draft:
    status, body = drawn
    raw, encoding = _encode(body, index)
    detail = body["error"]
    features = _value_features(body) | {encoding, f"status {status}"}
    field_state = (
        "omitted" if "field" not in detail else "null" if detail["field"] is None else "set"
    )
    features.add(f"field {field_state}")
    return _Draft(
        f"error-{status}",
        status,
        raw,
        _JSON,
        _describe(f"a valid ErrorResponse with status {status}", features),
        frozenset(features),
    )


def _invalid_error(schemas: Any, _: int, drawn: tuple[int, bytes]) -> _Draft:
    status, raw = drawn
    keyword, problem = _schema_problem(schemas, "ErrorResponse", raw)
    return _Draft(
        "error-invalid-body",
        status,
        raw,
        _JSON,
        f"status {status} with a body that breaks ErrorResponse {problem}",
        frozenset({keyword, f"status {status}"}),
    )


_NEWLINES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}


def _valid_stream(_: Any, __: int, drawn: tuple[list[Any], str, bool]) -> _Draft:
    from ..sdk import frame_events  # lazy: see check_corpus

    chunks, newline, comments = drawn
    features = _value_features(chunks) | {f"{_NEWLINES[newline]} line ends"}
    features.add(f"{min(len(chunks), 2)} chunks" if len(chunks) < 2 else "several chunks")
    if comments:
        features.add("keep-alive comments")
    if any(isinstance(c.get("usage"), dict) for c in chunks):
        features.add("usage in a chunk")
    return _Draft(
        "stream-valid",
        200,
        frame_events(chunks, newline, comments),
        _SSE,
        _describe(f"a valid event stream of {len(chunks)} ChatTextChunk(s) then [DONE]", features),
        frozenset(features),
        stream=True,
    )


def _stream_line_ends(raw: bytes) -> str:
    return "CRLF" if b"\r\n" in raw else "CR" if b"\r" in raw else "LF"


def _cut_stream(_: Any, __: int, raw: bytes) -> _Draft:
    events = raw.count(b"data: ")
    features = {f"{_stream_line_ends(raw)} line ends", "empty" if not raw else f"{events} events"}
    return _Draft(
        "stream-cut",
        200,
        raw,
        _SSE,
        f"a valid event stream cut after {len(raw)} bytes (before the end of data: [DONE])",
        frozenset(features),
        stream=True,
    )


def _unterminated(_: Any, __: int, raw: bytes) -> _Draft:
    events = raw.count(b"data: ")
    return _Draft(
        "stream-no-done",
        200,
        raw,
        _SSE,
        f"{events} whole valid events and no data: [DONE]",
        frozenset({f"{_stream_line_ends(raw)} line ends", f"{min(events, 2)} events"}),
        stream=True,
    )


def _bad_event(schemas: Any, __: int, raw: bytes) -> _Draft:
    problem, keyword = "", "?"
    for line in raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            data = line[len(b"data: ") :]
            if not schemas.is_valid("ChatTextChunk", data):
                keyword, problem = _schema_problem(schemas, "ChatTextChunk", data)
                break
    return _Draft(
        "stream-malformed",
        200,
        raw,
        _SSE,
        f"an event stream with an event that is not a valid ChatTextChunk ({problem})",
        frozenset({keyword, f"{_stream_line_ends(raw)} line ends"}),
        stream=True,
    )


def _errors_with_status(status: int) -> Callable[[Any], Any]:
    from ..sdk import valid_errors  # lazy: see check_corpus

    return lambda schemas: valid_errors(schemas).filter(lambda drawn: drawn[0] == status)


def _kinds(statuses: list[int]) -> tuple[_Kind, ...]:
    from .. import sdk as cc  # lazy: see check_corpus

    return (
        _Kind("json-200", 24, lambda s: s.valid("ChatTextResponse"), _valid_response),
        _Kind("json-200-extra", 8, cc.responses_with_extra_fields, _extra_response),
        _Kind("invalid-200", 20, cc.invalid_responses, _invalid_response),
        _Kind("malformed-json", 10, cc.malformed_json, _malformed),
        *(_Kind(f"error-{s}", 2, _errors_with_status(s), _error) for s in statuses),
        _Kind("error-invalid-body", 10, cc.invalid_errors, _invalid_error),
        _Kind("stream-valid", 16, cc.valid_streams, _valid_stream),
        _Kind("stream-cut", 10, cc.cut_streams, _cut_stream),
        _Kind("stream-no-done", 5, cc.unterminated_streams, _unterminated),
        _Kind("stream-malformed", 12, cc.bad_event_streams, _bad_event, draws_per_case=5),
    )


def _example_cases() -> list[Case]:
    """Every response example openapi.yaml documents, as it is written there."""
    cases = []
    for code, response in chat_text_spec.operation()["responses"].items():
        status = int(code)
        content = chat_text_spec.resolve(response).get("content", {})
        for media_type, body in content.items():
            for name, example in (body.get("examples") or {}).items():
                value = chat_text_spec.resolve(example).get("value")
                stream = media_type == _SSE
                raw = value.encode("utf-8") if stream else json.dumps(value).encode("utf-8")
                draft = _Draft(
                    "spec-example", status, raw, media_type, "", frozenset(), stream=stream
                )
                cases.append(
                    Case(
                        id=f"spec-example-{status}-{name.replace('_', '-')}",
                        kind="spec-example",
                        exercises=f"the example {name!r} of the {status} {media_type} response "
                        "in openapi.yaml",
                        stream=stream,
                        status=status,
                        headers=_headers(draft),
                        body=raw,
                    )
                )
    return cases


def _draw(strategy: Any, count: int, seed: int) -> list[Any]:
    # lazy: hypothesis (~0.2 s of imports) only when a corpus is drawn
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[Any] = []

    @hypothesis.seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        print_blob=False,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    from ... import _internals  # schemathesis comes with it: only when a corpus is drawn

    with _internals.without_local_constants():
        collect()
    return drawn


def _select(drafts: list[_Draft], quota: int) -> list[_Draft]:
    """Drop duplicates and long bodies; one draft for every feature first, then draw order."""
    unique: list[_Draft] = []
    seen: set[bytes] = set()
    for draft in drafts:
        if draft.body in seen or len(draft.body) > MAX_BODY_BYTES:
            continue
        seen.add(draft.body)
        unique.append(draft)
    chosen: list[int] = []
    covered: set[str] = set()
    for i, draft in enumerate(unique):
        if len(chosen) < quota and not draft.features <= covered:
            chosen.append(i)
            covered |= draft.features
    for i in range(len(unique)):
        if len(chosen) >= quota:
            break
        if i not in chosen:
            chosen.append(i)
    return [unique[i] for i in sorted(chosen)]


def _transport_cases(first_body: bytes, first_stream: bytes) -> list[Case]:
    return [
        Case(
            id="transport-close",
            kind="transport",
            exercises="the connection closes before any answer",
            stream=False,
            status=200,
            headers=(),
            body=b"",
            transport="close",
        ),
        Case(
            id="transport-short-json",
            kind="transport",
            exercises="a valid JSON body, but the connection closes before Content-Length bytes",
            stream=False,
            status=200,
            headers=(("content-type", _JSON),),
            body=first_body,
            transport="short",
        ),
        Case(
            id="transport-short-stream",
            kind="transport",
            exercises="a valid event stream without [DONE], then the connection closes before "
            "Content-Length bytes",
            stream=True,
            status=200,
            headers=(("content-type", _SSE), ("cache-control", "no-cache")),
            body=first_stream,
            transport="short",
        ),
    ]


def _headers(draft: _Draft) -> tuple[tuple[str, str], ...]:
    headers = [("content-type", draft.content_type)]
    if draft.stream and draft.status == 200:
        headers.append(("cache-control", "no-cache"))
    if draft.status == 401:
        headers.append(("www-authenticate", 'Bearer realm="chat-text"'))
    if draft.status in (429, 503):
        headers.append(("retry-after", "1"))
    return tuple(headers)


def generate_corpus(
    seed: int = DEFAULT_SEED,
    *,
    scale: float = 1.0,
    kinds: Collection[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Corpus:
    """Draw the corpus with ``seed``. ``scale`` multiplies every quota and ``kinds`` limits the
    drawn kinds (tests use both to stay fast); the cases of one kind are numbered in draw order
    (``json-200-01``, ...)."""
    from ..sdk import SpecSchemas  # lazy: see check_corpus

    schemas = SpecSchemas()
    cases: list[Case] = _example_cases()
    first_json, first_stream = b"", b""
    for kind in _kinds(schemas.error_statuses):
        if kinds is not None and kind.name not in kinds:
            continue
        quota = max(1, round(kind.quota * scale))
        drawn = _draw(kind.strategy(schemas), quota * kind.draws_per_case, seed)
        drafts = [d for i, v in enumerate(drawn) if (d := kind.build(schemas, i, v)) is not None]
        chosen = _select(drafts, quota)
        if progress is not None:
            progress(f"{kind.name}: {len(chosen)} cases from {len(drawn)} draws")
        numbers: dict[str, int] = {}
        for index, draft in enumerate(chosen):
            # error cases: every other one asks for a stream (an error status answers both)
            stream = draft.stream or (draft.status >= 400 and index % 2 == 1)
            numbers[draft.kind] = numbers.get(draft.kind, 0) + 1
            cases.append(
                Case(
                    id=f"{draft.kind}-{numbers[draft.kind]:02d}",
                    kind=draft.kind,
                    exercises=draft.exercises,
                    stream=stream,
                    status=draft.status,
                    headers=_headers(draft),
                    body=draft.body,
                )
            )
        if kind.name == "json-200" and chosen:
            first_json = max(chosen, key=lambda d: len(d.body)).body
        if kind.name == "stream-valid" and chosen:
            longest = max(chosen, key=lambda d: (d.body.count(b"data: "), len(d.body))).body
            first_stream = longest[: longest.rfind(b"data: [DONE]")]
    cases.extend(_transport_cases(first_json, first_stream))
    return Corpus(
        seed=seed, spec_fingerprint=spec_fingerprint(), tools=tool_versions(), cases=tuple(cases)
    )


# --------------------------------------------------------------------------------------------
# staleness
# --------------------------------------------------------------------------------------------
_VALID_KINDS = {"json-200": "ChatTextResponse", "json-200-extra": "ChatTextResponse"}


def check_corpus(corpus: Corpus) -> list[str]:
    """What makes ``corpus`` stale against the spec now: a changed fingerprint, a valid case
    that the schemas now reject, an invalid one they now accept. Empty when up to date."""
    # lazy: the client conformance module (hypothesis, ~0.5 s of imports) only when a corpus
    # is drawn or checked against the spec; replaying one does without it
    from ..sdk import SpecSchemas

    problems: list[str] = []
    now = spec_fingerprint()
    if corpus.spec_fingerprint != now:
        problems.append(
            f"the corpus was drawn from other schemas ({corpus.spec_fingerprint[:19]}..., "
            f"the spec now gives {now[:19]}...)"
        )
    schemas = SpecSchemas()
    statuses = set(schemas.error_statuses)
    examples = {case.id: case for case in _example_cases()}
    have = {case.id for case in corpus.cases}
    problems += [f"{i}: an example of openapi.yaml has no case" for i in examples if i not in have]
    for case in corpus.cases:
        if case.kind == "spec-example" and examples.get(case.id) != case:
            problems.append(f"{case.id}: openapi.yaml no longer has this example")
        name = _VALID_KINDS.get(case.kind)
        if name is not None and not schemas.is_valid(name, case.body):
            problems.append(f"{case.id}: the body no longer matches {name}")
        elif case.kind.startswith("error-") and case.kind != "error-invalid-body":
            if case.status not in statuses:
                problems.append(f"{case.id}: status {case.status} is no longer documented")
            elif not schemas.is_valid("ErrorResponse", case.body):
                problems.append(f"{case.id}: the body no longer matches ErrorResponse")
        elif case.kind in ("invalid-200", "malformed-json") and schemas.is_valid(
            "ChatTextResponse", case.body
        ):
            problems.append(f"{case.id}: the body is now a valid ChatTextResponse")
        elif case.kind == "error-invalid-body" and schemas.is_valid("ErrorResponse", case.body):
            problems.append(f"{case.id}: the body is now a valid ErrorResponse")
    return problems
