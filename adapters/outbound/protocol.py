"""The small Protocol every delivery adapter implements: built-ins (`http`, `webhook`, `email`,
`ftp`) and plugins (entry-point group `exchange.adapters`) alike.

An adapter turns a campaign's `delivery` settings into a `Request` (exactly what goes out) and
sends a `Request` over its transport. Everything else is the engine's, the same for every
adapter: which buyer and at what price, the audit (with the request's secrets masked), the
response rule, the retry decision, the hold and the sale.

A `Request` is plain data: a post's is kept on its hold while the outcome is open, so a process
that takes the lead over sends the very same request again under the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from adapters.outbound.bodies import mask

Stage = Literal["ping", "post"]
# Kept in the audit trail per answer; a buyer's page of HTML is not evidence.
MAX_AUDIT_BODY = 4096


class Request(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One ping or post exactly as it goes out."""

    adapter: str
    target: str  # where: a URL, an e-mail address, a file URL (credentials are masked in the audit)
    body: str
    content_type: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    # The adapter's own settings for sending it (method, subject, file name, batching, …).
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout_ms: int = 30_000
    # How to read the buyer's answer (buyers.campaigns.ResponseRule as given), for adapters
    # whose buyer answers; None: a 2xx-like status accepts.
    response: dict[str, Any] | None = None
    # Literal values the audit masks wherever they appear (API keys in a mapping or a header,
    # a password in a URL).
    secrets: list[str] = msgspec.field(default_factory=list)

    def mask(self, text: str) -> str:
        return mask(text, self.secrets)

    def audit(self, idempotency_key: str | None = None) -> dict[str, Any]:
        """What the delivery audit keeps of it, secrets masked."""
        audit: dict[str, Any] = {
            "adapter": self.adapter,
            "to": self.mask(self.target),
            "content_type": self.content_type,
            "body": self.mask(self.body[:MAX_AUDIT_BODY]),
        }
        for name in ("method", "subject", "file"):
            if name in self.options:
                audit[name] = self.mask(str(self.options[name]))
        if idempotency_key is not None:
            audit["idempotency_key"] = idempotency_key
        return audit


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """What one attempt got back, or why nothing came: raw material for the response rule."""

    status: int | None  # the transport's status (HTTP status, SMTP reply code), None when none came
    body: bytes = b""
    content_type: str | None = None
    latency_ms: float = 0.0
    error: str | None = None  # "timeout", "connection refused: …"; None when an answer came
    # Worth another try: a connection error, a timeout, an HTTP 5xx, an SMTP 4xx.
    transient: bool = False


@runtime_checkable
class DeliveryAdapter(Protocol):
    """Sends a ping or a post in one buyer's format over one transport. No money, no rules."""

    @property
    def name(self) -> str: ...

    @property
    def can_ping(self) -> bool:
        """Whether it carries pings: only transports where the buyer answers a request can."""
        ...

    @property
    def answers(self) -> bool:
        """True: the buyer's answer to a post decides it (the response rule reads it). False:
        a post is accepted once the transport has taken it (a relay's 250, a file stored)."""
        ...

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> Any:
        """At save time and when campaigns load: the delivery settings read into the adapter's
        own form, or a 422 (exchange.errors.field_invalid) naming the field under `field`."""
        ...

    def request(
        self, config: Any, stage: Stage, fields: Mapping[str, Any], *, shared: dict[Any, Any] | None = None
    ) -> Request:
        """The request for `fields` (the lead; for a ping, its anonymised offer). `shared`
        lets the calls of one payload share work (an auction's pings with the same format)."""
        ...

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        """Send once; never raise for a network problem (report it in `Delivery.error`). `key`
        is the delivery id, the same on every attempt of one post: the buyer's way to tell a
        repeat from a second lead (an Idempotency-Key header, a webhook-id, a file name)."""
        ...

    async def close(self) -> None: ...
