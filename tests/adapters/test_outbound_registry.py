"""The outbound registry: the built-in http adapter, and plugins through real entry points."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from adapters.outbound import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    Delivery,
    DeliveryAdapter,
    HttpAdapter,
    Stage,
    adapters_from_entry_points,
    default_registry,
)


class WebhookLogAdapter:
    """A stand-in for a third-party delivery adapter package: it records instead of sending."""

    name = "webhook_log"

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.closed = False

    def check(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> None:
        pass

    async def deliver(self, delivery: Mapping[str, Any], stage: Stage, fields: Mapping[str, Any]) -> Delivery:
        self.sent.append((stage, dict(fields)))
        return Delivery(sent=f"{stage} {sorted(fields)}", status=200, body=b"ok")

    async def close(self) -> None:
        self.closed = True


class HalfAdapter:
    name = "half"

    async def deliver(self, delivery: Mapping[str, Any], stage: Stage, fields: Mapping[str, Any]) -> Delivery:
        raise NotImplementedError


PLUGIN = WebhookLogAdapter()
HALF = HalfAdapter()
TAKES_OVER_HTTP = WebhookLogAdapter()
TAKES_OVER_HTTP.name = "http"


def entry(name: str, attribute: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attribute}", group=ENTRY_POINT_GROUP)


def test_default_registry_holds_the_http_adapter() -> None:
    registry = default_registry(allow_private=False, found=[])
    assert registry.names == ("http",)
    adapter = registry.adapter_for("http")
    assert isinstance(adapter, HttpAdapter)
    assert adapter.client.allow_private is False
    assert registry.adapter_for("email") is None


def test_plugins_are_loaded_and_inbound_parsers_and_classes_ignored() -> None:
    found = [
        entry("webhook_log", "PLUGIN"),
        entry("a_class", "WebhookLogAdapter"),
        EntryPoint(
            name="lines", value="tests.adapters.inbound_plugin_example:PARSER", group=ENTRY_POINT_GROUP
        ),
        EntryPoint(
            name="other",
            value="tests.adapters.inbound_plugin_example:OUTBOUND_ADAPTER",
            group=ENTRY_POINT_GROUP,
        ),
    ]
    assert adapters_from_entry_points(found) == [PLUGIN]
    assert default_registry(allow_private=True, found=found).names == ("http", "webhook_log")


def test_an_incomplete_adapter_fails_loudly() -> None:
    with pytest.raises(TypeError, match="half"):
        adapters_from_entry_points([entry("half", "HALF")])


def test_a_plugin_may_take_over_a_builtin_name() -> None:
    registry = default_registry(allow_private=False, found=[entry("http", "TAKES_OVER_HTTP")])
    assert registry.adapter_for("http") is TAKES_OVER_HTTP


async def test_a_plugin_delivers_and_closes_through_the_registry() -> None:
    plugin = WebhookLogAdapter()
    assert isinstance(plugin, DeliveryAdapter)
    registry = AdapterRegistry([plugin])
    adapter = registry.adapter_for("webhook_log")
    assert adapter is not None
    result = await adapter.deliver({"adapter": "webhook_log"}, "post", {"state": "CA"})
    assert result == Delivery(sent="post ['state']", status=200, body=b"ok")
    await registry.close()
    assert plugin.closed
