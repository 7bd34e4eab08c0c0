"""Comparing two OpenAPI documents: the walk through paths, operations, parameters, request
bodies, responses, security and components. Schemas met on the way are compared by
:class:`~chat_text_spec.diff.schema.SchemaDiffer`, in the direction they are used.

Every difference is reported once per place where it matters, with a JSONPath through the
operation (``$.paths['/inference/chat_text'].post.requestBody...``) and, when the change sits
inside a component, the component it was reached through (``via``). ``$ref``s are followed,
so a change inside ``#/components/schemas/Role`` shows up under the request field that uses it,
and is judged in that field's direction. Whitespace, key order, enum order and the spelling
of a status code (``200`` or ``'200'``) are no change at all.
"""

from __future__ import annotations

from typing import Any

from chat_text_spec.diff import rules as r
from chat_text_spec.diff.changes import (
    Change,
    SpecDiffError,
    canonical,
    child,
    normalize_text,
    show,
)
from chat_text_spec.diff.schema import SchemaDiffer, Side, as_dict, is_number, meaning

__all__ = ["diff_specs"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SECURITY_SCHEME_DOC_KEYS = frozenset({"description"})


class DocumentDiffer(SchemaDiffer):
    def document(self) -> None:
        old, new = self.old_root, self.new_root
        if old.get("openapi") != new.get("openapi"):
            self.add(
                r.OPENAPI_VERSION_CHANGED,
                "$.openapi",
                f"openapi {show(old.get('openapi'))} -> {show(new.get('openapi'))}",
                None,
            )
        self.info(as_dict(old.get("info")), as_dict(new.get("info")))
        self.servers(old.get("servers") or [], new.get("servers") or [])
        for key in ("tags", "externalDocs"):
            self.doc_value(old.get(key), new.get(key), child("$", key), None)
        self.security_schemes(
            as_dict(as_dict(old.get("components")).get("securitySchemes")),
            as_dict(as_dict(new.get("components")).get("securitySchemes")),
        )
        self.paths(as_dict(old.get("paths")), as_dict(new.get("paths")))
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
                r.INFO_VERSION_CHANGED,
                "$.info.version",
                f"info.version {show(old.get('version'))} -> {show(new.get('version'))}",
                None,
            )
        for key in sorted({*old, *new} - {"version"}):
            self.doc_value(old.get(key), new.get(key), child("$.info", key), None)

    def servers(self, old: list[Any], new: list[Any]) -> None:
        old_urls = [as_dict(s).get("url") for s in old]
        new_urls = [as_dict(s).get("url") for s in new]
        if old_urls != new_urls:
            self.add(
                r.SERVERS_CHANGED,
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
                self.add(r.SECURITY_SCHEME_REMOVED, path, f"{name} removed", None)
            elif name not in old:
                self.add(r.SECURITY_SCHEME_ADDED, path, f"{name} added", None)
            else:
                a, _ = self.deref(old[name], self.old_root)
                b, _ = self.deref(new[name], self.new_root)
                a, b = as_dict(a), as_dict(b)
                for key in sorted({*a, *b} - SECURITY_SCHEME_DOC_KEYS):
                    if canonical(a.get(key)) != canonical(b.get(key)):
                        self.add(
                            r.SECURITY_SCHEME_CHANGED,
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
                self.add(r.PATH_REMOVED, path, f"path {name} removed", None)
                continue
            if name not in old:
                self.add(r.PATH_ADDED, path, f"path {name} added", None)
                continue
            a, _ = self.deref(old[name], self.old_root)
            b, _ = self.deref(new[name], self.new_root)
            a, b = as_dict(a), as_dict(b)
            for method in HTTP_METHODS:
                where = child(path, method)
                label = f"{method.upper()} {name}"
                if method in a and method not in b:
                    self.add(r.OPERATION_REMOVED, where, f"{label} removed", None)
                elif method in b and method not in a:
                    self.add(r.OPERATION_ADDED, where, f"{label} added", None)
                elif method in a:
                    self.operation(a, b, method, where)
            self.docs(a, b, path, None)
            self.leftovers(a, b, {*HTTP_METHODS, "parameters"}, path, None)

    def operation(
        self, old_item: dict[str, Any], new_item: dict[str, Any], method: str, path: str
    ) -> None:
        a, b = as_dict(old_item[method]), as_dict(new_item[method])
        if a.get("operationId") != b.get("operationId"):
            self.add(
                r.OPERATION_ID_CHANGED,
                child(path, "operationId"),
                f"operationId {show(a.get('operationId'))} -> {show(b.get('operationId'))}"
                " (generated SDK function names follow it)",
                None,
            )
        if sorted(a.get("tags") or []) != sorted(b.get("tags") or []):
            self.add(
                r.OPERATION_TAGS_CHANGED,
                child(path, "tags"),
                f"tags {a.get('tags')} -> {b.get('tags')} (generated SDKs group operations"
                " into modules by tag)",
                None,
            )
        if bool(a.get("deprecated")) != bool(b.get("deprecated")):
            self.add(
                r.OPERATION_DEPRECATION_CHANGED,
                child(path, "deprecated"),
                "operation deprecated" if b.get("deprecated") else "operation no longer deprecated",
                None,
            )
        self.security(
            a.get("security", self.old_root.get("security")),
            b.get("security", self.new_root.get("security")),
            child(path, "security"),
        )
        self.parameters(
            [*(old_item.get("parameters") or []), *(a.get("parameters") or [])],
            [*(new_item.get("parameters") or []), *(b.get("parameters") or [])],
            child(path, "parameters"),
        )
        self.request_body(a.get("requestBody"), b.get("requestBody"), child(path, "requestBody"))
        self.responses(
            as_dict(a.get("responses")), as_dict(b.get("responses")), child(path, "responses")
        )
        self.docs(a, b, path, None)
        handled = {"operationId", "tags", "deprecated", "security", "parameters"}
        self.leftovers(a, b, handled | {"requestBody", "responses"}, path, None)

    def security(self, old: Any, new: Any, path: str) -> None:
        """An operation's ``security`` is a list of alternatives: a client must satisfy one.
        A removed alternative refuses the clients that used it; an added one refuses nobody.
        No list (or an empty one) means anonymous access, the same as a ``{}`` entry."""
        old_alts, new_alts = _alternatives(old), _alternatives(new)
        anonymous = canonical({})
        for key in sorted(old_alts.keys() - new_alts.keys()):
            if anonymous in new_alts:
                continue  # nobody is refused: every client may call without credentials
            what = (
                "the operation now requires authentication"
                if key == anonymous
                else f"security alternative {show(old_alts[key])} removed"
            )
            self.add(r.SECURITY_REQUIREMENT_REMOVED, path, what, None)
        for key in sorted(new_alts.keys() - old_alts.keys()):
            if anonymous in old_alts and key != anonymous:
                continue  # reported above as "now requires authentication" if it does
            what = (
                "the operation may now be called without authentication"
                if key == anonymous
                else f"security alternative {show(new_alts[key])} added"
            )
            self.add(r.SECURITY_REQUIREMENT_ADDED, path, what, None)

    def parameters(self, old: list[Any], new: list[Any], path: str) -> None:
        def index(items: list[Any], root: dict[str, Any]) -> dict[tuple[str, str], Any]:
            out: dict[tuple[str, str], Any] = {}
            for item in items:
                body, _ = self.deref(item, root)
                body = as_dict(body)
                out[(str(body.get("in")), str(body.get("name")))] = body
            return out

        a, b = index(old, self.old_root), index(new, self.new_root)
        for key in sorted({*a, *b}):
            where = f"{path}[?(@.in=='{key[0]}' && @.name=='{key[1]}')]"
            if key not in b:
                self.add(r.REQUEST_PARAMETER_REMOVED, where, f"{key} removed", None)
                continue
            if key not in a:
                required = bool(b[key].get("required"))
                self.add(
                    r.REQUEST_REQUIRED_PARAMETER_ADDED
                    if required
                    else r.REQUEST_OPTIONAL_PARAMETER_ADDED,
                    where,
                    f"{key} added",
                    None,
                )
                continue
            pa, pb = a[key], b[key]
            if bool(pa.get("required")) != bool(pb.get("required")):
                self.add(
                    r.REQUEST_PARAMETER_BECAME_REQUIRED
                    if pb.get("required")
                    else r.REQUEST_PARAMETER_BECAME_OPTIONAL,
                    child(where, "required"),
                    f"{key} required -> {bool(pb.get('required'))}",
                    None,
                )
            for key2 in ("style", "explode", "allowReserved"):
                if pa.get(key2) != pb.get(key2):
                    self.add(
                        r.REQUEST_PARAMETER_SERIALIZATION_CHANGED,
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
        a, b = as_dict(a), as_dict(b)
        via = new_ref or old_ref
        if old is None:
            required = bool(b.get("required"))
            rule = r.REQUEST_REQUIRED_BODY_ADDED if required else r.REQUEST_OPTIONAL_BODY_ADDED
            self.add(rule, path, f"{'required' if required else 'optional'} body added", via)
            return
        if new is None:
            self.add(r.REQUEST_BODY_REMOVED, path, "request body removed", via)
            return
        if bool(a.get("required")) != bool(b.get("required")):
            self.add(
                r.REQUEST_BODY_BECAME_REQUIRED
                if b.get("required")
                else r.REQUEST_BODY_BECAME_OPTIONAL,
                child(path, "required"),
                f"request body required -> {bool(b.get('required'))}",
                via,
            )
        limit = "x-max-body-bytes"
        if canonical(a.get(limit)) != canonical(b.get(limit)):
            o, n = a.get(limit), b.get(limit)
            tighter = o is None or (n is not None and is_number(o) and is_number(n) and n < o)
            self.add(
                r.REQUEST_BODY_LIMIT_LOWERED if tighter else r.REQUEST_BODY_LIMIT_RAISED,
                child(path, limit),
                f"{limit}: {show(o)} -> {show(n)}",
                via,
            )
        self.content(
            as_dict(a.get("content")),
            as_dict(b.get("content")),
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
        direction: Side,
        via: str | None,
    ) -> None:
        for media in sorted({*old, *new}):
            where = child(path, media)
            if media not in new:
                self.add(r.MEDIA_TYPE_REMOVED, where, f"{direction} {media} removed", via)
            elif media not in old:
                self.add(r.MEDIA_TYPE_ADDED, where, f"{direction} {media} added", via)
            else:
                a, b = as_dict(old[media]), as_dict(new[media])
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
                success = status[:1] in ("2", "3")
                rule = (
                    r.RESPONSE_SUCCESS_STATUS_REMOVED
                    if success
                    else r.RESPONSE_ERROR_STATUS_REMOVED
                )
                what = "success" if success else "error"
                self.add(rule, where, f"{what} response {status} removed", None)
                continue
            if status not in old:
                self.add(r.RESPONSE_STATUS_ADDED, where, f"response {status} added", None)
                continue
            a, old_ref = self.deref(old[status], self.old_root)
            b, new_ref = self.deref(new[status], self.new_root)
            a, b = as_dict(a), as_dict(b)
            via = new_ref or old_ref
            self.headers(
                as_dict(a.get("headers")), as_dict(b.get("headers")), child(where, "headers"), via
            )
            self.content(
                as_dict(a.get("content")),
                as_dict(b.get("content")),
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
                self.add(r.RESPONSE_HEADER_REMOVED, where, f"header {name} removed", via)
                continue
            if name not in old:
                self.add(r.RESPONSE_HEADER_ADDED, where, f"header {name} added", via)
                continue
            a, ra = self.deref(old[name], self.old_root)
            b, rb = self.deref(new[name], self.new_root)
            a, b = as_dict(a), as_dict(b)
            hvia = rb or ra or via
            if bool(a.get("required")) != bool(b.get("required")):
                self.add(
                    r.RESPONSE_HEADER_BECAME_REQUIRED
                    if b.get("required")
                    else r.RESPONSE_HEADER_BECAME_OPTIONAL,
                    child(where, "required"),
                    f"header {name} required -> {bool(b.get('required'))}",
                    hvia,
                )
            self._sub(a.get("schema"), b.get("schema"), child(where, "schema"), "response", hvia)
            self.docs(a, b, where, hvia)
            self.leftovers(a, b, {"required", "schema"}, where, hvia)

    def components(self) -> None:
        """Component schemas are names: what they mean on the wire is compared where
        operations use them. Here: a schema renamed with the same meaning, a new schema, a
        removed one (generated SDKs lose that model), and changes to schemas no operation
        reaches (reported where they are)."""
        old = as_dict(as_dict(self.old_root.get("components")).get("schemas"))
        new = as_dict(as_dict(self.new_root.get("components")).get("schemas"))
        base = "$.components.schemas"
        removed = sorted(set(old) - set(new))
        added = sorted(set(new) - set(old))
        renamed: dict[str, str] = {}
        for gone in removed:
            same = canonical(meaning(old[gone]))
            hit = next(
                (n for n in added if n not in renamed and canonical(meaning(new[n])) == same),
                None,
            )
            if hit is not None:
                renamed[hit] = gone
        for name in sorted({*old, *new}):
            ref = f"#/components/schemas/{name}"
            where = child(base, name)
            if name in renamed:
                self.add(
                    r.COMPONENT_SCHEMA_RENAMED,
                    where,
                    f"schema {renamed[name]} renamed to {name} (same meaning; the generated"
                    " model is renamed)",
                    None,
                )
            elif name not in new:
                if name in renamed.values():
                    continue
                self.add(
                    r.COMPONENT_SCHEMA_REMOVED,
                    where,
                    f"schema {name} removed (generated SDKs export one model per schema)",
                    None,
                )
            elif name not in old:
                used = "used by an operation" if ref in self.reached_new else "not used yet"
                self.add(r.COMPONENT_SCHEMA_ADDED, where, f"schema {name} added ({used})", None)
            elif (
                ref not in self.reached_old
                and ref not in self.reached_new
                and canonical(normalize_text(old[name])) != canonical(normalize_text(new[name]))
            ):
                self.add(
                    r.UNUSED_COMPONENT_CHANGED,
                    where,
                    f"schema {name} changed (no operation uses it)",
                    None,
                )


def _alternatives(security: Any) -> dict[str, Any]:
    """The alternatives of a ``security`` list by their canonical text; none = anonymous.
    Scope order inside a requirement does not matter."""
    items = security if isinstance(security, list) and security else [{}]
    out: dict[str, Any] = {}
    for item in items:
        req = {k: sorted(v) if isinstance(v, list) else v for k, v in as_dict(item).items()}
        out[canonical(req)] = req
    return out


def diff_specs(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every classified difference between two parsed OpenAPI documents, most severe first."""
    for label, doc in (("old", old), ("new", new)):
        if not isinstance(doc, dict) or "openapi" not in doc or "paths" not in doc:
            raise SpecDiffError(f"the {label} document is not an OpenAPI document")
    differ = DocumentDiffer(old, new)
    differ.document()
    unique = list(dict.fromkeys(differ.changes))
    return sorted(unique, key=Change.sort_key)
