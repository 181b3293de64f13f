"""Holds: the state machine of one sale, shared by push (distribution) and pull (claims).

    held ──► posting ──► sold
      │         │  └───► released
      │         └──────► uncertain ──► sold | released   (an operator decides)
      └────────────────► sold | released

`place` reserves the campaign's caps and the buyer's funds with conditional UPDATEs
(exact under any concurrency, across processes) and records the hold, in the caller's
transaction. Every later change is a conditional UPDATE from the state the caller read,
committed with its effect: the sale's ledger transaction, or the caps and funds given
back. Two processes that both try to settle one hold (a takeover racing a stalled
process) cannot both act: one UPDATE matches, the other finds the hold settled (`Gone`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import product
from typing import Any

import msgspec
from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.ledger import release_funds, reserve_funds
from buyers.campaigns import Cap
from buyers.caps import period_key
from exchange.distribution.catalog import LiveCampaign
from exchange.distribution.records import Hold, HoldSource, HoldState, LeadForSale, Offer, hold_row
from exchange.distribution.sale import Sold, commit_sale
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.statements import dialect_insert, per_dialect


class NotHeld(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing held: a cap is full (`cap_reached`) or the buyer's funds are short
    (`insufficient_funds`)."""

    code: str
    reason: str


class Refused(msgspec.Struct, frozen=True, kw_only=True):
    """Not sold: the lead's sales so far leave no room for this one; the hold is released."""

    reason: str


class Gone(msgspec.Struct, frozen=True, kw_only=True):
    """Not settled here: another process settled the hold first, to `state`."""

    state: str


# Hot statements, built once (exchange/storage/statements.py); values bound at execution.
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
_INSERT_HOLD = t.holds.insert()
_h = t.holds.c
_TRANSITION = (
    update(t.holds)
    .where(_h.id == bindparam("p_id"), _h.state == bindparam("p_from"))
    .values(
        state=bindparam("p_to"),
        request=bindparam("p_request", type_=_h.request.type),
        reason=bindparam("p_reason"),
        decided_by=bindparam("p_decided_by"),
        updated_at=bindparam("p_now", type_=t.UTCDateTime()),
    )
    .returning(_h.id)
)
_TO_POSTING = (
    update(t.holds)
    .where(_h.id == bindparam("p_id"), _h.state == "held")
    .values(
        state="posting",
        request=bindparam("p_request", type_=_h.request.type),
        delivery_id=bindparam("p_delivery_id"),
        updated_at=bindparam("p_now", type_=t.UTCDateTime()),
    )
    .returning(_h.id)
)
_STATE = select(_h.state).where(_h.id == bindparam("id"))
_sold = t.holds.alias("sold_before")
_SALES_BEFORE = (
    select(func.count())
    .select_from(t.sales)
    .where(t.sales.c.lead_id == bindparam("p_lead_id"))
    .scalar_subquery()
)
_EXCLUSIVE_BEFORE = (
    select(func.count())
    .select_from(_sold)
    .where(_sold.c.lead_id == bindparam("p_lead_id"), _sold.c.state == "sold", _sold.c.exclusive.is_(True))
    .scalar_subquery()
)
# The lead's sales so far, and how many of them were exclusive.
_EARLIER = select(_SALES_BEFORE, _EXCLUSIVE_BEFORE)
# The hold becomes sold if it is still in the state read and the lead's sales leave room
# (fewer than `p_limit`, none exclusive), in one statement; it answers the sales before it.
_SELL = (
    update(t.holds)
    .where(
        _h.id == bindparam("p_id"),
        _h.state == bindparam("p_from"),
        _EXCLUSIVE_BEFORE == 0,
        _SALES_BEFORE < bindparam("p_limit"),
    )
    .values(
        state="sold",
        request=None,
        decided_by=func.coalesce(bindparam("p_decided_by", type_=String()), _h.decided_by),
        updated_at=bindparam("p_now", type_=t.UTCDateTime()),
    )
    .returning(_SALES_BEFORE)
)
_lc = t.leads.c
_LOCK_LEAD = select(_lc.id).where(_lc.id == bindparam("id")).with_for_update()


