"""`GET /v1/audit` (operator): who changed what, when, from where, newest first."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from exchange.api.auth import PrincipalDep, roles
from exchange.api.params import PageLimit
from exchange.api.services import ServicesDep
from exchange.audit import AuditEntry, AuditFilter, read_changes
from exchange.clock import day_after, day_start
from exchange.types import Page


class AuditPage(Page, kw_only=True):
    items: Annotated[list[AuditEntry], msgspec.Meta(description="Changes, newest first.")]


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]

    @get(
        "/",
        summary="Changes made with operator, finance and buyer keys, newest first (operator)",
        opt=roles("operator"),
    )
    async def list_changes(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        actor: Annotated[
            str | None, QueryParameter(description="a key id, or a buyer's or publisher's id")
        ] = None,
        entity_type: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "Only changes to objects of this type: `campaign`, `publisher`, `buyer`, `key`, "
                    "`delivery`…"
                )
            ),
        ] = None,
        entity_id: Annotated[
            str | None, QueryParameter(description="Only changes to this object, by its id.")
        ] = None,
        action: Annotated[
            str | None, QueryParameter(description="Only this action, e.g. `campaign.update`.")
        ] = None,
        since: Annotated[date | None, QueryParameter(description="first UTC day, inclusive")] = None,
        until: Annotated[date | None, QueryParameter(description="last UTC day, inclusive")] = None,
        limit: PageLimit = 100,
        cursor: Annotated[
            str | None,
            QueryParameter(
                pattern=r"^[0-9]{0,18}$",
                description=(
                    "Where the page starts: the previous page's `next_cursor`; omitted: the first page."
                ),
            ),
        ] = None,
    ) -> AuditPage:
        where = AuditFilter(
            actor=actor,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            start=day_start(since) if since is not None else None,
            end=day_after(until) if until is not None else None,
        )
        async with services.engine.connect() as conn:
            items, next_cursor = await read_changes(conn, where, limit=limit, cursor=cursor)
        return AuditPage(items=items, next_cursor=next_cursor)
