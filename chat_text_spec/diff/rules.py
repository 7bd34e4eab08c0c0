"""The rule catalogue of the breaking-change gate: every verdict ``chat-text-spec-diff`` can
give is one named :class:`Rule` below, declared once, with its direction, what it detects,
its severity and the corpus pair(s) in ``tests/spec_diff_corpus/cases/`` that show it.

Severities and the version bump they call for:

* ``breaking`` (major; minor below 1.0.0): a client written against the old document may
  now fail (the server refuses a request it accepted, or sends something the client does not
  expect).
* ``non-breaking`` (minor): the contract grew or relaxed in a way old clients survive.
* ``info`` (patch): the wire format is unchanged (prose, examples, the version, the names of
  component schemas).

The principle behind each direction:

* **request**: breaking when the server may now refuse, or treat differently, a request it
  accepted before (narrowed).
* **response**: breaking when the server may now send something an old client does not
  expect (widened).
* **both**: the rule applies wherever the change sits and has the same severity on both
  sides (a change that narrows and widens at once, a removed field, a removed operation).

Decisions this catalogue makes explicit:

* removing an *error* response status (4xx, 5xx, ``default``) is non-breaking: the server
  documents one answer fewer, and a client that handles it keeps working; removing a *success*
  status (2xx, 3xx) is breaking: the answer a client is written for is gone.
* adding an *alternative* security requirement (another entry in an operation's ``security``
  list) is non-breaking: OpenAPI needs only one of them to be satisfied.
* component schemas are names, not wire format: a renamed schema (same meaning), an inline
  schema moved into ``components`` with a ``$ref``, and the reverse (a schema inlined and its
  component deleted) are ``info``; what changes on the wire is reported where the schema is
  used, so moving a schema in one direction or the other proposes the same bump. The names
  are the model class names of generated SDKs: a team whose SDK users import models by name,
  and whose SDK version follows ``info.version``, overrides ``component-schema-renamed`` and
  ``component-schema-removed`` to ``breaking`` (``--severity`` or a policy file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CATALOGUE",
    "SEVERITIES",
    "Direction",
    "Family",
    "Rule",
    "Severity",
    "get_rule",
]

Severity = Literal["breaking", "non-breaking", "info"]
Direction = Literal["request", "response", "both"]
SEVERITIES: tuple[Severity, ...] = ("breaking", "non-breaking", "info")


@dataclass(frozen=True)
class Rule:
    """One kind of change and its verdict."""

    id: str
    direction: Direction
    severity: Severity
    detects: str
    family: str
    pairs: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "family": self.family,
            "direction": self.direction,
            "severity": self.severity,
            "detects": self.detects,
            "pairs": list(self.pairs),
        }


_CATALOGUE: dict[str, Rule] = {}


def _rule(
    rule_id: str,
    direction: Direction,
    severity: Severity,
    family: str,
    detects: str,
    *pairs: str,
) -> Rule:
    if rule_id in _CATALOGUE:
        raise ValueError(f"rule {rule_id} declared twice")
    rule = Rule(rule_id, direction, severity, detects, family, pairs)
    _CATALOGUE[rule_id] = rule
    return rule


@dataclass(frozen=True)
class Family:
    """The rules for one kind of schema change, chosen by direction and by whether the change
    narrows (fewer values valid), widens (more values valid) or both."""

    request_narrowed: Rule
    request_widened: Rule
    response_narrowed: Rule
    response_widened: Rule
    both: Rule | None = None

    def pick(
        self, direction: Literal["request", "response"], *, narrowed: bool, widened: bool
    ) -> Rule:
        if narrowed and widened and self.both is not None:
            return self.both
        if direction == "request":
            return self.request_narrowed if narrowed else self.request_widened
        return self.response_widened if widened else self.response_narrowed


# --------------------------------------------------------------------------- schemas

_S = "schema"
REQUEST_NULL_REMOVED = _rule(
    "request-null-removed",
    "request",
    "breaking",
    _S,
    "a request value may no longer be null",
    "13_request_null_no_longer_allowed",
    "51_openapi30_nullable",
)
REQUEST_NULL_ADDED = _rule(
    "request-null-added",
    "request",
    "non-breaking",
    _S,
    "a request value may now be null",
    "62_request_null_now_allowed",
)
RESPONSE_NULL_ADDED = _rule(
    "response-null-added",
    "response",
    "breaking",
    _S,
    "a response value may now be null",
    "14_response_null_now_possible",
)
RESPONSE_NULL_REMOVED = _rule(
    "response-null-removed",
    "response",
    "non-breaking",
    _S,
    "a response value is no longer null",
    "15_response_null_no_longer_sent",
)
NULL = Family(REQUEST_NULL_REMOVED, REQUEST_NULL_ADDED, RESPONSE_NULL_REMOVED, RESPONSE_NULL_ADDED)

TYPE_CHANGED = _rule(
    "type-changed",
    "both",
    "breaking",
    _S,
    "a type is replaced by another (some old values invalid, some new values unexpected)",
    "10_request_type_changed",
)
REQUEST_TYPE_NARROWED = _rule(
    "request-type-narrowed",
    "request",
    "breaking",
    _S,
    "a request value accepts fewer types (e.g. number -> integer)",
    "12_request_number_to_integer",
)
REQUEST_TYPE_WIDENED = _rule(
    "request-type-widened",
    "request",
    "non-breaking",
    _S,
    "a request value accepts more types (e.g. integer -> number)",
    "11_request_integer_to_number",
)
RESPONSE_TYPE_NARROWED = _rule(
    "response-type-narrowed",
    "response",
    "non-breaking",
    _S,
    "a response value comes in fewer types",
    "63_response_type_narrowed",
)
RESPONSE_TYPE_WIDENED = _rule(
    "response-type-widened",
    "response",
    "breaking",
    _S,
    "a response value may come in a type it did not before",
    "64_response_type_widened",
)
TYPE = Family(
    REQUEST_TYPE_NARROWED,
    REQUEST_TYPE_WIDENED,
    RESPONSE_TYPE_NARROWED,
    RESPONSE_TYPE_WIDENED,
    TYPE_CHANGED,
)

ENUM_CHANGED = _rule(
    "enum-changed",
    "both",
    "breaking",
    _S,
    "an enum loses some values and gains others",
    "65_enum_value_replaced",
)
REQUEST_ENUM_NARROWED = _rule(
    "request-enum-narrowed",
    "request",
    "breaking",
    _S,
    "a request enum loses values (or a value gets an enum/const)",
    "16_request_enum_narrowed",
)
REQUEST_ENUM_WIDENED = _rule(
    "request-enum-widened",
    "request",
    "non-breaking",
    _S,
    "a request enum gains values",
    "17_request_enum_widened",
    "47_shared_component_both_directions",
)
RESPONSE_ENUM_NARROWED = _rule(
    "response-enum-narrowed",
    "response",
    "non-breaking",
    _S,
    "a response enum loses values",
    "19_response_enum_narrowed",
)
RESPONSE_ENUM_WIDENED = _rule(
    "response-enum-widened",
    "response",
    "breaking",
    _S,
    "a response enum gains values an old client does not know",
    "18_response_enum_widened",
    "47_shared_component_both_directions",
)
ENUM = Family(
    REQUEST_ENUM_NARROWED,
    REQUEST_ENUM_WIDENED,
    RESPONSE_ENUM_NARROWED,
    RESPONSE_ENUM_WIDENED,
    ENUM_CHANGED,
)

BOUND_CHANGED = _rule(
    "bound-changed",
    "both",
    "breaking",
    _S,
    "a bound (minimum, maxLength, ...) changes in a way that cannot be ordered"
    " (OpenAPI 3.0 boolean exclusiveMinimum/Maximum)",
    "66_bound_changed_unordered",
)
REQUEST_BOUND_NARROWED = _rule(
    "request-bound-narrowed",
    "request",
    "breaking",
    _S,
    "a request bound (minimum, maximum, minLength, maxLength, minItems, maxItems, ...) is"
    " added or tightened",
    "20_request_bound_narrowed",
    "48_recursive_schema",
)
REQUEST_BOUND_WIDENED = _rule(
    "request-bound-widened",
    "request",
    "non-breaking",
    _S,
    "a request bound is removed or loosened",
    "21_request_bound_widened",
)
RESPONSE_BOUND_NARROWED = _rule(
    "response-bound-narrowed",
    "response",
    "non-breaking",
    _S,
    "a response bound is added or tightened",
    "67_response_bound_narrowed",
)
RESPONSE_BOUND_WIDENED = _rule(
    "response-bound-widened",
    "response",
    "breaking",
    _S,
    "a response bound is removed or loosened (values an old client may reject)",
    "23_response_bound_widened",
)
BOUND = Family(
    REQUEST_BOUND_NARROWED,
    REQUEST_BOUND_WIDENED,
    RESPONSE_BOUND_NARROWED,
    RESPONSE_BOUND_WIDENED,
    BOUND_CHANGED,
)

CONSTRAINT_CHANGED = _rule(
    "constraint-changed",
    "both",
    "breaking",
    _S,
    "a restricting keyword (pattern, format, multipleOf, not, ...) changes its value",
    "68_pattern_changed",
)
REQUEST_CONSTRAINT_ADDED = _rule(
    "request-constraint-added",
    "request",
    "breaking",
    _S,
    "a request value gets a new restriction (pattern, format, uniqueItems, an allOf branch,"
    " an items schema, ...)",
    "22_request_pattern_added",
)
REQUEST_CONSTRAINT_REMOVED = _rule(
    "request-constraint-removed",
    "request",
    "non-breaking",
    _S,
    "a restriction on a request value is removed",
    "69_request_pattern_removed",
)
RESPONSE_CONSTRAINT_ADDED = _rule(
    "response-constraint-added",
    "response",
    "non-breaking",
    _S,
    "a response value gets a new restriction (the server promises more)",
    "70_response_pattern_added",
)
RESPONSE_CONSTRAINT_REMOVED = _rule(
    "response-constraint-removed",
    "response",
    "breaking",
    _S,
    "a restriction on a response value is removed (values an old client may reject)",
    "71_response_pattern_removed",
)
CONSTRAINT = Family(
    REQUEST_CONSTRAINT_ADDED,
    REQUEST_CONSTRAINT_REMOVED,
    RESPONSE_CONSTRAINT_ADDED,
    RESPONSE_CONSTRAINT_REMOVED,
    CONSTRAINT_CHANGED,
)

REQUEST_DEFAULT_CHANGED = _rule(
    "request-default-changed",
    "request",
    "breaking",
    _S,
    "a request default is added, removed or changed (the server treats an omitted value"
    " differently)",
    "24_request_default_changed",
    "25_request_default_removed",
)
RESPONSE_DEFAULT_CHANGED = _rule(
    "response-default-changed",
    "response",
    "non-breaking",
    _S,
    "a response default is added, removed or changed",
    "72_response_default_changed",
)

PROPERTY_REMOVED = _rule(
    "property-removed",
    "both",
    "breaking",
    _S,
    "an object property is removed (or renamed)",
    "04_request_field_removed",
    "05_request_field_renamed",
    "06_response_field_removed",
    "07_response_field_renamed_in_component",
)
REQUEST_REQUIRED_PROPERTY_ADDED = _rule(
    "request-required-property-added",
    "request",
    "breaking",
    _S,
    "a new request property that clients must send",
    "09_request_required_field_added",
)
REQUEST_OPTIONAL_PROPERTY_ADDED = _rule(
    "request-optional-property-added",
    "request",
    "non-breaking",
    _S,
    "a new optional request property",
    "35_request_optional_field_added",
)
RESPONSE_PROPERTY_ADDED = _rule(
    "response-property-added",
    "response",
    "non-breaking",
    _S,
    "a new response property (clients ignore fields they do not know)",
    "36_response_optional_field_added",
    "07_response_field_renamed_in_component",
)
REQUEST_PROPERTY_BECAME_REQUIRED = _rule(
    "request-property-became-required",
    "request",
    "breaking",
    _S,
    "a request property clients could omit must now be sent",
    "08_request_field_made_required",
)
REQUEST_PROPERTY_BECAME_OPTIONAL = _rule(
    "request-property-became-optional",
    "request",
    "non-breaking",
    _S,
    "a required request property may now be omitted",
    "73_request_field_made_optional",
)
RESPONSE_PROPERTY_BECAME_REQUIRED = _rule(
    "response-property-became-required",
    "response",
    "non-breaking",
    _S,
    "a response property is now always sent",
    "74_response_field_made_required",
)
RESPONSE_PROPERTY_BECAME_OPTIONAL = _rule(
    "response-property-became-optional",
    "response",
    "breaking",
    _S,
    "a response property clients rely on may now be missing",
    "31_response_field_made_optional",
)
PROPERTY_REQUIRED = Family(
    REQUEST_PROPERTY_BECAME_REQUIRED,
    REQUEST_PROPERTY_BECAME_OPTIONAL,
    RESPONSE_PROPERTY_BECAME_REQUIRED,
    RESPONSE_PROPERTY_BECAME_OPTIONAL,
)

REQUEST_ADDITIONAL_PROPERTIES_NARROWED = _rule(
    "request-additional-properties-narrowed",
    "request",
    "breaking",
    _S,
    "a request object accepts fewer unknown properties (additionalProperties: false or a"
    " schema where anything went)",
    "39_request_object_closed",
)
REQUEST_ADDITIONAL_PROPERTIES_WIDENED = _rule(
    "request-additional-properties-widened",
    "request",
    "non-breaking",
    _S,
    "a closed request object now accepts unknown properties",
    "38_request_closed_object_opened",
)
RESPONSE_ADDITIONAL_PROPERTIES_CHANGED = _rule(
    "response-additional-properties-changed",
    "response",
    "non-breaking",
    _S,
    "additionalProperties of a response object changes (clients must ignore unknown fields)",
    "75_response_object_closed",
)
ADDITIONAL_PROPERTIES = Family(
    REQUEST_ADDITIONAL_PROPERTIES_NARROWED,
    REQUEST_ADDITIONAL_PROPERTIES_WIDENED,
    RESPONSE_ADDITIONAL_PROPERTIES_CHANGED,
    RESPONSE_ADDITIONAL_PROPERTIES_CHANGED,
)

REQUEST_ALTERNATIVE_REMOVED = _rule(
    "request-alternative-removed",
    "request",
    "breaking",
    _S,
    "an anyOf/oneOf alternative of a request value is removed",
    "76_request_alternative_removed",
)
REQUEST_ALTERNATIVE_ADDED = _rule(
    "request-alternative-added",
    "request",
    "non-breaking",
    _S,
    "an anyOf/oneOf alternative of a request value is added",
    "77_request_alternative_added",
)
RESPONSE_ALTERNATIVE_REMOVED = _rule(
    "response-alternative-removed",
    "response",
    "non-breaking",
    _S,
    "an anyOf/oneOf alternative of a response value is removed",
    "78_response_alternative_removed",
)
RESPONSE_ALTERNATIVE_ADDED = _rule(
    "response-alternative-added",
    "response",
    "breaking",
    _S,
    "an anyOf/oneOf alternative of a response value is added (a shape old clients do not parse)",
    "50_response_oneof_alternative_added",
)
ALTERNATIVE = Family(
    REQUEST_ALTERNATIVE_REMOVED,
    REQUEST_ALTERNATIVE_ADDED,
    RESPONSE_ALTERNATIVE_REMOVED,
    RESPONSE_ALTERNATIVE_ADDED,
)

# --------------------------------------------------------------------------- paths, operations

_O = "operation"
PATH_ADDED = _rule("path-added", "both", "non-breaking", _O, "a new path", "57_new_path")
PATH_REMOVED = _rule("path-removed", "both", "breaking", _O, "a path is removed", "01_path_removed")
OPERATION_ADDED = _rule(
    "operation-added",
    "both",
    "non-breaking",
    _O,
    "a new operation on an existing path",
    "58_new_operation_on_path",
)
OPERATION_REMOVED = _rule(
    "operation-removed",
    "both",
    "breaking",
    _O,
    "an operation is removed",
    "02_operation_removed",
)
OPERATION_ID_CHANGED = _rule(
    "operation-id-changed",
    "both",
    "breaking",
    _O,
    "an operationId changes (generated SDK function names follow it)",
    "33_operation_id_changed",
)
OPERATION_TAGS_CHANGED = _rule(
    "operation-tags-changed",
    "both",
    "breaking",
    _O,
    "an operation's tags change (generated SDKs group operations into modules by tag)",
    "79_operation_tags_changed",
)
OPERATION_DEPRECATION_CHANGED = _rule(
    "operation-deprecation-changed",
    "both",
    "non-breaking",
    _O,
    "an operation is marked deprecated (or no longer deprecated)",
    "80_operation_deprecated",
)

# --------------------------------------------------------------------------- security

_SEC = "security"
SECURITY_REQUIREMENT_REMOVED = _rule(
    "security-requirement-removed",
    "request",
    "breaking",
    _SEC,
    "an operation's security alternative is removed (clients using it are refused), or an"
    " open operation now requires authentication",
    "29_security_requirement_changed",
    "81_operation_now_requires_auth",
)
SECURITY_REQUIREMENT_ADDED = _rule(
    "security-requirement-added",
    "request",
    "non-breaking",
    _SEC,
    "an operation accepts another security alternative (only one must be satisfied)",
    "29_security_requirement_changed",
    "59_security_alternative_added",
)
SECURITY_SCHEME_ADDED = _rule(
    "security-scheme-added",
    "both",
    "non-breaking",
    _SEC,
    "a new security scheme",
    "29_security_requirement_changed",
)
SECURITY_SCHEME_REMOVED = _rule(
    "security-scheme-removed",
    "both",
    "breaking",
    _SEC,
    "a security scheme is removed",
    "82_security_scheme_removed",
)
SECURITY_SCHEME_CHANGED = _rule(
    "security-scheme-changed",
    "both",
    "breaking",
    _SEC,
    "a security scheme changes how credentials are sent (type, scheme, header name, ...)",
    "28_security_scheme_changed",
)

# --------------------------------------------------------------------------- parameters

_P = "parameter"
REQUEST_PARAMETER_REMOVED = _rule(
    "request-parameter-removed",
    "request",
    "breaking",
    _P,
    "a parameter is removed (the server may refuse or ignore it)",
    "49_parameters",
)
REQUEST_REQUIRED_PARAMETER_ADDED = _rule(
    "request-required-parameter-added",
    "request",
    "breaking",
    _P,
    "a new parameter clients must send",
    "49_parameters",
)
REQUEST_OPTIONAL_PARAMETER_ADDED = _rule(
    "request-optional-parameter-added",
    "request",
    "non-breaking",
    _P,
    "a new optional parameter (query, header, cookie)",
    "83_optional_header_parameter_added",
)
REQUEST_PARAMETER_BECAME_REQUIRED = _rule(
    "request-parameter-became-required",
    "request",
    "breaking",
    _P,
    "an optional parameter must now be sent",
    "84_header_parameter_made_required",
)
REQUEST_PARAMETER_BECAME_OPTIONAL = _rule(
    "request-parameter-became-optional",
    "request",
    "non-breaking",
    _P,
    "a required parameter may now be omitted",
    "85_parameter_made_optional",
)
REQUEST_PARAMETER_SERIALIZATION_CHANGED = _rule(
    "request-parameter-serialization-changed",
    "request",
    "breaking",
    _P,
    "a parameter's style, explode or allowReserved changes (the bytes on the wire change)",
    "86_parameter_style_changed",
)

# --------------------------------------------------------------------------- request body

_B = "request-body"
REQUEST_REQUIRED_BODY_ADDED = _rule(
    "request-required-body-added",
    "request",
    "breaking",
    _B,
    "an operation without a body now requires one",
    "87_request_body_added",
)
REQUEST_OPTIONAL_BODY_ADDED = _rule(
    "request-optional-body-added",
    "request",
    "non-breaking",
    _B,
    "an operation without a body now accepts an optional one",
    "87_request_body_added",
)
REQUEST_BODY_REMOVED = _rule(
    "request-body-removed",
    "request",
    "breaking",
    _B,
    "the request body is removed",
    "88_request_body_removed",
)
REQUEST_BODY_BECAME_REQUIRED = _rule(
    "request-body-became-required",
    "request",
    "breaking",
    _B,
    "an optional request body is now required",
    "89_request_body_made_required",
)
REQUEST_BODY_BECAME_OPTIONAL = _rule(
    "request-body-became-optional",
    "request",
    "non-breaking",
    _B,
    "a required request body may now be omitted",
    "56_request_body_made_optional",
)
REQUEST_BODY_LIMIT_LOWERED = _rule(
    "request-body-limit-lowered",
    "request",
    "breaking",
    _B,
    "x-max-body-bytes is added or lowered (bodies that fit before may be refused)",
    "30_body_limit_lowered",
)
REQUEST_BODY_LIMIT_RAISED = _rule(
    "request-body-limit-raised",
    "request",
    "non-breaking",
    _B,
    "x-max-body-bytes is raised or removed",
    "90_body_limit_raised",
)
MEDIA_TYPE_REMOVED = _rule(
    "media-type-removed",
    "both",
    "breaking",
    _B,
    "a request or response media type is removed",
    "26_event_stream_removed",
    "27_request_media_type_replaced",
)
MEDIA_TYPE_ADDED = _rule(
    "media-type-added",
    "both",
    "non-breaking",
    _B,
    "a request or response media type is added",
    "27_request_media_type_replaced",
)

# --------------------------------------------------------------------------- responses

_R = "response"
RESPONSE_SUCCESS_STATUS_REMOVED = _rule(
    "response-success-status-removed",
    "response",
    "breaking",
    _R,
    "a documented success status (2xx, 3xx) is removed: the answer clients are written for is gone",
    "91_success_status_replaced",
)
RESPONSE_ERROR_STATUS_REMOVED = _rule(
    "response-error-status-removed",
    "response",
    "non-breaking",
    _R,
    "a documented error status (4xx, 5xx, default) is removed: the server promises one answer"
    " fewer; clients that handle it keep working",
    "03_response_status_removed",
)
RESPONSE_STATUS_ADDED = _rule(
    "response-status-added",
    "response",
    "non-breaking",
    _R,
    "a new documented status",
    "37_response_status_added",
    "91_success_status_replaced",
)
RESPONSE_HEADER_ADDED = _rule(
    "response-header-added",
    "response",
    "non-breaking",
    _R,
    "a new response header",
    "92_response_header_added",
)
RESPONSE_HEADER_REMOVED = _rule(
    "response-header-removed",
    "response",
    "breaking",
    _R,
    "a response header is removed",
    "32_response_header_removed",
)
RESPONSE_HEADER_BECAME_REQUIRED = _rule(
    "response-header-became-required",
    "response",
    "non-breaking",
    _R,
    "a response header is now always sent",
    "93_response_header_made_required",
)
RESPONSE_HEADER_BECAME_OPTIONAL = _rule(
    "response-header-became-optional",
    "response",
    "breaking",
    _R,
    "a response header clients rely on may now be missing",
    "55_response_header_made_optional",
)

# --------------------------------------------------------------------------- components

_C = "component"
COMPONENT_SCHEMA_ADDED = _rule(
    "component-schema-added",
    "both",
    "info",
    _C,
    "a new component schema (a new model name in generated SDKs; wire changes are reported"
    " where it is used)",
    "40_moved_into_component",
    "60_component_schema_added_unused",
)
COMPONENT_SCHEMA_RENAMED = _rule(
    "component-schema-renamed",
    "both",
    "info",
    _C,
    "a component schema is renamed with the same meaning (the generated model is renamed)",
    "61_component_renamed",
)
COMPONENT_SCHEMA_REMOVED = _rule(
    "component-schema-removed",
    "both",
    "info",
    _C,
    "a component schema is removed, e.g. inlined where it was used (generated SDKs lose that"
    " model; wire changes are reported where it was used)",
    "34_component_removed_by_inlining",
)
UNUSED_COMPONENT_CHANGED = _rule(
    "unused-component-changed",
    "both",
    "non-breaking",
    _C,
    "a component schema no operation uses changes (its model changes in generated SDKs)",
    "60_component_schema_added_unused",
)

# --------------------------------------------------------------------------- document

_D = "document"
DOCUMENTATION_CHANGED = _rule(
    "documentation-changed",
    "both",
    "info",
    _D,
    "prose or examples (description, summary, title, example(s), externalDocs, tags) added,"
    " removed or changed",
    "41_description_changed",
    "42_field_description_changed",
    "43_example_changed",
    "54_component_description_changed",
)
INFO_VERSION_CHANGED = _rule(
    "info-version-changed",
    "both",
    "info",
    _D,
    "info.version changes",
    "44_version_bump_only",
)
OPENAPI_VERSION_CHANGED = _rule(
    "openapi-version-changed",
    "both",
    "non-breaking",
    _D,
    "the OpenAPI version of the document changes (tools read it differently)",
    "94_openapi_version_and_servers",
)
SERVERS_CHANGED = _rule(
    "servers-changed",
    "both",
    "non-breaking",
    _D,
    "server URLs change (clients pass their own base URL)",
    "94_openapi_version_and_servers",
)
EXTENSION_CHANGED = _rule(
    "extension-changed",
    "both",
    "non-breaking",
    _D,
    "an x- extension keyword changes (tools may read it; the gate cannot judge it)",
    "95_extension_changed",
)
UNCLASSIFIED_CHANGE = _rule(
    "unclassified-change",
    "both",
    "non-breaking",
    _D,
    "any other keyword changes (reported so that nothing goes unmentioned)",
    "96_unclassified_keyword_changed",
)

CATALOGUE: tuple[Rule, ...] = tuple(_CATALOGUE.values())


def get_rule(rule_id: str) -> Rule:
    """The rule named ``rule_id``; :class:`KeyError` naming it when there is none."""
    try:
        return _CATALOGUE[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}") from None
