"""Source reports over the API (finance, operator; a publisher sees its own sources)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from billing.reports import DayRow, SourceRow, daily_report, source_report, source_score
from exchange.api.auth import PrincipalDep, roles
from exchange.api.services import Services, ServicesDep
from exchange.clock import day_after, day_start
from exchange.errors import field_invalid


class SourceReportRow(SourceRow, kw_only=True):
    # The closed-loop score the grader uses for this source's next leads (None: too few sales).
    score: Annotated[
        float | None,
        msgspec.Meta(
            description=(
                "The source's quality score, 0 to 1 (0.5 ordinary), that grades its next leads: "
                "lowered by returns beyond 5% of sales, raised by buyers' closed sales; null "
                "under 10 sales."
            ),
            examples=[0.62],
        ),
    ] = None


class SourceReport(msgspec.Struct, kw_only=True):
    since: Annotated[
        date,
        msgspec.Meta(
            description="The first day of leads received counted (UTC, inclusive).", examples=["2025-03-01"]
        ),
    ]
    until: Annotated[
        date, msgspec.Meta(description="The last day counted (UTC, inclusive).", examples=["2025-03-31"])
    ]
    rows: Annotated[
        list[SourceReportRow],
        msgspec.Meta(
            description=(
                "One row per publisher and sub_id with leads in the period, by publisher then sub_id."
            ),
        ),
    ]


# The longest span the daily report answers: one row per day.
MAX_DAILY_DAYS = 366


class DailyReport(msgspec.Struct, kw_only=True):
    since: Annotated[
        date, msgspec.Meta(description="The first UTC day (inclusive).", examples=["2025-03-01"])
    ]
    until: Annotated[date, msgspec.Meta(description="The last UTC day (inclusive).", examples=["2025-03-30"])]
    days: Annotated[
        list[DayRow],
        msgspec.Meta(description="One row per UTC day from `since` to `until`, days without sales as zeros."),
    ]


def _span(services: Services, since: date | None, until: date | None) -> tuple[date, date]:
    """A report's UTC days, both included: by default the 30 ending today; backwards is a 422."""
    until = until or services.clock().date()
    since = since or until - timedelta(days=29)
    if since > until:
        raise field_invalid("since", "invalid_value", "since is after until")
    return since, until


async def read_daily_report(services: Services, since: date | None, until: date | None) -> DailyReport:
    """The span asked for (default: the last 30 days) and its rows; a backwards or too long one is a 422."""
    since, until = _span(services, since, until)
    if (until - since).days >= MAX_DAILY_DAYS:
        raise field_invalid("since", "invalid_value", f"at most {MAX_DAILY_DAYS} days at once")
    async with services.engine.connect() as conn:
        days = await daily_report(conn, since=since, until=until)
    return DailyReport(since=since, until=until, days=days)


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]

    @get(
        "/sources",
        summary="Per publisher and sub_id: leads, sold, returns, dispositions, revenue, margin",
        opt=roles("operator", "finance", "publisher"),
    )
    async def sources(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        since: Annotated[
            date | None,
            QueryParameter(
                description=(
                    "The first UTC day of leads received included (YYYY-MM-DD); omitted: 29 days before "
                    "`until`."
                )
            ),
        ] = None,
        until: Annotated[
            date | None, QueryParameter(description="The last UTC day included (YYYY-MM-DD); omitted: today.")
        ] = None,
    ) -> SourceReport:
        since, until = _span(services, since, until)
        async with services.engine.connect() as conn:
            rows = await source_report(
                conn,
                start=day_start(since),
                end=day_after(until),
                publisher_id=principal.publisher_id if principal.role == "publisher" else None,
            )
        return SourceReport(
            since=since,
            until=until,
            rows=[SourceReportRow(**msgspec.structs.asdict(r), score=source_score(r)) for r in rows],
        )

    @get(
        "/daily",
        summary="Per UTC day: revenue, payout and margin from the ledger's sales and returns "
        "(finance, operator)",
        opt=roles("operator", "finance"),
    )
    async def daily(
        self,
        services: ServicesDep,
        since: Annotated[
            date | None,
            QueryParameter(
                description="The first UTC day included (YYYY-MM-DD); omitted: 29 days before `until`."
            ),
        ] = None,
        until: Annotated[
            date | None, QueryParameter(description="The last UTC day included (YYYY-MM-DD); omitted: today.")
        ] = None,
    ) -> DailyReport:
        return await read_daily_report(services, since, until)
