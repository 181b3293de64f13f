"""The sale of one lead to one campaign: reserve caps and funds, then commit or release.

Reservation is one short transaction of conditional UPDATEs (exact under any
concurrency, across processes); the buyer's post happens outside any transaction;
the sale then commits the ledger, the sale row and the lead together, or the
reservation is released.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.ledger import HOUSE, Entry, post_transaction, release_funds, reserve_funds
from buyers.caps import period_key
from exchange.distribution.catalog import LiveCampaign
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.upsert import insert_for


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str
    buyer_id: str
    price_cents: int
    # (period_key, leads, spend_cents) held on each cap counter.
    counters: list[tuple[str, int, int]]


class Sold(msgspec.Struct, frozen=True, kw_only=True):
    sale_id: str
    transaction_id: str
    price_cents: int
    payout_cents: int


async def reserve(
    engine: AsyncEngine, live: LiveCampaign, price_cents: int, now: datetime
) -> Reservation | None:
    """Hold one lead and `price_cents` on every cap of the campaign, and the buyer's funds."""
    campaign = live.campaign
    counters: list[tuple[str, int, int]] = []
    k = t.cap_counters.c
    async with engine.begin() as conn:
        for cap in campaign.caps:
            key = period_key(cap.period, now, live.cap_timezone)
            await conn.execute(
                insert_for(conn, t.cap_counters)
                .values(campaign_id=campaign.id, period_key=key, leads=0, spend_cents=0)
                .on_conflict_do_nothing()
            )
            conditions = [k.campaign_id == campaign.id, k.period_key == key]
            if cap.max_leads is not None:
                conditions.append(k.leads + 1 <= cap.max_leads)
            if cap.max_spend_cents is not None:
                conditions.append(k.spend_cents + price_cents <= cap.max_spend_cents)
            held = await conn.execute(
                update(t.cap_counters)
                .where(*conditions)
                .values(leads=k.leads + 1, spend_cents=k.spend_cents + price_cents)
                .returning(k.leads)
            )
            if held.first() is None:
                await conn.rollback()
                return None
            counters.append((key, 1, price_cents))
        if price_cents > 0 and not await reserve_funds(conn, campaign.buyer_id, price_cents):
            await conn.rollback()
            return None
    return Reservation(
        campaign_id=campaign.id, buyer_id=campaign.buyer_id, price_cents=price_cents, counters=counters
    )


async def release(conn: AsyncConnection, held: Reservation) -> None:
    k = t.cap_counters.c
    for key, leads, spend in held.counters:
        await conn.execute(
            update(t.cap_counters)
            .where(k.campaign_id == held.campaign_id, k.period_key == key)
            .values(leads=k.leads - leads, spend_cents=k.spend_cents - spend)
        )
    if held.price_cents > 0:
        await release_funds(conn, held.buyer_id, held.price_cents)


def publisher_payout(payout: dict[str, Any], price_cents: int, grade: str | None, is_first_sale: bool) -> int:
    """Revenue share: floor(price × percent / 100) per sale. Fixed: the grade's amount, once per lead."""
    if payout.get("model") == "revshare":
        return price_cents * int(payout.get("percent", 0)) // 100
    if payout.get("model") == "fixed" and is_first_sale:
        return int(payout.get("cents_by_grade", {}).get(grade or "", 0))
    return 0


async def commit_sale(
    conn: AsyncConnection,
    held: Reservation,
    *,
    lead_id: str,
    publisher_id: str,
    publisher_terms: dict[str, Any],
    grade: str | None,
    reference: str | None,
    now: datetime,
) -> Sold:
    """Inside the caller's transaction: the ledger, the sale row and the lead, together."""
    s = t.sales.c
    earlier = await conn.scalar(select(func.count()).select_from(t.sales).where(s.lead_id == lead_id))
    payout = publisher_payout(publisher_terms, held.price_cents, grade, is_first_sale=not earlier)
    posted = await post_transaction(
        conn,
        kind="sale",
        natural_key=f"sale:{lead_id}:{held.campaign_id}",
        entries=[
            Entry("buyer", held.buyer_id, -held.price_cents),
            Entry("publisher", publisher_id, payout),
            Entry("exchange", HOUSE, held.price_cents - payout),
        ],
        at=now,
        lead_id=lead_id,
        memo={"campaign_id": held.campaign_id},
    )
    sale_id = new_id("sale")
    if posted.is_new:
        await conn.execute(
            t.sales.insert().values(
                id=sale_id,
                lead_id=lead_id,
                campaign_id=held.campaign_id,
                buyer_id=held.buyer_id,
                publisher_id=publisher_id,
                price_cents=held.price_cents,
                payout_cents=payout,
                reference=reference,
                transaction_id=posted.transaction_id,
                sold_at=now,
            )
        )
        lc = t.leads.c
        await conn.execute(
            update(t.leads)
            .where(lc.id == lead_id)
            .values(status="sold", payout_cents=lc.payout_cents + payout, updated_at=now)
        )
    # The reservation becomes the charge: the funds are spent, no longer only held.
    if held.price_cents > 0:
        await release_funds(conn, held.buyer_id, held.price_cents)
    return Sold(
        sale_id=sale_id,
        transaction_id=posted.transaction_id,
        price_cents=held.price_cents,
        payout_cents=payout,
    )
