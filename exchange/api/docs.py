"""The spec says what the API answers and what it takes.

Every `/v1` operation documents its error answers in the shape CONTRACT.md gives them
(`{"code", "message", "errors"}`), not the framework's; and every msgspec Struct is documented
by msgspec's own JSON Schema of it, so the spec holds exactly the constraints, unknown-field
policy and tagged unions the decoder enforces.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar

import msgspec
import msgspec.inspect
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Discriminator,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import ParameterKwarg
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from exchange.api.spec_schemas import complete_spec_schemas, document_fields
from exchange.types import ErrorBody

WHY = {
    400: "unreadable: a malformed body or query, a body nested too deep, an unknown query parameter",
    401: "no API key, or an unknown or revoked one (checked before the body is read)",
    403: "the key's role is not among the operation's roles (checked before the body is read)",
    404: "no such object, or another tenant's (its existence is not revealed): named by the path,"
    " the query or the body",
    409: "the request conflicts with what is stored (already sold, already decided, a key reused)",
    413: "the body is over the size limit",
    415: "a content type this operation does not read",
    422: "a field is missing or invalid: `errors` names each field and why",
    429: "too many requests from this key or address: try again after `Retry-After` seconds",
}
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODIES = frozenset({"POST", "PUT", "PATCH"})


def document_errors(app: Litestar) -> None:
    """Add the error answers to every `/v1` operation, an operation's own winning, and say
    which roles may call it (its `roles` opt, as api/auth.py checks them)."""
    for route in app.routes:
        if not route.path.startswith("/v1/"):
            continue
        for handler in getattr(route, "route_handlers", ()):
            methods: Any = handler.http_methods
            if methods == {"OPTIONS"}:
                continue
            codes = {400, 401, 403, 404, 422, 429}
            if methods & _CHANGES:
                codes.add(409)
            if methods & _BODIES:
                codes.add(413)
                if "data" not in handler.parsed_fn_signature.parameters:  # it reads the body itself
                    codes.add(415)
            errors = {
                code: ResponseSpec(ErrorBody, description=WHY[code], generate_examples=False)
                for code in codes
            }
            handler.responses = {**errors, **(handler.responses or {})}
            named = handler.opt.get("roles")
            if named:
                said = f"Roles: {', '.join(named)}."
                handler.description = f"{handler.description}\n\n{said}" if handler.description else said


@dataclasses.dataclass
class RawBody(Operation):
    """An operation whose handler reads its body itself (a CSV file, an e-mail, a lead in any
    of its formats): no parameter's type describes it, so `media` does, each media type with
    its schema."""

    media: ClassVar[dict[str, Schema]] = {}

    def __post_init__(self) -> None:
        content = {media: OpenAPIMediaType(schema=schema) for media, schema in self.media.items()}
        self.request_body = RequestBody(required=True, content=content)


def raw_body(media: dict[str, Schema]) -> type[RawBody]:
    """The operation class of a handler reading a body of these media types."""
    return type("RawBody", (RawBody,), {"media": media})


def text(description: str) -> Schema:
    """A body of text: a CSV file, an e-mail, an XML document."""
    return Schema(type=OpenAPIType.STRING, description=description)


_REF = "#/components/schemas/{name}"
# Schema's attribute for each JSON Schema keyword (`maxLength` -> max_length, `not` -> schema_not).
_ATTRIBUTES = {
    field.metadata.get("alias", field.name): field.name for field in dataclasses.fields(Schema) if field.init
}
_ONE = frozenset({"items", "additionalProperties", "propertyNames", "not", "contains"})
_MANY = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


class StructSchemas(OpenAPISchemaPlugin):
    """A Struct's component is msgspec's JSON Schema of it, its nested Structs and enums
    registered as components of their own (the framework's reading of a Struct drops
    constraints on optional and nested values and never says `additionalProperties: false`)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and field_definition.is_subclass_of(msgspec.Struct)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        cls = field_definition.annotation
        (top,), components = msgspec.json.schema_components([cls], ref_template=_REF)
        named = _named_types(cls)
        # Registered before its fields are read, so a Struct may hold itself.
        schema: Schema = schema_creator.schema_registry.get_schema_for_field_definition(field_definition)
        own = components[top["$ref"].rsplit("/", 1)[1]] if "$ref" in top else top
        built = _schema(own, named, schema_creator)
        if isinstance(built, Schema):
            document_fields(cls, built, schema_creator)
        for name in _ATTRIBUTES.values():
            value = getattr(built, name)
            if value is not None:
                setattr(schema, name, value)
        return schema


