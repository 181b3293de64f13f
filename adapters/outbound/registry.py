"""Which adapter delivers a campaign: the built-ins (`http`, `webhook`, `email`, `ftp`) plus
plugins from entry points.

Plugins register under the entry-point group `exchange.adapters`, shared with inbound parsers:
an entry whose object is a `DeliveryAdapter` is kept, an inbound parser is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

from adapters.outbound.email import EmailAdapter
from adapters.outbound.files import FileAdapter
from adapters.outbound.http import HttpAdapter, HttpClient
from adapters.outbound.protocol import DeliveryAdapter
from adapters.outbound.webhook import WebhookAdapter
from exchange.errors import field_invalid

ENTRY_POINT_GROUP = "exchange.adapters"


class AdapterRegistry:
    """An immutable map from adapter name to adapter; later adapters override earlier ones."""

    def __init__(self, adapters: Iterable[DeliveryAdapter]) -> None:
        by_name: dict[str, DeliveryAdapter] = {}
        for adapter in adapters:
            by_name[adapter.name] = adapter
        self._by_name: Mapping[str, DeliveryAdapter] = MappingProxyType(by_name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def adapter_for(self, name: str) -> DeliveryAdapter | None:
        return self._by_name.get(name)

    def adapter_of(self, delivery: Any, *, field: str = "delivery") -> DeliveryAdapter:
        """The adapter a campaign's `delivery` names, or a 422 listing those installed."""
        if not isinstance(delivery, Mapping):
            raise field_invalid(field, "invalid", "a delivery is an object naming its adapter")
        name = delivery.get("adapter")
        adapter = self._by_name.get(name) if isinstance(name, str) else None
        if adapter is None:
            known = ", ".join(sorted(self._by_name))
            raise field_invalid(
                f"{field}.adapter", "unknown_adapter", f"{name!r} is not a delivery adapter here ({known})"
            )
        return adapter

    def configure(
        self, delivery: Mapping[str, Any], *, allow_private: bool, field: str = "delivery"
    ) -> tuple[DeliveryAdapter, Any]:
        """The campaign's adapter and its settings read by it, or a 422 naming the field."""
        adapter = self.adapter_of(delivery, field=field)
        return adapter, adapter.configure(delivery, allow_private=allow_private, field=field)

    async def close(self) -> None:
        """Release every adapter's connections (the HTTP pool among them)."""
        for adapter in self._by_name.values():
            await adapter.close()


def adapters_from_entry_points(found: Iterable[EntryPoint] | None = None) -> list[DeliveryAdapter]:
    """Load the group's entries and keep the delivery adapters (instances, not classes)."""
    if found is None:
        found = entry_points(group=ENTRY_POINT_GROUP)
    adapters: list[DeliveryAdapter] = []
    for entry_point in found:
        # A plugin that fails to import fails loudly: a silently missing adapter loses sales.
        loaded = entry_point.load()
        if isinstance(loaded, type):
            continue
        if isinstance(loaded, DeliveryAdapter):
            adapters.append(loaded)
        elif hasattr(loaded, "send") or hasattr(loaded, "deliver"):
            raise TypeError(
                f"entry point {entry_point.name!r} ({entry_point.value}) has `deliver` but is not "
                "a complete delivery adapter: it needs name, can_ping, answers, configure, request, "
                "send and close"
            )
    return adapters


def default_registry(
    *,
    allow_private: bool,
    smtp: SmtpRelay | None = None,
    found: Iterable[EntryPoint] | None = None,
) -> AdapterRegistry:
    """Built-ins, then installed plugins (which may take over a built-in name).

    A new registry each call: the HTTP adapters own a connection pool, so the caller (the app's
    or worker's startup) keeps the registry and closes it on shutdown.
    """
    client = HttpClient(allow_private=allow_private)
    smtp = smtp or SmtpRelay()
    builtins: list[DeliveryAdapter] = [
        HttpAdapter(client),
        WebhookAdapter(client),
        EmailAdapter(
            smtp.relay,
            username=smtp.username,
            password=smtp.password,
            starttls=smtp.starttls,
            sender=smtp.sender,
        ),
        FileAdapter(allow_private=allow_private),
    ]
    return AdapterRegistry([*builtins, *adapters_from_entry_points(found)])


@dataclass(frozen=True)
class SmtpRelay:
    """Where e-mail deliveries go out (EXCHANGE_SMTP_RELAY and its companions)."""

    relay: str | None = None
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None
    sender: str = "leads@lead-exchange.invalid"