async def place(
    conn: AsyncConnection,
    *,
    lead_id: str,
    campaign_id: str,
    buyer_id: str,
    caps: Sequence[Cap],
    cap_timezone: str,
    price_cents: int,
    now: datetime,
    source: HoldSource,
    exclusive: bool,
    state: HoldState = "held",
    delivery_id: str | None = None,
    request: dict[str, Any] | None = None,
    waterfall: list[Offer] | None = None,
) -> Hold | NotHeld:
    """Hold one lead and `price_cents` on each of the campaign's `caps` (counted in
    `cap_timezone`) and the buyer's funds, and record the hold (a post about to leave is
    placed straight in `posting`, with its request); with nothing held, why not."""
    counters: list[tuple[str, int, int]] = []
    for cap in caps:
        key = period_key(cap.period, now, cap_timezone)
        counter = {"p_campaign_id": campaign_id, "p_period_key": key}
        hold_cap = _HOLD_CAP[(cap.max_leads is not None, cap.max_spend_cents is not None)]
        limits = {
            **counter,
            "p_price": price_cents,
            "p_max_leads": cap.max_leads,
            "p_max_spend": cap.max_spend_cents,
        }
        held = (await conn.execute(hold_cap, limits)).first()
        if held is None:
            # Nothing held: the cap is full, or its period has no counter yet; open it and retry.
            await conn.execute(_OPEN_CAP_COUNTER(conn), counter)
            held = (await conn.execute(hold_cap, limits)).first()
        if held is None:
            await _give_back_caps(conn, campaign_id, counters)
            limit = f"max_leads {cap.max_leads}" if cap.max_leads is not None else ""
            if cap.max_spend_cents is not None:
                limit = f"{limit} max_spend_cents {cap.max_spend_cents}".strip()
            return NotHeld(code="cap_reached", reason=f"cap {cap.period} {limit} reached")
        counters.append((key, 1, price_cents))
    if price_cents > 0 and not await reserve_funds(conn, buyer_id, price_cents):
        await _give_back_caps(conn, campaign_id, counters)
        return NotHeld(code="insufficient_funds", reason=f"funds do not cover {price_cents} cents")
    hold = Hold(
        id=new_id("hold"),
        lead_id=lead_id,
        campaign_id=campaign_id,
        buyer_id=buyer_id,
        source=source,
        state=state,
        exclusive=exclusive,
        price_cents=price_cents,
        counters=counters,
        delivery_id=delivery_id,
        request=request,
        waterfall=waterfall or [],
        created_at=now,
        updated_at=now,
    )
    await conn.execute(_INSERT_HOLD, hold_row(hold))
    return hold


async def place_post(
    conn: AsyncConnection,
    live: LiveCampaign,
    *,
    lead_id: str,
    price_cents: int,
    now: datetime,
    source: HoldSource,
    delivery_id: str,
    request: dict[str, Any],
    waterfall: list[Offer] | None = None,
) -> Hold | NotHeld:
    """A hold placed straight in `posting` for the campaign's post about to leave, with its
    request (and the rest of the waterfall, for a takeover to go on with)."""
    return await place(
        conn,
        lead_id=lead_id,
        campaign_id=live.id,
        buyer_id=live.campaign.buyer_id,
        caps=live.campaign.caps,
        cap_timezone=live.cap_timezone,
        price_cents=price_cents,
        now=now,
        source=source,
        exclusive=live.campaign.exclusive,
        state="posting",
        delivery_id=delivery_id,
        request=request,
        waterfall=waterfall,
    )


async def transition(
    conn: AsyncConnection,
    hold: Hold,
    to: HoldState,
    now: datetime,
    *,
    reason: str | None = None,
    decided_by: str | None = None,
) -> Hold | None:
    """Move the hold from the state it was read in to `to`; the hold after, or None when it
    is no longer in that state (settled elsewhere). The post's request is kept only while
    its outcome stays open."""
    request = hold.request if to in ("posting", "uncertain") else None
    moved = await conn.execute(
        _TRANSITION,
        {
            "p_id": hold.id,
            "p_from": hold.state,
            "p_to": to,
            "p_request": request,
            "p_reason": reason or hold.reason,
            "p_decided_by": decided_by or hold.decided_by,
            "p_now": now,
        },
    )
    if moved.first() is None:
        return None
    return msgspec.structs.replace(
        hold,
        state=to,
        request=request,
        reason=reason or hold.reason,
        decided_by=decided_by or hold.decided_by,
        updated_at=now,
    )


