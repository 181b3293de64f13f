"""The live flow (operators): the newest leads as they arrive, and how many came each minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, get_args

from litestar import Controller, MediaType, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import String, func, select

from exchange.api.auth import Principal
from exchange.api.leads import LeadFilter, lead_page_for
from exchange.api.services import Services, ServicesDep
from exchange.console.render import ViewerDep, page, provide_viewer, render
from exchange.errors import field_invalid
from exchange.storage import tables as t
from exchange.types import LeadState

STATUSES: tuple[str, ...] = get_args(LeadState)
FLOW_ROWS = 50
WINDOW = timedelta(hours=1)

Filter = Annotated[str | None, Parameter(description="Only leads with this value ('' for any).")]


def flow_filter(
    vertical: str | None, publisher: str | None, sub_id: str | None, status: str | None
) -> LeadFilter:
    """The GET form's filters, an empty field meaning any; a status outside the set is a 422."""
    if status and status not in STATUSES:
        raise field_invalid("status", "invalid_choice", f"status must be one of: {', '.join(STATUSES)}")
    return LeadFilter(
        vertical=vertical or None,
        publisher_id=publisher or None,
        sub_id=sub_id or None,
        status=status or None,
    )


async def counts_per_minute(services: Services, only: LeadFilter) -> list[tuple[str, int]]:
    """Leads received in each minute of the last hour under these filters, newest minute first."""
    leads = t.leads.c
    if services.engine.dialect.name == "postgresql":
        utc = func.timezone("UTC", leads.received_at)
        minute = func.to_char(utc, "YYYY-MM-DD HH24:MI", type_=String)
    else:  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        minute = func.substr(leads.received_at, 1, 16, type_=String)
    query = (
        select(minute.label("minute"), func.count().label("leads"))
        .where(leads.received_at >= services.clock() - WINDOW)
        .group_by(minute)
        .order_by(minute.desc())
    )
    for column, value in (
        (leads.vertical, only.vertical),
        (leads.publisher_id, only.publisher_id),
        (leads.sub_id, only.sub_id),
        (leads.status, only.status),
    ):
        if value is not None:
            query = query.where(column == value)
    async with services.engine.connect() as conn:
        return [(row.minute, int(row.leads)) for row in await conn.execute(query)]


async def _flow(services: Services, only: LeadFilter) -> dict[str, Any]:
    leads = await lead_page_for(services, _OPERATOR, only, limit=FLOW_ROWS, cursor=None)
    counts = await counts_per_minute(services, only)
    return {
        "leads": leads.items,
        "counts": counts,
        "peak": max((n for _, n in counts), default=0),
        "updated_at": services.clock(),
    }


# The flow is the operators' view: every lead, every sale, as the API shows them to staff.
_OPERATOR = Principal(key_id="console", role="operator")


class FlowController(Controller):
    path = "/console/flow"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def flow(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        vertical: Filter = None,
        publisher: Filter = None,
        sub_id: Filter = None,
        status: Filter = None,
    ) -> Response[str]:
        viewer.require("operator")
        only = flow_filter(vertical, publisher, sub_id, status)
        live = await _flow(services, only)
        verticals = [v.key for v in await services.verticals.all()]
        return await page(
            request,
            services,
            "flow.html",
            viewer,
            title="Live flow",
            only=only,
            statuses=STATUSES,
            verticals=verticals,
            query=request.url.query,
            **live,
        )

    @get("/rows", include_in_schema=False)
    async def rows(
        self,
        services: ServicesDep,
        viewer: ViewerDep,
        vertical: Filter = None,
        publisher: Filter = None,
        sub_id: Filter = None,
        status: Filter = None,
    ) -> Response[str]:
        """The live part of the flow page, fetched every few seconds by its script."""
        viewer.require("operator")
        live = await _flow(services, flow_filter(vertical, publisher, sub_id, status))
        return Response(render("flow_live.html", **live), media_type=MediaType.HTML)
