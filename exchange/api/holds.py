"""Holds over the API: what buyers hold of leads, and the operators' decision on an
uncertain one (exchange/distribution/uncertain.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import HoldId, PageCursor, PageLimit
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.distribution import uncertain
from exchange.distribution.records import HoldState
from exchange.distribution.uncertain import HoldView
from exchange.storage import tables as t
from exchange.types import Page

Note = Annotated[str, msgspec.Meta(max_length=2000)]


class HoldPage(Page, kw_only=True):
    items: Annotated[list[HoldView], msgspec.Meta(description="Holds, newest first.")]


class HoldDecisionIn(msgspec.Struct, frozen=True, kw_only=True):
    # Whether the buyer took the lead (the operator asked it): a sale at the held price, or not.
    sold: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "What the buyer says became of the uncertain post: `true`, it took the lead (a "
                "sale at the held price); `false`, it did not (the hold is released and the "
                "lead may go elsewhere)."
            ),
            examples=[True],
        ),
    ]
    note: Annotated[
        Note | None,
        msgspec.Meta(
            description="Why, for the record (up to 2000 characters).",
            examples=["buyer confirmed by phone: lead A-1009 received"],
        ),
    ] = None


async def decide_hold_for(
    services: Services, principal: Principal, hold_id: str, *, sold: bool, note: str | None
) -> HoldView:
    """An operator's decision on an uncertain hold: a sale at the held price, or released; audited
    in the decision's own transaction."""
    now = services.clock()

    async def audit(conn: AsyncConnection) -> None:
        settled = await conn.scalar(select(t.holds.c.state).where(t.holds.c.id == hold_id))
        after = {"state": settled, **({"note": note} if note else {})}
        await record_change(
            conn,
            principal,
            action="hold.decide",
            entity_type="hold",
            entity_id=hold_id,
            before={"state": "uncertain"},
            after=after,
            at=now,
        )

    decided = await uncertain.decide(
        services.engine,
        services.verticals,
        hold_id,
        sold=sold,
        note=note,
        by=principal.key_id,
        now=now,
        audit=audit,
    )
    services.runner.notify()
    return decided


class HoldController(Controller):
    path = "/v1/holds"
    tags = ["holds"]

    @get(
        "/",
        summary="Holds of leads, newest first; state=uncertain lists those awaiting a decision",
        opt=roles("operator", "finance"),
    )
    async def list_holds(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        # `state` is a name Litestar reserves for its app state.
        hold_state: Annotated[
            HoldState | None,
            QueryParameter(
                name="state",
                description="Only holds in this state (`uncertain`: those awaiting an operator's decision).",
            ),
        ] = None,
        lead_id: Annotated[str | None, QueryParameter(description="Only holds of this lead.")] = None,
        buyer_id: Annotated[str | None, QueryParameter(description="Only this buyer's holds.")] = None,
        limit: PageLimit = 100,
        cursor: PageCursor = None,
    ) -> HoldPage:
        items, next_cursor = await uncertain.list_holds(
            services.engine, state=hold_state, lead_id=lead_id, buyer_id=buyer_id, limit=limit, cursor=cursor
        )
        return HoldPage(items=items, next_cursor=next_cursor)

    @get("/{hold_id:str}", summary="One hold (operator, finance)", opt=roles("operator", "finance"))
    async def get_hold(self, hold_id: HoldId, principal: PrincipalDep, services: ServicesDep) -> HoldView:
        return await uncertain.get_hold(services.engine, hold_id)

    @post(
        "/{hold_id:str}/decision",
        status_code=200,
        summary="Decide an uncertain hold (operator): sold at the held price, or released",
        opt=roles("operator"),
    )
    async def decide(
        self,
        hold_id: HoldId,
        data: JSONBody[HoldDecisionIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> HoldView:
        return await decide_hold_for(services, principal, hold_id, sold=data.sold, note=data.note)
