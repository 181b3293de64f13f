"""What distribution reads from storage, as types: the lead for sale, a hold, a campaign.

The one place where their rows become Structs; every reader goes through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from buyers.campaigns import Campaign, CampaignIn
from exchange.storage import tables as t

HoldState = Literal["held", "posting", "sold", "released", "uncertain"]
# How the lead reached the buyer: distribution pushed it, the buyer pulled it, an operator
# re-sent a post that failed, or the buyer's bid on a publisher's ping held it.
HoldSource = Literal["push", "pull", "resend", "ping"]
OPEN_STATES: frozenset[str] = frozenset({"held", "posting", "uncertain"})


class LeadForSale(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    vertical: str
    status: str
    grade: str | None
    fields: dict[str, Any]
    consent: dict[str, Any] | None
    payout_cents: int
    publisher_id: str
    publisher_terms: dict[str, Any]
    received_at: datetime

    def post_fields(self) -> dict[str, Any]:
        """What a post carries: the whole lead, its consent, grade and id."""
        return {**self.fields, "consent": self.consent, "grade": self.grade, "lead_id": self.id}


class Offer(msgspec.Struct, frozen=True, array_like=True):
    """One step of a waterfall: a campaign and the price it would pay."""

    campaign_id: str
    price_cents: int


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    lead_id: str
    campaign_id: str
    buyer_id: str
    source: HoldSource
    state: HoldState
    exclusive: bool
    price_cents: int
    # (period_key, leads, spend_cents) held on each cap counter.
    counters: list[tuple[str, int, int]]
    delivery_id: str | None = None
    # The post as sent (calls.Outgoing.record()) while its outcome is open.
    request: dict[str, Any] | None = None
    waterfall: list[Offer] = msgspec.field(default_factory=list)
    reason: str | None = None
    decided_by: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


_lc, _p = t.leads.c, t.publishers.c
_LOAD_LEAD = (
    select(
        _lc.id,
        _lc.vertical,
        _lc.status,
        _lc.grade,
        _lc.fields,
        _lc.consent,
        _lc.payout_cents,
        _lc.publisher_id,
        _lc.received_at,
        _p.payout,
    )
    .join(t.publishers, _p.id == _lc.publisher_id)
    .where(_lc.id == bindparam("id"))
)
_h = t.holds.c
_HOLDS_OF_LEAD = select(t.holds).where(_h.lead_id == bindparam("lead_id")).order_by(_h.id)
_HOLD = select(t.holds).where(_h.id == bindparam("id"))


async def load_lead(conn: AsyncConnection, lead_id: str) -> LeadForSale | None:
    row = (await conn.execute(_LOAD_LEAD, {"id": lead_id})).first()
    if row is None:
        return None
    return LeadForSale(
        id=row.id,
        vertical=row.vertical,
        status=row.status,
        grade=row.grade,
        fields=row.fields,
        consent=row.consent,
        payout_cents=row.payout_cents,
        publisher_id=row.publisher_id,
        publisher_terms=row.payout,
        received_at=row.received_at,
    )


def hold_from_row(row: Any) -> Hold:
    return Hold(
        id=row.id,
        lead_id=row.lead_id,
        campaign_id=row.campaign_id,
        buyer_id=row.buyer_id,
        source=row.source,
        state=row.state,
        exclusive=row.exclusive,
        price_cents=row.price_cents,
        counters=[tuple(c) for c in row.counters],
        delivery_id=row.delivery_id,
        request=row.request,
        waterfall=[Offer(*offer) for offer in row.waterfall],
        reason=row.reason,
        decided_by=row.decided_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def hold_row(hold: Hold) -> dict[str, Any]:
    """The row a new hold is inserted as."""
    return {
        "id": hold.id,
        "lead_id": hold.lead_id,
        "campaign_id": hold.campaign_id,
        "buyer_id": hold.buyer_id,
        "source": hold.source,
        "state": hold.state,
        "exclusive": hold.exclusive,
        "price_cents": hold.price_cents,
        "counters": [list(c) for c in hold.counters],
        "delivery_id": hold.delivery_id,
        "request": hold.request,
        "waterfall": [[o.campaign_id, o.price_cents] for o in hold.waterfall],
        "reason": hold.reason,
        "decided_by": hold.decided_by,
        "created_at": hold.created_at,
        "updated_at": hold.updated_at,
    }


async def holds_of_lead(conn: AsyncConnection, lead_id: str) -> list[Hold]:
    """Every hold ever made on the lead, oldest first."""
    return [hold_from_row(row) for row in await conn.execute(_HOLDS_OF_LEAD, {"lead_id": lead_id})]


async def load_hold(conn: AsyncConnection, hold_id: str) -> Hold | None:
    row = (await conn.execute(_HOLD, {"id": hold_id})).first()
    return None if row is None else hold_from_row(row)


def campaign_from_row(row: Any) -> Campaign:
    config = msgspec.convert(row.config, CampaignIn)
    return Campaign(
        **msgspec.structs.asdict(config),
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
