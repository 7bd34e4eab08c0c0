"""Spec coverage: what of ``openapi.yaml`` a run (or the proxy) exercised.

A :class:`SpecCoverage` is built from the spec itself, never from a list written here: it walks
the operation's request schema and its documented responses and makes one :class:`Item` per
thing a run can exercise:

* ``field``: every request field (nested ones too, e.g. ``messages[].role``) sent with a value,
  omitted, and sent as ``null``. Omitting a required field or sending ``null`` where the schema
  has no ``null`` alternative is a request the server must refuse: those items say so;
* ``sent``: every enum value a request field can take (every role) and both values of a
  boolean (``stream: true`` and ``stream: false``);
* ``status``: every documented status code received;
* ``media``: every media type of a status that documents more than one (JSON and
  ``text/event-stream`` answers of ``200``);
* ``code``: every error ``code`` the examples of a status document (``400`` with
  ``invalid_request`` and with ``prompt_too_long``), received with that status;
* ``header``: every documented response header received with its status (``WWW-Authenticate``
  on ``401``, ``Retry-After`` on ``429`` and ``503``);
* ``received``: every enum value of a response schema received (``finish_reason`` ``stop`` and
  ``length``, in JSON answers and in stream chunks, read through ``contentSchema``).

:meth:`SpecCoverage.observe` takes one :class:`~chat_text_conformance.checks.Exchange`; it costs
a walk of the request's fields and of the response's enum-bearing paths, and is safe to call
from several threads. The score is the share of items hit. :meth:`SpecCoverage.missed` lists the
items no exchange hit, with a reason where one is known (:data:`UNPROVOKED`): a status the suite
cannot provoke with any request is not a gap in the suite.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import chat_text_spec

from ..checks.exchange import Exchange

__all__ = [
    "GROUPS",
    "UNPROVOKED",
    "Item",
    "Missed",
    "SpecCoverage",
]

GROUPS: dict[str, str] = {
    "field": "request fields set, omitted and null",
    "sent": "enum and boolean values sent",
    "status": "documented statuses received",
    "media": "media types received",
    "code": "documented error codes received",
    "header": "documented response headers received",
    "received": "enum values received",
}
"""Item groups, in report order, with what each counts."""

UNPROVOKED: dict[str, str] = {
    "429": (
        "cannot be provoked by a request: a 429 depends on the caller's request rate or quota, "
        "not on what the request says, and the suite does not flood a server to find its limit"
    ),
    "500": (
        "cannot be provoked by a request: no request is documented to cause a 500; a server "
        "sends it only when it fails"
    ),
    "503": (
        "cannot be provoked by a request: a 503 depends on the server's load, not on what the "
        "request says, and the suite does not overload a server to get one"
    ),
}
"""Documented statuses that no request can provoke on purpose, with why. Every item that belongs
to such a status (the status itself, its error codes, its headers) carries the reason when
missed."""

NOT_SENT = "no request or response of this run exercised it"
"""The reason of a missed item that has no known one."""

_CODE_FIELD = "code"
"""The name of the machine-readable error code property in an error body (found by walking the
status's schema; the spec's ``ErrorDetail.code``)."""


@dataclass(frozen=True)
class Item:
    """One thing of the spec a run can exercise."""

    id: str
    """Stable identifier, e.g. ``field:temperature=null`` or ``code:400:prompt_too_long``."""
    group: str
    """One of :data:`GROUPS`."""
    label: str
    """What it is, for people (``temperature: null``)."""
    pointer: str
    """A JSON pointer into ``openapi.yaml`` where the spec says it."""
    status: str | None = None
    """The documented status it belongs to (response items)."""
    refused: bool = False
    """A request item the spec says must be refused (a required field omitted, a null the
    schema does not allow): exercising it means sending an invalid request."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "group": self.group,
            "label": self.label,
            "pointer": self.pointer,
        }
        if self.status is not None:
            data["status"] = self.status
        if self.refused:
            data["refused"] = True
        return data


@dataclass(frozen=True)
class Missed:
    """An item no exchange hit, and why (:data:`NOT_SENT` when no reason is known)."""

    item: Item
    reason: str
    known: bool
    """Whether the reason is a documented one (:data:`UNPROVOKED`)."""


