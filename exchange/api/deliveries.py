"""The delivery audit: every ping and post, what was sent and what came back (operator)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import select

from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.clock import day_after, day_start
from exchange.distribution.resend import Resent, resend
from exchange.errors import Forbidden, NotFound
from exchange.jobs.file_batches import retry_batch
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
            query = query.where(d.created_at < day_after(until))
        if cursor:
            query = query.where(d.id < cursor)
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [delivery_view(row) for row in rows[:limit]]
        return DeliveryPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)

    @post(
        "/{delivery_id:str}/resend",
        summary="Send a failed post again (operator): a new hold, settled by the buyer's answer",
        status_code=202,
    )
    async def resend_delivery(
        self, delivery_id: FromPath[str], principal: PrincipalDep, services: ServicesDep
    ) -> Resent:
        if principal.role != "operator":
            raise Forbidden("only operators send deliveries again")
        resent = await resend(
            services.engine, services.jobs.catalog, delivery_id, by=principal.key_id, now=services.clock()
        )
        services.runner.notify()
        return resent


BatchState = Literal["open", "sent", "failed"]


class FileBatchView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    campaign_id: str
    state: BatchState
    leads: int
    attempts: int
    error: str | None
    file: str | None
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None


def file_batch_view(row: Any) -> FileBatchView:
    return FileBatchView(**{f: getattr(row, f) for f in FileBatchView.__struct_fields__})


class FileBatchPage(Page, kw_only=True):
    items: list[FileBatchView]


class FileBatchController(Controller):
    """Batched file deliveries (ftp, sftp): each file and how its sending went (operator)."""

    path = "/v1/file-batches"
    tags = ["deliveries"]

    @get("/", summary="Batched delivery files, newest first (operator); state=failed lists those to retry")
    async def list_file_batches(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        # `state` is a name Litestar reserves for its app state.
        batch_state: Annotated[BatchState | None, QueryParameter(name="state")] = None,
        campaign_id: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> FileBatchPage:
        if principal.role != "operator":
            raise Forbidden("only operators read file batches")
        b = t.file_batches.c
        query = select(t.file_batches).order_by(b.id.desc()).limit(limit + 1)
        for column, value in ((b.state, batch_state), (b.campaign_id, campaign_id)):
            if value is not None:
                query = query.where(column == value)
        if cursor:
            query = query.where(b.id < cursor)
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [file_batch_view(r) for r in rows]
        return FileBatchPage(
            items=items[:limit], next_cursor=items[limit - 1].id if len(rows) > limit else None
        )

    @post("/{batch_id:str}/retry", summary="Send a failed batch file again (operator)", status_code=202)
    async def retry_file_batch(
        self, batch_id: FromPath[str], principal: PrincipalDep, services: ServicesDep
    ) -> FileBatchView:
        if principal.role != "operator":
            raise Forbidden("only operators send file batches again")
        if not await retry_batch(services.engine, batch_id, services.clock()):
            raise NotFound(f"no failed file batch {batch_id}")
        async with services.engine.connect() as conn:
            row = (await conn.execute(select(t.file_batches).where(t.file_batches.c.id == batch_id))).one()
        return file_batch_view(row)
