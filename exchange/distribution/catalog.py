"""The live campaigns of each vertical, read from the database and cached for a moment.

Distribution reads them for every lead; a change made through this process's API
is seen at once, one made elsewhere within CATALOG_TTL_SECONDS. Each campaign's delivery is
read by its adapter once, here, not for every call; a campaign whose adapter is not installed
(a plugin removed) or whose stored settings no longer read stays listed with the reason, and
eligibility passes it over.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.outbound.registry import AdapterRegistry
from buyers.campaigns import Campaign
from exchange.distribution.records import campaign_from_row
from exchange.errors import Invalid
from exchange.storage import tables as t

log = logging.getLogger(__name__)

CATALOG_TTL_SECONDS = 2.0


class LiveCampaign(msgspec.Struct, frozen=True, kw_only=True):
    campaign: Campaign
    # Caps count in the schedule's zone, else the buyer's (CONTRACT.md).
    cap_timezone: str
    adapter: str
    # The delivery as its adapter read it (adapters/outbound): what `request` is given.
    config: Any = None
    # Why the campaign cannot be delivered to now, when it cannot.
    unavailable: str | None = None

    @property
    def id(self) -> str:
        return self.campaign.id


@dataclass
class CampaignCatalog:
    engine: AsyncEngine
    adapters: AdapterRegistry
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
                    select(c.id, c.config, c.created_at, c.updated_at, c.webhook_secrets, b.timezone)
                    .join(t.buyers, b.id == c.buyer_id)
                    # Archiving also pauses; the second condition keeps an archived one out even so.
                    .where(c.vertical == vertical, c.active.is_(True), c.archived_at.is_(None))
                    .order_by(c.id)
                )
            ).all()
        live = []
        for row in rows:
            campaign = campaign_from_row(row)
            zone = campaign.schedule.timezone if campaign.schedule else row.timezone
            live.append(self._live(campaign, zone, row.webhook_secrets))
        self._by_vertical[vertical] = (time.monotonic(), live)
        return live

    def _live(self, campaign: Campaign, zone: str, signing: list[dict[str, Any]] | None) -> LiveCampaign:
        delivery = campaign.delivery
        adapter = str(delivery.get("adapter"))
        if signing:
            delivery = {**delivery, "secrets": live_secrets(signing, time.time())}
        try:
            # Checked against the private-network guard when saved; the adapters guard again
            # when they connect, so loading does not resolve every buyer's host name again.
            found, config = self.adapters.configure(delivery, allow_private=True)
        except Invalid as exc:
            log.warning("campaign %s cannot be delivered to: %s", campaign.id, exc.message)
            return LiveCampaign(
                campaign=campaign, cap_timezone=zone, adapter=adapter, unavailable=exc.message
            )
        return LiveCampaign(campaign=campaign, cap_timezone=zone, adapter=found.name, config=config)


def live_secrets(signing: list[dict[str, Any]], now: float) -> list[str]:
    """The signing secrets honoured now: the current one and any rotated out less than its
    grace period ago (`until`, seconds since the epoch)."""
    return [s["secret"] for s in signing if s.get("until") is None or s["until"] > now]