# ---------------------------------------------------------------------------------------------
# Walking the spec


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class _Spec:
    """The document and a resolver that keeps track of where a node lives."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def at(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow local ``$ref`` s: the node they lead to and its pointer."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                break
            seen.add(ref)
            pointer = ref[1:]
            node = self.at(pointer)
        return node, pointer


@dataclass
class _Field:
    """One property of an object schema, and what observing it hits."""

    set_id: str
    omitted_id: str
    null_id: str
    values: dict[tuple[str, Any], str] = field(default_factory=dict)
    """:func:`_value_key` of a value -> item id (enum members, ``true``/``false``)."""
    child: _Object | None = None
    """The object schema of the value (or of each array item, with ``array``)."""
    array: bool = False


@dataclass
class _Object:
    fields: dict[str, _Field] = field(default_factory=dict)


def _alternatives(node: Any, pointer: str, spec: _Spec) -> Iterator[tuple[Any, str]]:
    """The schema itself, or each branch of its ``anyOf``/``oneOf`` (resolved, with pointers)."""
    node, pointer = spec.deref(node, pointer)
    if not isinstance(node, dict):
        return
    branches = [k for k in ("anyOf", "oneOf") if isinstance(node.get(k), list)]
    if not branches:
        yield node, pointer
        return
    for key in branches:
        for index, branch in enumerate(node[key]):
            yield from _alternatives(branch, f"{pointer}/{key}/{index}", spec)


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return set()


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _value_key(value: Any) -> tuple[str, Any]:
    """How a scalar is looked up among enum values (cheap; ``1`` and ``1.0`` are one JSON
    number, ``true`` is not ``1``)."""
    if isinstance(value, bool):
        return "b", value
    if isinstance(value, int | float):
        return "n", float(value)
    return "s", value


class _Builder:
    def __init__(self, spec: _Spec) -> None:
        self.spec = spec
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> str:
        self.items.setdefault(item.id, item)
        return item.id

    # -- the request

    def request_object(
        self, node: Any, pointer: str, prefix: str, depth: int = 0
    ) -> _Object | None:
        shape: _Object | None = None
        for alt, alt_pointer in _alternatives(node, pointer, self.spec):
            props = alt.get("properties")
            if not isinstance(props, dict) or depth > 8:
                continue
            shape = shape or _Object()
            required = set(alt.get("required", []) or [])
            for name, prop in props.items():
                shape.fields[name] = self.request_field(
                    prop,
                    f"{alt_pointer}/properties/{_escape(name)}",
                    prefix + name,
                    required=name in required,
                    depth=depth,
                )
        return shape

    def request_field(
        self, prop: Any, pointer: str, path: str, *, required: bool, depth: int
    ) -> _Field:
        alternatives = list(_alternatives(prop, pointer, self.spec))
        nullable = any("null" in _types(alt) for alt, _ in alternatives)
        refused_omit = " (refused: required)" if required else ""
        refused_null = "" if nullable else " (refused: not nullable)"
        entry = _Field(
            set_id=self.add(Item(f"field:{path}=set", "field", f"{path}: set", pointer)),
            omitted_id=self.add(
                Item(
                    f"field:{path}=omitted",
                    "field",
                    f"{path}: omitted{refused_omit}",
                    pointer,
                    refused=required,
                )
            ),
            null_id=self.add(
                Item(
                    f"field:{path}=null",
                    "field",
                    f"{path}: null{refused_null}",
                    pointer,
                    refused=not nullable,
                )
            ),
        )
        for alt, alt_pointer in alternatives:
            types = _types(alt)
            if isinstance(alt.get("enum"), list):
                for value in alt["enum"]:
                    entry.values[_value_key(value)] = self.add(
                        Item(
                            f"sent:{path}={_json_key(value)}",
                            "sent",
                            f"{path} = {_json_key(value)}",
                            f"{alt_pointer}/enum",
                        )
                    )
            elif "boolean" in types:
                for value in (True, False):
                    entry.values[_value_key(value)] = self.add(
                        Item(
                            f"sent:{path}={_json_key(value)}",
                            "sent",
                            f"{path} = {_json_key(value)}",
                            alt_pointer,
                        )
                    )
            if "array" in types and "items" in alt:
                child = self.request_object(
                    alt["items"], f"{alt_pointer}/items", f"{path}[].", depth + 1
                )
                if child is not None:
                    entry.child, entry.array = child, True
                    # enums of scalar array items (none in this spec) are left out
            elif "object" in types or "properties" in alt:
                child = self.request_object(alt, alt_pointer, f"{path}.", depth + 1)
                if child is not None:
                    entry.child = child
        return entry

    # -- the responses

    def response_enums(
        self, node: Any, pointer: str, path: tuple[str, ...], found: list[_Enum], depth: int = 0
    ) -> None:
        if depth > 12:
            return
        for alt, alt_pointer in _alternatives(node, pointer, self.spec):
            if isinstance(alt.get("enum"), list):
                found.append(_Enum(path, alt_pointer + "/enum", [v for v in alt["enum"]]))
            for key in ("allOf",):
                for index, part in enumerate(alt.get(key, []) or []):
                    self.response_enums(part, f"{alt_pointer}/{key}/{index}", path, found, depth)
            props = alt.get("properties")
            if isinstance(props, dict):
                for name, prop in props.items():
                    self.response_enums(
                        prop,
                        f"{alt_pointer}/properties/{_escape(name)}",
                        (*path, name),
                        found,
                        depth + 1,
                    )
            if "items" in alt:
                self.response_enums(
                    alt["items"], f"{alt_pointer}/items", (*path, "[]"), found, depth + 1
                )

    def code_path(self, node: Any, pointer: str, depth: int = 0) -> tuple[str, ...] | None:
        """Where the error code property sits in an error schema (``("error", "code")``)."""
        if depth > 6:
            return None
        for alt, alt_pointer in _alternatives(node, pointer, self.spec):
            props = alt.get("properties")
            if not isinstance(props, dict):
                continue
            if _CODE_FIELD in props:
                return (_CODE_FIELD,)
            for name, prop in props.items():
                below = self.code_path(prop, f"{alt_pointer}/properties/{_escape(name)}", depth + 1)
                if below is not None:
                    return (name, *below)
        return None


@dataclass(frozen=True)
class _Enum:
    path: tuple[str, ...]
    """Keys from the document's root; ``[]`` stands for every item of an array."""
    pointer: str
    values: list[Any]


