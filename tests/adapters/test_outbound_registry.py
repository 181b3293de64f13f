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
    Request,
    Stage,
    adapters_from_entry_points,
    default_registry,
)
from exchange.distribution.calls import send


class WebhookLogAdapter:
    """A stand-in for a third-party delivery adapter package: it records instead of sending."""

    name = "webhook_log"
    can_ping = False
    answers = False

    def __init__(self) -> None:
        self.sent: list[tuple[str | None, str]] = []
        self.closed = False

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> dict[str, Any]:
        return dict(delivery)

    def request(
        self, config: Any, stage: Stage, fields: Mapping[str, Any], *, shared: dict[Any, Any] | None = None
    ) -> Request:
        return Request(
            adapter=self.name, target="log", body=",".join(sorted(fields)), content_type="text/plain"
        )

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        self.sent.append((key, request.body))
        return Delivery(status=200, body=b"ok")

    async def close(self) -> None:
        self.closed = True


class HalfAdapter:
    name = "half"

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        raise NotImplementedError


PLUGIN = WebhookLogAdapter()
HALF = HalfAdapter()
TAKES_OVER_HTTP = WebhookLogAdapter()
TAKES_OVER_HTTP.name = "http"


def entry(name: str, attribute: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attribute}", group=ENTRY_POINT_GROUP)


def test_default_registry_holds_the_builtin_adapters() -> None:
    registry = default_registry(allow_private=False, found=[])
    assert registry.names == ("http", "webhook", "email", "ftp")
    adapter = registry.adapter_for("http")
    assert isinstance(adapter, HttpAdapter)
    assert adapter.client.allow_private is False
    assert registry.adapter_for("fax") is None
    pings = {name: registry.adapter_for(name).can_ping for name in registry.names}  # type: ignore[union-attr]
    assert pings == {"http": True, "webhook": False, "email": False, "ftp": False}


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
    assert default_registry(allow_private=True, found=found).names[-1] == "webhook_log"


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
    _, config = registry.configure({"adapter": "webhook_log"}, allow_private=False)
    result = await adapter.send(adapter.request(config, "post", {"state": "CA", "zip": "1"}), key="k1")
    assert result == Delivery(status=200, body=b"ok")
    assert plugin.sent == [("k1", "state,zip")]
    await registry.close()
    assert plugin.closed


class RaisingAdapter(WebhookLogAdapter):
    """A plugin with a bug: it raises where it should report."""

    name = "raising"

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        raise RuntimeError("boom")


async def test_a_plugin_that_raises_fails_its_call_and_nothing_else() -> None:
    registry = AdapterRegistry([RaisingAdapter()])
    request = Request(adapter="raising", target="x", body="{}", content_type="application/json")
    call = await send(registry, request, kind="post", idempotency_key="dlv_1")
    missing = await send(
        registry, Request(adapter="gone", target="x", body="", content_type="text/plain"), kind="post"
    )
    assert (call.status, call.is_transient, call.answer.reason) == (
        "failed",
        False,
        "the raising adapter failed: boom",
    )
    assert call.request["idempotency_key"] == "dlv_1"
    assert (
        missing.status == "failed"
        and missing.answer.reason == "no delivery adapter named 'gone' is installed"
    )
