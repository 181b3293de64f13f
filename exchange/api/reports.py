"""Source reports over the API (finance, operator; a publisher sees its own sources)."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery

from billing.reports import SourceRow, source_report, source_score
from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.clock import day_after, day_start
from exchange.errors import field_invalid


class SourceReportRow(SourceRow, kw_only=True):
    # The closed-loop score the grader uses for this source's next leads (None: too few sales).
    score: float | None = None


class SourceReport(msgspec.Struct, kw_only=True):
    since: date
    until: date
    rows: list[SourceReportRow]


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]

    @get("/sources", summary="Per publisher and sub_id: leads, sold, returns, dispositions, revenue, margin")
    async def sources(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> SourceReport:
        principal.require("operator", "finance", "publisher")
        today = services.clock().date()
        until = until or today
        since = since or until - timedelta(days=29)
        if since > until:
            raise field_invalid("since", "invalid_value", "since is after until")
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