@dataclass
class _Response:
    status: str
    status_id: str
    media_ids: dict[str, str] = field(default_factory=dict)
    header_ids: dict[str, str] = field(default_factory=dict)
    """Lower-case header name -> item id."""
    code_path: tuple[str, ...] | None = None
    code_ids: dict[str, str] = field(default_factory=dict)
    enums: dict[str, list[tuple[tuple[str, ...], dict[tuple[str, Any], str]]]] = field(
        default_factory=dict
    )
    """media type -> [(path, {value key: item id})]; ``text/event-stream`` paths are inside
    each chunk."""


def _values_at(document: Any, path: tuple[str, ...]) -> list[Any]:
    """The values at ``path`` in ``document`` (``[]`` steps into every item of an array)."""
    current = [document]
    for key in path:
        found: list[Any] = []
        if key == "[]":
            for node in current:
                if isinstance(node, list):
                    found.extend(node)
        else:
            for node in current:
                if isinstance(node, dict) and key in node:
                    found.append(node[key])
        if not found:
            return found
        current = found
    return current


def _status_matches(documented: str, status: int) -> bool:
    if documented == str(status):
        return True
    return bool(re.fullmatch(r"[1-5]XX", documented.upper())) and documented[0] == str(status)[0]


# ---------------------------------------------------------------------------------------------
# The coverage


