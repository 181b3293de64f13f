"""The spec teaches: every field and parameter says what it is, every object shows an example,
and a campaign's `delivery` is documented adapter by adapter as a union tagged by `adapter`.

The checks read the spec the app serves, so an endpoint added later is held to them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from adapters.outbound.registry import SmtpRelay, default_registry
from buyers.campaigns import BidPricing, FixedPricing, check_delivery
from buyers.deliveries import (
    BUILTIN_ADAPTERS,
    DELIVERY_EXAMPLES,
    EmailDelivery,
    FtpDelivery,
    HttpDelivery,
    HttpStep,
    WebhookDelivery,
)
from exchange.errors import ExchangeError
from tests.conftest import Market

METHODS = frozenset({"get", "put", "post", "patch", "delete", "head", "options", "trace"})
BuiltinDelivery = HttpDelivery | EmailDelivery | FtpDelivery | WebhookDelivery


@pytest.fixture
async def spec(market: Market) -> dict[str, Any]:
    answer = await market.client.get("/schema/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json())


def schemas_in(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema the spec holds, by where it is: components, bodies, answers, parameters."""
    for name, schema in spec["components"]["schemas"].items():
        yield f"components.{name}", schema
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", ()):
                yield f"{where} {parameter['in']} {parameter['name']}", parameter.get("schema", {})
            for kind, content in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{where} body {kind}", content.get("schema", {})
            for status, response in operation.get("responses", {}).items():
                for kind, content in response.get("content", {}).items():
                    yield f"{where} {status} {kind}", content.get("schema", {})


def properties_in(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property under `schema`, nested objects and unions included."""
    if isinstance(schema, list):
        for index, inner in enumerate(schema):
            yield from properties_in(inner, f"{where}[{index}]")
        return
    if not isinstance(schema, dict):
        return
    for name, inner in (schema.get("properties") or {}).items():
        yield f"{where}.{name}", inner
        yield from properties_in(inner, f"{where}.{name}")
    for key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"):
        if key in schema:
            yield from properties_in(schema[key], where)


def has_example(schema: dict[str, Any]) -> bool:
    return bool(schema.get("examples")) or "example" in schema


async def test_every_property_and_parameter_says_what_it_is(spec: dict[str, Any]) -> None:
    undescribed = [
        where
        for place, schema in schemas_in(spec)
        for where, prop in properties_in(schema, place)
        if not str(prop.get("description", "")).strip()
    ]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            undescribed += [
                f"{method.upper()} {path} {parameter['in']} parameter {parameter['name']}"
                for parameter in operation.get("parameters", ())
                if not str(parameter.get("description", "")).strip()
            ]
    assert not undescribed, "no description:\n" + "\n".join(sorted(undescribed))


async def test_every_component_shows_an_example(spec: dict[str, Any]) -> None:
    without = []
    for name, schema in spec["components"]["schemas"].items():
        properties = schema.get("properties") or {}
        missing = [prop for prop, inner in properties.items() if not has_example(inner)]
        if has_example(schema) or (properties and not missing):
            continue
        without.append(f"{name}: {', '.join(missing) if missing else 'no example'}")
    assert not without, "no example:\n" + "\n".join(sorted(without))


async def test_delivery_is_a_union_tagged_by_adapter(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    for name in ("CampaignIn", "CampaignPatch", "Campaign", "CampaignSaved"):
        delivery = components[name]["properties"]["delivery"]
        assert delivery["discriminator"]["propertyName"] == "adapter", name
        mapping = delivery["discriminator"]["mapping"]
        assert set(mapping) == set(BUILTIN_ADAPTERS), name
        members = [member["$ref"] for member in delivery["oneOf"]]
        for adapter, ref in mapping.items():
            assert ref in members
            member = components[ref.rsplit("/", 1)[1]]
            assert member["properties"]["adapter"]["enum"] == [adapter]
            assert member["additionalProperties"] is False  # the adapters refuse unknown keys
        # One open member for plugins, which no built-in name matches.
        (plugin,) = (components[ref.rsplit("/", 1)[1]] for ref in members if ref not in mapping.values())
        assert plugin["properties"]["adapter"]["not"] == {"enum": list(BUILTIN_ADAPTERS)}
        assert {example["adapter"] for example in delivery["examples"]} == set(BUILTIN_ADAPTERS)


def test_every_built_in_adapter_is_documented() -> None:
    registry = default_registry(allow_private=True, found=[])
    assert sorted(registry.names) == sorted(BUILTIN_ADAPTERS)


@pytest.mark.parametrize("example", DELIVERY_EXAMPLES, ids=[e["adapter"] for e in DELIVERY_EXAMPLES])
def test_documented_delivery_is_what_its_adapter_takes(example: dict[str, Any]) -> None:
    """Each example fits its documented shape, uses every key that shape names, and is taken
    by the adapter itself as a campaign is saved."""
    shape = msgspec.convert(example, BuiltinDelivery)
    names = {field.encode_name for field in msgspec.structs.fields(shape)}
    assert set(example) - {"adapter"} == names
    if isinstance(shape, HttpDelivery):
        steps = {key for step in (example["ping"], example["post"]) for key in step}
        assert steps == {field.encode_name for field in msgspec.structs.fields(HttpStep)}
    registry = default_registry(allow_private=True, smtp=SmtpRelay(relay="127.0.0.1:2525"), found=[])
    pricing = BidPricing(floor_cents=100) if "ping" in example else FixedPricing(cents_by_grade={"A": 1500})
    check_delivery(example, pricing, registry, allow_private=True)


def test_a_documented_key_misspelt_is_refused_by_its_adapter() -> None:
    """The shapes forbid unknown keys because the adapters do: the spec says what they do."""
    registry = default_registry(allow_private=True, smtp=SmtpRelay(relay="127.0.0.1:2525"), found=[])
    for example in DELIVERY_EXAMPLES:
        wrong = {**example, "time_out_ms": 1000}
        pricing = BidPricing() if "ping" in example else FixedPricing(cents_by_grade={"A": 1500})
        with pytest.raises(ExchangeError) as refused:
            check_delivery(wrong, pricing, registry, allow_private=True)
        assert refused.value.errors[0].field == "delivery.time_out_ms", example["adapter"]
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(wrong, BuiltinDelivery)
