"""An operator sends a failed post again (`POST /v1/deliveries/{id}/resend`).

The re-send is a post like any other, through the one sale path: a `posting` hold is placed
for the campaign (its caps and the buyer's funds held again), carrying the request built
afresh from the campaign's current delivery (a buyer often fixes its endpoint first) and the
failed post's own idempotency key, so a buyer that did receive the first one can tell. The
lead is owed its distribution in the same transaction, and the distribution settles the hold
as it settles any post it finds in flight: an accepting answer sells at the held price, a
refusal releases, no answer leaves it uncertain for an operator. The ledger's natural key
(`sale:LEAD:CAMPAIGN`) and the sale's room check make a second charge impossible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.audit import AuditHook
from exchange.distribution.calls import outgoing, record
from exchange.distribution.catalog import CampaignCatalog
from exchange.distribution.holds import NotHeld, place_post
from exchange.distribution.records import holds_of_lead, load_lead
from exchange.distribution.sale import sold_of_lead
from exchange.distribution.trail import Trail
from exchange.errors import Conflict, NotFound
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.outbox import owe_distribution

# Posts whose buyer did not take the lead, or whose answer never came.
RESENDABLE = frozenset({"failed", "timeout", "rejected", "unanswered"})


class Resent(msgspec.Struct, frozen=True, kw_only=True):
    delivery_id: Annotated[
        str,
        msgspec.Meta(description="The failed post sent again.", examples=["dlv_01jp9znj58yrt9whmnftdnknej"]),
    ]
    hold_id: Annotated[
        str,
        msgspec.Meta(
            description="The re-send's hold: `GET /v1/holds/{id}` shows how it settled.",
            examples=["hold_01jp9zpdg8ps4n7e91w78f1s1y"],
        ),
    ]
    lead_id: Annotated[
        str, msgspec.Meta(description="The lead sent again.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    campaign_id: Annotated[
        str,
        msgspec.Meta(
            description="The campaign it goes to, with its current delivery settings.",
            examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"],
        ),
    ]
    idempotency_key: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The key the new post carries: the failed post's own, so a buyer that did "
                "receive it can tell."
            ),
            examples=["dlv_01jp9znj58yrt9whmnftdnknej"],
        ),
    ]
    state: Annotated[
        str,
        msgspec.Meta(
            description="The hold's state now: `posting` until the distribution settles it.",
            examples=["posting"],
        ),
    ]


async def resend(
    engine: AsyncEngine,
    catalog: CampaignCatalog,
    delivery_id: str,
    *,
    by: str,
    now: datetime,
    audit: AuditHook | None = None,
) -> Resent:
    """Place the re-send's hold and owe the lead its distribution; `audit` records the request
    in the same transaction."""
    d = t.deliveries.c
    async with engine.connect() as conn:
        failed = (await conn.execute(select(t.deliveries).where(d.id == delivery_id))).first()
        lead = await load_lead(conn, failed.lead_id) if failed is not None else None
    if failed is None or lead is None:
        raise NotFound(f"no delivery {delivery_id}")
    if failed.kind != "post" or failed.status not in RESENDABLE:
        raise Conflict(
            f"delivery {delivery_id} is a {failed.kind} that ended {failed.status}; only a post that "
            f"ended {', '.join(sorted(RESENDABLE))} is sent again",
            code="not_resendable",
        )
    if lead.status not in ("sold", "unsold"):
        raise Conflict(
            f"lead {lead.id} is {lead.status}: a post is sent again once its distribution has ended",
            code="lead_not_settled",
        )
    live = next((c for c in await catalog.active(lead.vertical) if c.id == failed.campaign_id), None)
    if live is None or live.unavailable is not None:
        why = live.unavailable if live is not None else "the campaign is paused or gone"
        raise Conflict(f"campaign {failed.campaign_id} cannot take it: {why}", code="campaign_unavailable")
    key = str(failed.request.get("idempotency_key") or new_id("dlv"))
    request = outgoing(catalog.adapters, live.adapter, live.config, "post", lead.post_fields())
    trail = Trail(lead.id)
    async with engine.begin() as conn:
        if any(s.campaign_id == live.id for s in await sold_of_lead(conn, lead.id)):
            raise Conflict(f"lead {lead.id} is sold to campaign {live.id} already", code="already_sold")
        if any(h.is_open for h in await holds_of_lead(conn, lead.id)):
            raise Conflict(f"lead {lead.id} has a post in flight; wait for it", code="post_in_flight")
        hold = await place_post(
            conn,
            live,
            lead_id=lead.id,
            price_cents=failed.price_cents or 0,
            now=now,
            source="resend",
            delivery_id=key,
            request=record(request),
        )
        if isinstance(hold, NotHeld):
            raise Conflict(f"the buyer cannot take it now: {hold.reason}", code=hold.code)
        trail.of_hold("resend_requested", hold, now, delivery_id=delivery_id, by=by)
        await trail.flush(conn)
        await owe_distribution(conn, lead.id, now)
        if audit is not None:
            await audit(conn)
    return Resent(
        delivery_id=delivery_id,
        hold_id=hold.id,
        lead_id=lead.id,
        campaign_id=live.id,
        idempotency_key=key,
        state=hold.state,
    )