class SpecCoverage:
    """What of the spec the observed exchanges exercised (built from the spec)."""

    def __init__(
        self,
        spec: Mapping[str, Any] | None = None,
        *,
        path: str = chat_text_spec.OPERATION_PATH,
        method: str = "post",
    ) -> None:
        document: Mapping[str, Any] = chat_text_spec.load_spec() if spec is None else spec
        walker = _Spec(document)
        builder = _Builder(walker)
        op_pointer = f"/paths/{_escape(path)}/{method}"
        operation = document["paths"][path][method]
        body, body_pointer = walker.deref(
            operation.get("requestBody", {}), f"{op_pointer}/requestBody"
        )
        self._request: _Object | None = None
        content = body.get("content", {}) if isinstance(body, dict) else {}
        json_body = content.get("application/json")
        if isinstance(json_body, dict) and "schema" in json_body:
            self._request = builder.request_object(
                json_body["schema"],
                f"{body_pointer}/content/application~1json/schema",
                "",
            )
        self._responses: list[_Response] = []
        for status, response in (operation.get("responses") or {}).items():
            status = str(status)
            self._responses.append(
                self._response(
                    builder, walker, status, response, f"{op_pointer}/responses/{status}"
                )
            )
        self.items: dict[str, Item] = dict(builder.items)
        """Every item, by id, in the order the spec gives them (see :meth:`ordered`)."""
        self._hits: Counter[str] = Counter()
        self._exchanges = 0
        self._lock = threading.Lock()

    @staticmethod
    def _response(
        builder: _Builder, walker: _Spec, status: str, node: Any, pointer: str
    ) -> _Response:
        response, pointer = walker.deref(node, pointer)
        entry = _Response(
            status,
            builder.add(Item(f"status:{status}", "status", f"HTTP {status}", pointer, status)),
        )
        content = response.get("content") or {}
        media_types = list(content)
        for media in media_types:
            media_pointer = f"{pointer}/content/{_escape(media)}"
            if len(media_types) > 1:
                entry.media_ids[media] = builder.add(
                    Item(
                        f"media:{status}:{media}",
                        "media",
                        f"HTTP {status} as {media}",
                        media_pointer,
                        status,
                    )
                )
            schema = content[media].get("schema")
            if schema is None:
                continue
            schema_pointer = f"{media_pointer}/schema"
            resolved, resolved_pointer = walker.deref(schema, schema_pointer)
            if isinstance(resolved, dict) and "contentSchema" in resolved:
                # an event stream: each event's data is a document of contentSchema
                schema, schema_pointer = (
                    resolved["contentSchema"],
                    f"{resolved_pointer}/contentSchema",
                )
            found: list[_Enum] = []
            builder.response_enums(schema, schema_pointer, (), found)
            for enum in found:
                where = ".".join(enum.path).replace(".[]", "[]") or "(body)"
                ids = {
                    _value_key(value): builder.add(
                        Item(
                            f"received:{status}:{media}:{where}={_json_key(value)}",
                            "received",
                            f"{where} = {_json_key(value)} (HTTP {status} {media})",
                            enum.pointer,
                            status,
                        )
                    )
                    for value in enum.values
                }
                entry.enums.setdefault(media, []).append((enum.path, ids))
            code_path = builder.code_path(schema, schema_pointer)
            if code_path is None:
                continue
            entry.code_path = code_path
            for _name, example, example_pointer in _examples(content[media], media_pointer, walker):
                values = _values_at(example, code_path)
                code = values[0] if values else None
                if isinstance(code, str) and code:
                    entry.code_ids[code] = builder.add(
                        Item(
                            f"code:{status}:{code}",
                            "code",
                            f"HTTP {status} code {code}",
                            example_pointer,
                            status,
                        )
                    )
        for header in response.get("headers") or {}:
            entry.header_ids[str(header).lower()] = builder.add(
                Item(
                    f"header:{status}:{header}",
                    "header",
                    f"HTTP {status} header {header}",
                    f"{pointer}/headers/{_escape(str(header))}",
                    status,
                )
            )
        return entry

    # -- observing

    def observe(self, exchange: Exchange) -> None:
        """Count what one request/response exercised (thread-safe)."""
        hits: list[str] = []
        if self._request is not None and isinstance(exchange.request, dict):
            _observe_object(self._request, exchange.request, hits)
        if exchange.status:
            for response in self._responses:
                if _status_matches(response.status, exchange.status):
                    _observe_response(response, exchange, hits)
                    break
        with self._lock:
            self._exchanges += 1
            self._hits.update(set(hits))

    def observe_all(self, exchanges: Iterable[Exchange]) -> None:
        for exchange in exchanges:
            self.observe(exchange)

    # -- results

    @property
    def exchanges(self) -> int:
        """How many exchanges were observed."""
        return self._exchanges

    def hits(self, item_id: str) -> int:
        """How many exchanges hit the item (``KeyError`` for an unknown id)."""
        if item_id not in self.items:
            raise KeyError(item_id)
        with self._lock:
            return self._hits[item_id]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def hit(self) -> int:
        with self._lock:
            return sum(1 for item_id in self.items if self._hits[item_id])

    @property
    def score(self) -> float:
        """The share of items hit, in percent (0-100)."""
        return 100.0 * self.hit / self.total if self.total else 100.0

    def ordered(self) -> list[Item]:
        """Every item, grouped in :data:`GROUPS` order, spec order within a group."""
        order = {group: index for index, group in enumerate(GROUPS)}
        return sorted(self.items.values(), key=lambda item: order.get(item.group, len(order)))

    def missed(self) -> list[Missed]:
        """The items no exchange hit, with a reason where one is known."""
        with self._lock:
            hits = dict(self._hits)
        missed: list[Missed] = []
        for item in self.ordered():
            if hits.get(item.id):
                continue
            reason = UNPROVOKED.get(item.status or "")
            missed.append(Missed(item, reason or NOT_SENT, reason is not None))
        return missed

    def by_group(self) -> dict[str, tuple[int, int]]:
        """Per group: (items hit, items)."""
        with self._lock:
            hits = dict(self._hits)
        counts: dict[str, list[int]] = {group: [0, 0] for group in GROUPS}
        for item in self.items.values():
            entry = counts.setdefault(item.group, [0, 0])
            entry[1] += 1
            entry[0] += bool(hits.get(item.id))
        return {group: (hit, total) for group, (hit, total) in counts.items() if total}

    def summary(self, *, limit: int = 12) -> list[str]:
        """Short lines for the run's summary: the score, then what was missed (grouped by
        reason, at most ``limit`` items named per reason)."""
        groups = ", ".join(
            f"{group} {hit}/{total}" for group, (hit, total) in self.by_group().items()
        )
        lines = [
            f"coverage: {self.score:.1f}% of the spec ({self.hit} of {self.total} items; {groups})"
        ]
        by_reason: dict[str, list[str]] = {}
        for entry in self.missed():
            by_reason.setdefault(entry.reason, []).append(entry.item.label)
        for reason, labels in by_reason.items():
            shown = ", ".join(labels[:limit])
            more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
            lines.append(f"  missed {len(labels)}: {shown}{more} ({reason})")
        return lines

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            hits = dict(self._hits)
        missed = {entry.item.id: entry for entry in self.missed()}
        return {
            "score": round(self.score, 1),
            "hit": self.hit,
            "total": self.total,
            "exchanges": self._exchanges,
            "groups": {
                group: {"hit": hit, "total": total, "what": GROUPS.get(group, group)}
                for group, (hit, total) in self.by_group().items()
            },
            "items": [
                {
                    **item.to_json(),
                    "hits": hits.get(item.id, 0),
                    **(
                        {"reason": missed[item.id].reason, "known_reason": missed[item.id].known}
                        if item.id in missed
                        else {}
                    ),
                }
                for item in self.ordered()
            ],
            "missed": [
                {"id": entry.item.id, "label": entry.item.label, "reason": entry.reason}
                for entry in missed.values()
            ],
        }


