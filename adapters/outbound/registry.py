"""Which adapter delivers a campaign: the built-in `http` one plus plugins from entry points.

Plugins register under the entry-point group `exchange.adapters`, shared with inbound parsers:
an entry whose object is a `DeliveryAdapter` is kept, an inbound parser is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType

from adapters.outbound.http import HttpAdapter, HttpClient
from adapters.outbound.protocol import DeliveryAdapter

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
        elif hasattr(loaded, "deliver"):
            raise TypeError(
                f"entry point {entry_point.name!r} ({entry_point.value}) has `deliver` but is not "
                "a complete delivery adapter: it needs name, check, deliver and close"
            )
    return adapters


def default_registry(*, allow_private: bool, found: Iterable[EntryPoint] | None = None) -> AdapterRegistry:
    """Built-ins, then installed plugins (which may take over a built-in name).

    A new registry each call: the HTTP adapter owns a connection pool, so the caller (the app's
    or worker's startup) keeps the registry and closes it on shutdown.
    """
    builtins: list[DeliveryAdapter] = [HttpAdapter(HttpClient(allow_private=allow_private))]
    return AdapterRegistry([*builtins, *adapters_from_entry_points(found)])