async def start_posting(
    conn: AsyncConnection, hold: Hold, now: datetime, *, request: dict[str, Any], delivery_id: str
) -> Hold | None:
    """A held hold (a publisher's ping) becomes `posting`, with the post about to leave; None
    when it is no longer held (released on expiry meanwhile)."""
    params = {"p_id": hold.id, "p_request": request, "p_delivery_id": delivery_id, "p_now": now}
    if (await conn.execute(_TO_POSTING, params)).first() is None:
        return None
    return msgspec.structs.replace(
        hold, state="posting", request=request, delivery_id=delivery_id, updated_at=now
    )


async def release(
    conn: AsyncConnection, hold: Hold, now: datetime, *, reason: str, decided_by: str | None = None
) -> Hold | Gone:
    """End the hold without a sale: its caps and the buyer's funds are given back."""
    released = await transition(conn, hold, "released", now, reason=reason, decided_by=decided_by)
    if released is None:
        return await _gone(conn, hold)
    await _give_back_caps(conn, hold.campaign_id, hold.counters)
    if hold.price_cents > 0:
        await release_funds(conn, hold.buyer_id, hold.price_cents)
    return released


async def sell(
    conn: AsyncConnection,
    hold: Hold,
    lead: LeadForSale,
    now: datetime,
    *,
    max_sales: int,
    reference: str | None = None,
    decided_by: str | None = None,
) -> Sold | Refused | Gone:
    """End the hold with a sale at its price: the ledger, the sale row and the lead, together.

    The bounds on a lead's sales hold in this transaction: no more than `max_sales`, and an
    exclusive sale alone. A sale beyond them is refused and the hold released, so nobody is
    charged for it.
    """
    if conn.dialect.name != "sqlite":
        # Sales of one lead in concurrent transactions queue on its row, so each counts the
        # sales committed before it (SQLite has one writer at a time already).
        await conn.execute(_LOCK_LEAD, {"id": lead.id})
    limit = 1 if hold.exclusive else max_sales
    params = {"p_id": hold.id, "p_from": hold.state, "p_lead_id": lead.id, "p_limit": limit}
    sold = (await conn.execute(_SELL, {**params, "p_decided_by": decided_by, "p_now": now})).first()
    if sold is None:  # settled elsewhere, or no room: which, read now
        state = await conn.scalar(_STATE, {"id": hold.id})
        if state != hold.state:
            return Gone(state=str(state))
        sales, exclusive = (await conn.execute(_EARLIER, {"p_lead_id": lead.id})).one()
        refusal = _refusal(int(sales), int(exclusive), hold.exclusive)
        released = await release(conn, hold, now, reason=refusal, decided_by=decided_by)
        return released if isinstance(released, Gone) else Refused(reason=refusal)
    return await commit_sale(
        conn,
        campaign_id=hold.campaign_id,
        buyer_id=hold.buyer_id,
        price_cents=hold.price_cents,
        exclusive=hold.exclusive,
        lead=lead,
        reference=reference,
        now=now,
        earlier_sales=int(sold[0]),
    )


def _refusal(sales: int, sold_exclusively: int, exclusive: bool) -> str:
    """Why a lead with these sales (`sold_exclusively` of them exclusive) takes no more, or
    no exclusive one."""
    if sold_exclusively:
        return "the lead was sold exclusively"
    if exclusive and sales:
        return f"an exclusive sale, and the lead has {sales} sale(s)"
    return f"the lead already has {sales} sale(s)"


async def _gone(conn: AsyncConnection, hold: Hold) -> Gone:
    return Gone(state=str(await conn.scalar(_STATE, {"id": hold.id})))


async def _give_back_caps(
    conn: AsyncConnection, campaign_id: str, counters: list[tuple[str, int, int]]
) -> None:
    if counters:
        # One executemany (an empty list would execute once, without values).
        await conn.execute(
            _RELEASE_CAP,
            [
                {"p_campaign_id": campaign_id, "p_period_key": key, "p_leads": leads, "p_spend": spend}
                for key, leads, spend in counters
            ],
        )
