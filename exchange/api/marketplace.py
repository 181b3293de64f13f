"""The marketplace: unsold leads listed anonymised, priced by age; a buyer claims one
through the same sale as a pushed lead (exchange/distribution/marketplace.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from exchange.api.auth import PrincipalDep
from exchange.api.leads import LeadView, lead_view_for
from exchange.api.services import ServicesDep
from exchange.distribution import marketplace as pull
from exchange.distribution.marketplace import Listing
from exchange.types import Page


class ListingPage(Page, kw_only=True):
    items: list[Listing]


class ClaimIn(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str | None = None


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
        max_age_hours: Annotated[float | None, QueryParameter(ge=0, le=87_600)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ListingPage:
        principal.require("buyer", "operator")
        items, next_cursor = await pull.listings(
            services.engine,
            await services.verticals.current(),
            services.clock(),
            vertical=vertical,
            state=state_code,
            grade=grade,
            max_age_hours=max_age_hours,
            limit=limit,
            cursor=cursor,
        )
        return ListingPage(items=items, next_cursor=next_cursor)

    @post(
        "/{lead_id:str}/claim",
        summary="Buy a listed lead at its listed price (buyer); it counts against a campaign's caps",
    )
    async def claim(
        self, lead_id: FromPath[str], data: JSONBody[ClaimIn], principal: PrincipalDep, services: ServicesDep
    ) -> LeadView:
        principal.require("buyer")
        assert principal.buyer_id is not None
        await pull.claim(
            services.engine,
            services.jobs.catalog,
            await services.verticals.current(),
            services.clock(),
            buyer_id=principal.buyer_id,
            lead_id=lead_id,
            campaign_id=data.campaign_id,
        )
        return await lead_view_for(services, principal, lead_id)
