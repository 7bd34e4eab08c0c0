"""The comparison engine behind ``scripts/spec_diff.py``: what changed between two OpenAPI
documents, and what each change means for clients.

Every difference is reported once per place where it matters, with a JSONPath through the
operation (``$.paths['/inference/chat_text'].post.requestBody...``) and, when the change sits
inside a component, the component it was reached through (``via``). ``$ref``s are followed,
so a change inside ``#/components/schemas/Role`` shows up under the request field that uses it,
and is judged in that field's direction.

The rule behind every verdict:

* **request side**: a change is *breaking* when the server may now refuse, or treat
  differently, a request it accepted before (removed field, new required field, narrowed
  type/enum/bound, new constraint, changed default, removed media type, ...).
* **response side**: a change is *breaking* when the server may now send something a client
  written against the old document does not expect (removed or now-optional field, new enum
  value, widened type/bound, new ``null``, removed status or media type, ...).
* everything that only changes prose or examples is *documentation*; whitespace, key order,
  enum order and moving a schema into a component (same content) are no change at all.

Only PyYAML is needed (the CI env installs nothing else).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "BREAKING",
    "DOCUMENTATION",
    "KINDS",
    "NON_BREAKING",
    "Change",
    "SpecDiffError",
    "actual_bump",
    "bump_is_enough",
    "diff_specs",
    "propose_version",
    "required_bump",
]

BREAKING = "breaking"
NON_BREAKING = "non-breaking"
DOCUMENTATION = "documentation"
KINDS = (BREAKING, NON_BREAKING, DOCUMENTATION)

Direction = Literal["request", "response"]
Bump = Literal["major", "minor", "patch", "none"]
BUMP_ORDER: dict[str, int] = {"none": 0, "patch": 1, "minor": 2, "major": 3}

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC_KEYS = frozenset(
    {"description", "summary", "title", "example", "examples", "externalDocs", "$comment"}
)
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
# Keywords that only ever restrict what is valid: adding one narrows, removing one widens,
# changing one may do both.
CONSTRAINT_KEYS = (
    "pattern",
    "format",
    "multipleOf",
    "not",
    "contentMediaType",
    "contentEncoding",
    "propertyNames",
    "patternProperties",
    "dependentRequired",
    "dependentSchemas",
    "if",
    "then",
    "else",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedProperties",
    "unevaluatedItems",
)
SECURITY_SCHEME_DOC_KEYS = frozenset({"description"})


class SpecDiffError(Exception):
    """The documents cannot be compared (not OpenAPI, unresolvable ``$ref``, ...)."""


@dataclass(frozen=True)
class Change:
    """One classified difference."""

    kind: str
    rule: str
    path: str
    message: str
    via: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


# --------------------------------------------------------------------------- helpers


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def child(path: str, key: str | int) -> str:
    """``path`` extended by one key, in JSONPath notation."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def canonical(value: Any) -> str:
    """A stable text form of a JSON value (key order does not matter)."""
    return json.dumps(value, sort_keys=True, default=str)


