"""Which live campaigns may buy a lead, and why the others may not: pure decisions.

Operators read the reasons in the lead's timeline ("filter state in [CA, NV]",
"schedule closed", "grade C not priced").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from buyers.campaigns import BidPricing, FixedPricing
from buyers.filters import first_miss
from buyers.pricing import fixed_price
from buyers.schedule import is_open
from exchange.distribution.catalog import LiveCampaign


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    live: LiveCampaign
    # Known now for fixed pricing; for bid pricing the ping decides it.
    price_cents: int | None
    # The least this campaign can cost, for the funds pre-check.
    min_price_cents: int


def select_candidates(
    campaigns: list[LiveCampaign],
    fields: dict[str, Any],
    grade: str | None,
    floors: dict[str, int],
    now: datetime,
) -> tuple[list[Candidate], dict[str, str]]:
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    for live in campaigns:
        campaign = live.campaign
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
            floor = max(pricing.floor_cents, floors.get(grade or "", 0))
            candidates.append(Candidate(live=live, price_cents=None, min_price_cents=floor))
    return candidates, excluded
