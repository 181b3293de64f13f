"""Pull: unsold leads listed anonymised at an aged price, and a buyer's claim of one.

A claim is a sale like a pushed one (holds.py): a hold on the buyer's funds and on the
caps of the campaign it buys for, then the sale, in one transaction. Exactly one claim
of a lead wins: the sale counts the lead's sales in its own transaction, and a second
is refused. A buyer with campaigns in the lead's vertical claims for one of them (the
one named, else the first by priority whose caps allow it); a buyer with none buys
outside any campaign, under the campaign id `marketplace`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.distribution.calls import ping_fields
from exchange.distribution.catalog import CampaignCatalog, LiveCampaign
from exchange.distribution.holds import NotHeld, place, sell
from exchange.distribution.records import load_lead
from exchange.distribution.sale import Sold
from exchange.distribution.trail import Trail
from exchange.errors import Conflict, ExchangeError, NotFound, field_invalid
from exchange.storage import tables as t
from exchange.verticals import Distribution, Vertical

# The campaign id of a claim made outside any campaign.
MARKETPLACE = "marketplace"


class Listing(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: Annotated[
        str,
        msgspec.Meta(
            description="The lead on offer: claim it with `POST /v1/marketplace/{lead_id}/claim`.",
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    vertical: Annotated[str, msgspec.Meta(description="Its vertical.", examples=["auto_insurance"])]
    grade: Annotated[str | None, msgspec.Meta(description="Its grade, A (best) to D.", examples=["B"])]
    state: Annotated[
        str | None, msgspec.Meta(description="The consumer's state, two letters.", examples=["CA"])
    ]
    zip: Annotated[str | None, msgspec.Meta(description="The consumer's zip code.", examples=["94107"])]
    age_hours: Annotated[
        float, msgspec.Meta(description="Hours since the exchange received it.", examples=[26.5])
    ]
    price_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "What a claim costs now, in cents: the grade's floor reduced by the vertical's aged pricing."
            ),
            examples=[600],
        ),
    ]
    fields: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description="Its fields a ping may carry (no name, e-mail, phone, street address or IP).",
            examples=[{"state": "CA", "zip": "94107", "vehicle_year": 2019, "currently_insured": True}],
        ),
    ]


def listed_price(settings: Distribution, grade: str | None, age: timedelta) -> int | None:
    """The grade's floor, reduced by the last aged-pricing step reached; None when unpriced."""
    floor = settings.floor_cents_by_grade.get(grade or "")
    if floor is None:
        return None
    hours = age.total_seconds() / 3600
    percent = 100
    for step in sorted(settings.aged_pricing, key=lambda s: s.after_hours):
        if hours >= step.after_hours:
            percent = step.percent
    return floor * percent // 100


def _settings(verticals: dict[str, Vertical], key: str) -> Distribution:
    found = verticals.get(key)
    return found.distribution if found else Distribution()


async def listings(
    engine: AsyncEngine,
    verticals: dict[str, Vertical],
    now: datetime,
    *,
    vertical: str | None,
    state: str | None,
    grade: str | None,
    max_age_hours: float | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Listing], str | None]:
    """A page of unsold leads, newest first, and the cursor of the next page."""
    lc = t.leads.c
    query = select(lc.id, lc.vertical, lc.grade, lc.fields, lc.received_at).where(lc.status == "unsold")
    for column, value in ((lc.vertical, vertical), (lc.grade, grade)):
        if value is not None:
            query = query.where(column == value)
    if max_age_hours is not None:
        query = query.where(lc.received_at >= now - timedelta(hours=max_age_hours))
    if cursor:
        query = query.where(lc.id < cursor)
    items: list[Listing] = []
    async with engine.connect() as conn:
        # Unpriced or filtered-out rows are skipped, so read in chunks until the page fills.
        async for row in await conn.stream(query.order_by(lc.id.desc()).execution_options(yield_per=200)):
            if state is not None and str(row.fields.get("state", "")).upper() != state.upper():
                continue
            age = now - row.received_at
            price = listed_price(_settings(verticals, row.vertical), row.grade, age)
            if price is None:
                continue
            items.append(
                Listing(
                    lead_id=row.id,
                    vertical=row.vertical,
                    grade=row.grade,
                    state=row.fields.get("state"),
                    zip=row.fields.get("zip"),
                    age_hours=round(age.total_seconds() / 3600, 2),
                    price_cents=price,
                    fields=ping_fields(row.fields, row.grade, row.id),
                )
            )
            if len(items) > limit:
                break
    more = len(items) > limit
    return items[:limit], items[limit - 1].lead_id if more else None


