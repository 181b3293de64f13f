"""The sale of one lead to one campaign: reserve caps and funds, then commit or release.

Reservation is one short transaction of conditional UPDATEs (exact under any
concurrency, across processes); the buyer's post happens outside any transaction;
the sale then commits the ledger, the sale row and the lead together, or the
reservation is released.

The hold in flight is also written on the lead's distribution row in the outbox, in the
transaction that makes it, and cleared in the one that ends it: if the process dies
between the two (a crash during the post), the distribution that takes the lead over
releases what the dead one held (engine.release_abandoned_hold), so no buyer's funds or
caps stay held for a sale that never happened.
"""

from __future__ import annotations

from datetime import datetime
from itertools import product
from typing import Any

import msgspec
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.ledger import HOUSE, Entry, post_transaction, release_funds, reserve_funds
from buyers.caps import period_key
from exchange.distribution.catalog import LiveCampaign
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.statements import dialect_insert, per_dialect


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


# Hot statements, built once (exchange/storage/statements.py); values bound at execution.
_o = t.outbox.c
# The hold in flight, kept on the lead's unfinished distribution row (`{}` when none).
_KEEP_HOLD = (
    update(t.outbox)
    .where(_o.lead_id == bindparam("p_lead_id"), _o.job == "distribute", _o.done_at.is_(None))
    .values(payload=bindparam("p_payload", type_=_o.payload.type))
)
_k = t.cap_counters.c
_OPEN_CAP_COUNTER = per_dialect(
    lambda dialect: (
        dialect_insert(dialect, t.cap_counters)
        .values(
            campaign_id=bindparam("p_campaign_id"),
            period_key=bindparam("p_period_key"),
            leads=0,
            spend_cents=0,
        )
        .on_conflict_do_nothing()
    )
)


def _build_hold_cap(has_max_leads: bool, has_max_spend: bool) -> Any:
    """Count one more lead and `p_price` more spend on a counter, if within the cap's limits;
    a row returns if held. A cap without a limit on leads or spend has no condition on it."""
    conditions = [_k.campaign_id == bindparam("p_campaign_id"), _k.period_key == bindparam("p_period_key")]
    if has_max_leads:
        conditions.append(_k.leads + 1 <= bindparam("p_max_leads"))
    if has_max_spend:
        conditions.append(_k.spend_cents + bindparam("p_price") <= bindparam("p_max_spend"))
    return (
        update(t.cap_counters)
        .where(*conditions)
        .values(leads=_k.leads + 1, spend_cents=_k.spend_cents + bindparam("p_price"))
        .returning(_k.leads)
    )


# By (has max_leads, has max_spend_cents).
_HOLD_CAP = {limits: _build_hold_cap(*limits) for limits in product((True, False), repeat=2)}
_RELEASE_CAP = (
    update(t.cap_counters)
    .where(_k.campaign_id == bindparam("p_campaign_id"), _k.period_key == bindparam("p_period_key"))
    .values(leads=_k.leads - bindparam("p_leads"), spend_cents=_k.spend_cents - bindparam("p_spend"))
)
_SALES_OF_LEAD = select(func.count()).select_from(t.sales).where(t.sales.c.lead_id == bindparam("lead_id"))
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


async def reserve(
    engine: AsyncEngine, live: LiveCampaign, price_cents: int, now: datetime, lead_id: str
) -> Reservation | None:
    """Hold one lead and `price_cents` on every cap of the campaign, and the buyer's funds,
    for `lead_id`, whose distribution row records the hold."""
    campaign = live.campaign
    counters: list[tuple[str, int, int]] = []
    async with engine.begin() as conn:
        for cap in campaign.caps:
            key = period_key(cap.period, now, live.cap_timezone)
            counter = {"p_campaign_id": campaign.id, "p_period_key": key}
            hold = _HOLD_CAP[(cap.max_leads is not None, cap.max_spend_cents is not None)]
            limits = {
                **counter,
                "p_price": price_cents,
                "p_max_leads": cap.max_leads,
                "p_max_spend": cap.max_spend_cents,
            }
            held = (await conn.execute(hold, limits)).first()
            if held is None:
                # Nothing held: the cap is full, or its period has no counter yet; open it and retry.
                await conn.execute(_OPEN_CAP_COUNTER(conn), counter)
                held = (await conn.execute(hold, limits)).first()
            if held is None:
                await conn.rollback()
                return None
            counters.append((key, 1, price_cents))
        if price_cents > 0 and not await reserve_funds(conn, campaign.buyer_id, price_cents):
            await conn.rollback()
            return None
        held = Reservation(
            campaign_id=campaign.id, buyer_id=campaign.buyer_id, price_cents=price_cents, counters=counters
        )
        await conn.execute(
            _KEEP_HOLD, {"p_lead_id": lead_id, "p_payload": {"held": msgspec.to_builtins(held)}}
        )
    return held


async def forget_hold(conn: AsyncConnection, lead_id: str) -> None:
    """The hold of `lead_id`'s distribution has ended (sold or released) in this transaction."""
    await conn.execute(_KEEP_HOLD, {"p_lead_id": lead_id, "p_payload": {}})


async def release(conn: AsyncConnection, held: Reservation, lead_id: str) -> None:
    """Give back what `held` holds for `lead_id`: its caps, the buyer's funds, and the note."""
    if held.counters:
        # One executemany (an empty list would execute once, without values).
        await conn.execute(
            _RELEASE_CAP,
            [
                {"p_campaign_id": held.campaign_id, "p_period_key": key, "p_leads": leads, "p_spend": spend}
                for key, leads, spend in held.counters
            ],
        )
    if held.price_cents > 0:
        await release_funds(conn, held.buyer_id, held.price_cents)
    await forget_hold(conn, lead_id)


async def sales_of_lead(conn: AsyncConnection, lead_id: str) -> int:
    return int(await conn.scalar(_SALES_OF_LEAD, {"lead_id": lead_id}) or 0)


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
    earlier_sales: int | None = None,
) -> Sold:
    """Inside the caller's transaction: the ledger, the sale row and the lead, together.
    `earlier_sales`, the lead's sales so far, is counted here unless the caller counted it
    in the same transaction."""
    if earlier_sales is None:
        earlier_sales = await sales_of_lead(conn, lead_id)
    payout = publisher_payout(publisher_terms, held.price_cents, grade, is_first_sale=not earlier_sales)
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
            _INSERT_SALE,
            {
                "id": sale_id,
                "lead_id": lead_id,
                "campaign_id": held.campaign_id,
                "buyer_id": held.buyer_id,
                "publisher_id": publisher_id,
                "price_cents": held.price_cents,
                "payout_cents": payout,
                "reference": reference,
                "transaction_id": posted.transaction_id,
                "sold_at": now,
            },
        )
        await conn.execute(_MARK_SOLD, {"p_lead_id": lead_id, "p_payout": payout, "p_now": now})
    # The reservation becomes the charge: the funds are spent, no longer only held.
    if held.price_cents > 0:
        await release_funds(conn, held.buyer_id, held.price_cents)
    return Sold(
        sale_id=sale_id,
        transaction_id=posted.transaction_id,
        price_cents=held.price_cents,
        payout_cents=payout,
    )
