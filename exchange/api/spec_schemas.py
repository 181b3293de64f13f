"""What the spec's schemas say beyond msgspec's reading of each Struct.

- A field the decoder reads loosely can name what it holds: `Meta(extra={"one_of": (types…),
  "discriminator": "key"})` documents it as a tagged union of those types (a campaign's
  `delivery`: each adapter reads its own settings, so the API takes an object; see
  buyers/deliveries.py).
- A tagged Struct's tag says what it is, and every discriminator maps each tag to its schema.
- A field holding objects gets an example built from those objects' fields' own examples, so an
  example is written once, beside the field it shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect
from litestar.openapi.spec import Discriminator, Schema
from litestar.typing import FieldDefinition

_REF_PREFIX = "#/components/schemas/"


def document_fields(cls: type[msgspec.Struct], schema: Schema, schema_creator: Any) -> None:
    """Finish `cls`'s schema: fields documented as a union, and the tag's own description."""
    properties = schema.properties or {}
    for field in msgspec.inspect.type_info(cls).fields:
        extra = _extra(field.type)
        current = properties.get(field.encode_name)
        if not extra.get("one_of") or not isinstance(current, Schema):
            continue
        properties[field.encode_name] = Schema(
            one_of=[
                schema_creator.for_field_definition(FieldDefinition.from_annotation(member))
                for member in extra["one_of"]
            ],
            discriminator=Discriminator(property_name=extra["discriminator"]),
            description=current.description,
            examples=current.examples,
        )
    config = cls.__struct_config__
    tag = properties.get(config.tag_field) if config.tag_field else None
    if isinstance(tag, Schema):
        tag.description = f"Always `{config.tag}` here: says which {config.tag_field} this object is."
        tag.examples = [config.tag]


def _extra(info: msgspec.inspect.Type) -> dict[str, Any]:
    """A field's `Meta(extra=…)`, also when the field may be null."""
    for inner in (info, *getattr(info, "types", ())):
        if isinstance(inner, msgspec.inspect.Metadata) and isinstance(inner.extra, dict):
            return inner.extra
    return {}


def complete_spec_schemas(spec: dict[str, Any]) -> None:
    """Once components have their final names: map each discriminator's tags to them, and give
    every property that holds objects an example."""
    components: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    for node in _nodes(spec):
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict):
            _map_tags(node, discriminator, components)
    for component in components.values():
        for schema in (component.get("properties") or {}).values():
            if "examples" in schema or "example" in schema:
                continue
            found, example = _example(schema, components, frozenset())
            if found:
                schema["examples"] = [example]


def _map_tags(node: dict[str, Any], discriminator: dict[str, Any], components: dict[str, Any]) -> None:
    key = discriminator.get("propertyName")
    mapping: dict[str, str] = {}
    for member in node.get("oneOf", node.get("anyOf", ())):
        ref = member.get("$ref", "")
        tag = components.get(ref.removeprefix(_REF_PREFIX), {}).get("properties", {}).get(key, {})
        values = tag.get("enum") or ([tag["const"]] if "const" in tag else [])
        if ref and len(values) == 1:
            mapping[str(values[0])] = ref
    if mapping:
        discriminator["mapping"] = mapping


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in the spec, depth first."""
    if isinstance(value, dict):
        yield value
        for inner in value.values():
            yield from _nodes(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _nodes(inner)


def _example(schema: dict[str, Any], components: dict[str, Any], seen: frozenset[str]) -> tuple[bool, Any]:
    """An example value of `schema`, from its own examples or its parts' (False: none found)."""
    for key in ("examples", "example"):
        if key in schema:
            return True, schema[key][0] if key == "examples" else schema[key]
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF_PREFIX)
        if name in seen or name not in components:
            return False, None
        return _object_example(components[name], components, seen | {name})
    for key in ("allOf", "oneOf", "anyOf"):
        for member in schema.get(key, ()):
            if member.get("type") != "null":
                found, example = _example(member, components, seen)
                if found:
                    return True, example
    if "enum" in schema:
        return True, schema["enum"][0]
    if isinstance(schema.get("items"), dict):
        found, example = _example(schema["items"], components, seen)
        return (True, [example]) if found else (False, None)
    if isinstance(schema.get("additionalProperties"), dict):
        found, example = _example(schema["additionalProperties"], components, seen)
        names = schema.get("propertyNames", {}).get("enum") or ["key"]
        return (True, {names[0]: example}) if found else (False, None)
    if "properties" in schema:
        return _object_example(schema, components, seen)
    return False, None


def _object_example(
    schema: dict[str, Any], components: dict[str, Any], seen: frozenset[str]
) -> tuple[bool, Any]:
    if "examples" in schema:
        return True, schema["examples"][0]
    example: dict[str, Any] = {}
    for name, inner in (schema.get("properties") or {}).items():
        found, value = _example(inner, components, seen)
        if found:
            example[name] = value
    return bool(example), example
