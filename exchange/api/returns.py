"""Returns over the API: buyers return what they bought, operators decide."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from billing.returns import ReturnReason, ReturnStatus, ReturnView, decide_return, request_return, return_view
from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.errors import NotFound
from exchange.storage import tables as t
from exchange.types import Page

Note = Annotated[str, msgspec.Meta(max_length=2000)]


class ReturnIn(msgspec.Struct, frozen=True, kw_only=True):
    reason: ReturnReason
    note: Note | None = None


class DecisionIn(msgspec.Struct, frozen=True, kw_only=True):
    approve: bool
    note: Note | None = None


class ReturnDecided(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: ReturnStatus


class ReturnPage(Page, kw_only=True):
    items: list[ReturnView]


class LeadReturnController(Controller):
    path = "/v1/leads/{lead_id:str}/returns"
    tags = ["returns"]

    @post("/", summary="Return a bought lead with a reason, within the campaign's return window (buyer)")
    async def return_lead(
        self, lead_id: FromPath[str], data: JSONBody[ReturnIn], principal: PrincipalDep, services: ServicesDep
    ) -> ReturnView:
        principal.require("buyer")
        assert principal.buyer_id is not None
        async with services.engine.begin() as conn:
            return await request_return(
                conn,
                lead_id=lead_id,
                buyer_id=principal.buyer_id,
                reason=data.reason,
                note=data.note,
                now=services.clock(),
            )


class ReturnController(Controller):
    path = "/v1/returns"
    tags = ["returns"]

    @get("/", summary="Returns, newest first: all for operators and finance, its own for a buyer")
    async def list_returns(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        status: FromQuery[ReturnStatus | None] = None,
        buyer_id: FromQuery[str | None] = None,
    ) -> ReturnPage:
        principal.require("operator", "finance", "buyer")
        r = t.returns.c
        query = select(t.returns).order_by(r.id.desc()).limit(500)
        if principal.role == "buyer":
            query = query.where(r.buyer_id == principal.buyer_id)
        if status is not None:
            query = query.where(r.status == status)
        if buyer_id is not None:
            query = query.where(r.buyer_id == buyer_id)
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return ReturnPage(items=[return_view(row) for row in rows])

    @post(
        "/{return_id:str}/decision", status_code=200, summary="Approve or reject a pending return (operator)"
    )
    async def decide(
        self,
        return_id: FromPath[str],
        data: JSONBody[DecisionIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> ReturnDecided:
        principal.require("operator")
        async with services.engine.begin() as conn:
            exists = await conn.scalar(select(t.returns.c.id).where(t.returns.c.id == return_id))
            if exists is None:
                raise NotFound(f"no return {return_id}")
            decided = await decide_return(
                conn,
                return_id,
                approve=data.approve,
                note=data.note,
                by=principal.key_id,
                now=services.clock(),
            )
        return ReturnDecided(id=decided.id, status=decided.status)
