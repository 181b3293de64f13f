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
from typing import Annotated, Any

import msgspec
from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.audit import AuditHook
from exchange.distribution.calls import from_record
from exchange.distribution.holds import Gone, Refused, release, sell
from exchange.distribution.records import Hold, HoldState, hold_from_row, load_hold, load_lead
from exchange.distribution.trail import Trail
from exchange.errors import Conflict, NotFound
from exchange.storage import tables as t
from exchange.storage.outbox import owe_distribution
from exchange.storage.paging import newest_first
from exchange.storage.verticals import VerticalCache
from exchange.verticals import Distribution


class HoldView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The hold's id.", examples=["hold_01jp9zpdg8ps4n7e91w78f1s1y"])
    ]
    lead_id: Annotated[
        str, msgspec.Meta(description="The lead held.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    campaign_id: Annotated[
        str, msgspec.Meta(description="The campaign holding it.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"])
    ]
    buyer_id: Annotated[
        str,
        msgspec.Meta(
            description="Whose funds and caps are held.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"]
        ),
    ]
    source: Annotated[
        str,
        msgspec.Meta(
            description=(
                "How the lead reached the buyer: `push` (distribution), `pull` (a marketplace "
                "claim), `resend` (an operator sent a failed post again) or `ping` (the buyer's "
                "bid on a publisher's ping)."
            ),
            examples=["push"],
        ),
    ]
    state: Annotated[
        HoldState,
        msgspec.Meta(
            description=(
                "`held` (funds and caps reserved), `posting` (the post is out), `sold`, "
                "`released` (nothing bought; the reservation is returned) or `uncertain` (no "
                "answer to the post: the buyer is asked again with the same delivery id, or an "
                "operator decides)."
            ),
            examples=["uncertain"],
        ),
    ]
    price_cents: Annotated[
        int, msgspec.Meta(description="The price held, in cents: what a sale charges.", examples=[2500])
    ]
    delivery_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The post's delivery id (its idempotency key), once it was sent.",
            examples=["dlv_01jp9znj58yrt9whmnftdnknej"],
        ),
    ]
    # The post as sent (secrets masked) while its outcome is open.
    request: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description="The post as sent, secrets masked, while its outcome is open; null otherwise.",
            examples=[
                {
                    "adapter": "http",
                    "to": "https://api.buyer.example/post",
                    "content_type": "application/json",
                    "body": '{"first_name":"Ana","Key":"***"}',
                    "method": "POST",
                    "idempotency_key": "dlv_01jp9znj58yrt9whmnftdnknej",
                }
            ],
        ),
    ]
    reason: Annotated[
        str | None, msgspec.Meta(description="Why it was released or is uncertain.", examples=["timeout"])
    ]
    decided_by: Annotated[
        str | None,
        msgspec.Meta(
            description="The id of the operator's key that decided it; null when distribution did.",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(description="When the hold was placed (UTC).", examples=["2025-03-14T09:26:53Z"]),
    ]
    updated_at: Annotated[
        datetime,
        msgspec.Meta(description="When its state last changed (UTC).", examples=["2025-03-14T09:27:01Z"]),
    ]


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
    query = select(t.holds)
    if state == "uncertain":
        # Spelled out, so the database may read the index of uncertain holds alone.
        query = query.where(h.state == literal_column("'uncertain'"))
    for column, value in ((h.state, state), (h.lead_id, lead_id), (h.buyer_id, buyer_id)):
        if value is not None:
            query = query.where(column == value)
    async with engine.connect() as conn:
        rows, next_cursor = await newest_first(conn, query, h.id, limit=limit, cursor=cursor)
    return [hold_view(hold_from_row(row)) for row in rows], next_cursor


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
    audit: AuditHook | None = None,
) -> HoldView:
    """Settle an uncertain hold as an operator decided, and owe the lead its distribution;
    `audit` records the decision in the same transaction."""
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
        if audit is not None:
            await audit(conn)
    assert settled is not None
    return hold_view(settled)
