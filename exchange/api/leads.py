"""Leads: publishers post them in any format; each role reads what it may see."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import HeaderParameter, QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send
from lxml import etree
from sqlalchemy import and_, func, select

from exchange.api.auth import Principal, PrincipalDep, key_digest, roles
from exchange.api.errors import INTERNAL_ERROR, error_body
from exchange.api.limits import RateLimited
from exchange.api.params import LeadId, LongPageLimit, NumberCursor, PageCursor, PageLimit
from exchange.api.services import Services, ServicesDep
from exchange.clock import day_after, day_start
from exchange.errors import ExchangeError, NotFound
from exchange.pipeline.grade import grade_advice
from exchange.pipeline.intake import Posted, Received, Source, receive_lead
from exchange.storage import tables as t
from exchange.storage.paging import newest_first
from exchange.types import ErrorBody, LeadAnswer, LeadState, Page

log = logging.getLogger(__name__)


class Sale(msgspec.Struct, frozen=True, kw_only=True):
    buyer_id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer that bought the lead.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"]
        ),
    ]
    campaign_id: Annotated[
        str,
        msgspec.Meta(description="The campaign it was sold to.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"]),
    ]
    price_cents: Annotated[
        int, msgspec.Meta(description="What the buyer was charged, in cents.", examples=[2500])
    ]
    sold_at: Annotated[
        datetime,
        msgspec.Meta(
            description="When it was sold (UTC): the return window counts from here.",
            examples=["2025-03-14T09:27:01Z"],
        ),
    ]
    # An approved return took this sale back: the buyer was credited its price.
    returned: Annotated[
        bool,
        msgspec.Meta(
            description=("Whether an approved return took the sale back (the buyer was credited its price)."),
            examples=[False],
        ),
    ] = False


class LeadView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: Annotated[
        str, msgspec.Meta(description="The lead's id.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    vertical: Annotated[
        str, msgspec.Meta(description="The vertical it belongs to.", examples=["auto_insurance"])
    ]
    status: Annotated[
        LeadState,
        msgspec.Meta(
            description=(
                "`accepted` (stored, distribution queued), `sold`, `unsold` (valid; no buyer "
                "took it yet), `duplicate`, `rejected`, or `returned` (every sale of it was "
                "returned)."
            ),
            examples=["sold"],
        ),
    ]
    grade: Annotated[
        str | None,
        msgspec.Meta(
            description="Its quality grade, A (best) to D; null when it was not graded.", examples=["A"]
        ),
    ]
    grade_reasons: Annotated[
        list[str],
        msgspec.Meta(
            description=(
                "The signals the grade was made from, each `signal:value` (consent evidence, "
                "phone and e-mail checks, completeness, the source's score)."
            ),
            examples=[
                ["consent:trustedform", "phone:mobile", "email:ok", "completeness:0.92", "source:0.81"]
            ],
        ),
    ]
    publisher_id: Annotated[
        str,
        msgspec.Meta(description="The publisher that sent it.", examples=["pub_01jp9zn4frpfzrv0peeg471ejb"]),
    ]
    sub_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The publisher's own sub-source, as it sent it; null when none.",
            examples=["fb-campaign-12"],
        ),
    ]
    received_at: Annotated[
        datetime,
        msgspec.Meta(description="When the exchange received it (UTC).", examples=["2025-03-14T09:26:53Z"]),
    ]
    fields: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "Its canonical and vertical fields, normalised (phone in E.164, state as its "
                "two-letter code); personal ones read `[erased]` after an erasure."
            ),
            examples=[
                {
                    "first_name": "Ana",
                    "last_name": "Ruiz",
                    "email": "ana.ruiz@mail.example",
                    "phone": "+14155550123",
                    "state": "CA",
                    "zip": "94107",
                    "vehicle_year": 2019,
                }
            ],
        ),
    ]
    consent: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description=(
                "The consent evidence it came with (`text`, `timestamp`, "
                '`trustedform_cert_url`, `jornaya_leadid`), or after an erasure `{"given": '
                'true, "erased_at"}`; null when none.'
            ),
            examples=[
                {
                    "text": "I agree to be contacted about insurance quotes.",
                    "timestamp": "2025-03-14T09:26:53Z",
                    "trustedform_cert_url": "https://cert.trustedform.com/2f1c9e",
                }
            ],
        ),
    ]
    # Absent for a buyer: what the publisher earns is not the buyer's business.
    payout_cents: Annotated[
        int | None,
        msgspec.Meta(
            description=(
                "What the publisher earns for it, in cents, after returns took theirs back; "
                "absent for a buyer."
            ),
            examples=[1750],
        ),
    ] = None
    grade_advice: Annotated[
        list[str] | None,
        msgspec.Meta(
            description=(
                "Each of `grade_reasons`, in the same order, as `code: what it earned and what "
                "would raise it`, naming the optional fields the lead lacks. Only when one lead "
                "is read; absent in lists and for an ungraded lead."
            ),
            examples=[
                [
                    "consent:text: consent text with a timestamp; a TrustedForm certificate or "
                    "Jornaya LeadiD would add 13 (+12 points)",
                    "completeness:0.29: 29% of the optional fields sent (+6 points); missing fields: "
                    "gender, homeowner (add them to raise completeness, up to 14 more points)",
                ]
            ],
        ),
    ] = None
    # For staff and the publisher: payouts approved returns took back (`payout_cents` is what is left).
    payout_reversed_cents: Annotated[
        int | None,
        msgspec.Meta(
            description=(
                "The publisher's payout that approved returns took back, in cents; absent for a buyer."
            ),
            examples=[0],
        ),
    ] = None
    extra: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description="Fields it carried that are neither canonical nor the vertical's, kept as sent.",
            examples=[{"utm_source": "newsletter"}],
        ),
    ] = msgspec.field(default_factory=dict)
    errors: Annotated[
        list[dict[str, Any]],
        msgspec.Meta(
            description=("Why it was rejected, one `{field, code, message}` per problem; empty otherwise."),
            examples=[[]],
        ),
    ] = msgspec.field(default_factory=list)
    # Absent for a publisher: it sees its payout, never a buyer or a price.
    sales: Annotated[
        list[Sale] | None,
        msgspec.Meta(
            description=(
                "Its sales: all of them for staff, only its own for a buyer; absent for a "
                "publisher, which never sees a buyer or a price."
            ),
        ),
    ] = None


class LeadPage(Page, kw_only=True):
    items: Annotated[list[LeadView], msgspec.Meta(description="Leads the caller may see, newest first.")]


class LeadEventView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        int,
        msgspec.Meta(
            description="The event's number: events are numbered in the order they happened.",
            examples=[88213],
        ),
    ]
    lead_id: Annotated[
        str, msgspec.Meta(description="The lead it is about.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    kind: Annotated[
        str,
        msgspec.Meta(
            description=(
                "What happened: `received`, `validated`, `graded`, `pinged`, `posted`, `sold`, "
                "`returned`, `disposed`, `ledger_posted`…"
            ),
            examples=["pinged"],
        ),
    ]
    at: Annotated[
        datetime, msgspec.Meta(description="When it happened (UTC).", examples=["2025-03-14T09:27:01Z"])
    ]
    data: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "What there is to know about it, by kind: a ping's campaign, status and bid, a "
                "post's delivery id and latency, a sale's price…"
            ),
            examples=[
                {
                    "campaign_id": "cmp_01jp9znbag4m5qwbmbkf01meyr",
                    "delivery_id": "dlv_01jp9znj58yrt9whmnftdnknej",
                    "status": "bid",
                    "bid_cents": 2600,
                    "price_cents": 2600,
                }
            ],
        ),
    ]


class LeadEventPage(Page, kw_only=True):
    items: Annotated[
        list[LeadEventView], msgspec.Meta(description="The lead's events, in the order they happened.")
    ]


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
        LeadAnswer,
        generate_examples=False,
        description="a replayed request: the first answer (a sync request's: its lead's outcome)",
    ),
    201: ResponseSpec(LeadAnswer, generate_examples=False, description="sold or unsold (mode=sync)"),
    202: ResponseSpec(
        LeadAnswer,
        generate_examples=False,
        description="accepted: stored, distribution still owed (mode=async, or a sync request"
        " whose distribution another process finishes)",
    ),
    409: ResponseSpec(
        LeadAnswer, generate_examples=False, description="duplicate within the vertical's window"
    ),
    422: ResponseSpec(
        LeadAnswer | ErrorBody,  # type: ignore[arg-type]
        generate_examples=False,
        description="rejected, or idempotency_mismatch or a bad query parameter (error body)",
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


async def _sales(conn: Any, lead_ids: list[str], principal: Principal) -> dict[str, list[Sale]]:
    """Sales of these leads the caller may see: all for staff, its own for a buyer, none for a publisher."""
    if principal.role == "publisher" or not lead_ids:
        return {}
    s, r = t.sales.c, t.returns.c
    query = (
        select(s.lead_id, s.buyer_id, s.campaign_id, s.price_cents, s.sold_at, r.id.label("return_id"))
        .outerjoin(t.returns, and_(r.sale_id == s.id, r.status == "approved"))
        .where(s.lead_id.in_(lead_ids))
    )
    if principal.role == "buyer":
        query = query.where(s.buyer_id == principal.buyer_id)
    found: dict[str, list[Sale]] = {}
    for row in await conn.execute(query.order_by(s.sold_at, s.id)):
        found.setdefault(row.lead_id, []).append(
            Sale(
                buyer_id=row.buyer_id,
                campaign_id=row.campaign_id,
                price_cents=row.price_cents,
                sold_at=row.sold_at,
                returned=row.return_id is not None,
            )
        )
    return found


async def _reversed(conn: Any, lead_ids: list[str], principal: Principal) -> dict[str, int]:
    """Payouts approved returns took back, per lead, for those who see payouts."""
    if principal.role == "buyer" or not lead_ids:
        return {}
    r, s = t.returns.c, t.sales.c
    rows = await conn.execute(
        select(r.lead_id, func.sum(s.payout_cents))
        .join(t.sales, s.id == r.sale_id)
        .where(r.lead_id.in_(lead_ids), r.status == "approved")
        .group_by(r.lead_id)
    )
    return {lead_id: int(total) for lead_id, total in rows}


def _view(
    row: Any, principal: Principal, sales: dict[str, list[Sale]], reversed_cents: dict[str, int]
) -> LeadView:
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
        payout_cents=None if principal.role == "buyer" else row.payout_cents,
        payout_reversed_cents=reversed_cents.get(row.id),
        extra=row.extra,
        errors=row.errors,
        sales=None if principal.role == "publisher" else sales.get(row.id, []),
    )


async def lead_view_for(services: Services, principal: Principal, lead_id: str) -> LeadView:
    """The lead as this caller may see it, or 404 when it may not see it at all."""
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.leads).where(t.leads.c.id == lead_id))).first()
        sales = await _sales(conn, [lead_id], principal) if row is not None else {}
        reversed_cents = await _reversed(conn, [lead_id], principal) if row is not None else {}
    visible = row is not None and (
        principal.is_staff
        or (principal.role == "publisher" and row.publisher_id == principal.publisher_id)
        or (principal.role == "buyer" and bool(sales.get(lead_id)))
    )
    if not visible:
        raise NotFound(f"no lead {lead_id}")
    view = _view(row, principal, sales, reversed_cents)
    if row.grade_reasons:
        vertical = await services.verticals.get(row.vertical)
        missing = (
            None
            if vertical is None
            else [f.name for f in vertical.fields if not f.required and f.name not in row.fields]
        )
        view.grade_advice = grade_advice(row.grade_reasons, missing)
    return view


# The status that carries each answer of a lead not seen before (CONTRACT.md, "Leads").
_STATUS_CODES = {"sold": 201, "unsold": 201, "accepted": 202, "duplicate": 409, "rejected": 422}


def status_code(received: Received) -> int:
    """A replay is 200 with the first answer, but 202 while a sync request's outcome is owed."""
    if received.replayed:
        return 202 if received.owed else 200
    return _STATUS_CODES[received.answer.status]


