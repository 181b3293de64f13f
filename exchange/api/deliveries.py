"""The delivery audit: every ping and post, what was sent and what came back (operator)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import DeliveryId, FileBatchId, PageCursor, PageLimit
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.clock import day_after, day_start
from exchange.distribution.resend import Resent, resend
from exchange.errors import Conflict, NotFound
from exchange.jobs.file_batches import retry_batch
from exchange.storage import tables as t
from exchange.storage.paging import newest_first
from exchange.types import Page


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The attempt's id: the idempotency key a post carries, and what `POST "
                "/v1/deliveries/{id}/resend` names."
            ),
            examples=["dlv_01jp9znj58yrt9whmnftdnknej"],
        ),
    ]
    lead_id: Annotated[
        str,
        msgspec.Meta(description="The lead offered or sent.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"]),
    ]
    campaign_id: Annotated[
        str, msgspec.Meta(description="The campaign it went to.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"])
    ]
    buyer_id: Annotated[
        str, msgspec.Meta(description="The campaign's buyer.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"])
    ]
    kind: Annotated[
        str,
        msgspec.Meta(
            description="`ping` (the anonymised offer asking for a bid) or `post` (the whole lead).",
            examples=["post"],
        ),
    ]
    attempt: Annotated[
        int, msgspec.Meta(description="Which attempt of this ping or post it was, from 1.", examples=[1])
    ]
    status: Annotated[
        str,
        msgspec.Meta(
            description=(
                "What came of it: for a ping `bid` or `no_bid`; for a post `accepted` or "
                "`rejected`; for either `failed` (no usable answer), `timeout`, or `unanswered` "
                "(the process sending it stopped before the answer was recorded)."
            ),
            examples=["accepted"],
        ),
    ]
    request: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "What went out, secrets masked (`***`): `adapter`, `to`, `content_type`, `body` "
                "(the first 4096 characters) and, as the adapter has them, `method`, `subject`, "
                "`file` and `idempotency_key`. Erased personal data reads `[erased]`."
            ),
            examples=[
                {
                    "adapter": "http",
                    "to": "https://api.buyer.example/post",
                    "content_type": "application/json",
                    "body": '{"first_name":"Ana","Key":"***"}',
                    "method": "POST",
                    "idempotency_key": "dlv_01jp9znj58yrt9whmnftdnknej",
                }
            ],
        ),
    ]
    response: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "What came back: `body` (the first 4096 characters, secrets masked), "
                "`content_type`, and `error` (`timeout`, `connection refused: …`; null when an "
                "answer came)."
            ),
            examples=[
                {
                    "body": '{"status":"ok","lead_ref":"A-1009"}',
                    "content_type": "application/json",
                    "error": None,
                }
            ],
        ),
    ]
    http_status: Annotated[
        int | None,
        msgspec.Meta(
            description=(
                "The transport's status code (HTTP status; an SMTP reply for e-mail); null when "
                "no answer came."
            ),
            examples=[200],
        ),
    ]
    latency_ms: Annotated[
        float | None,
        msgspec.Meta(description="From sending to the whole answer, in milliseconds.", examples=[182.4]),
    ]
    price_cents: Annotated[
        int | None,
        msgspec.Meta(
            description=(
                "For a ping, the bid as it counts (null when none or below a floor); for a "
                "post, the price of the sale it would make, in cents."
            ),
            examples=[2500],
        ),
    ]
    reason: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "Why it did not succeed, as the buyer's answer or the transport said; null otherwise."
            ),
            examples=[None, "duplicate"],
        ),
    ]
    reference: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The buyer's own id for the lead, read from its answer by the campaign's "
                "response rule; null when none."
            ),
            examples=["A-1009"],
        ),
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(description="When the attempt was made (UTC).", examples=["2025-03-14T09:26:53Z"]),
    ]


class DeliveryPage(Page, kw_only=True):
    items: Annotated[list[DeliveryView], msgspec.Meta(description="Delivery attempts, newest first.")]


def delivery_view(row: Any) -> DeliveryView:
    return DeliveryView(**{f: getattr(row, f) for f in DeliveryView.__struct_fields__})


class DeliveryController(Controller):
    path = "/v1/deliveries"
    tags = ["deliveries"]

    @get("/", summary="The delivery audit, newest first (operator)", opt=roles("operator"))
    async def list_deliveries(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        buyer_id: Annotated[
            str | None, QueryParameter(description="Only attempts to this buyer's campaigns.")
        ] = None,
        lead_id: Annotated[str | None, QueryParameter(description="Only attempts for this lead.")] = None,
        status: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "Only attempts with this status: `bid`, `no_bid`, `accepted`, `rejected`, `failed`, "
                    "`timeout` or `unanswered`."
                )
            ),
        ] = None,
        since: Annotated[
            date | None, QueryParameter(description="The first UTC day of attempts included (YYYY-MM-DD).")
        ] = None,
        until: Annotated[
            date | None, QueryParameter(description="The last UTC day of attempts included (YYYY-MM-DD).")
        ] = None,
        limit: PageLimit = 100,
        cursor: PageCursor = None,
    ) -> DeliveryPage:
        only = DeliveryFilter(buyer_id=buyer_id, lead_id=lead_id, status=status, since=since, until=until)
        return await delivery_page_for(services, only, limit=limit, cursor=cursor)

    @post(
        "/{delivery_id:str}/resend",
        summary="Send a failed post again (operator): a new hold, settled by the buyer's answer",
        status_code=202,
        opt=roles("operator"),
    )
    async def resend_delivery(
        self, delivery_id: DeliveryId, principal: PrincipalDep, services: ServicesDep
    ) -> Resent:
        return await resend_for(services, principal, delivery_id)


class DeliveryFilter(msgspec.Struct, frozen=True, kw_only=True):
    """The audit's filters, None meaning any; since and until are UTC days, both included."""

    buyer_id: str | None = None
    campaign_id: str | None = None
    lead_id: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None


