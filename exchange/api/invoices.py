"""Invoices (buyers) and remittance statements (publishers) over the API, as JSON, CSV or PDF.

Finance and operator keys read every account's; a buyer key reads its own invoices and a
publisher key its own remittances (another account's is a 404; the other kind a 403).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import QueryParameter

from billing.documents import find_font, render_pdf
from billing.exports import CSV_MEDIA_TYPE
from billing.invoices import (
    FinanceDocument,
    Issuer,
    PartyType,
    document_csv,
    document_filename,
    document_period,
    find_party,
    read_document,
)
from billing.periods import MONTH_PATTERN
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.finance import download
from exchange.api.params import BuyerId, PublisherId
from exchange.api.services import Services, ServicesDep
from exchange.errors import NotFound

PDF_MEDIA_TYPE = "application/pdf"

Month = Annotated[
    str | None,
    QueryParameter(pattern=MONTH_PATTERN, description="a whole month, YYYY-MM, instead of since and until"),
]
Since = Annotated[date | None, QueryParameter(description="first UTC day, inclusive")]
Until = Annotated[date | None, QueryParameter(description="last UTC day, inclusive")]
Format = Annotated[
    Literal["json", "csv", "pdf"],
    QueryParameter(description="`json`, or the document as a `csv` file of its lines or a printable `pdf`."),
]


@dataclass
class DocumentOperation(Operation):
    """Documents the CSV and PDF downloads beside the JSON answer."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            for media_type, description in (
                (CSV_MEDIA_TYPE, "format=csv: a row per line, then a row per total"),
                (PDF_MEDIA_TYPE, "format=pdf: the document to print or send"),
            ):
                schema = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description=description)
                ok.content[media_type] = OpenAPIMediaType(schema=schema)


def may_read_document(principal: Principal, party_type: PartyType, account_id: str) -> None:
    """Staff read any; an account its own; the other kind of account never (403)."""
    if principal.is_staff:
        return
    principal.require(party_type)
    if account_id != (principal.buyer_id if party_type == "buyer" else principal.publisher_id):
        raise NotFound(f"no {party_type} {account_id}")


async def document_answer(
    services: Services,
    party_type: PartyType,
    account_id: str,
    *,
    month: str | None,
    since: date | None,
    until: date | None,
    format: str,
) -> Response[Any]:
    period = document_period(month, since, until)
    settings = services.settings
    issuer = Issuer(
        name=settings.company_name, address=settings.company_address, tax_id=settings.company_tax_id
    )
    async with services.engine.connect() as conn:
        party = await find_party(conn, party_type, account_id)
        if party is None:
            raise NotFound(f"no {party_type} {account_id}")
        document = await read_document(conn, party, period, issuer=issuer, issued_at=services.clock())
    if format == "json":
        return Response(document)
    if format == "csv":
        body, media_type = document_csv(document), CSV_MEDIA_TYPE
    else:
        # Setting type is CPU work: keep it off the event loop.
        body = await asyncio.to_thread(render_pdf, document, find_font(settings.document_font))
        media_type = PDF_MEDIA_TYPE
    return download(body, media_type, document_filename(document, format))


class InvoiceController(Controller):
    path = "/v1/buyers/{buyer_id:str}/invoices"
    tags = ["money"]

    @get(
        "/",
        summary="A buyer's invoice for a period: each lead charged, each return credited, the totals "
        "(finance, operator, or the buyer itself)",
        operation_class=DocumentOperation,
        opt=roles("operator", "finance", "buyer"),
    )
    async def invoice(
        self,
        buyer_id: BuyerId,
        principal: PrincipalDep,
        services: ServicesDep,
        month: Month = None,
        since: Since = None,
        until: Until = None,
        format: Format = "json",
    ) -> Response[FinanceDocument]:
        may_read_document(principal, "buyer", buyer_id)
        return await document_answer(
            services, "buyer", buyer_id, month=month, since=since, until=until, format=format
        )


class RemittanceController(Controller):
    path = "/v1/publishers/{publisher_id:str}/remittances"
    tags = ["money"]

    @get(
        "/",
        summary="A publisher's remittance statement for a period: each payout earned, each reversal, "
        "the totals (finance, operator, or the publisher itself)",
        operation_class=DocumentOperation,
        opt=roles("operator", "finance", "publisher"),
    )
    async def remittance(
        self,
        publisher_id: PublisherId,
        principal: PrincipalDep,
        services: ServicesDep,
        month: Month = None,
        since: Since = None,
        until: Until = None,
        format: Format = "json",
    ) -> Response[FinanceDocument]:
        may_read_document(principal, "publisher", publisher_id)
        return await document_answer(
            services, "publisher", publisher_id, month=month, since=since, until=until, format=format
        )
