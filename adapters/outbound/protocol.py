"""The small Protocol every delivery adapter implements, and what one delivery attempt returns.

Built-in adapters (`http`) and plugins (entry-point group `exchange.adapters`) share this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

Stage = Literal["ping", "post"]


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """What one attempt sent and got back: raw material for the response rules and the audit."""

    sent: str  # what went out (address and body), secrets masked: safe for the delivery audit
    status: int | None  # the transport's status (HTTP status), None when nothing came back
    body: bytes = b""
    content_type: str | None = None
    latency_ms: float = 0.0
    error: str | None = None  # "timeout", "connection refused: …"; None when an answer came


@runtime_checkable
class DeliveryAdapter(Protocol):
    """Sends a ping or a post in one buyer's format over one transport. No money, no rules."""

    @property
    def name(self) -> str: ...

    def check(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> None:
        """At save time: raise a 422 naming the field if the campaign's `delivery` is unusable."""
        ...

    async def deliver(self, delivery: Mapping[str, Any], stage: Stage, fields: Mapping[str, Any]) -> Delivery:
        """Send once; never raise for a network problem (report it in `Delivery.error`)."""
        ...

    async def close(self) -> None: ...
