"""A lead's trail during distribution: its events and its delivery audit rows, gathered as
they happen and written with the next transaction the distribution commits.

Pings are written no later than the hold that follows them, a post's hold before the post
leaves, and a post's answer with the sale or release it decides: whatever instant the
process dies at, the audit shows every call a buyer may have received (principle 11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.distribution.calls import Call
from exchange.distribution.records import Hold
from exchange.distribution.sale import Sold
from exchange.ids import new_id
from exchange.storage import tables as t

_INSERT_DELIVERIES = t.deliveries.insert()
_INSERT_EVENTS = t.lead_events.insert()


class Trail:
    """Events and delivery rows not yet written, written together by `flush`."""

    def __init__(self, lead_id: str) -> None:
        self.lead_id = lead_id
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []

    def event(self, kind: str, at: datetime, /, **data: Any) -> None:
        self.events.append({"lead_id": self.lead_id, "kind": kind, "at": at, "data": data})

    def delivery(
        self,
        *,
        campaign_id: str,
        buyer_id: str,
        kind: str,
        attempt: int,
        call: Call,
        at: datetime,
        price_cents: int | None,
    ) -> str:
        """One ping or post in the delivery audit (each attempt a row); its id."""
        delivery_id = new_id("dlv")
        self.deliveries.append(
            {
                "id": delivery_id,
                "lead_id": self.lead_id,
                "campaign_id": campaign_id,
                "buyer_id": buyer_id,
                "kind": kind,
                "attempt": attempt,
                "status": call.status,
                "request": call.request,
                "response": call.response,
                "http_status": call.http_status,
                "latency_ms": round(call.latency_ms, 2),
                "price_cents": price_cents,
                "reason": call.answer.reason,
                "reference": call.answer.reference,
                "created_at": at,
            }
        )
        return delivery_id

    def post(self, hold: Hold, attempt: int, call: Call, at: datetime, /, kind: str = "posted") -> None:
        """One attempt of the hold's post: its audit row, and its event in the timeline."""
        delivery_id = self.delivery(
            campaign_id=hold.campaign_id,
            buyer_id=hold.buyer_id,
            kind="post",
            attempt=attempt,
            call=call,
            at=at,
            price_cents=hold.price_cents,
        )
        self.event(
            kind,
            at,
            campaign_id=hold.campaign_id,
            hold_id=hold.id,
            delivery_id=delivery_id,
            attempt=attempt,
            status=call.status,
            reason=call.answer.reason,
            latency_ms=round(call.latency_ms, 2),
        )

    def of_hold(self, kind: str, hold: Hold, at: datetime, /, **data: Any) -> None:
        """An event about a hold: whose it is, at what price, and `data`."""
        self.event(
            kind,
            at,
            hold_id=hold.id,
            campaign_id=hold.campaign_id,
            buyer_id=hold.buyer_id,
            source=hold.source,
            price_cents=hold.price_cents,
            **data,
        )

    def sale(self, hold: Hold, sold: Sold, at: datetime, /, **data: Any) -> None:
        """A sale and its ledger posting, however the lead reached the buyer."""
        self.of_hold("sold", hold, at, payout_cents=sold.payout_cents, **data)
        self.event("ledger_posted", at, transaction_id=sold.transaction_id, kind="sale")

    async def flush(self, conn: AsyncConnection) -> None:
        if self.deliveries:
            await conn.execute(_INSERT_DELIVERIES, self.deliveries)
        if self.events:
            await conn.execute(_INSERT_EVENTS, self.events)
        self.events, self.deliveries = [], []
