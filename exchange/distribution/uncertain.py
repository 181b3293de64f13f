"""Holds for operators: the list, and the decision on one whose post's outcome stayed unknown.

A hold is `uncertain` when a post was in flight as its process died and the buyer, asked
again, never answered: the buyer may hold the lead, so it is offered to nobody else until
an operator, having asked the buyer, decides. Sold: the buyer is charged at the held
price, as a sale its answer had accepted. Not sold: the caps and funds go back. Either
way the lead's distribution is owed again, to go on down its waterfall (or, sold out,
to end).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.distribution.calls import from_record
from exchange.distribution.holds import Gone, Refused, release, sell
from exchange.distribution.records import Hold, HoldState, hold_from_row, load_hold, load_lead
from exchange.distribution.trail import Trail
from exchange.errors import Conflict, NotFound
from exchange.storage import tables as t
from exchange.storage.outbox import owe_distribution
from exchange.storage.verticals import VerticalCache
from exchange.verticals import Distribution


class HoldView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    lead_id: str
    campaign_id: str
    buyer_id: str
    source: str
    state: HoldState
    price_cents: int
    delivery_id: str | None
    # The post as sent (secrets masked) while its outcome is open.
    request: dict[str, Any] | None
    reason: str | None
    decided_by: str | None
    created_at: datetime
    updated_at: datetime


def hold_view(hold: Hold) -> HoldView:
    request = None
    if hold.request is not None:
        request = from_record(hold.request).audit(hold.delivery_id)
    return HoldView(
        id=hold.id,
        lead_id=hold.lead_id,
        campaign_id=hold.campaign_id,
        buyer_id=hold.buyer_id,
        source=hold.source,
        state=hold.state,
        price_cents=hold.price_cents,
        delivery_id=hold.delivery_id,
        request=request,
        reason=hold.reason,
        decided_by=hold.decided_by,
        created_at=hold.created_at,
        updated_at=hold.updated_at,
    )


async def list_holds(
    engine: AsyncEngine,
    *,
    state: str | None,
    lead_id: str | None,
    buyer_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[HoldView], str | None]:
    """A page of holds, newest first, and the cursor of the next page."""
    h = t.holds.c
    query = select(t.holds).order_by(h.id.desc()).limit(limit + 1)
    if state == "uncertain":
        # Spelled out, so the database may read the index of uncertain holds alone.
        query = query.where(h.state == literal_column("'uncertain'"))
    for column, value in ((h.state, state), (h.lead_id, lead_id), (h.buyer_id, buyer_id)):
        if value is not None:
            query = query.where(column == value)
    if cursor:
        query = query.where(h.id < cursor)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    items = [hold_view(hold_from_row(row)) for row in rows[:limit]]
    return items, items[-1].id if len(rows) > limit else None


async def get_hold(engine: AsyncEngine, hold_id: str) -> HoldView:
    async with engine.connect() as conn:
        hold = await load_hold(conn, hold_id)
    if hold is None:
        raise NotFound(f"no hold {hold_id}")
    return hold_view(hold)


async def decide(
    engine: AsyncEngine,
    verticals: VerticalCache,
    hold_id: str,
    *,
    sold: bool,
    note: str | None,
    by: str,
    now: datetime,
) -> HoldView:
    """Settle an uncertain hold as an operator decided, and owe the lead its distribution."""
    async with engine.connect() as conn:
        found = await load_hold(conn, hold_id)
        lead = await load_lead(conn, found.lead_id) if found is not None else None
    if found is None or lead is None:
        raise NotFound(f"no hold {hold_id}")
    vertical = await verticals.get(lead.vertical)
    settings = vertical.distribution if vertical else Distribution()
    trail = Trail(lead.id)
    async with engine.begin() as conn:
        hold = await load_hold(conn, hold_id)
        if hold is None or hold.state != "uncertain":
            state = hold.state if hold is not None else "gone"
            raise Conflict(f"hold {hold_id} is {state}, not uncertain", code="hold_not_uncertain")
        trail.event("hold_decided", now, hold_id=hold.id, sold=sold, note=note, by=by)
        if sold:
            result = await sell(conn, hold, lead, now, max_sales=settings.max_sales, decided_by=by)
            if isinstance(result, Gone):
                raise Conflict(f"hold {hold_id} was settled meanwhile", code="hold_not_uncertain")
            if isinstance(result, Refused):
                trail.of_hold("sale_refused", hold, now, reason=result.reason)
            else:
                trail.sale(hold, result, now)
        else:
            reason = "an operator decided the buyer did not take it" + (f": {note}" if note else "")
            released = await release(conn, hold, now, reason=reason, decided_by=by)
            if isinstance(released, Gone):
                raise Conflict(f"hold {hold_id} was settled meanwhile", code="hold_not_uncertain")
        await trail.flush(conn)
        await owe_distribution(conn, lead.id, now)
        settled = await load_hold(conn, hold_id)
    assert settled is not None
    return hold_view(settled)
