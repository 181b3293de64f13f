"""Charts in the console (finance, operator): leads per hour by status over the last day,
sell-through and return rate per publisher and sub_id, and revenue, payout and margin per day.

The sources and the days are the figures GET /v1/reports/sources and GET /v1/reports/daily
answer with by default (the last 30 days); each chart has its numbers in a table below it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, get_args

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from sqlalchemy import String, func, select

from billing.reports import SourceRow, source_report
from exchange.api.reports import read_daily_report
from exchange.api.services import Services, ServicesDep
from exchange.clock import day_after, day_start
from exchange.console.charts import horizontal_bars, line_chart, stacked_bars
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.storage import tables as t
from exchange.types import LeadState

STATUSES: tuple[str, ...] = get_args(LeadState)
HOURS = 24
# The source report's default span, as GET /v1/reports/sources reads it.
SOURCE_DAYS = 30


def _hour_of(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H")


async def leads_per_hour(services: Services) -> tuple[list[str], dict[str, list[int]]]:
    """The last HOURS whole-or-current UTC hours, oldest first, and per status the leads received in each."""
    now = services.clock()
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [_hour_of(first + timedelta(hours=i)) for i in range(HOURS)]
    leads = t.leads.c
    if services.engine.dialect.name == "postgresql":
        hour = func.to_char(func.timezone("UTC", leads.received_at), "YYYY-MM-DD HH24", type_=String)
    else:  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        hour = func.substr(leads.received_at, 1, 13, type_=String)
    query = (
        select(hour.label("hour"), leads.status, func.count().label("leads"))
        .where(leads.received_at >= first)
        .group_by(hour, leads.status)
    )
    counts = {status: [0] * HOURS for status in STATUSES}
    index = {h: i for i, h in enumerate(hours)}
    async with services.engine.connect() as conn:
        for row in await conn.execute(query):
            if row.hour in index and row.status in counts:
                counts[row.status][index[row.hour]] = int(row.leads)
    return hours, counts


def _source_label(row: SourceRow) -> str:
    return f"{row.publisher_id} / {row.sub_id if row.sub_id is not None else '(none)'}"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _dollars(cents: float) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.0f}"


class ChartsController(Controller):
    path = "/console/charts"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def charts(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        viewer.require("operator", "finance")
        hours, per_status = await leads_per_hour(services)
        shown = [status for status in STATUSES if any(per_status[status])]
        hourly_svg = stacked_bars(
            f"Leads received per hour by status, last {HOURS} hours (UTC)",
            [h[-2:] for h in hours],
            [(status, per_status[status]) for status in shown],
        )
        until = services.clock().date()
        since = until - timedelta(days=SOURCE_DAYS - 1)
        async with services.engine.connect() as conn:
            sources = await source_report(conn, start=day_start(since), end=day_after(until))
        sources_svg = horizontal_bars(
            f"Sell-through and return rate per publisher and sub_id, {since} to {until}",
            [_source_label(row) for row in sources],
            [
                ("sell-through", [r.sell_through for r in sources]),
                ("return rate", [r.return_rate for r in sources]),
            ],
            maximum=1.0,
            fmt=_percent,
        )
        daily = await read_daily_report(services, None, None)
        daily_svg = line_chart(
            f"Revenue, payout and margin per day, {daily.since} to {daily.until}",
            [d.day.isoformat()[5:] for d in daily.days],
            [
                ("revenue", [d.revenue_cents for d in daily.days]),
                ("payout", [d.payout_cents for d in daily.days]),
                ("margin", [d.margin_cents for d in daily.days]),
            ],
            fmt=_dollars,
        )
        return await page(
            request,
            services,
            "charts.html",
            viewer,
            title="Charts",
            hours=hours,
            per_status=per_status,
            statuses=shown,
            hourly_svg=hourly_svg,
            sources=sources,
            source_label=_source_label,
            sources_svg=sources_svg,
            source_since=since,
            source_until=until,
            daily=daily,
            daily_svg=daily_svg,
        )
