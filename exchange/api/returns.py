"""Returns over the API: buyers return what they bought, operators decide."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select

from billing.returns import ReturnReason, ReturnStatus, ReturnView, decide_return, request_return, return_view
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import LeadId, ReturnId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound
from exchange.storage import tables as t
from exchange.types import Page

Note = Annotated[str, msgspec.Meta(max_length=2000)]


class ReturnIn(msgspec.Struct, frozen=True, kw_only=True):
    reason: Annotated[
        ReturnReason,
        msgspec.Meta(
            description=(
                "Why the lead was bad: `bad_phone`, `duplicate` (approved at once when the "
                "buyer bought the same consumer before), `fraud`, `not_interested` or `other`."
            ),
            examples=["bad_phone"],
        ),
    ]
    note: Annotated[
        Note | None,
        msgspec.Meta(
            description="Details for the operator deciding (up to 2000 characters).",
            examples=["number disconnected"],
        ),
    ] = None


class DecisionIn(msgspec.Struct, frozen=True, kw_only=True):
    approve: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "`true` approves (credits the buyer the price, reverses the publisher's "
                "payout); `false` rejects."
            ),
            examples=[True],
        ),
    ]
    note: Annotated[
        Note | None,
        msgspec.Meta(
            description="Why, for the buyer and the record (up to 2000 characters).",
            examples=["confirmed: number disconnected"],
        ),
    ] = None


class ReturnDecided(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The return's id.", examples=["ret_01jp9znztrp82vt03yg1j4adyn"])
    ]
    status: Annotated[
        ReturnStatus, msgspec.Meta(description="`approved` or `rejected`.", examples=["approved"])
    ]


class ReturnPage(Page, kw_only=True):
    items: Annotated[list[ReturnView], msgspec.Meta(description="Returns, newest first.")]


class LeadReturnController(Controller):
    path = "/v1/leads/{lead_id:str}/returns"
    tags = ["returns"]

    @post(
        "/",
        summary="Return a bought lead with a reason, within the campaign's return window (buyer)",
        opt=roles("buyer"),
    )
    async def return_lead(
        self, lead_id: LeadId, data: JSONBody[ReturnIn], principal: PrincipalDep, services: ServicesDep
    ) -> ReturnView:
        return await file_return(services, principal, lead_id, data)


class ReturnController(Controller):
    path = "/v1/returns"
    tags = ["returns"]

    @get(
        "/",
        summary="Returns, newest first: all for operators and finance, its own for a buyer",
        opt=roles("operator", "finance", "buyer"),
    )
    async def list_returns(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        status: Annotated[
            ReturnStatus | None,
            QueryParameter(
                description="Only returns with this status (`pending`: those awaiting a decision)."
            ),
        ] = None,
        buyer_id: Annotated[
            str | None,
            QueryParameter(description="Only this buyer's returns (a buyer's key sees its own only)."),
        ] = None,
    ) -> ReturnPage:
        return ReturnPage(items=await returns_for(services, principal, status=status, buyer_id=buyer_id))

    @post(
        "/{return_id:str}/decision",
        status_code=200,
        summary="Approve or reject a pending return (operator)",
        opt=roles("operator"),
    )
    async def decide(
        self,
        return_id: ReturnId,
        data: JSONBody[DecisionIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> ReturnDecided:
        decided = await decide_return_for(services, principal, return_id, data)
        return ReturnDecided(id=decided.id, status=decided.status)


async def file_return(services: Services, principal: Principal, lead_id: str, data: ReturnIn) -> ReturnView:
    """A buyer returns its purchase of a lead, as `POST /v1/leads/{id}/returns` does."""
    assert principal.buyer_id is not None
    now = services.clock()
    async with services.engine.begin() as conn:
        requested = await request_return(
            conn, lead_id=lead_id, buyer_id=principal.buyer_id, reason=data.reason, note=data.note, now=now
        )
        await record_change(
            conn,
            principal,
            action="return.create",
            entity_type="return",
            entity_id=requested.id,
            after=requested,
            at=now,
        )
    return requested


async def returns_for(
    services: Services, principal: Principal, *, status: str | None = None, buyer_id: str | None = None
) -> list[ReturnView]:
    """The returns `GET /v1/returns` lists to this caller, newest first (a buyer: its own)."""
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
    return [return_view(row) for row in rows]


async def decide_return_for(
    services: Services, principal: Principal, return_id: str, data: DecisionIn
) -> ReturnView:
    """An operator approves or rejects a pending return, as `POST /v1/returns/{id}/decision` does."""
    now = services.clock()
    async with services.engine.begin() as conn:
        exists = (await conn.execute(select(t.returns).where(t.returns.c.id == return_id))).first()
        if exists is None:
            raise NotFound(f"no return {return_id}")
        decided = await decide_return(
            conn, return_id, approve=data.approve, note=data.note, by=principal.key_id, now=now
        )
        await record_change(
            conn,
            principal,
            action="return.decide",
            entity_type="return",
            entity_id=return_id,
            before=return_view(exists),
            after=decided,
            at=now,
        )
    return decided