def normalize_text(value: Any) -> Any:
    """Prose with whitespace collapsed, so reflowed text compares equal."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return {k: normalize_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_text(v) for v in value]
    return value


def show(value: Any) -> str:
    text = canonical(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class _Schema:
    """A schema with ``$ref``s followed and nullability made explicit."""

    body: dict[str, Any]
    nullable: bool
    ref: str | None
    suffix: str = ""
    # keywords written on the nullable wrapper (anyOf: [x, null]) rather than inside x
    outer: frozenset[str] = frozenset()


@dataclass
class _Differ:
    old_root: dict[str, Any]
    new_root: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    reached_old: set[str] = field(default_factory=set)
    reached_new: set[str] = field(default_factory=set)
    _active: set[tuple[str | None, str | None, str]] = field(default_factory=set)

    # ------------------------------------------------------------------ recording

    def add(self, kind: str, rule: str, path: str, message: str, via: str | None) -> None:
        self.changes.append(Change(kind, rule, path, message, via))

    def directional(
        self,
        direction: Direction,
        *,
        narrowed: bool,
        widened: bool,
        rule: str,
        path: str,
        message: str,
        via: str | None,
    ) -> None:
        """Record a change that narrows and/or widens what is valid at ``path``."""
        breaking = narrowed if direction == "request" else widened
        kind = BREAKING if breaking else NON_BREAKING
        self.add(kind, f"{direction}-{rule}", path, message, via)

    # ------------------------------------------------------------------ references

    def deref(self, node: Any, root: dict[str, Any]) -> tuple[Any, str | None]:
        last: str | None = None
        seen: set[str] = set()
        reached = self.reached_old if root is self.old_root else self.reached_new
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise SpecDiffError(f"only local $refs are supported, got {ref!r}")
            if ref in seen:
                raise SpecDiffError(f"$ref cycle at {ref}")
            seen.add(ref)
            reached.add(ref)
            target: Any = root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    raise SpecDiffError(f"$ref {ref} does not resolve")
            # Sibling keywords next to $ref (3.1) apply too: keep them.
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if siblings and isinstance(target, dict):
                merged = dict(target)
                for key, value in siblings.items():
                    if key in DOC_KEYS and key in target:
                        merged[f"inner:{key}"] = target[key]
                    merged[key] = value
                node = merged
            else:
                node = target
            last = ref
        return node, last

    # ------------------------------------------------------------------ prose

    def docs(self, old: dict[str, Any], new: dict[str, Any], path: str, via: str | None) -> None:
        for key in sorted(DOC_KEYS | {k for k in (*old, *new) if k.startswith("inner:")}):
            # inner:<key> is the prose of a $ref'd schema under a sibling/wrapper override
            shown = key.removeprefix("inner:")
            self.doc_value(old.get(key), new.get(key), child(path, shown), via)

    def doc_value(self, old: Any, new: Any, path: str, via: str | None) -> None:
        if normalize_text(old) == normalize_text(new):
            return
        what = "added" if old is None else "removed" if new is None else "changed"
        self.add(DOCUMENTATION, f"documentation-{what}", path, f"text {what}", via)

    def leftovers(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        handled: Iterable[str],
        path: str,
        via: str | None,
    ) -> None:
        """Any keyword no rule above looked at: prose is documentation, the rest is reported
        as non-breaking so that nothing goes unmentioned."""
        skip = set(handled) | DOC_KEYS
        for key in sorted({*old, *new} - skip):
            if key.startswith("inner:"):
                continue
            a, b = old.get(key), new.get(key)
            if canonical(a) == canonical(b):
                continue
            rule = "extension-changed" if key.startswith("x-") else "unclassified-change"
            self.add(NON_BREAKING, rule, child(path, key), f"{key}: {show(a)} -> {show(b)}", via)

    # ------------------------------------------------------------------ schemas

    def normalize(self, node: Any, root: dict[str, Any]) -> _Schema:
        body, ref = self.deref(node, root)
        if isinstance(body, bool):
            body = {} if body else {"not": {}}
        if not isinstance(body, dict):
            raise SpecDiffError(f"a schema must be an object, got {show(body)}")
        body = dict(body)
        nullable = bool(body.pop("nullable", False))
        kind = body.get("type")
        if isinstance(kind, list) and "null" in kind and len(kind) > 1:
            nullable = True
            rest = [t for t in kind if t != "null"]
            body["type"] = rest[0] if len(rest) == 1 else rest
        suffix = ""
        outer: frozenset[str] = frozenset()
        for comb in ("anyOf", "oneOf"):
            branches = body.get(comb)
            if not isinstance(branches, list):
                continue
            resolved = [self.deref(b, root)[0] for b in branches]
            nulls = [i for i, b in enumerate(resolved) if _is_null(b)]
            if not nulls:
                continue
            nullable = True
            others = [i for i in range(len(branches)) if i not in nulls]
            if len(others) == 1:
                inner = self.normalize(branches[others[0]], root)
                wrapper_keys = frozenset(body) - {comb}
                merged = dict(inner.body)
                for key, value in body.items():
                    if key == comb:
                        continue
                    if key in merged and key in DOC_KEYS:
                        merged[f"inner:{key}"] = merged[key]
                    merged[key] = value
                body = merged
                nullable = nullable or inner.nullable
                ref = inner.ref or ref
                suffix = f".{comb}[{others[0]}]{inner.suffix}"
                outer = wrapper_keys if not inner.suffix else inner.outer
            else:
                body[comb] = [branches[i] for i in others]
            break
        return _Schema(body, nullable, ref, suffix, outer)

    def schema(
        self, old_node: Any, new_node: Any, path: str, direction: Direction, via: str | None
    ) -> None:
        old = self.normalize(old_node, self.old_root)
        new = self.normalize(new_node, self.new_root)
        via = new.ref or old.ref or via
        key = (old.ref, new.ref, direction)
        if old.ref and new.ref:
            if key in self._active:
                return  # recursive schema: already being compared further up
            self._active.add(key)
        try:
            self._schema_body(old, new, path, direction, via)
        finally:
            self._active.discard(key)

    def _schema_body(
        self, old: _Schema, new: _Schema, base: str, direction: Direction, via: str | None
    ) -> None:
        a, b = old.body, new.body
        path = base + (new.suffix or old.suffix)
        if old.nullable != new.nullable:
            self.directional(
                direction,
                narrowed=old.nullable,
                widened=new.nullable,
                rule="nullability-changed",
                path=path,
                message="null is now allowed" if new.nullable else "null is no longer allowed",
                via=via,
            )
        self._types(a, b, path, direction, via)
        self._enum(a, b, path, direction, via)
        self._bounds(a, b, path, direction, via)
        if canonical(a.get("default")) != canonical(b.get("default")):
            kind = BREAKING if direction == "request" else NON_BREAKING
            self.add(
                kind,
                f"{direction}-default-changed",
                child(path, "default"),
                f"default {show(a.get('default'))} -> {show(b.get('default'))}",
                via,
            )
        for keyword in CONSTRAINT_KEYS:
            if canonical(a.get(keyword)) == canonical(b.get(keyword)):
                continue
            added, removed = keyword not in a, keyword not in b
            what = "added" if added else "removed" if removed else "changed"
            self.directional(
                direction,
                narrowed=not removed,
                widened=not added,
                rule=f"{keyword}-{what}",
                path=child(path, keyword),
                message=f"{keyword}: {show(a.get(keyword))} -> {show(b.get(keyword))}",
                via=via,
            )
        if bool(a.get("uniqueItems")) != bool(b.get("uniqueItems")):
            self.directional(
                direction,
                narrowed=bool(b.get("uniqueItems")),
                widened=bool(a.get("uniqueItems")),
                rule="uniqueItems-changed",
                path=child(path, "uniqueItems"),
                message=f"uniqueItems -> {bool(b.get('uniqueItems'))}",
                via=via,
            )
        self._object(a, b, path, direction, via)
        if "items" in a or "items" in b:
            self._sub(a.get("items"), b.get("items"), child(path, "items"), direction, via)
        self._list_keyword("prefixItems", a, b, path, direction, via, combinator=False)
        for comb in ("anyOf", "oneOf"):
            self._list_keyword(comb, a, b, path, direction, via, combinator=True)
        self._list_keyword("allOf", a, b, path, direction, via, combinator=False)
        if "contentSchema" in a or "contentSchema" in b:
            self._sub(
                a.get("contentSchema"),
                b.get("contentSchema"),
                child(path, "contentSchema"),
                direction,
                via,
            )
        outer = old.outer | new.outer
        self.docs(
            {k: v for k, v in a.items() if k in outer},
            {k: v for k, v in b.items() if k in outer},
            base,
            via,
        )
        self.docs(
            {k: v for k, v in a.items() if k not in outer},
            {k: v for k, v in b.items() if k not in outer},
            path,
            via,
        )
        handled = {
            "type",
            "enum",
            "const",
            "default",
            "uniqueItems",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "prefixItems",
            "anyOf",
            "oneOf",
            "allOf",
            "contentSchema",
            *LOWER_BOUNDS,
            *UPPER_BOUNDS,
            *CONSTRAINT_KEYS,
        }
        self.leftovers(a, b, handled, path, via)

    def _sub(self, a: Any, b: Any, path: str, direction: Direction, via: str | None) -> None:
        """Compare two subschemas where either may be missing (missing = anything goes)."""
        if a is None and b is None:
            return
        if a is None or b is None:
            self.directional(
                direction,
                narrowed=a is None,
                widened=b is None,
                rule="subschema-" + ("added" if a is None else "removed"),
                path=path,
                message="schema " + ("added" if a is None else "removed"),
                via=via,
            )
            return
        self.schema(a, b, path, direction, via)

    def _types(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Direction, via: str | None
    ) -> None:
        old_t, new_t = _types(a), _types(b)
        if old_t == new_t:
            return
        lost = sorted(t for t in (old_t or {"any"}) if not _accepts(new_t, t))
        gained = sorted(t for t in (new_t or {"any"}) if not _accepts(old_t, t))
        if not lost and not gained:
            return
        self.directional(
            direction,
            narrowed=bool(lost),
            widened=bool(gained),
            rule="type-changed",
            path=child(path, "type"),
            message=f"type {_show_types(old_t)} -> {_show_types(new_t)}",
            via=via,
        )

    def _enum(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Direction, via: str | None
    ) -> None:
        old_e, new_e = _enum(a), _enum(b)
        if old_e == new_e:
            return
        if old_e is None:
            narrowed, widened, message = True, False, f"enum added: {sorted(new_e or [])}"
        elif new_e is None:
            narrowed, widened, message = False, True, "enum removed (any value allowed)"
        else:
            lost, gained = sorted(old_e - new_e), sorted(new_e - old_e)
            narrowed, widened = bool(lost), bool(gained)
            parts = [f"values removed: {', '.join(lost)}"] if lost else []
            parts += [f"values added: {', '.join(gained)}"] if gained else []
            message = "; ".join(parts)
        kind = "enum-narrowed" if narrowed and not widened else "enum-widened"
        if narrowed and widened:
            kind = "enum-changed"
        self.directional(
            direction,
            narrowed=narrowed,
            widened=widened,
            rule=kind,
            path=child(path, "enum" if "enum" in b or "enum" in a else "const"),
            message=message,
            via=via,
        )

    def _bounds(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Direction, via: str | None
    ) -> None:
        for keyword in (*LOWER_BOUNDS, *UPPER_BOUNDS):
            o, n = a.get(keyword), b.get(keyword)
            if canonical(o) == canonical(n):
                continue
            lower = keyword in LOWER_BOUNDS
            if o is None:
                narrowed, widened = True, False
            elif n is None:
                narrowed, widened = False, True
            elif _is_number(o) and _is_number(n):
                tighter = n > o if lower else n < o
                narrowed, widened = tighter, not tighter
            else:  # e.g. OpenAPI 3.0 boolean exclusiveMinimum: cannot tell, assume both
                narrowed = widened = True
            self.directional(
                direction,
                narrowed=narrowed,
                widened=widened,
                rule=f"{keyword}-{'narrowed' if narrowed and not widened else 'widened'}"
                if narrowed != widened
                else f"{keyword}-changed",
                path=child(path, keyword),
                message=f"{keyword}: {show(o)} -> {show(n)}",
                via=via,
            )

    def _object(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Direction, via: str | None
    ) -> None:
        old_p, new_p = _as_dict(a.get("properties")), _as_dict(b.get("properties"))
        old_req, new_req = set(a.get("required") or []), set(b.get("required") or [])
        props = child(path, "properties")
        for name in sorted(set(old_p) - set(new_p)):
            self.add(
                BREAKING,
                f"{direction}-property-removed",
                child(props, name),
                f"{direction} field {name!r} removed (or renamed)",
                via,
            )
        for name in sorted(set(new_p) - set(old_p)):
            required = name in new_req
            if direction == "request":
                kind = BREAKING if required else NON_BREAKING
            else:
                kind = NON_BREAKING
            adj = "required" if required else "optional"
            self.add(
                kind,
                f"{direction}-{adj}-property-added",
                child(props, name),
                f"new {adj} {direction} field {name!r}",
                via,
            )
        for name in sorted(set(old_p) & set(new_p)):
            self.schema(old_p[name], new_p[name], child(props, name), direction, via)
        for name in sorted((old_req ^ new_req) - (set(new_p) - set(old_p))):
            if name in old_p and name not in new_p:
                continue  # already reported as removed
            became_required = name in new_req
            self.directional(
                direction,
                narrowed=became_required,
                widened=not became_required,
                rule="property-became-" + ("required" if became_required else "optional"),
                path=child(path, "required"),
                message=f"{name!r} is now " + ("required" if became_required else "optional"),
                via=via,
            )
        old_ap, new_ap = a.get("additionalProperties"), b.get("additionalProperties")
        if canonical(old_ap) != canonical(new_ap):
            ap_path = child(path, "additionalProperties")
            if isinstance(old_ap, dict) and isinstance(new_ap, dict):
                self.schema(old_ap, new_ap, ap_path, direction, via)
            elif direction == "response":
                # Clients must ignore fields they do not know (new optional fields are fine).
                self.add(
                    NON_BREAKING,
                    "response-additionalProperties-changed",
                    ap_path,
                    f"additionalProperties: {show(old_ap)} -> {show(new_ap)}",
                    via,
                )
            else:
                closed_before = old_ap is False
                closed_now = new_ap is False
                narrowed = (closed_now and not closed_before) or isinstance(new_ap, dict)
                self.directional(
                    direction,
                    narrowed=narrowed and not closed_before,
                    widened=closed_before and not closed_now,
                    rule="additionalProperties-changed",
                    path=ap_path,
                    message=f"additionalProperties: {show(old_ap)} -> {show(new_ap)}",
                    via=via,
                )

    def _list_keyword(
        self,
        keyword: str,
        a: dict[str, Any],
        b: dict[str, Any],
        path: str,
        direction: Direction,
        via: str | None,
        *,
        combinator: bool,
    ) -> None:
        """anyOf/oneOf (alternatives: a removed branch narrows), allOf/prefixItems
        (constraints: an added branch narrows). Identical branches are matched first, so
        reordering is no change; the rest are paired by position."""
        old_l, new_l = list(a.get(keyword) or []), list(b.get(keyword) or [])
        if canonical(old_l) == canonical(new_l):
            return
        old_keys = [self._branch_key(x, self.old_root) for x in old_l]
        new_keys = [self._branch_key(x, self.new_root) for x in new_l]
        unmatched_old = list(range(len(old_l)))
        unmatched_new = []
        for j, k in enumerate(new_keys):
            hit = next((i for i in unmatched_old if old_keys[i] == k), None)
            if hit is None:
                unmatched_new.append(j)
            else:
                unmatched_old.remove(hit)
        pairs = list(zip(unmatched_old, unmatched_new, strict=False))
        for i, j in pairs:
            self.schema(old_l[i], new_l[j], child(child(path, keyword), j), direction, via)
        for i in unmatched_old[len(pairs) :]:
            self.directional(
                direction,
                narrowed=combinator,
                widened=not combinator,
                rule=f"{keyword}-branch-removed",
                path=child(child(path, keyword), i),
                message=f"{keyword} alternative removed",
                via=via,
            )
        for j in unmatched_new[len(pairs) :]:
            self.directional(
                direction,
                narrowed=not combinator,
                widened=combinator,
                rule=f"{keyword}-branch-added",
                path=child(child(path, keyword), j),
                message=f"{keyword} alternative added",
                via=via,
            )

    def _branch_key(self, node: Any, root: dict[str, Any]) -> str:
        body, _ = self.deref(node, root)
        return canonical(normalize_text(body))

    # ------------------------------------------------------------------ document

    def document(self) -> None:
        old, new = self.old_root, self.new_root
        if old.get("openapi") != new.get("openapi"):
            self.add(
                NON_BREAKING,
                "openapi-version-changed",
                "$.openapi",
                f"openapi {show(old.get('openapi'))} -> {show(new.get('openapi'))}",
                None,
            )
        self.info(_as_dict(old.get("info")), _as_dict(new.get("info")))
        self.servers(old.get("servers") or [], new.get("servers") or [])
        for key in ("tags", "externalDocs"):
            self.doc_value(old.get(key), new.get(key), child("$", key), None)
        self.security_schemes(
            _as_dict(_as_dict(old.get("components")).get("securitySchemes")),
            _as_dict(_as_dict(new.get("components")).get("securitySchemes")),
        )
        self.paths(_as_dict(old.get("paths")), _as_dict(new.get("paths")))
        self.components()
        self.leftovers(
            old,
            new,
            {"openapi", "info", "servers", "tags", "externalDocs", "paths", "components"}
            | {"security", "jsonSchemaDialect"},
            "$",
            None,
        )

    def info(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if old.get("version") != new.get("version"):
            self.add(
                DOCUMENTATION,
                "info-version-changed",
                "$.info.version",
                f"info.version {show(old.get('version'))} -> {show(new.get('version'))}",
                None,
            )
        for key in sorted({*old, *new} - {"version"}):
            self.doc_value(old.get(key), new.get(key), child("$.info", key), None)

    def servers(self, old: list[Any], new: list[Any]) -> None:
        old_urls = [_as_dict(s).get("url") for s in old]
        new_urls = [_as_dict(s).get("url") for s in new]
        if old_urls != new_urls:
            self.add(
                NON_BREAKING,
                "servers-changed",
                "$.servers",
                f"server URLs {old_urls} -> {new_urls} (clients pass their own base URL)",
                None,
            )
        else:
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                self.doc_value(a, b, child("$.servers", i), None)

    def security_schemes(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        base = "$.components.securitySchemes"
        for name in sorted({*old, *new}):
            path = child(base, name)
            if name not in new:
                self.add(BREAKING, "security-scheme-removed", path, f"{name} removed", None)
            elif name not in old:
                self.add(NON_BREAKING, "security-scheme-added", path, f"{name} added", None)
            else:
                a, _ = self.deref(old[name], self.old_root)
                b, _ = self.deref(new[name], self.new_root)
                a, b = _as_dict(a), _as_dict(b)
                for key in sorted({*a, *b} - SECURITY_SCHEME_DOC_KEYS):
                    if canonical(a.get(key)) != canonical(b.get(key)):
                        self.add(
                            BREAKING,
                            "security-scheme-changed",
                            child(path, key),
                            f"{name}.{key}: {show(a.get(key))} -> {show(b.get(key))}",
                            None,
                        )
                self.doc_value(
                    a.get("description"), b.get("description"), child(path, "description"), None
                )

    def paths(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for name in sorted({*old, *new}):
            path = child("$.paths", name)
            if name not in new:
                self.add(BREAKING, "path-removed", path, f"path {name} removed", None)
                continue
            if name not in old:
                self.add(NON_BREAKING, "path-added", path, f"path {name} added", None)
                continue
            a, _ = self.deref(old[name], self.old_root)
            b, _ = self.deref(new[name], self.new_root)
            a, b = _as_dict(a), _as_dict(b)
            for method in HTTP_METHODS:
                where = child(path, method)
                label = f"{method.upper()} {name}"
                if method in a and method not in b:
                    self.add(BREAKING, "operation-removed", where, f"{label} removed", None)
                elif method in b and method not in a:
                    self.add(NON_BREAKING, "operation-added", where, f"{label} added", None)
                elif method in a:
                    self.operation(a, b, method, where)
            self.docs(a, b, path, None)
            self.leftovers(a, b, {*HTTP_METHODS, "parameters"}, path, None)

    def operation(
        self, old_item: dict[str, Any], new_item: dict[str, Any], method: str, path: str
    ) -> None:
        a, b = _as_dict(old_item[method]), _as_dict(new_item[method])
        if a.get("operationId") != b.get("operationId"):
            self.add(
                BREAKING,
                "operation-id-changed",
                child(path, "operationId"),
                f"operationId {show(a.get('operationId'))} -> {show(b.get('operationId'))}"
                " (generated SDK function names follow it)",
                None,
            )
        if sorted(a.get("tags") or []) != sorted(b.get("tags") or []):
            self.add(
                BREAKING,
                "operation-tags-changed",
                child(path, "tags"),
                f"tags {a.get('tags')} -> {b.get('tags')} (generated SDKs group operations"
                " into modules by tag)",
                None,
            )
        if not a.get("deprecated") and b.get("deprecated"):
            self.add(
                NON_BREAKING,
                "operation-deprecated",
                child(path, "deprecated"),
                "operation deprecated",
                None,
            )
        old_sec = a.get("security", self.old_root.get("security"))
        new_sec = b.get("security", self.new_root.get("security"))
        if canonical(old_sec) != canonical(new_sec):
            self.add(
                BREAKING,
                "security-requirement-changed",
                child(path, "security"),
                f"security {show(old_sec)} -> {show(new_sec)}",
                None,
            )
        self.parameters(
            [*(old_item.get("parameters") or []), *(a.get("parameters") or [])],
            [*(new_item.get("parameters") or []), *(b.get("parameters") or [])],
            child(path, "parameters"),
        )
        self.request_body(a.get("requestBody"), b.get("requestBody"), child(path, "requestBody"))
        self.responses(
            _as_dict(a.get("responses")), _as_dict(b.get("responses")), child(path, "responses")
        )
        self.docs(a, b, path, None)
        handled = {"operationId", "tags", "deprecated", "security", "parameters"}
        self.leftovers(a, b, handled | {"requestBody", "responses"}, path, None)

    def parameters(self, old: list[Any], new: list[Any], path: str) -> None:
        def index(items: list[Any], root: dict[str, Any]) -> dict[tuple[str, str], Any]:
            out: dict[tuple[str, str], Any] = {}
            for item in items:
                body, _ = self.deref(item, root)
                body = _as_dict(body)
                out[(str(body.get("in")), str(body.get("name")))] = body
            return out

        a, b = index(old, self.old_root), index(new, self.new_root)
        for key in sorted({*a, *b}):
            where = f"{path}[?(@.in=='{key[0]}' && @.name=='{key[1]}')]"
            if key not in b:
                self.add(BREAKING, "request-parameter-removed", where, f"{key} removed", None)
                continue
            if key not in a:
                required = bool(b[key].get("required"))
                self.add(
                    BREAKING if required else NON_BREAKING,
                    f"request-{'required' if required else 'optional'}-parameter-added",
                    where,
                    f"{key} added",
                    None,
                )
                continue
            pa, pb = a[key], b[key]
            if bool(pa.get("required")) != bool(pb.get("required")):
                self.directional(
                    "request",
                    narrowed=bool(pb.get("required")),
                    widened=bool(pa.get("required")),
                    rule="parameter-required-changed",
                    path=child(where, "required"),
                    message=f"{key} required -> {bool(pb.get('required'))}",
                    via=None,
                )
            for key2 in ("style", "explode", "allowReserved"):
                if pa.get(key2) != pb.get(key2):
                    self.add(
                        BREAKING,
                        "request-parameter-serialization-changed",
                        child(where, key2),
                        f"{key2}: {show(pa.get(key2))} -> {show(pb.get(key2))}",
                        None,
                    )
            if "schema" in pa or "schema" in pb:
                self._sub(
                    pa.get("schema"), pb.get("schema"), child(where, "schema"), "request", None
                )
            self.docs(pa, pb, where, None)
            handled = {"in", "name", "required", "style", "explode", "allowReserved", "schema"}
            self.leftovers(pa, pb, handled, where, None)

    def request_body(self, old: Any, new: Any, path: str) -> None:
        if old is None and new is None:
            return
        a, old_ref = self.deref(old, self.old_root) if old is not None else ({}, None)
        b, new_ref = self.deref(new, self.new_root) if new is not None else ({}, None)
        a, b = _as_dict(a), _as_dict(b)
        via = new_ref or old_ref
        if old is None:
            required = bool(b.get("required"))
            kind = BREAKING if required else NON_BREAKING
            self.add(kind, "request-body-added", path, "request body added", via)
            return
        if new is None:
            self.add(BREAKING, "request-body-removed", path, "request body removed", via)
            return
        if bool(a.get("required")) != bool(b.get("required")):
            self.directional(
                "request",
                narrowed=bool(b.get("required")),
                widened=bool(a.get("required")),
                rule="body-required-changed",
                path=child(path, "required"),
                message=f"request body required -> {bool(b.get('required'))}",
                via=via,
            )
        limit = "x-max-body-bytes"
        if canonical(a.get(limit)) != canonical(b.get(limit)):
            o, n = a.get(limit), b.get(limit)
            tighter = o is None or (n is not None and _is_number(o) and _is_number(n) and n < o)
            self.directional(
                "request",
                narrowed=tighter,
                widened=not tighter,
                rule="body-size-limit-changed",
                path=child(path, limit),
                message=f"{limit}: {show(o)} -> {show(n)}",
                via=via,
            )
        self.content(
            _as_dict(a.get("content")),
            _as_dict(b.get("content")),
            child(path, "content"),
            "request",
            via,
        )
        self.docs(a, b, path, via)
        self.leftovers(a, b, {"required", limit, "content"}, path, via)

    def content(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        path: str,
        direction: Direction,
        via: str | None,
    ) -> None:
        for media in sorted({*old, *new}):
            where = child(path, media)
            if media not in new:
                self.add(
                    BREAKING, f"{direction}-media-type-removed", where, f"{media} removed", via
                )
            elif media not in old:
                self.add(
                    NON_BREAKING, f"{direction}-media-type-added", where, f"{media} added", via
                )
            else:
                a, b = _as_dict(old[media]), _as_dict(new[media])
                self._sub(a.get("schema"), b.get("schema"), child(where, "schema"), direction, via)
                self.docs(a, b, where, via)
                self.leftovers(a, b, {"schema"}, where, via)

    def responses(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        # YAML reads an unquoted 200 as an int: status codes compare as text.
        old = {str(k): v for k, v in old.items()}
        new = {str(k): v for k, v in new.items()}
        for status in sorted({*old, *new}, key=str):
            where = child(path, str(status))
            if status not in new:
                self.add(
                    BREAKING,
                    "response-status-removed",
                    where,
                    f"response {status} removed",
                    None,
                )
                continue
            if status not in old:
                self.add(
                    NON_BREAKING, "response-status-added", where, f"response {status} added", None
                )
                continue
            a, old_ref = self.deref(old[status], self.old_root)
            b, new_ref = self.deref(new[status], self.new_root)
            a, b = _as_dict(a), _as_dict(b)
            via = new_ref or old_ref
            self.headers(
                _as_dict(a.get("headers")), _as_dict(b.get("headers")), child(where, "headers"), via
            )
            self.content(
                _as_dict(a.get("content")),
                _as_dict(b.get("content")),
                child(where, "content"),
                "response",
                via,
            )
            self.docs(a, b, where, via)
            self.leftovers(a, b, {"headers", "content"}, where, via)

    def headers(self, old: dict[str, Any], new: dict[str, Any], path: str, via: str | None) -> None:
        for name in sorted({*old, *new}):
            where = child(path, name)
            if name not in new:
                self.add(BREAKING, "response-header-removed", where, f"header {name} removed", via)
                continue
            if name not in old:
                self.add(NON_BREAKING, "response-header-added", where, f"header {name} added", via)
                continue
            a, ra = self.deref(old[name], self.old_root)
            b, rb = self.deref(new[name], self.new_root)
            a, b = _as_dict(a), _as_dict(b)
            hvia = rb or ra or via
            if bool(a.get("required")) != bool(b.get("required")):
                self.directional(
                    "response",
                    narrowed=bool(b.get("required")),
                    widened=bool(a.get("required")),
                    rule="header-required-changed",
                    path=child(where, "required"),
                    message=f"header {name} required -> {bool(b.get('required'))}",
                    via=hvia,
                )
            self._sub(a.get("schema"), b.get("schema"), child(where, "schema"), "response", hvia)
            self.docs(a, b, where, hvia)
            self.leftovers(a, b, {"required", "schema"}, where, hvia)

    def components(self) -> None:
        """Component schemas: removing one removes a model from generated SDKs; changes to
        components no operation reaches are reported where they are (non-breaking)."""
        old = _as_dict(_as_dict(self.old_root.get("components")).get("schemas"))
        new = _as_dict(_as_dict(self.new_root.get("components")).get("schemas"))
        base = "$.components.schemas"
        for name in sorted({*old, *new}):
            ref = f"#/components/schemas/{name}"
            where = child(base, name)
            if name not in new:
                self.add(
                    BREAKING,
                    "component-schema-removed",
                    where,
                    f"schema {name} removed (generated SDKs export one model per schema)",
                    None,
                )
            elif name not in old:
                self.add(
                    NON_BREAKING, "component-schema-added", where, f"schema {name} added", None
                )
            elif (
                ref not in self.reached_old
                and ref not in self.reached_new
                and canonical(normalize_text(old[name])) != canonical(normalize_text(new[name]))
            ):
                self.add(
                    NON_BREAKING,
                    "unused-component-changed",
                    where,
                    f"schema {name} changed (no operation uses it)",
                    None,
                )


# --------------------------------------------------------------------------- schema facts


def _is_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    only = {k for k in schema if k not in DOC_KEYS and k != "type"}
    return (kind == "null" or kind == ["null"]) and not only


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    if isinstance(kind, str):
        return frozenset({kind})
    return frozenset(str(k) for k in kind)


def _accepts(types: frozenset[str] | None, kind: str) -> bool:
    if types is None:
        return True
    if kind == "any":
        return False
    return kind in types or (kind == "integer" and "number" in types)


def _show_types(types: frozenset[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types))


def _enum(schema: dict[str, Any]) -> frozenset[str] | None:
    if "enum" in schema and isinstance(schema["enum"], list):
        return frozenset(canonical(v) for v in schema["enum"])
    if "const" in schema:
        return frozenset({canonical(schema["const"])})
    return None


# --------------------------------------------------------------------------- public API


def diff_specs(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every classified difference between two parsed OpenAPI documents."""
    for label, doc in (("old", old), ("new", new)):
        if not isinstance(doc, dict) or "openapi" not in doc or "paths" not in doc:
            raise SpecDiffError(f"the {label} document is not an OpenAPI document")
    differ = _Differ(old, new)
    differ.document()
    unique = list(dict.fromkeys(differ.changes))
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(unique, key=lambda c: (order[c.kind], c.path, c.rule))


