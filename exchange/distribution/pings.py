"""Publisher ping-post: a publisher asks what a lead would earn before it hands over the
consumer's contact details, then posts the lead at that price.

    ping     the partial lead (no contact fields) is auctioned among the bid campaigns, as
             a lead's pings are; the best bid is held on its campaign's caps and its buyer's
             funds (a hold in state `held`, source `ping`) until `expires_at`, under the id
             the lead will take; the publisher hears its payout
    post     the whole lead, which must agree with its ping, goes through intake under that
             id; its distribution finds the held bid and posts it to that buyer, who decides
             as on any post: accepted is a sale at the held price
    expiry   a ping never posted releases its hold (jobs: `expire_pings`), so no buyer's
             funds stay held
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.distribution.auction import order, price
from exchange.distribution.eligible import affordable, select_candidates
from exchange.distribution.holds import NotHeld, place, release
from exchange.distribution.records import Hold, LeadForSale, load_hold
from exchange.distribution.sale import publisher_payout
from exchange.distribution.trail import Trail
from exchange.errors import Conflict, NotFound, field_invalid
from exchange.ids import new_id
from exchange.pipeline.intake import Posted, Received, Source, receive_fields
from exchange.pipeline.validate import zip_states
from exchange.storage import tables as t
from exchange.types import PERSONAL_FIELDS

# How long a bid is held for its post.
PING_TTL = timedelta(seconds=120)
_p = t.pings.c


class PingAnswer(msgspec.Struct, frozen=True, kw_only=True):
    ping_id: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The ping's id: post the whole lead with it (`POST /v1/posts`) before `expires_at`."
            ),
            examples=["png_01jp9zpmb0tnj63jejb8xw5bqs"],
        ),
    ]
    status: Annotated[
        str,
        msgspec.Meta(
            description="`bid` (a buyer's bid is held for this lead) or `no_bid`.", examples=["bid"]
        ),
    ]
    payout_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "What the publisher earns if the lead is posted and sold, in cents; 0 without a bid."
            ),
            examples=[1750],
        ),
    ]
    expires_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="Until when the bid is held (UTC); null without a bid.",
            examples=["2025-03-14T09:27:01Z"],
        ),
    ]


async def ping(services: Any, source: Source, fields: dict[str, Any], vertical_key: str | None) -> PingAnswer:
    """Auction the partial lead and hold the best bid for its post."""
    for name, value in fields.items():
        if name in PERSONAL_FIELDS and value not in (None, ""):
            raise field_invalid(name, "contact_in_ping", "a ping carries no contact details; post them")
    key = vertical_key or source.default_vertical
    if key is None:
        raise field_invalid("vertical", "required", "name the vertical: ?vertical=auto_insurance")
    vertical = await services.verticals.get(key)
    if vertical is None:
        raise field_invalid("vertical", "unknown_vertical", f"no vertical {key!r}")
    ctx, now = services.jobs, services.clock()
    ping_id, lead_id = new_id("png"), new_id("lead")
    offered = _with_state(fields)
    settings = vertical.distribution
    lead = LeadForSale(
        id=lead_id,
        vertical=key,
        status="pinged",
        grade=None,
        fields=offered,
        consent=None,
        payout_cents=0,
        publisher_id=source.publisher_id,
        publisher_terms=source.payout or {},
        received_at=now,
    )
    live = await ctx.catalog.active(key)
    eligible = await affordable(
        ctx.engine,
        select_candidates(live, offered, None, settings.floor_cents_by_grade, now),
        now,
        notes=ctx.alerts,
    )
    trail = Trail(lead_id)
    trail.event("publisher_ping", now, ping_id=ping_id, fields=sorted(fields))
    bids = [c for c in eligible.candidates if c.price_cents is None]  # a ping is priced by bids
    offers = await order(
        ctx.engine, key, await price(ctx.adapters, ctx.clock, lead, bids, settings, trail), settings
    )
    expires = now + PING_TTL
    async with ctx.engine.begin() as conn:
        held: Hold | None = None
        for offer in offers:
            found = await place(
                conn,
                lead_id=lead_id,
                campaign_id=offer.live.id,
                buyer_id=offer.live.campaign.buyer_id,
                caps=offer.live.campaign.caps,
                cap_timezone=offer.live.cap_timezone,
                price_cents=offer.price_cents,
                now=now,
                source="ping",
                exclusive=offer.live.campaign.exclusive,
            )
            if not isinstance(found, NotHeld):
                held = found
                break
        payout = publisher_payout(source.payout or {}, held.price_cents, None, True) if held else 0
        if held is not None:
            trail.of_hold("held_for_ping", held, now, ping_id=ping_id, expires_at=expires.isoformat())
        await trail.flush(conn)
        await conn.execute(
            t.pings.insert().values(
                id=ping_id,
                publisher_id=source.publisher_id,
                vertical=key,
                fields=fields,
                status="bid" if held else "no_bid",
                lead_id=lead_id,
                hold_id=held.id if held else None,
                price_cents=held.price_cents if held else None,
                payout_cents=payout,
                expires_at=expires,
                created_at=now,
            )
        )
    return PingAnswer(
        ping_id=ping_id,
        status="bid" if held else "no_bid",
        payout_cents=payout,
        expires_at=expires if held else None,
    )


async def post(services: Any, source: Source, ping_id: str, fields: dict[str, Any]) -> Received:
    """The whole lead of a ping that bid, through intake under the ping's lead id."""
    now = services.clock()
    async with services.engine.connect() as conn:
        found = (await conn.execute(select(t.pings).where(_p.id == ping_id))).first()
    if found is None or found.publisher_id != source.publisher_id:
        raise NotFound(f"no ping {ping_id}")
    if found.status == "no_bid":
        raise Conflict(f"ping {ping_id} had no bid; post the lead to /v1/leads", code="ping_not_bid")
    if found.status == "posted":
        raise Conflict(f"ping {ping_id} was posted already", code="ping_already_posted")
    if found.status == "expired" or now >= found.expires_at:
        raise field_invalid(
            "ping_id", "ping_expired", f"the bid was held until {found.expires_at.isoformat()}"
        )
    for name, pinged in found.fields.items():
        if name in fields and _same(fields[name]) != _same(pinged):
            raise field_invalid(name, "ping_mismatch", f"the ping said {pinged!r}")
    async with services.engine.begin() as conn:
        taken = await conn.execute(
            update(t.pings)
            .where(_p.id == ping_id, _p.status == "bid")
            .values(status="posted")
            .returning(_p.id)
        )
        if taken.first() is None:
            raise Conflict(f"ping {ping_id} was posted or expired meanwhile", code="ping_already_posted")
    posted = Posted(
        body=b"",
        content_type="application/json",
        vertical=found.vertical,
        mode="sync",
        idempotency_key=f"ping:{ping_id}",
        origin={"channel": "ping_post", "ping_id": ping_id},
        lead_id=found.lead_id,
    )
    received = await receive_fields(services, source, posted, {**found.fields, **fields})
    if found.hold_id is not None:
        # A lead rejected, a duplicate, or one no campaign could take never reaches the held
        # bid: the buyer's funds and caps go back now rather than at the ping's expiry.
        async with services.engine.begin() as conn:
            hold = await load_hold(conn, found.hold_id)
            if hold is not None and hold.state == "held":
                reason = f"its ping's lead was {received.answer.status}"
                await release(conn, hold, services.clock(), reason=reason)
    return received


async def expire_pings(engine: AsyncEngine, now: datetime) -> int:
    """Release the held bids of pings never posted; how many."""
    async with engine.connect() as conn:
        due = (
            await conn.execute(select(_p.id, _p.hold_id).where(_p.status == "bid", _p.expires_at <= now))
        ).all()
    released = 0
    for ping_id, hold_id in due:
        async with engine.begin() as conn:
            taken = await conn.execute(
                update(t.pings)
                .where(_p.id == ping_id, _p.status == "bid")
                .values(status="expired")
                .returning(_p.id)
            )
            hold = await load_hold(conn, hold_id) if hold_id and taken.first() is not None else None
            if hold is not None and hold.state == "held":
                await release(conn, hold, now, reason="its ping expired unposted")
                released += 1
    return released


def _with_state(fields: dict[str, Any]) -> dict[str, Any]:
    """The ping as campaigns filter it: the state its zip names, as a lead's is (validation
    derives it from the zip); what the publisher sent is kept as sent for its post."""
    if fields.get("state") or not fields.get("zip"):
        return fields
    state = zip_states().get(str(fields["zip"]).strip()[:5])
    return {**fields, "state": state} if state else fields


def _same(value: Any) -> str:
    return str(value).strip().lower()
