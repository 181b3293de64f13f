"""Accounting periods over the API: finance closes a month; only an operator reopens one."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, Parameter

from billing.periods import (
    MONTH_PATTERN,
    PeriodEventView,
    PeriodView,
    close_month,
    parse_month,
    read_period_events,
    read_periods,
    reopen_month,
)
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import field_invalid

MonthPath = Annotated[str, Parameter(pattern=MONTH_PATTERN, description="a month, YYYY-MM")]


class CloseIn(msgspec.Struct, frozen=True, kw_only=True):
    note: Annotated[
        Annotated[str, msgspec.Meta(max_length=2000)] | None,
        msgspec.Meta(description="for the record", examples=["March 2025 books closed"]),
    ] = None


class ReopenIn(msgspec.Struct, frozen=True, kw_only=True):
    note: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=2000,
            description="why it must change again",
            examples=["a late chargeback must be booked in March"],
        ),
    ]


class PeriodList(msgspec.Struct, frozen=True, kw_only=True):
    items: Annotated[
        list[PeriodView],
        msgspec.Meta(description="The closed months, newest first (a month not listed is open)."),
    ]


class PeriodHistory(msgspec.Struct, frozen=True, kw_only=True):
    month: Annotated[str, msgspec.Meta(description="The month, YYYY-MM.", examples=["2025-03"])]
    status: Annotated[str, msgspec.Meta(description="`open` or `closed`.", examples=["closed"])]
    events: Annotated[
        list[PeriodEventView], msgspec.Meta(description="Each close and reopen of the month, in order.")
    ]


async def close_period_for(
    services: Services, principal: Principal, month: str, note: str | None
) -> PeriodView:
    """Close an ended month, audited: no posting may be dated in it afterwards."""
    now = services.clock()
    async with services.engine.begin() as conn:
        closed = await close_month(
            conn,
            month,
            by=principal.key_id,
            role=principal.role,
            note=note,
            now=now,
        )
        await record_change(
            conn,
            principal,
            action="period.close",
            entity_type="period",
            entity_id=month,
            before={"status": "open"},
            after=closed,
            at=now,
        )
    return closed


async def reopen_period_for(services: Services, principal: Principal, month: str, note: str) -> PeriodView:
    """Reopen a closed month (operators), with the reason, audited."""
    if not note.strip():
        raise field_invalid("note", "missing", "say why the month must change again")
    now = services.clock()
    async with services.engine.begin() as conn:
        reopened = await reopen_month(
            conn, month, by=principal.key_id, role=principal.role, note=note, now=now
        )
        await record_change(
            conn,
            principal,
            action="period.reopen",
            entity_type="period",
            entity_id=month,
            before={"status": "closed"},
            after={"status": "open", "note": note},
            at=now,
        )
    return reopened


class PeriodController(Controller):
    path = "/v1/periods"
    tags = ["money"]

    @get("/", summary="Closed months, newest first (finance, operator)", opt=roles("operator", "finance"))
    async def list_periods(self, principal: PrincipalDep, services: ServicesDep) -> PeriodList:
        async with services.engine.connect() as conn:
            return PeriodList(items=await read_periods(conn))

    @get(
        "/{month:str}",
        summary="A month's status and every close and reopening of it (finance, operator)",
        opt=roles("operator", "finance"),
    )
    async def period(self, month: MonthPath, principal: PrincipalDep, services: ServicesDep) -> PeriodHistory:
        parse_month(month)
        async with services.engine.connect() as conn:
            closed = {p.month for p in await read_periods(conn)}
            events = await read_period_events(conn, month)
        return PeriodHistory(month=month, status="closed" if month in closed else "open", events=events)

    @post(
        "/{month:str}/close",
        summary="Close an ended month: no posting may be dated in it afterwards (finance, operator)",
        opt=roles("operator", "finance"),
    )
    async def close(
        self,
        month: MonthPath,
        principal: PrincipalDep,
        services: ServicesDep,
        data: JSONBody[CloseIn | None] = None,
    ) -> PeriodView:
        return await close_period_for(services, principal, month, data.note if data else None)

    @post(
        "/{month:str}/reopen",
        summary="Reopen a closed month, with the reason (operator)",
        opt=roles("operator"),
    )
    async def reopen(
        self, month: MonthPath, data: JSONBody[ReopenIn], principal: PrincipalDep, services: ServicesDep
    ) -> PeriodView:
        return await reopen_period_for(services, principal, month, data.note)
