"""The marketplace: unsold leads listed anonymised, priced by age; a buyer claims one.

Exactly one claim wins: the claim flips the lead from unsold to sold in the same
transaction that reserves the buyer's funds and posts the sale to the ledger.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select, update

from billing.ledger import reserve_funds
from exchange.api.auth import PrincipalDep
from exchange.api.leads import LeadView, lead_view_for
from exchange.api.services import Services, ServicesDep
from exchange.distribution.calls import ping_fields
from exchange.distribution.sale import Reservation, commit_sale
from exchange.errors import Conflict, ExchangeError, NotFound
from exchange.storage import tables as t
from exchange.types import Page
from exchange.verticals import Distribution


class Listing(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    vertical: str
    grade: str | None
    state: str | None
    zip: str | None
    age_hours: float
    price_cents: int
    fields: dict[str, Any]


class ListingPage(Page, kw_only=True):
    items: list[Listing]


class ClaimIn(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str | None = None


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


async def _price(services: Services, vertical: str, grade: str | None, age: timedelta) -> int | None:
    found = await services.verticals.get(vertical)
    return listed_price(found.distribution if found else Distribution(), grade, age)


class MarketplaceController(Controller):
    path = "/v1/marketplace"
    tags = ["marketplace"]

    @get("/", summary="Unsold leads, anonymised as a ping is, priced by age (buyer)")
    async def browse(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: FromQuery[str | None] = None,
        # `state` is a name Litestar reserves for its app state.
        state_code: Annotated[str | None, QueryParameter(name="state")] = None,
        grade: FromQuery[str | None] = None,
        max_age_hours: Annotated[float | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ListingPage:
        principal.require("buyer", "operator")
        now = services.clock()
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
        async with services.engine.connect() as conn:
            # Unpriced or filtered-out rows are skipped, so read in chunks until the page fills.
            async for row in await conn.stream(query.order_by(lc.id.desc()).execution_options(yield_per=200)):
                if state_code is not None and str(row.fields.get("state", "")).upper() != state_code.upper():
                    continue
                settings = await services.verticals.get(row.vertical)
                price = listed_price(
                    settings.distribution if settings else Distribution(), row.grade, now - row.received_at
                )
                if price is None:
                    continue
                items.append(
                    Listing(
                        lead_id=row.id,
                        vertical=row.vertical,
                        grade=row.grade,
                        state=row.fields.get("state"),
                        zip=row.fields.get("zip"),
                        age_hours=round((now - row.received_at).total_seconds() / 3600, 2),
                        price_cents=price,
                        fields=ping_fields(row.fields, row.grade, row.id),
                    )
                )
                if len(items) > limit:
                    break
        more = len(items) > limit
        return ListingPage(items=items[:limit], next_cursor=items[limit - 1].lead_id if more else None)

    @post("/{lead_id:str}/claim", summary="Buy a listed lead at its listed price (buyer)")
    async def claim(
        self, lead_id: FromPath[str], data: JSONBody[ClaimIn], principal: PrincipalDep, services: ServicesDep
    ) -> LeadView:
        principal.require("buyer")
        assert principal.buyer_id is not None
        buyer_id = principal.buyer_id
        now = services.clock()
        lc, c = t.leads.c, t.campaigns.c
        async with services.engine.begin() as conn:
            if data.campaign_id is not None:
                owner = await conn.scalar(select(c.buyer_id).where(c.id == data.campaign_id))
                if owner != buyer_id:
                    raise NotFound(f"no campaign {data.campaign_id}")
            # The flip from unsold to sold is the race: one claim's UPDATE matches, the others' do not.
            won = (
                await conn.execute(
                    update(t.leads)
                    .where(lc.id == lead_id, lc.status == "unsold")
                    .values(status="sold", updated_at=now)
                    .returning(lc.vertical, lc.grade, lc.received_at, lc.publisher_id)
                )
            ).first()
            if won is None:
                status = await conn.scalar(select(lc.status).where(lc.id == lead_id))
                if status in ("sold",):
                    raise Conflict("another buyer claimed this lead first", code="already_sold")
                raise NotFound(f"no listed lead {lead_id}")
            settings = await services.verticals.get(won.vertical)
            price = listed_price(
                settings.distribution if settings else Distribution(), won.grade, now - won.received_at
            )
            if price is None:
                raise NotFound(f"no listed lead {lead_id}")
            if price > 0 and not await reserve_funds(conn, buyer_id, price):
                raise ExchangeError(
                    f"balance and credit limit do not cover {price} cents",
                    code="insufficient_funds",
                    status_code=402,
                )
            terms = await conn.scalar(
                select(t.publishers.c.payout).where(t.publishers.c.id == won.publisher_id)
            )
            sold = await commit_sale(
                conn,
                Reservation(
                    campaign_id=data.campaign_id or "marketplace",
                    buyer_id=buyer_id,
                    price_cents=price,
                    counters=[],
                ),
                lead_id=lead_id,
                publisher_id=won.publisher_id,
                publisher_terms=terms or {},
                grade=won.grade,
                reference=None,
                now=now,
            )
            await conn.execute(
                t.lead_events.insert(),
                [
                    {
                        "lead_id": lead_id,
                        "kind": "claimed",
                        "at": now,
                        "data": {
                            "buyer_id": buyer_id,
                            "price_cents": price,
                            "payout_cents": sold.payout_cents,
                        },
                    },
                    {
                        "lead_id": lead_id,
                        "kind": "ledger_posted",
                        "at": now,
                        "data": {"transaction_id": sold.transaction_id, "kind": "sale"},
                    },
                ],
            )
        return await lead_view_for(services, principal, lead_id)
