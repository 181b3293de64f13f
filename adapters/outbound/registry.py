"""Which adapter delivers a campaign: the built-ins (`http`, `webhook`, `email`, `ftp`) plus
plugins from entry points.

Plugins register under the entry-point group `exchange.adapters`, shared with inbound parsers:
an entry whose object is a `DeliveryAdapter` is kept, an inbound parser is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

from adapters.outbound.http import HttpAdapter, HttpClient
from adapters.outbound.protocol import Delivery, DeliveryAdapter, Request, Stage
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
    mail = smtp or SmtpRelay()

    def email() -> DeliveryAdapter:
        from adapters.outbound.email import EmailAdapter

        return EmailAdapter(
            mail.relay,
            username=mail.username,
            password=mail.password,
            starttls=mail.starttls,
            sender=mail.sender,
        )

    def files() -> DeliveryAdapter:
        from adapters.outbound.files import FileAdapter

        return FileAdapter(allow_private=allow_private)

    builtins: list[DeliveryAdapter] = [
        HttpAdapter(client),
        WebhookAdapter(client),
        OnFirstUse("email", email),
        OnFirstUse("ftp", files),
    ]
    return AdapterRegistry([*builtins, *adapters_from_entry_points(found)])


class OnFirstUse:
    """A built-in adapter whose transport library (aiosmtplib; aioftp and asyncssh) is imported
    when a campaign first uses it. Loaded by every process, they would make each one's heap
    larger for nothing where no buyer takes e-mail or files, and the collector's passes
    costlier: measured, 16 MB and 7 % more CPU per auction at saturation."""

    can_ping = False
    answers = False

    def __init__(self, name: str, load: Callable[[], DeliveryAdapter]) -> None:
        self.name = name
        self._load = load
        self._adapter: DeliveryAdapter | None = None

    @property
    def adapter(self) -> DeliveryAdapter:
        if self._adapter is None:
            self._adapter = self._load()
            assert (self._adapter.name, self._adapter.can_ping, self._adapter.answers) == (
                self.name,
                self.can_ping,
                self.answers,
            )
        return self._adapter

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> Any:
        return self.adapter.configure(delivery, allow_private=allow_private, field=field)

    def request(
        self, config: Any, stage: Stage, fields: Mapping[str, Any], *, shared: dict[Any, Any] | None = None
    ) -> Request:
        return self.adapter.request(config, stage, fields, shared=shared)

    def __getattr__(self, name: str) -> Any:
        """What an adapter offers beyond the Protocol (`combine`, for batched files)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.adapter, name)

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        return await self.adapter.send(request, key=key)

    async def close(self) -> None:
        if self._adapter is not None:
            await self._adapter.close()


@dataclass(frozen=True)
class SmtpRelay:
    """Where e-mail deliveries go out (EXCHANGE_SMTP_RELAY and its companions)."""

    relay: str | None = None
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None
    sender: str = "leads@lead-exchange.invalid"