def required_bump(changes: Iterable[Change]) -> Bump:
    kinds = {c.kind for c in changes}
    if BREAKING in kinds:
        return "major"
    if NON_BREAKING in kinds:
        return "minor"
    if DOCUMENTATION in kinds:
        return "patch"
    return "none"


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")


def parse_version(version: Any) -> tuple[int, int, int]:
    match = _SEMVER.match(str(version).strip())
    if not match:
        raise SpecDiffError(f"info.version {version!r} is not a semantic version (X.Y.Z)")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def actual_bump(old_version: Any, new_version: Any) -> Bump:
    """How ``info.version`` moved; a lower version is an error."""
    old, new = parse_version(old_version), parse_version(new_version)
    if new < old:
        raise SpecDiffError(f"info.version went down: {old_version} -> {new_version}")
    if new[0] > old[0]:
        return "major"
    if new[1] > old[1]:
        return "minor"
    if new[2] > old[2]:
        return "patch"
    return "none"


def _effective(required: Bump, old_version: Any) -> Bump:
    """Semver 0.x: anything may change in a minor release, so breaking needs only minor."""
    if parse_version(old_version)[0] == 0 and required == "major":
        return "minor"
    return required


def bump_is_enough(required: Bump, old_version: Any, new_version: Any) -> bool:
    needed = _effective(required, old_version)
    return BUMP_ORDER[actual_bump(old_version, new_version)] >= BUMP_ORDER[needed]


def propose_version(old_version: Any, required: Bump) -> str:
    major, minor, patch = parse_version(old_version)
    needed = _effective(required, old_version)
    if needed == "major":
        return f"{major + 1}.0.0"
    if needed == "minor":
        return f"{major}.{minor + 1}.0"
    if needed == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return f"{major}.{minor}.{patch}"


def iter_kind(changes: Iterable[Change], kind: str) -> Iterator[Change]:
    return (c for c in changes if c.kind == kind)