def _named_types(cls: Any) -> dict[str, Any]:
    """Every Struct and enum class under `cls`, by the names msgspec gives their components."""
    found: dict[int, Any] = {}
    seen: set[int] = set()

    def walk(info: Any) -> None:
        if id(info) in seen:
            return
        seen.add(id(info))
        owner = getattr(info, "cls", None)
        if owner is not None:
            found[id(owner)] = owner
        for attribute in ("type", "item_type", "key_type", "value_type"):
            inner = getattr(info, attribute, None)
            if isinstance(inner, msgspec.inspect.Type):
                walk(inner)
        for inner in (*getattr(info, "types", ()), *getattr(info, "item_types", ())):
            walk(inner)
        for inner in getattr(info, "fields", ()):
            walk(inner.type)

    walk(msgspec.inspect.type_info(cls))
    names: dict[str, Any] = {}
    for owner in found.values():
        for name in (owner.__name__, f"{owner.__module__}.{owner.__qualname__}"):
            names[re.sub(r"[^a-zA-Z0-9.\-_]", "_", name)] = owner
    return names


def _schema(node: dict[str, Any], named: dict[str, Any], schema_creator: Any) -> Schema | Reference:
    """One JSON Schema node as the framework's spec objects; a `$ref` becomes the framework's
    reference to the same class."""
    if "$ref" in node:
        reference = _reference(node["$ref"], named, schema_creator)
        rest = {key: value for key, value in node.items() if key != "$ref"}
        if not rest:
            return reference
        node = {**rest, "allOf": [{"$ref": node["$ref"]}]}
    values: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            value = {name: _schema(inner, named, schema_creator) for name, inner in value.items()}
        elif key in _ONE and isinstance(value, dict):
            value = _schema(value, named, schema_creator)
        elif key in _MANY:
            value = [_schema(inner, named, schema_creator) for inner in value]
        elif key == "type":
            value = [OpenAPIType(v) for v in value] if isinstance(value, list) else OpenAPIType(value)
        elif key == "discriminator":
            # The framework renames components after this point: the mapping is made from the
            # final names (spec_schemas.complete_spec_schemas). Tags pick one member: `oneOf`.
            value = Discriminator(property_name=value["propertyName"])
        values[_ATTRIBUTES[key]] = value
    if "discriminator" in values and "any_of" in values:
        values["one_of"] = values.pop("any_of")
    return Schema(**values)


def _reference(ref: str, named: dict[str, Any], schema_creator: Any) -> Schema | Reference:
    """The framework's schema of the class msgspec named (a reference, or inline if it has no
    component: an array-like Struct)."""
    cls = named[ref.rsplit("/", 1)[1]]
    result: Schema | Reference = schema_creator.for_field_definition(FieldDefinition.from_annotation(cls))
    return result


# A parameter's bounds, as the spec's keywords.
_BOUNDS = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
    "min_length": "minLength",
    "max_length": "maxLength",
}
_NUMERIC = frozenset({"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"})


@dataclasses.dataclass
class SpecConfig(OpenAPIConfig):
    """The app's spec settings; the spec is finished (`finish_spec`) as it is written out.

    `bounds` holds each parameter's declared bounds by (path, method, name): the framework
    drops a bound of 0 from an optional parameter (`cursor >= 0` came out unbounded)."""

    bounds: dict[tuple[str, str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)

    def to_openapi_schema(self) -> OpenAPI:
        plain = super().to_openapi_schema()
        spec = FinishedSpec(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(OpenAPI)})
        spec.bounds = self.bounds
        return spec


def declare_bounds(app: Litestar) -> None:
    """Note every parameter's bounds for `finish_spec`: read off the handlers, not rebuilt."""
    config = app.openapi_config
    if not isinstance(config, SpecConfig):
        return
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for name, parameter in handler.parsed_fn_signature.parameters.items():
                kwargs = parameter.kwarg_definition
                if not isinstance(kwargs, ParameterKwarg):
                    continue
                bounds = {
                    keyword: getattr(kwargs, attribute)
                    for attribute, keyword in _BOUNDS.items()
                    if getattr(kwargs, attribute) is not None
                }
                for method in handler.http_methods:
                    config.bounds[(route.path_format, method.lower(), kwargs.query or name)] = bounds


class FinishedSpec(OpenAPI):
    """The spec as served and committed: the framework's, finished by `finish_spec`."""

    bounds: dict[tuple[str, str, str], dict[str, Any]]

    def to_schema(self) -> dict[str, Any]:
        return finish_spec(super().to_schema(), getattr(self, "bounds", {}))


def finish_spec(spec: dict[str, Any], bounds: dict[tuple[str, str, str], dict[str, Any]]) -> dict[str, Any]:
    """Say what the framework leaves out of parameters: their declared bounds, and that a path
    parameter is never empty (an empty id names the collection, a different operation)."""
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                values = [s for s in schema.get("oneOf", [schema]) if s.get("type") != "null"]
                declared = dict(bounds.get((path, method, parameter["name"]), {}))
                if parameter.get("in") == "path":
                    declared.setdefault("minLength", 1)
                for value in values:
                    kind = "number" if value.get("type") in ("integer", "number") else value.get("type")
                    for keyword, bound in declared.items():
                        if kind == ("number" if keyword in _NUMERIC else "string"):
                            value.setdefault(keyword, bound)
                            if value is not schema:  # the framework's copy beside `oneOf`
                                schema.pop(keyword, None)
    complete_spec_schemas(spec)
    return spec
