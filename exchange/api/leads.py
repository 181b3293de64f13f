"""Leads: publishers post them in any format; each role reads what it may see."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from lxml import etree
from sqlalchemy import select

from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.errors import Forbidden, NotFound
from exchange.pipeline.intake import Posted, Source, receive_lead
from exchange.storage import tables as t
from exchange.types import ErrorBody, LeadAnswer, LeadStatus, Page


class Sale(msgspec.Struct, frozen=True, kw_only=True):
    buyer_id: str
    campaign_id: str
    price_cents: int
    sold_at: datetime


class LeadView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    vertical: str
    status: LeadStatus
    grade: str | None
    grade_reasons: list[str]
    publisher_id: str
    sub_id: str | None
    received_at: datetime
    fields: dict[str, Any]
    consent: dict[str, Any] | None
    payout_cents: int
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    errors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    # Absent for a publisher: it sees its payout, never a buyer or a price.
    sales: list[Sale] | None = None


class LeadPage(Page, kw_only=True):
    items: list[LeadView]


class LeadEventView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    lead_id: str
    kind: str
    at: datetime
    data: dict[str, Any]


class LeadEventPage(Page, kw_only=True):
    items: list[LeadEventView]


@dataclass
class IntakeOperation(Operation):
    """Documents the raw, multi-format body of POST /v1/leads, which no single type describes."""

    def __post_init__(self) -> None:
        fields = Schema(
            type="object", additional_properties=True, description="canonical and vertical fields"
        )
        xml = Schema(type="string", description="a <lead> of field elements, or an ADF <adf> document")
        form = Schema(type="object", additional_properties=True, description="name-value pairs; dots nest")
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(schema=fields),
                "application/x-www-form-urlencoded": OpenAPIMediaType(schema=form),
                "application/xml": OpenAPIMediaType(schema=xml),
            },
        )


_ANSWER_DOC = {
    200: ResponseSpec(
        LeadAnswer, generate_examples=False, description="a replayed request: the first answer"
    ),
    201: ResponseSpec(LeadAnswer, generate_examples=False, description="sold or unsold (mode=sync)"),
    202: ResponseSpec(
        LeadAnswer,
        generate_examples=False,
        description="accepted (mode=async): stored, distribution queued",
    ),
    409: ResponseSpec(
        LeadAnswer, generate_examples=False, description="duplicate within the vertical's window"
    ),
    422: ResponseSpec(
        LeadAnswer,
        generate_examples=False,
        description="rejected, or idempotency_mismatch (error body)",
    ),
    400: ResponseSpec(ErrorBody, generate_examples=False, description="unreadable body"),
    413: ResponseSpec(ErrorBody, generate_examples=False, description="body over the size limit"),
    415: ResponseSpec(ErrorBody, generate_examples=False, description="unsupported content type"),
}


def _answer_xml(answer: LeadAnswer) -> bytes:
    root = etree.Element("result")
    etree.SubElement(root, "lead_id").text = answer.lead_id or ""
    etree.SubElement(root, "status").text = answer.status
    etree.SubElement(root, "grade").text = answer.grade or ""
    etree.SubElement(root, "payout_cents").text = str(answer.payout_cents)
    errors = etree.SubElement(root, "errors")
    for error in answer.errors:
        node = etree.SubElement(errors, "error", field=error.field, code=error.code)
        node.text = error.message
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


def _view(row: Any, principal: PrincipalDep) -> LeadView:
    return LeadView(
        id=row.id,
        vertical=row.vertical,
        status=row.status,
        grade=row.grade,
        grade_reasons=row.grade_reasons,
        publisher_id=row.publisher_id,
        sub_id=row.sub_id,
        received_at=row.received_at,
        fields=row.fields,
        consent=row.consent,
        payout_cents=row.payout_cents,
        extra=row.extra,
        errors=row.errors,
        sales=None if principal.role == "publisher" else [],
    )


class LeadController(Controller):
    path = "/v1/leads"
    tags = ["leads"]

    @post(
        "/",
        summary="Post a lead (publisher) as JSON, name-value pairs, XML or ADF",
        operation_class=IntakeOperation,
        responses=_ANSWER_DOC,
        status_code=201,
    )
    async def post_lead(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: FromQuery[str | None] = None,
        mode: FromQuery[Literal["sync", "async"]] = "sync",
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[Any]:
        principal.require("publisher")
        assert principal.publisher_id is not None
        started = time.perf_counter()
        body = await request.body()
        result = await receive_lead(
            services,
            Source(
                publisher_id=principal.publisher_id,
                default_vertical=principal.default_vertical,
                field_mapping=principal.field_mapping,
            ),
            Posted(
                body=body,
                content_type=request.headers.get("content-type"),
                vertical=vertical,
                mode=mode,
                idempotency_key=idempotency_key,
            ),
        )
        answer = result.answer
        services.metrics.leads.labels(vertical or "-", answer.status).inc()
        services.metrics.intake_seconds.observe(time.perf_counter() - started)
        if "xml" in request.headers.get("accept", ""):
            return Response(_answer_xml(answer), status_code=result.status_code, media_type=MediaType.XML)
        return Response(answer, status_code=result.status_code, media_type=MediaType.JSON)

    @get("/", summary="A page of the leads the caller may see, newest first")
    async def list_leads(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        status: FromQuery[LeadStatus | None] = None,
        publisher_id: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> LeadPage:
        leads = t.leads.c
        query = select(t.leads).order_by(leads.id.desc()).limit(limit + 1)
        if principal.role == "publisher":
            query = query.where(leads.publisher_id == principal.publisher_id)
        elif principal.role == "buyer":
            # A buyer sees the leads it bought; sales come with distribution.
            return LeadPage(items=[], next_cursor=None)
        if publisher_id is not None:
            query = query.where(leads.publisher_id == publisher_id)
        if status is not None:
            query = query.where(leads.status == status)
        if since is not None:
            query = query.where(leads.received_at >= _day_start(since))
        if until is not None:
            query = query.where(leads.received_at < _day_start(until) + timedelta(days=1))
        if cursor:
            query = query.where(leads.id < cursor)
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_view(row, principal) for row in rows[:limit]]
        return LeadPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)

    @get("/{lead_id:str}", summary="One lead as the caller may see it")
    async def get_lead(
        self,
        lead_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> LeadView:
        async with services.engine.connect() as conn:
            row = (await conn.execute(select(t.leads).where(t.leads.c.id == lead_id))).first()
        visible = row is not None and (
            principal.is_staff
            or (principal.role == "publisher" and row.publisher_id == principal.publisher_id)
        )
        if not visible:
            raise NotFound(f"no lead {lead_id}")
        return _view(row, principal)

    @get("/{lead_id:str}/events", summary="A lead's whole timeline (operator)")
    async def lead_events(
        self,
        lead_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 500,
        cursor: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> LeadEventPage:
        if principal.role != "operator":
            raise Forbidden("only operators read a lead's events")
        e = t.lead_events.c
        async with services.engine.connect() as conn:
            exists = await conn.scalar(select(t.leads.c.id).where(t.leads.c.id == lead_id))
            if exists is None:
                raise NotFound(f"no lead {lead_id}")
            query = select(t.lead_events).where(e.lead_id == lead_id).order_by(e.id).limit(limit + 1)
            if cursor is not None:
                query = query.where(e.id > cursor)
            rows = (await conn.execute(query)).all()
        items = [
            LeadEventView(id=r.id, lead_id=r.lead_id, kind=r.kind, at=r.at, data=r.data) for r in rows[:limit]
        ]
        return LeadEventPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)
