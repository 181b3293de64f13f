"""The delivery audit: every ping and post, what was sent and what came back (operator)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import select

from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.clock import day_start
from exchange.errors import Forbidden
from exchange.storage import tables as t
from exchange.types import Page


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    lead_id: str
    campaign_id: str
    buyer_id: str
    kind: str
    attempt: int
    status: str
    request: dict[str, Any]
    response: dict[str, Any]
    http_status: int | None
    latency_ms: float | None
    price_cents: int | None
    reason: str | None
    reference: str | None
    created_at: datetime


class DeliveryPage(Page, kw_only=True):
    items: list[DeliveryView]


def delivery_view(row: Any) -> DeliveryView:
    return DeliveryView(**{f: getattr(row, f) for f in DeliveryView.__struct_fields__})


class DeliveryController(Controller):
    path = "/v1/deliveries"
    tags = ["deliveries"]

    @get("/", summary="The delivery audit, newest first (operator)")
    async def list_deliveries(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        buyer_id: FromQuery[str | None] = None,
        lead_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> DeliveryPage:
        if principal.role != "operator":
            raise Forbidden("only operators read the delivery audit")
        d = t.deliveries.c
        query = select(t.deliveries).order_by(d.id.desc()).limit(limit + 1)
        for column, value in ((d.buyer_id, buyer_id), (d.lead_id, lead_id), (d.status, status)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(d.created_at >= day_start(since))
        if until is not None:
            query = query.where(d.created_at < day_start(until) + timedelta(days=1))
        if cursor:
            query = query.where(d.id < cursor)
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [delivery_view(row) for row in rows[:limit]]
        return DeliveryPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)