def source_of(principal: Principal) -> Source:
    """A publisher key's intake terms, read with the key."""
    assert principal.publisher_id is not None
    return Source(
        publisher_id=principal.publisher_id,
        default_vertical=principal.default_vertical,
        field_mapping=principal.field_mapping,
        payout=principal.payout,
    )


async def _take_lead(services: Services, principal: Principal, posted: Posted) -> Received:
    """A publisher's lead through intake, counted in the metrics: both routes' work."""
    assert principal.publisher_id is not None
    started = time.perf_counter()
    result = await receive_lead(services, source_of(principal), posted)
    services.metrics.leads.labels(posted.vertical or "-", result.answer.status).inc()
    services.metrics.intake_seconds.observe(time.perf_counter() - started)
    return result


_FAST_QUERY = frozenset({"vertical", "mode"})
_json = msgspec.json.Encoder()


def intake_fast_path(app: ASGIApp) -> ASGIApp:
    """`POST /v1/leads` for the common request, past Litestar's per-request machinery.

    Litestar's dependency injection, parameter parsing and response building cost this
    route ≈ 80 µs per lead, a fifth of intake (docs/performance.md). The request most
    publishers send all day is answered here instead: a publisher key the process has
    seen within the key cache's second, at most `vertical` and `mode` (`sync` or `async`)
    in the query, a declared body within the size limit, a JSON answer. Anything else,
    first requests and every mistake in them included, goes on to the Litestar handler
    (`LeadController.post_lead`), which documents the route and is the reference: both
    call `_take_lead`, and errors raised by intake are answered in the same body
    (api/errors.py).
    """

    async def fast(scope: Scope, receive: Receive, send: Send) -> None:
        services = scope["app"].state.get("services")
        taken = None if services is None else _fast_request(scope, services)
        if taken is None:
            await app(scope, receive, send)
            return
        principal, posted = taken
        try:
            await services.limits.check_key(principal.key_id, principal.rate_limit)
        except RateLimited as exc:
            retry = ((b"retry-after", str(exc.retry_after).encode()),)
            await _answer(send, 429, _json.encode(error_body(exc)), retry)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        posted = msgspec.structs.replace(posted, body=b"".join(chunks))
        try:
            result = await _take_lead(services, principal, posted)
            status, body = status_code(result), _json.encode(result.answer)
        except ExchangeError as exc:
            status, body = exc.status_code, _json.encode(error_body(exc))
        except Exception:
            log.exception("unhandled error on POST /v1/leads")
            status, body = 500, _json.encode(INTERNAL_ERROR)
        await _answer(send, status, body)

    return fast