async def delivery_page_for(
    services: Services, only: DeliveryFilter, *, limit: int, cursor: str | None
) -> DeliveryPage:
    """A page of the delivery audit as `GET /v1/deliveries` reads it, newest first."""
    d = t.deliveries.c
    query = select(t.deliveries)
    for column, value in (
        (d.buyer_id, only.buyer_id),
        (d.campaign_id, only.campaign_id),
        (d.lead_id, only.lead_id),
        (d.status, only.status),
    ):
        if value is not None:
            query = query.where(column == value)
    if only.since is not None:
        query = query.where(d.created_at >= day_start(only.since))
    if only.until is not None:
        query = query.where(d.created_at < day_after(only.until))
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(conn, query, d.id, limit=limit, cursor=cursor)
    return DeliveryPage(items=[delivery_view(row) for row in rows], next_cursor=next_cursor)


async def resend_for(services: Services, principal: Principal, delivery_id: str) -> Resent:
    """Send a failed post again, as `POST /v1/deliveries/{id}/resend` does, recorded in the audit."""
    now = services.clock()

    async def audit(conn: AsyncConnection) -> None:
        d = t.deliveries.c
        failed = (await conn.execute(select(d.lead_id, d.campaign_id).where(d.id == delivery_id))).one()
        await record_change(
            conn,
            principal,
            action="delivery.resend",
            entity_type="delivery",
            entity_id=delivery_id,
            after={"lead_id": failed.lead_id, "campaign_id": failed.campaign_id},
            at=now,
        )

    resent = await resend(
        services.engine, services.jobs.catalog, delivery_id, by=principal.key_id, now=now, audit=audit
    )
    services.runner.notify()
    return resent


BatchState = Literal["open", "sent", "failed"]