def _examples(
    media: Mapping[str, Any], pointer: str, walker: _Spec
) -> Iterator[tuple[str, Any, str]]:
    """(name, value, pointer) of each example of a media type object."""
    examples = media.get("examples")
    if isinstance(examples, dict):
        for name, example in examples.items():
            resolved, where = walker.deref(example, f"{pointer}/examples/{_escape(str(name))}")
            if isinstance(resolved, dict) and "value" in resolved:
                yield str(name), resolved["value"], where
    if "example" in media:
        yield "example", media["example"], f"{pointer}/example"


def _observe_object(shape: _Object, document: dict[str, Any], hits: list[str]) -> None:
    for name, entry in shape.fields.items():
        if name not in document:
            hits.append(entry.omitted_id)
            continue
        value = document[name]
        if value is None:
            hits.append(entry.null_id)
            continue
        hits.append(entry.set_id)
        if entry.values:
            item_id = entry.values.get(_value_key(value)) if _scalar(value) else None
            if item_id is not None:
                hits.append(item_id)
        if entry.child is not None:
            if entry.array:
                if isinstance(value, list):
                    for element in value:
                        if isinstance(element, dict):
                            _observe_object(entry.child, element, hits)
            elif isinstance(value, dict):
                _observe_object(entry.child, value, hits)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _observe_response(response: _Response, exchange: Exchange, hits: list[str]) -> None:
    hits.append(response.status_id)
    media = exchange.content_type
    if media in response.media_ids:
        hits.append(response.media_ids[media])
    if response.header_ids:
        for name, _value in exchange.headers:
            item_id = response.header_ids.get(name.lower())
            if item_id is not None:
                hits.append(item_id)
    documents: list[Any] = []
    if media == "application/json":
        document = exchange.document
        if document is not None:
            documents.append(document)
    elif media == "text/event-stream" and media in response.enums:
        stream = exchange.stream
        if stream is not None:
            documents.extend(stream.objects)
    if not documents:
        return
    if response.code_path is not None and response.code_ids:
        for value in _values_at(documents[0], response.code_path):
            if isinstance(value, str) and value in response.code_ids:
                hits.append(response.code_ids[value])
    for path, ids in response.enums.get(media, []):
        for document in documents:
            for value in _values_at(document, path):
                if _scalar(value):
                    item_id = ids.get(_value_key(value))
                    if item_id is not None:
                        hits.append(item_id)
