"""Comparing two schemas: the part of the gate that follows ``$ref``s, makes nullability
explicit and judges each keyword in the direction it is used (request or response).

:class:`SchemaDiffer` holds the state of one comparison (both documents, what was found, which
components were reached); :mod:`chat_text_spec.diff.document` extends it with the document
walk (paths, operations, parameters, bodies, responses, security, components).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from chat_text_spec.diff import rules as r
from chat_text_spec.diff.changes import (
    Change,
    SpecDiffError,
    canonical,
    child,
    normalize_text,
    show,
)

__all__ = ["DOC_KEYS", "SchemaDiffer", "Side", "as_dict", "is_number", "meaning"]

Side = Literal["request", "response"]

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
# Keys whose value is a map of names to schemas (the names are data, not keywords).
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def meaning(value: Any, *, names: bool = False) -> Any:
    """``value`` without prose (description, title, examples, ...): what two schemas must
    share to mean the same thing."""
    if isinstance(value, dict):
        return {
            k: meaning(v, names=k in _NAME_MAPS and not names)
            for k, v in value.items()
            if names or k not in DOC_KEYS
        }
    if isinstance(value, list):
        return [meaning(v) for v in value]
    return value


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
class SchemaDiffer:
    old_root: dict[str, Any]
    new_root: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    reached_old: set[str] = field(default_factory=set)
    reached_new: set[str] = field(default_factory=set)
    _active: set[tuple[str | None, str | None, str]] = field(default_factory=set)

    # ------------------------------------------------------------------ recording

    def add(self, rule: r.Rule, path: str, message: str, via: str | None) -> None:
        self.changes.append(Change.of(rule, path, message, via))

    def directional(
        self,
        family: r.Family,
        direction: Side,
        *,
        narrowed: bool,
        widened: bool,
        path: str,
        message: str,
        via: str | None,
    ) -> None:
        """Record a change that narrows and/or widens what is valid at ``path``."""
        rule = family.pick(direction, narrowed=narrowed, widened=widened)
        self.add(rule, path, message, via)

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
        self.add(r.DOCUMENTATION_CHANGED, path, f"text {what}", via)

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
            rule = r.EXTENSION_CHANGED if key.startswith("x-") else r.UNCLASSIFIED_CHANGE
            self.add(rule, child(path, key), f"{key}: {show(a)} -> {show(b)}", via)

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
        self, old_node: Any, new_node: Any, path: str, direction: Side, via: str | None
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
        self, old: _Schema, new: _Schema, base: str, direction: Side, via: str | None
    ) -> None:
        a, b = old.body, new.body
        path = base + (new.suffix or old.suffix)
        if old.nullable != new.nullable:
            self.directional(
                r.NULL,
                direction,
                narrowed=old.nullable,
                widened=new.nullable,
                path=path,
                message="null is now allowed" if new.nullable else "null is no longer allowed",
                via=via,
            )
        self._types(a, b, path, direction, via)
        self._enum(a, b, path, direction, via)
        self._bounds(a, b, path, direction, via)
        if canonical(a.get("default")) != canonical(b.get("default")):
            rule = (
                r.REQUEST_DEFAULT_CHANGED if direction == "request" else r.RESPONSE_DEFAULT_CHANGED
            )
            self.add(
                rule,
                child(path, "default"),
                f"default {show(a.get('default'))} -> {show(b.get('default'))}",
                via,
            )
        for keyword in CONSTRAINT_KEYS:
            if canonical(a.get(keyword)) == canonical(b.get(keyword)):
                continue
            added, removed = keyword not in a, keyword not in b
            self.directional(
                r.CONSTRAINT,
                direction,
                narrowed=not removed,
                widened=not added,
                path=child(path, keyword),
                message=f"{keyword}: {show(a.get(keyword))} -> {show(b.get(keyword))}",
                via=via,
            )
        if bool(a.get("uniqueItems")) != bool(b.get("uniqueItems")):
            self.directional(
                r.CONSTRAINT,
                direction,
                narrowed=bool(b.get("uniqueItems")),
                widened=bool(a.get("uniqueItems")),
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

    def _sub(self, a: Any, b: Any, path: str, direction: Side, via: str | None) -> None:
        """Compare two subschemas where either may be missing (missing = anything goes)."""
        if a is None and b is None:
            return
        if a is None or b is None:
            self.directional(
                r.CONSTRAINT,
                direction,
                narrowed=a is None,
                widened=b is None,
                path=path,
                message="schema " + ("added" if a is None else "removed"),
                via=via,
            )
            return
        self.schema(a, b, path, direction, via)

    def _types(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Side, via: str | None
    ) -> None:
        old_t, new_t = _types(a), _types(b)
        if old_t == new_t:
            return
        lost = sorted(t for t in (old_t or {"any"}) if not _accepts(new_t, t))
        gained = sorted(t for t in (new_t or {"any"}) if not _accepts(old_t, t))
        if not lost and not gained:
            return
        self.directional(
            r.TYPE,
            direction,
            narrowed=bool(lost),
            widened=bool(gained),
            path=child(path, "type"),
            message=f"type {_show_types(old_t)} -> {_show_types(new_t)}",
            via=via,
        )

    def _enum(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Side, via: str | None
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
        self.directional(
            r.ENUM,
            direction,
            narrowed=narrowed,
            widened=widened,
            path=child(path, "enum" if "enum" in b or "enum" in a else "const"),
            message=message,
            via=via,
        )

    def _bounds(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Side, via: str | None
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
            elif is_number(o) and is_number(n):
                tighter = n > o if lower else n < o
                narrowed, widened = tighter, not tighter
            else:  # e.g. OpenAPI 3.0 boolean exclusiveMinimum: cannot tell, assume both
                narrowed = widened = True
            self.directional(
                r.BOUND,
                direction,
                narrowed=narrowed,
                widened=widened,
                path=child(path, keyword),
                message=f"{keyword}: {show(o)} -> {show(n)}",
                via=via,
            )

    def _object(
        self, a: dict[str, Any], b: dict[str, Any], path: str, direction: Side, via: str | None
    ) -> None:
        old_p, new_p = as_dict(a.get("properties")), as_dict(b.get("properties"))
        old_req, new_req = set(a.get("required") or []), set(b.get("required") or [])
        props = child(path, "properties")
        for name in sorted(set(old_p) - set(new_p)):
            self.add(
                r.PROPERTY_REMOVED,
                child(props, name),
                f"{direction} field {name!r} removed (or renamed)",
                via,
            )
        for name in sorted(set(new_p) - set(old_p)):
            required = name in new_req
            if direction == "response":
                rule = r.RESPONSE_PROPERTY_ADDED
            elif required:
                rule = r.REQUEST_REQUIRED_PROPERTY_ADDED
            else:
                rule = r.REQUEST_OPTIONAL_PROPERTY_ADDED
            adj = "required" if required else "optional"
            self.add(
                rule,
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
                r.PROPERTY_REQUIRED,
                direction,
                narrowed=became_required,
                widened=not became_required,
                path=child(path, "required"),
                message=f"{name!r} is now " + ("required" if became_required else "optional"),
                via=via,
            )
        old_ap, new_ap = a.get("additionalProperties"), b.get("additionalProperties")
        if canonical(old_ap) != canonical(new_ap):
            ap_path = child(path, "additionalProperties")
            if isinstance(old_ap, dict) and isinstance(new_ap, dict):
                self.schema(old_ap, new_ap, ap_path, direction, via)
            else:
                # How open the object is: false < a schema < true/absent. On the response
                # side any change is fine: clients must ignore fields they do not know.
                before, after = _openness(old_ap), _openness(new_ap)
                self.directional(
                    r.ADDITIONAL_PROPERTIES,
                    direction,
                    narrowed=after < before,
                    widened=after > before,
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
        direction: Side,
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
        family = r.ALTERNATIVE if combinator else r.CONSTRAINT
        for i in unmatched_old[len(pairs) :]:
            self.directional(
                family,
                direction,
                narrowed=combinator,
                widened=not combinator,
                path=child(child(path, keyword), i),
                message=f"{keyword} alternative removed",
                via=via,
            )
        for j in unmatched_new[len(pairs) :]:
            self.directional(
                family,
                direction,
                narrowed=not combinator,
                widened=combinator,
                path=child(child(path, keyword), j),
                message=f"{keyword} alternative added",
                via=via,
            )

    def _branch_key(self, node: Any, root: dict[str, Any]) -> str:
        body, _ = self.deref(node, root)
        return canonical(normalize_text(body))


# --------------------------------------------------------------------------- schema facts


def _is_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    only = {k for k in schema if k not in DOC_KEYS and k != "type"}
    return (kind == "null" or kind == ["null"]) and not only


def _openness(value: Any) -> int:
    if value is False:
        return 0
    return 1 if isinstance(value, dict) else 2


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
