"""What campaigns have used of their caps and bought today, for the campaign answers.

Caps are read from the counters the sale path keeps (cap_counters: sold, or held for a sale
in flight); today's leads and spend from the sales themselves, since local midnight in the
campaign's time zone (the schedule's, else the buyer's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from buyers.campaigns import Campaign, CampaignUsage
from buyers.caps import cap_usage, period_bounds, period_key
from exchange.storage import tables as t

_k, _s, _b = t.cap_counters.c, t.sales.c, t.buyers.c


async def read_usage(
    conn: AsyncConnection, campaigns: Sequence[Campaign], now: datetime
) -> dict[str, CampaignUsage]:
    """Each campaign's usage, by campaign id: a few queries for a whole page of them."""
    if not campaigns:
        return {}
    buyer_ids = {c.buyer_id for c in campaigns}
    zones_of_buyers = dict((await conn.execute(select(_b.id, _b.timezone).where(_b.id.in_(buyer_ids)))).all())
    zones = {
        c.id: c.schedule.timezone if c.schedule else zones_of_buyers.get(c.buyer_id, "UTC") for c in campaigns
    }

    wanted = {(c.id, period_key(cap.period, now, zones[c.id])) for c in campaigns for cap in c.caps}
    used: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    if wanted:
        rows = await conn.execute(
            select(_k.campaign_id, _k.period_key, _k.leads, _k.spend_cents).where(
                tuple_(_k.campaign_id, _k.period_key).in_(sorted(wanted))
            )
        )
        for row in rows:
            used[row.campaign_id][row.period_key] = (row.leads, row.spend_cents)

    today: dict[str, tuple[int, int]] = {}
    by_zone: dict[str, list[str]] = defaultdict(list)
    for campaign_id, zone in zones.items():
        by_zone[zone].append(campaign_id)
    for zone, ids in by_zone.items():
        start, end = period_bounds("day", now, zone)
        rows = await conn.execute(
            select(_s.campaign_id, func.count(), func.coalesce(func.sum(_s.price_cents), 0))
            .where(_s.campaign_id.in_(ids), _s.sold_at >= start, _s.sold_at < end)
            .group_by(_s.campaign_id)
        )
        today |= {campaign_id: (int(leads), int(spend)) for campaign_id, leads, spend in rows}

    return {
        c.id: CampaignUsage(
            timezone=zones[c.id],
            caps=cap_usage(c.caps, used[c.id], now, zones[c.id]),
            leads_today=today.get(c.id, (0, 0))[0],
            spend_today_cents=today.get(c.id, (0, 0))[1],
        )
        for c in campaigns
    }
