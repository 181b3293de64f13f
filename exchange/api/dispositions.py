"""Dispositions over the API: one lead as JSON, many as CSV (buyer)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.params import JSONBody

from billing.dispositions import (
    BulkOutcome,
    DispositionIn,
    DispositionView,
    RowOutcome,
    parse_row,
    read_rows,
    record_disposition,
)
from exchange.api.auth import PrincipalDep, roles
from exchange.api.docs import raw_body, text
from exchange.api.params import LeadId
from exchange.api.services import ServicesDep
from exchange.errors import NotFound


class LeadDispositionController(Controller):
    path = "/v1/leads/{lead_id:str}/dispositions"
    tags = ["dispositions"]

    @post("/", summary="Report what became of a bought lead (buyer)", opt=roles("buyer"))
    async def dispose(
        self,
        lead_id: LeadId,
        data: JSONBody[DispositionIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> DispositionView:
        assert principal.buyer_id is not None
        async with services.engine.begin() as conn:
            return await record_disposition(
                conn, lead_id=lead_id, buyer_id=principal.buyer_id, data=data, now=services.clock()
            )


class BulkDispositionController(Controller):
    path = "/v1/dispositions"
    tags = ["dispositions"]

    @post(
        "/",
        status_code=200,
        summary="Report many dispositions as text/csv (lead_id,status,revenue_cents); bad rows are named",
        opt=roles("buyer"),
        operation_class=raw_body({"text/csv": text("a header lead_id,status[,revenue_cents], a row each")}),
    )
    async def dispose_many(
        self, request: Request[Any, Any, Any], principal: PrincipalDep, services: ServicesDep
    ) -> BulkOutcome:
        assert principal.buyer_id is not None
        rows = read_rows(await request.body())
        outcomes: list[RowOutcome] = []
        now = services.clock()
        async with services.engine.begin() as conn:
            for number, row in rows:
                lead_id = (row.get("lead_id") or "").strip() or None
                try:
                    lead_id, data = parse_row(row)
                    await record_disposition(
                        conn, lead_id=lead_id, buyer_id=principal.buyer_id, data=data, now=now
                    )
                except ValueError as exc:
                    outcomes.append(
                        RowOutcome(row=number, lead_id=lead_id, status="rejected", error=str(exc))
                    )
                except NotFound:
                    outcomes.append(
                        RowOutcome(
                            row=number, lead_id=lead_id, status="rejected", error="no such lead bought by you"
                        )
                    )
                else:
                    outcomes.append(RowOutcome(row=number, lead_id=lead_id, status="accepted"))
        accepted = sum(1 for o in outcomes if o.status == "accepted")
        return BulkOutcome(accepted=accepted, rejected=len(outcomes) - accepted, rows=outcomes)