async def _answer(
    send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    start = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def _fast_request(scope: Scope, services: Services) -> tuple[Principal, Posted] | None:
    """The caller and its request, if the fast path may answer it; None sends it on."""
    if scope["method"] != "POST":
        return None
    headers = dict(scope["headers"])
    length = headers.get(b"content-length", b"")
    if not length.isdigit() or int(length) > services.settings.max_body_bytes:
        return None
    if b"xml" in headers.get(b"accept", b""):
        return None
    digest = key_digest(headers.get(b"authorization", b"").decode("latin-1"))
    principal = None if digest is None else services.principals.get(digest)
    if principal is None or principal.role != "publisher":
        return None
    query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    if not set(query) <= _FAST_QUERY or any(len(values) != 1 for values in query.values()):
        return None
    mode = query.get("mode", ["sync"])[0]
    if mode not in ("sync", "async"):
        return None
    key = headers.get(b"idempotency-key")
    content_type = headers.get(b"content-type")
    return principal, Posted(
        body=b"",
        content_type=None if content_type is None else content_type.decode("latin-1"),
        vertical=query.get("vertical", [None])[0],
        mode=mode,  # type: ignore[arg-type]
        idempotency_key=None if key is None else key.decode("latin-1"),
    )


@dataclass(frozen=True, kw_only=True)
class LeadFilter:
    """Which leads a listing keeps, besides what the caller's role lets it see."""

    status: str | None = None
    publisher_id: str | None = None
    sub_id: str | None = None
    vertical: str | None = None
    since: date | None = None
    until: date | None = None


async def lead_page_for(
    services: Services, principal: Principal, only: LeadFilter, *, limit: int, cursor: str | None
) -> LeadPage:
    """The newest leads this caller may see (a publisher its own, a buyer those it bought)."""
    leads = t.leads.c
    query = select(t.leads)
    if principal.role == "publisher":
        query = query.where(leads.publisher_id == principal.publisher_id)
    elif principal.role == "buyer":
        bought = select(t.sales.c.lead_id).where(t.sales.c.buyer_id == principal.buyer_id)
        query = query.where(leads.id.in_(bought))
    if only.publisher_id is not None:
        query = query.where(leads.publisher_id == only.publisher_id)
    if only.sub_id is not None:
        query = query.where(leads.sub_id == only.sub_id)
    if only.status is not None:
        query = query.where(leads.status == only.status)
    if only.vertical is not None:
        query = query.where(leads.vertical == only.vertical)
    if only.since is not None:
        query = query.where(leads.received_at >= day_start(only.since))
    if only.until is not None:
        query = query.where(leads.received_at < day_after(only.until))
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(conn, query, leads.id, limit=limit, cursor=cursor)
        ids = [row.id for row in rows]
        sales = await _sales(conn, ids, principal)
        reversed_cents = await _reversed(conn, ids, principal)
    items = [_view(row, principal, sales, reversed_cents) for row in rows]
    return LeadPage(items=items, next_cursor=next_cursor)


async def lead_events_for(
    services: Services, lead_id: str, *, limit: int, cursor: int | None
) -> LeadEventPage:
    """A lead's events in order, each ping and post with its delivery's request and answer."""
    e = t.lead_events.c
    async with services.engine.connect() as conn:
        exists = await conn.scalar(select(t.leads.c.id).where(t.leads.c.id == lead_id))
        if exists is None:
            raise NotFound(f"no lead {lead_id}")
        query = select(t.lead_events).where(e.lead_id == lead_id).order_by(e.id).limit(limit + 1)
        if cursor is not None:
            query = query.where(e.id > cursor)
        rows = (await conn.execute(query)).all()
        # Pings and posts keep their request and answer in the delivery audit; show them here.
        ids = [r.data["delivery_id"] for r in rows[:limit] if "delivery_id" in r.data]
        deliveries = {}
        if ids:
            d = t.deliveries.c
            found = await conn.execute(
                select(d.id, d.request, d.response, d.http_status, d.latency_ms).where(d.id.in_(ids))
            )
            deliveries = {
                r.id: {
                    "request": r.request,
                    "response": r.response,
                    "http_status": r.http_status,
                    "latency_ms": r.latency_ms,
                }
                for r in found
            }
    items = [
        LeadEventView(
            id=r.id,
            lead_id=r.lead_id,
            kind=r.kind,
            at=r.at,
            data={**r.data, "delivery": deliveries[r.data["delivery_id"]]}
            if r.data.get("delivery_id") in deliveries
            else r.data,
        )
        for r in rows[:limit]
    ]
    return LeadEventPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


class LeadController(Controller):
    path = "/v1/leads"
    tags = ["leads"]

    @post(
        "/",
        summary="Post a lead (publisher) as JSON, name-value pairs, XML or ADF",
        operation_class=IntakeOperation,
        responses=_ANSWER_DOC,
        status_code=201,
        middleware=[intake_fast_path],
        opt=roles("publisher"),
    )
    async def post_lead(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "The lead's vertical; omitted: the publisher's default vertical (an ADF document: "
                    "`auto_sales`)."
                )
            ),
        ] = None,
        mode: Annotated[
            Literal["sync", "async"],
            QueryParameter(
                description=(
                    "`sync`: answer once the lead is sold or not (201); `async`: answer once it is "
                    "stored (202), and sell it in the background."
                )
            ),
        ] = "sync",
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                description=(
                    "Makes a retry safe: the same key again answers with the first lead's answer (200) "
                    "instead of making a second lead; the same key with another body is a 422 "
                    "`idempotency_mismatch`."
                ),
            ),
        ] = None,
    ) -> Response[Any]:
        result = await _take_lead(
            services,
            principal,
            Posted(
                body=await request.body(),
                content_type=request.headers.get("content-type"),
                vertical=vertical,
                mode=mode,
                idempotency_key=idempotency_key,
            ),
        )
        answer, code = result.answer, status_code(result)
        if "xml" in request.headers.get("accept", ""):
            return Response(_answer_xml(answer), status_code=code, media_type=MediaType.XML)
        return Response(answer, status_code=code, media_type=MediaType.JSON)

    @get(
        "/",
        summary="A page of the leads the caller may see, newest first",
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def list_leads(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        status: Annotated[
            LeadState | None, QueryParameter(description="Only leads with this status.")
        ] = None,
        publisher_id: Annotated[
            str | None,
            QueryParameter(
                description="Only this publisher's leads (staff; a publisher's key sees its own only)."
            ),
        ] = None,
        vertical: Annotated[str | None, QueryParameter(description="Only leads of this vertical.")] = None,
        since: Annotated[
            date | None,
            QueryParameter(description="The first UTC day of leads received included (YYYY-MM-DD)."),
        ] = None,
        until: Annotated[
            date | None,
            QueryParameter(description="The last UTC day of leads received included (YYYY-MM-DD)."),
        ] = None,
        limit: PageLimit = 50,
        cursor: PageCursor = None,
    ) -> LeadPage:
        return await lead_page_for(
            services,
            principal,
            LeadFilter(status=status, publisher_id=publisher_id, vertical=vertical, since=since, until=until),
            limit=limit,
            cursor=cursor,
        )

    @get(
        "/{lead_id:str}",
        summary="One lead as the caller may see it",
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def get_lead(
        self,
        lead_id: LeadId,
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> LeadView:
        return await lead_view_for(services, principal, lead_id)

    @get("/{lead_id:str}/events", summary="A lead's whole timeline (operator)", opt=roles("operator"))
    async def lead_events(
        self,
        lead_id: LeadId,
        principal: PrincipalDep,
        services: ServicesDep,
        limit: LongPageLimit = 500,
        cursor: NumberCursor = None,
    ) -> LeadEventPage:
        return await lead_events_for(services, lead_id, limit=limit, cursor=cursor)
