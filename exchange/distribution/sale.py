"""The money of a sale: the ledger transaction, the sale row and the lead, in the caller's
transaction (holds.sell calls it as the hold becomes `sold`).

The ledger's natural key `sale:LEAD:CAMPAIGN` is unique in the database, so a sale can
never be charged twice, whatever retries or takeovers happen around it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.ledger import HOUSE, Entry, post_transaction, release_funds
from exchange.distribution.records import LeadForSale
from exchange.ids import new_id
from exchange.storage import tables as t


class Sold(msgspec.Struct, frozen=True, kw_only=True):
    sale_id: str
    transaction_id: str
    campaign_id: str
    buyer_id: str
    price_cents: int
    payout_cents: int
    # Sold to an exclusive campaign: the lead takes no other sale.
    exclusive: bool = False


# Hot statements, built once (exchange/storage/statements.py); values bound at execution.
_s, _h = t.sales.c, t.holds.c
_SOLD_HOLD = (_h.lead_id == _s.lead_id) & (_h.campaign_id == _s.campaign_id) & (_h.state == "sold")
_SOLD_OF_LEAD = (
    select(
        _s.id,
        _s.transaction_id,
        _s.campaign_id,
        _s.buyer_id,
        _s.price_cents,
        _s.payout_cents,
        func.coalesce(_h.exclusive, False).label("exclusive"),
    )
    .outerjoin(t.holds, _SOLD_HOLD)
    .where(_s.lead_id == bindparam("lead_id"))
)
_INSERT_SALE = t.sales.insert()
_lc = t.leads.c
_MARK_SOLD = (
    update(t.leads)
    .where(_lc.id == bindparam("p_lead_id"))
    .values(
        status="sold",
        payout_cents=_lc.payout_cents + bindparam("p_payout"),
        updated_at=bindparam("p_now", type_=t.UTCDateTime()),
    )
)


async def sold_of_lead(conn: AsyncConnection, lead_id: str) -> list[Sold]:
    """The lead's sales so far, in the order they were made."""
    rows = await conn.execute(_SOLD_OF_LEAD.order_by(_s.sold_at, _s.id), {"lead_id": lead_id})
    return [
        Sold(
            sale_id=r.id,
            transaction_id=r.transaction_id,
            campaign_id=r.campaign_id,
            buyer_id=r.buyer_id,
            price_cents=r.price_cents,
            payout_cents=r.payout_cents,
            exclusive=bool(r.exclusive),
        )
        for r in rows
    ]


def publisher_payout(payout: dict[str, Any], price_cents: int, grade: str | None, is_first_sale: bool) -> int:
    """Revenue share: floor(price × percent / 100) per sale. Fixed: the grade's amount, once per lead."""
    if payout.get("model") == "revshare":
        return price_cents * int(payout.get("percent", 0)) // 100
    if payout.get("model") == "fixed" and is_first_sale:
        return int(payout.get("cents_by_grade", {}).get(grade or "", 0))
    return 0


async def commit_sale(
    conn: AsyncConnection,
    *,
    campaign_id: str,
    buyer_id: str,
    price_cents: int,
    exclusive: bool,
    lead: LeadForSale,
    reference: str | None,
    now: datetime,
    earlier_sales: int,
) -> Sold:
    """The ledger, the sale row and the lead, together; the buyer's reserved funds become
    the charge. `earlier_sales`: the lead's sales before this one, counted in this transaction."""
    payout = publisher_payout(lead.publisher_terms, price_cents, lead.grade, is_first_sale=not earlier_sales)
    posted = await post_transaction(
        conn,
        kind="sale",
        natural_key=f"sale:{lead.id}:{campaign_id}",
        entries=[
            # The buyer's hold becomes the charge, in the statement that moves its balance.
            Entry("buyer", buyer_id, -price_cents, released_cents=price_cents),
            Entry("publisher", lead.publisher_id, payout),
            Entry("exchange", HOUSE, price_cents - payout),
        ],
        at=now,
        lead_id=lead.id,
        memo={"campaign_id": campaign_id},
    )
    sale_id = new_id("sale")
    if posted.is_new:
        await conn.execute(
            _INSERT_SALE,
            {
                "id": sale_id,
                "lead_id": lead.id,
                "campaign_id": campaign_id,
                "buyer_id": buyer_id,
                "publisher_id": lead.publisher_id,
                "price_cents": price_cents,
                "payout_cents": payout,
                "reference": reference,
                "transaction_id": posted.transaction_id,
                "sold_at": now,
            },
        )
        await conn.execute(_MARK_SOLD, {"p_lead_id": lead.id, "p_payout": payout, "p_now": now})
    elif price_cents > 0:
        # Charged already (the same sale posted before): this hold's reservation just ends.
        await release_funds(conn, buyer_id, price_cents)
    return Sold(
        sale_id=sale_id,
        transaction_id=posted.transaction_id,
        campaign_id=campaign_id,
        buyer_id=buyer_id,
        price_cents=price_cents,
        payout_cents=payout,
        exclusive=exclusive,
    )
