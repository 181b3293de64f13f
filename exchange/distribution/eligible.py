"""Which live campaigns may buy a lead, and why the others may not.

`select_candidates` decides from the campaigns alone (pure); `affordable` then glances at
the buyers' funds and the campaigns' caps, sparing pings that could never become sales.
Operators read the reasons in the lead's timeline ("filter state in [CA, NV]",
"schedule closed", "grade C not priced", "insufficient funds").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.alerts import AlertNotes
from buyers.campaigns import BidPricing, FixedPricing
from buyers.caps import first_full_cap, period_key
from buyers.filters import first_miss
from buyers.pricing import fixed_price, least_bid
from buyers.schedule import is_open
from exchange.distribution.catalog import LiveCampaign
from exchange.storage import tables as t


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    live: LiveCampaign
    # Known now for fixed pricing; for bid pricing the ping decides it.
    price_cents: int | None
    # The least this campaign can cost, for the funds pre-check.
    min_price_cents: int


class Eligible(msgspec.Struct, frozen=True, kw_only=True):
    """The campaigns that may buy a lead, and why each other one may not."""

    candidates: list[Candidate]
    excluded: dict[str, str]


def select_candidates(
    campaigns: list[LiveCampaign],
    fields: dict[str, Any],
    grade: str | None,
    floors: dict[str, int],
    now: datetime,
) -> Eligible:
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    for live in campaigns:
        campaign = live.campaign
        if live.unavailable is not None:
            excluded[live.id] = f"delivery unavailable: {live.unavailable}"
            continue
        miss = first_miss(campaign.filters, fields, grade)
        if miss is not None:
            excluded[live.id] = f"filter {miss.field} {miss.op} {miss.value!r}"
            continue
        if not is_open(campaign.schedule, now):
            excluded[live.id] = "schedule closed"
            continue
        pricing = campaign.pricing
        if isinstance(pricing, FixedPricing):
            price = fixed_price(pricing, grade, floors)
            if price is None:
                excluded[live.id] = f"grade {grade} not priced or under the floor"
                continue
            candidates.append(Candidate(live=live, price_cents=price, min_price_cents=price))
        else:
            assert isinstance(pricing, BidPricing)
            floor = least_bid(pricing, grade, floors)
            candidates.append(Candidate(live=live, price_cents=None, min_price_cents=floor))
    return Eligible(candidates=candidates, excluded=excluded)


_b, _a, _k = t.buyers.c, t.account_balances.c, t.cap_counters.c
_BUYER_FUNDS = (
    select(_b.id, _b.credit_limit_cents, _a.balance_cents, _a.reserved_cents)
    .outerjoin(t.account_balances, (_a.account_type == "buyer") & (_a.account_id == _b.id))
    .where(_b.id.in_(bindparam("ids", expanding=True)))
)
_CAPS_USED = select(_k.campaign_id, _k.period_key, _k.leads, _k.spend_cents).where(
    _k.campaign_id.in_(bindparam("ids", expanding=True))
)


async def buyer_funds(conn: AsyncConnection, buyer_ids: set[str]) -> dict[str, int]:
    """What each buyer may still spend: credit limit + balance - what running sales reserved."""
    return {
        row.id: row.credit_limit_cents + (row.balance_cents or 0) - (row.reserved_cents or 0)
        for row in await conn.execute(_BUYER_FUNDS, {"ids": sorted(buyer_ids)})
    }


async def caps_used(conn: AsyncConnection, campaign_ids: set[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(leads, spend_cents) counted so far, by (campaign_id, period_key)."""
    rows = await conn.execute(_CAPS_USED, {"ids": sorted(campaign_ids)})
    return {(r.campaign_id, r.period_key): (r.leads, r.spend_cents) for r in rows}


async def affordable(
    engine: AsyncEngine, eligible: Eligible, now: datetime, *, notes: AlertNotes | None = None
) -> Eligible:
    """Drop campaigns whose buyer cannot pay their least price or whose caps are full, at a glance.

    The hold reserves exactly (holds.place); this read only spares pings that could never
    become sales. `notes` hears of each one dropped, for the alerts (billing/alerts.py).
    """
    candidates = eligible.candidates
    if not candidates:
        return eligible
    buyer_ids = {c.live.campaign.buyer_id for c in candidates}
    keys = {
        (c.live.id, period_key(cap.period, now, c.live.cap_timezone))
        for c in candidates
        for cap in c.live.campaign.caps
    }
    async with engine.connect() as conn:
        funds = await buyer_funds(conn, buyer_ids)
        used = await caps_used(conn, {cid for cid, _ in keys}) if keys else {}
    kept = []
    excluded = dict(eligible.excluded)
    for c in candidates:
        campaign = c.live.campaign
        if c.min_price_cents > funds.get(campaign.buyer_id, 0):
            excluded[c.live.id] = "insufficient funds"
            if notes is not None:
                notes.short_of_funds(c.live.id)
            continue
        counted = {
            cap.period: used.get((c.live.id, period_key(cap.period, now, c.live.cap_timezone)), (0, 0))
            for cap in campaign.caps
        }
        over = first_full_cap(campaign.caps, counted, c.min_price_cents)
        if over is not None:
            full = f"cap {over.cap.period} {over.measure} {over.limit} reached"
            excluded[c.live.id] = full
            if notes is not None:
                notes.cap_full(c.live.id, full)
            continue
        kept.append(c)
    return Eligible(candidates=kept, excluded=excluded)