async def claim(
    engine: AsyncEngine,
    catalog: CampaignCatalog,
    verticals: dict[str, Vertical],
    now: datetime,
    *,
    buyer_id: str,
    lead_id: str,
    campaign_id: str | None,
) -> None:
    """Sell a listed lead to the buyer at its listed price, or raise why not."""
    async with engine.connect() as conn:
        found = await load_lead(conn, lead_id)
    if found is None:
        raise NotFound(f"no listed lead {lead_id}")
    takers = await _campaigns_for(catalog, buyer_id, campaign_id, found.vertical)
    async with engine.begin() as conn:
        lead = await load_lead(conn, lead_id)
        if lead is None or lead.status != "unsold":
            if lead is not None and lead.status in ("sold", "returned"):
                raise Conflict("another buyer claimed this lead first", code="already_sold")
            raise NotFound(f"no listed lead {lead_id}")
        price = listed_price(_settings(verticals, lead.vertical), lead.grade, now - lead.received_at)
        if price is None:
            raise NotFound(f"no listed lead {lead_id}")
        held: list[NotHeld] = []
        for live in takers:
            hold = await place(
                conn,
                lead_id=lead.id,
                campaign_id=live.id if live else MARKETPLACE,
                buyer_id=buyer_id,
                caps=live.campaign.caps if live else (),
                cap_timezone=live.cap_timezone if live else "UTC",
                price_cents=price,
                now=now,
                source="pull",
                exclusive=True,  # one claim buys a listed lead, alone
            )
            if not isinstance(hold, NotHeld):
                break
            held.append(hold)
        else:
            raise _not_held(held)
        sold = await sell(conn, hold, lead, now, max_sales=1)
        if not isinstance(sold, Sold):  # a claim committed first: this transaction is undone
            raise Conflict("another buyer claimed this lead first", code="already_sold")
        trail = Trail(lead.id)
        trail.sale(hold, sold, now)
        await trail.flush(conn)


async def _campaigns_for(
    catalog: CampaignCatalog, buyer_id: str, campaign_id: str | None, vertical: str
) -> list[LiveCampaign | None]:
    """The campaigns a claim may count against, in the order to try them; [None] for a buyer
    without a campaign in the vertical (a claim outside campaigns)."""
    own = [live for live in await catalog.active(vertical) if live.campaign.buyer_id == buyer_id]
    if campaign_id is None:
        ranked: list[LiveCampaign | None] = sorted(own, key=lambda live: (live.campaign.priority, live.id))
        return ranked or [None]
    named = [live for live in own if live.id == campaign_id]
    if not named:
        raise field_invalid(
            "campaign_id",
            "invalid_value",
            f"{campaign_id} is not an active campaign of yours buying {vertical} leads",
        )
    return list(named)


def _not_held(held: list[NotHeld]) -> ExchangeError:
    if any(h.code == "insufficient_funds" for h in held):
        return ExchangeError(
            "balance and credit limit do not cover the listed price",
            code="insufficient_funds",
            status_code=402,
        )
    reasons = "; ".join(h.reason for h in held)
    return Conflict(f"the claim would pass a campaign's cap: {reasons}", code="cap_reached")
