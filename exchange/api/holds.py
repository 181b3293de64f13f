"""Holds over the API: what buyers hold of leads, and the operators' decision on an
uncertain one (exchange/distribution/uncertain.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.distribution import uncertain
from exchange.distribution.records import HoldState
from exchange.distribution.uncertain import HoldView
from exchange.types import Page

Note = Annotated[str, msgspec.Meta(max_length=2000)]


class HoldPage(Page, kw_only=True):
    items: list[HoldView]


class HoldDecisionIn(msgspec.Struct, frozen=True, kw_only=True):
    # Whether the buyer took the lead (the operator asked it): a sale at the held price, or not.
    sold: bool
    note: Note | None = None


class HoldController(Controller):
    path = "/v1/holds"
    tags = ["holds"]

    @get("/", summary="Holds of leads, newest first; state=uncertain lists those awaiting a decision")
    async def list_holds(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        # `state` is a name Litestar reserves for its app state.
        hold_state: Annotated[HoldState | None, QueryParameter(name="state")] = None,
        lead_id: FromQuery[str | None] = None,
        buyer_id: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> HoldPage:
        principal.require("operator", "finance")
        items, next_cursor = await uncertain.list_holds(
            services.engine, state=hold_state, lead_id=lead_id, buyer_id=buyer_id, limit=limit, cursor=cursor
        )
        return HoldPage(items=items, next_cursor=next_cursor)

    @get("/{hold_id:str}", summary="One hold (operator, finance)")
    async def get_hold(
        self, hold_id: FromPath[str], principal: PrincipalDep, services: ServicesDep
    ) -> HoldView:
        principal.require("operator", "finance")
        return await uncertain.get_hold(services.engine, hold_id)

    @post(
        "/{hold_id:str}/decision",
        status_code=200,
        summary="Decide an uncertain hold (operator): sold at the held price, or released",
    )
    async def decide(
        self,
        hold_id: FromPath[str],
        data: JSONBody[HoldDecisionIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> HoldView:
        principal.require("operator")
        decided = await uncertain.decide(
            services.engine,
            services.verticals,
            hold_id,
            sold=data.sold,
            note=data.note,
            by=principal.key_id,
            now=services.clock(),
        )
        services.runner.notify()
        return decided