class FileBatchView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description="The batch's id; its file is named after it.",
            examples=["fb_01jp9zqpgrg7rczqcvydm24ze7"],
        ),
    ]
    campaign_id: Annotated[
        str,
        msgspec.Meta(
            description="The campaign whose leads it holds.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"]
        ),
    ]
    state: Annotated[
        BatchState,
        msgspec.Meta(
            description=(
                "`open` (filling, or due and being sent), `sent` (the file is stored on the "
                "buyer's server) or `failed` (its attempts spent: an operator may retry it)."
            ),
            examples=["sent"],
        ),
    ]
    leads: Annotated[int, msgspec.Meta(description="How many leads the file holds.", examples=[100])]
    attempts: Annotated[int, msgspec.Meta(description="How many uploads were tried.", examples=[1])]
    error: Annotated[
        str | None,
        msgspec.Meta(
            description="The last upload's error; null when none.",
            examples=[None, "connection refused: files.dealer.example:22"],
        ),
    ]
    file: Annotated[
        str | None,
        msgspec.Meta(
            description="The file's name on the buyer's server, once known.",
            examples=["leads-fb_01jp9zqpgrg7rczqcvydm24ze7.csv"],
        ),
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(description="When its first lead was queued (UTC).", examples=["2025-03-14T09:26:53Z"]),
    ]
    due_at: Annotated[
        datetime,
        msgspec.Meta(
            description=(
                "When it goes out at the latest: its oldest lead's time plus the campaign's "
                "`every_minutes`, or when it fills up (UTC)."
            ),
            examples=["2025-03-14T09:27:01Z"],
        ),
    ]
    sent_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When the file was stored whole (UTC); null until then.",
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]


def file_batch_view(row: Any) -> FileBatchView:
    return FileBatchView(**{f: getattr(row, f) for f in FileBatchView.__struct_fields__})


class FileBatchPage(Page, kw_only=True):
    items: Annotated[list[FileBatchView], msgspec.Meta(description="Batches, newest first.")]


class FileBatchController(Controller):
    """Batched file deliveries (ftp, sftp): each file and how its sending went (operator)."""

    path = "/v1/file-batches"
    tags = ["deliveries"]

    @get(
        "/",
        summary="Batched delivery files, newest first (operator); state=failed lists those to retry",
        opt=roles("operator"),
    )
    async def list_file_batches(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        # `state` is a name Litestar reserves for its app state.
        batch_state: Annotated[
            BatchState | None,
            QueryParameter(
                name="state", description="Only batches in this state (`failed`: those to retry)."
            ),
        ] = None,
        campaign_id: Annotated[
            str | None, QueryParameter(description="Only this campaign's batches.")
        ] = None,
        limit: PageLimit = 100,
        cursor: PageCursor = None,
    ) -> FileBatchPage:
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

    @post(
        "/{batch_id:str}/retry",
        summary="Send a failed batch file again (operator)",
        status_code=202,
        opt=roles("operator"),
    )
    async def retry_file_batch(
        self, batch_id: FileBatchId, principal: PrincipalDep, services: ServicesDep
    ) -> FileBatchView:
        now = services.clock()

        async def audit(conn: AsyncConnection) -> None:
            await record_change(
                conn,
                principal,
                action="file_batch.retry",
                entity_type="file_batch",
                entity_id=batch_id,
                before={"state": "failed"},
                after={"state": "open", "attempts": 0, "due_at": now},
                at=now,
            )

        if not await retry_batch(services.engine, batch_id, now, audit):
            async with services.engine.connect() as conn:
                b = t.file_batches.c
                state = await conn.scalar(select(b.state).where(b.id == batch_id))
            if state is None:
                raise NotFound(f"no file batch {batch_id}")
            # The batch exists: an operator is told why it is not sent again, as for a job.
            raise Conflict(f"file batch {batch_id} is {state}, not failed", code="batch_not_failed")
        async with services.engine.connect() as conn:
            row = (await conn.execute(select(t.file_batches).where(t.file_batches.c.id == batch_id))).one()
        return file_batch_view(row)
