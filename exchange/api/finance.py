"""Finance over the API: ledger entries, settlements per account, and account statements.

Finance and operator keys read everything; a buyer or publisher key reads its own statement only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
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
from litestar.response import Stream

from billing.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_stream
from billing.periods import MONTH_PATTERN, resolve_span
from billing.settlements import Settlement, filename, read_settlement, settlement_csv, settlement_xlsx
from billing.statements import (
    ENTRY_COLUMNS,
    STATEMENT_COLUMNS,
    LedgerEntryView,
    Period,
    Statement,
    find_account,
    period,
    read_entries,
    read_statement,
    stream_entry_cells,
    stream_statement_cells,
)
from exchange.api.auth import PrincipalDep, roles
from exchange.api.params import AccountId, LongPageLimit, NumberCursor
from exchange.api.services import ServicesDep
from exchange.errors import NotFound
from exchange.types import Page

Since = Annotated[date | None, QueryParameter(description="first UTC day, inclusive")]
Until = Annotated[date | None, QueryParameter(description="last UTC day, inclusive")]


class LedgerEntryPage(Page, kw_only=True):
    items: Annotated[
        list[LedgerEntryView],
        msgspec.Meta(description="Ledger entries, oldest first; each transaction's entries sum to zero."),
    ]


@dataclass
class CsvOperation(Operation):
    """Documents the CSV download beside the JSON answer of a `format=json|csv` endpoint."""

    def __post_init__(self) -> None:
        _add_download(self, "text/csv", "format=csv: the same fields as columns, under a header row")


@dataclass
class SpreadsheetOperation(Operation):
    """Documents the CSV and XLSX downloads beside the JSON answer of a settlement."""

    def __post_init__(self) -> None:
        _add_download(self, "text/csv", "format=csv: the columns in order, then a TOTAL row")
        _add_download(self, XLSX_MEDIA_TYPE, "format=xlsx: the CSV's columns, then the amounts in dollars")


def _add_download(operation: Operation, media_type: str, description: str) -> None:
    ok = (operation.responses or {}).get("200")
    if isinstance(ok, OpenAPIResponse) and ok.content is not None:
        schema = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description=description)
        ok.content[media_type] = OpenAPIMediaType(schema=schema)


def download(body: bytes, media_type: str, name: str) -> Response[Any]:
    """A file to save: the body, its type, and the name a browser saves it under."""
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _csv_stream(chunks: AsyncIterator[bytes], name: str) -> Response[Any]:
    return Stream(
        chunks, media_type=CSV_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _days(span: Period) -> str:
    return f"{span.since or 'start'}_{span.until or 'now'}"


class LedgerController(Controller):
    path = "/v1/ledger"
    tags = ["money"]

    @get(
        "/entries",
        summary="Ledger entries in id order (finance, operator); format=csv streams them all",
        operation_class=CsvOperation,
        opt=roles("operator", "finance"),
    )
    async def entries(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        since: Since = None,
        until: Until = None,
        format: Annotated[
            Literal["json", "csv"],
            QueryParameter(
                description=(
                    "`json`: a page of entries; `csv`: the whole period as one file (`limit` and "
                    "`cursor` do not apply)."
                )
            ),
        ] = "json",
        limit: LongPageLimit = 100,
        cursor: NumberCursor = None,
        lead_id: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "Only the postings about this lead (its sale, returns and their reversals), "
                    "within the period if one is given."
                ),
                max_length=64,
            ),
        ] = None,
    ) -> Response[LedgerEntryPage]:
        span = period(since, until)
        if format == "csv":
            # A download is the whole period, never a page of it: limit and cursor are for JSON.
            cells = stream_entry_cells(services.engine, span, lead_id)
            return _csv_stream(csv_stream(ENTRY_COLUMNS, cells), f"ledger-entries_{_days(span)}.csv")
        async with services.engine.connect() as conn:
            items, has_more = await read_entries(conn, span, limit=limit, after_id=cursor, lead_id=lead_id)
        return Response(LedgerEntryPage(items=items, next_cursor=str(items[-1].id) if has_more else None))


class SettlementController(Controller):
    path = "/v1/settlements"
    tags = ["money"]

    @get(
        "/",
        summary="Per account: leads, gross, returns, net, balances,, payments, adjustments (finance)",
        description="One row per buyer, publisher and house account with entries up to the end of"
        " `until` (inclusive; or the whole `month`). Each row reconciles: a buyer's closing = opening +"
        " payments - net + adjustments; a publisher's closing = opening + net - payments + adjustments;"
        " the house's closing = opening + net + adjustments. Totals are per account type. `closed` says"
        " every month of the period is closed, so these figures are final.",
        operation_class=SpreadsheetOperation,
        opt=roles("operator", "finance"),
    )
    async def settlement(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        since: Since = None,
        until: Until = None,
        month: Annotated[
            str | None,
            QueryParameter(
                pattern=MONTH_PATTERN, description="a whole month, YYYY-MM, instead of since and until"
            ),
        ] = None,
        format: Annotated[
            Literal["json", "csv", "xlsx"],
            QueryParameter(
                description=(
                    "`json`, or the same columns as a `csv` or `xlsx` file ending with one `TOTAL` row "
                    "per account type."
                )
            ),
        ] = "json",
    ) -> Response[Settlement]:
        first, last = resolve_span(month, since, until)
        async with services.engine.connect() as conn:
            settlement = await read_settlement(conn, first, last)
        if format in ("csv", "xlsx"):
            return await settlement_file(settlement, format)
        return Response(settlement)


async def settlement_file(settlement: Settlement, kind: Literal["csv", "xlsx"]) -> Response[bytes]:
    """The settlement as a file: the API's download and the console's are these bytes."""
    if kind == "csv":
        return download(settlement_csv(settlement), CSV_MEDIA_TYPE, filename(settlement, "csv"))
    # Zipping a workbook is CPU work: keep it off the event loop.
    body = await asyncio.to_thread(settlement_xlsx, settlement)
    return download(body, XLSX_MEDIA_TYPE, filename(settlement, "xlsx"))


class StatementController(Controller):
    path = "/v1/accounts"
    tags = ["money"]

    @get(
        "/{account_id:str}/statement",
        summary="An account's entries with a running balance (finance, operator, or the account itself)",
        operation_class=CsvOperation,
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def statement(
        self,
        account_id: AccountId,
        principal: PrincipalDep,
        services: ServicesDep,
        since: Since = None,
        until: Until = None,
        format: Annotated[
            Literal["json", "csv"],
            QueryParameter(description="`json`, or the statement's lines as a `csv` file."),
        ] = "json",
    ) -> Response[Statement]:
        own = account_id in (principal.buyer_id, principal.publisher_id)
        if not (principal.is_staff or own):
            raise NotFound(f"no account {account_id}")
        span = period(since, until)
        async with services.engine.connect() as conn:
            account = await find_account(conn, account_id)
            if account is None:
                raise NotFound(f"no account {account_id}")
            if format == "json":
                return Response(await read_statement(conn, account, span))
        cells = stream_statement_cells(services.engine, account, span)
        return _csv_stream(csv_stream(STATEMENT_COLUMNS, cells), f"statement_{account.id}_{_days(span)}.csv")
