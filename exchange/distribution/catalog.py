"""The live campaigns of each vertical, read from the database and cached for a moment.

Distribution reads them for every lead; a change made through this process's API
is seen at once, one made elsewhere within CATALOG_TTL_SECONDS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from buyers.campaigns import Campaign, HttpStep
from exchange.distribution.records import campaign_from_row
from exchange.storage import tables as t

CATALOG_TTL_SECONDS = 2.0


class LiveCampaign(msgspec.Struct, frozen=True, kw_only=True):
    campaign: Campaign
    # Caps count in the schedule's zone, else the buyer's (CONTRACT.md).
    cap_timezone: str
    # The delivery's HTTP steps ("ping", "post"), read once rather than for every call.
    steps: dict[str, HttpStep] = msgspec.field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.campaign.id


@dataclass
class CampaignCatalog:
    engine: AsyncEngine
    _by_vertical: dict[str, tuple[float, list[LiveCampaign]]] = field(default_factory=dict)

    def invalidate(self) -> None:
        self._by_vertical.clear()

    async def active(self, vertical: str) -> list[LiveCampaign]:
        cached = self._by_vertical.get(vertical)
        if cached is not None and time.monotonic() - cached[0] < CATALOG_TTL_SECONDS:
            return cached[1]
        c, b = t.campaigns.c, t.buyers.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.id, c.config, c.created_at, c.updated_at, b.timezone)
                    .join(t.buyers, b.id == c.buyer_id)
                    .where(c.vertical == vertical, c.active.is_(True))
                    .order_by(c.id)
                )
            ).all()
        live = []
        for row in rows:
            campaign = campaign_from_row(row)
            zone = campaign.schedule.timezone if campaign.schedule else row.timezone
            steps = {
                kind: msgspec.convert(campaign.delivery[kind], HttpStep)
                for kind in ("ping", "post")
                if campaign.delivery.get("adapter", "http") == "http" and campaign.delivery.get(kind)
            }
            live.append(LiveCampaign(campaign=campaign, cap_timezone=zone, steps=steps))
        self._by_vertical[vertical] = (time.monotonic(), live)
        return live
