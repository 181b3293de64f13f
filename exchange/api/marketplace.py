"""The marketplace: unsold leads listed anonymised, priced by age; a buyer claims one
through the same sale as a pushed lead (exchange/distribution/marketplace.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from exchange.api.auth import PrincipalDep, roles
from exchange.api.leads import LeadView, lead_view_for
from exchange.api.params import LeadId, PageCursor, PageLimit
from exchange.api.services import ServicesDep
from exchange.distribution import marketplace as pull
from exchange.distribution.marketplace import Listing
from exchange.types import Page


class ListingPage(Page, kw_only=True):
    items: Annotated[list[Listing], msgspec.Meta(description="Unsold leads on offer, newest first.")]


class ClaimIn(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The buyer's active campaign in the lead's vertical that buys it (its caps count "
                "it); omitted: the first of them, by priority, whose caps have room (or none, for "
                "a buyer without one)."
            ),
            examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"],
        ),
    ] = None


class MarketplaceController(Controller):
    path = "/v1/marketplace"
    tags = ["marketplace"]

    @get(
        "/",
        summary="Unsold leads, anonymised as a ping is, priced by age (buyer)",
        opt=roles("operator", "buyer"),
    )
    async def browse(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: Annotated[str | None, QueryParameter(description="Only leads of this vertical.")] = None,
        # `state` is a name Litestar reserves for its app state.
        state_code: Annotated[
            str | None, QueryParameter(name="state", description="Only leads from this state (two letters).")
        ] = None,
        grade: Annotated[str | None, QueryParameter(description="Only leads of this grade (A to D).")] = None,
        max_age_hours: Annotated[
            float | None,
            QueryParameter(ge=0, le=87_600, description="Only leads received at most this many hours ago."),
        ] = None,
        limit: PageLimit = 50,
        cursor: PageCursor = None,
    ) -> ListingPage:
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
        opt=roles("buyer"),
    )
    async def claim(
        self, lead_id: LeadId, data: JSONBody[ClaimIn], principal: PrincipalDep, services: ServicesDep
    ) -> LeadView:
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
