"""Batches over HTTP: `POST /v1/leads/batch` (CSV, XLSX, XML, NDJSON) → 202, `GET /v1/batches/{id}`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import QueryParameter
from sqlalchemy import select

from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.docs import raw_body, text
from exchange.api.params import LeadBatchId
from exchange.api.services import ServicesDep
from exchange.errors import NotFound, field_invalid
from exchange.pipeline.batches import BatchView, accept_batch, batch_view, sniff_format
from exchange.storage import tables as t

# A file of 100,000 leads is about 20 MB as CSV; a batch may be a few times that.
MAX_BATCH_BYTES = 64 * 1024 * 1024


class BatchAccepted(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: Annotated[
        str,
        msgspec.Meta(
            description="The batch's id: follow its rows with `GET /v1/batches/{id}`.",
            examples=["bat_01jp9zpv5rjyvh3xeeywt5hkp7"],
        ),
    ]


class BatchController(Controller):
    tags = ["leads"]

    @post(
        "/v1/leads/batch",
        summary="Send many leads as one CSV, XLSX, XML or NDJSON file (publisher) → 202",
        status_code=202,
        request_max_body_size=MAX_BATCH_BYTES,
        opt=roles("operator", "publisher"),
        operation_class=raw_body(
            {
                "text/csv": text("a header of field names (dots nest: consent.text), then a lead a row"),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": Schema(
                    type=OpenAPIType.STRING,
                    format=OpenAPIFormat.BINARY,
                    description="the same, as a workbook",
                ),
                "application/xml": text("<leads> of <lead> elements, or an ADF document of prospects"),
                "application/x-ndjson": text("a lead's JSON object a line"),
            }
        ),
    )
    async def post_batch(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: Annotated[
            str | None,
            QueryParameter(
                description="The vertical of every row's lead; omitted: the publisher's default vertical."
            ),
        ] = None,
        publisher_id: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "For an operator's upload: the publisher the rows come from (a publisher's key "
                    "sends its own)."
                )
            ),
        ] = None,
    ) -> BatchAccepted:
        owner = _publisher_of(principal, publisher_id)
        body = await request.body()
        format = sniff_format(body, request.headers.get("content-type"))
        if format is None:
            raise field_invalid(
                "body",
                "unsupported_media_type",
                "send text/csv, an .xlsx workbook, application/xml or application/x-ndjson",
            )
        if not body.strip():
            raise field_invalid("body", "empty", "the file holds no rows")
        async with services.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(t.publishers.c.id, t.publishers.c.default_vertical).where(
                        t.publishers.c.id == owner
                    )
                )
            ).first()
        if found is None:
            raise field_invalid("publisher_id", "not_found", f"no publisher {owner}")
        key = vertical or found.default_vertical
        if key is None:
            raise field_invalid("vertical", "required", "name the vertical: ?vertical=auto_insurance")
        if await services.verticals.get(key) is None:
            raise field_invalid("vertical", "unknown_vertical", f"no vertical {key!r}")
        async with services.engine.begin() as conn:
            batch_id = await accept_batch(
                conn, publisher_id=owner, vertical=key, format=format, data=body, now=services.clock()
            )
        services.runner.notify()
        return BatchAccepted(batch_id=batch_id)

    @get(
        "/v1/batches/{batch_id:str}",
        summary="A batch's progress, and every row's outcome",
        opt=roles("operator", "publisher"),
    )
    async def get_batch(
        self, batch_id: LeadBatchId, principal: PrincipalDep, services: ServicesDep
    ) -> BatchView:
        async with services.engine.connect() as conn:
            batch = (await conn.execute(select(t.batches).where(t.batches.c.id == batch_id))).first()
            if batch is None or (
                principal.role == "publisher" and batch.publisher_id != principal.publisher_id
            ):
                raise NotFound(f"no batch {batch_id}")
            return await batch_view(conn, batch)


def _publisher_of(principal: Principal, publisher_id: str | None) -> str:
    """A publisher sends its own leads; an operator names the publisher they come from."""
    if principal.role == "publisher":
        assert principal.publisher_id is not None
        if publisher_id not in (None, principal.publisher_id):
            raise NotFound(f"no publisher {publisher_id}")
        return principal.publisher_id
    if publisher_id is None:
        raise field_invalid("publisher_id", "required", "an operator names the publisher: ?publisher_id=")
    return publisher_id
