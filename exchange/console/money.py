"""Money in the console: balances, the settlement and its downloads (finance, operator), and an
account's page with its balance, statement and invoice or remittance (staff, or the account).

Every figure comes from the function the API answers with (billing/settlements.py,
billing/statements.py, billing/invoices.py, the balance read of exchange/api/money.py), so a
page, its downloads and the API agree to the cent and to the byte.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import literal, select

from billing.ledger import HOUSE_ACCOUNTS, read_balance
from billing.periods import month_of, parse_month, read_period_events, read_periods, resolve_span
from billing.settlements import (
    COLUMNS,
    Settlement,
    read_settlement,
)
from billing.statements import find_account, period, read_statement
from exchange.api.auth import Principal
from exchange.api.buyers import read_buyer
from exchange.api.finance import settlement_file
from exchange.api.invoices import document_answer, may_read_document
from exchange.api.keys import keys_page
from exchange.api.money import BalanceOut, balance_out, read_account_balance
from exchange.api.params import AccountId
from exchange.api.payouts import payout_run_file
from exchange.api.publishers import read_publisher
from exchange.api.services import Services, ServicesDep
from exchange.console.fields import shown_values
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.errors import NotFound, field_invalid
from exchange.storage import tables as t

# The balances table lists this many buyers and as many publishers, by name.
BALANCE_ROWS = 200

Text = Annotated[str | None, Parameter(description="A form field; empty means not given.")]


def day_of(value: str | None, field: str) -> date | None:
    """A form's YYYY-MM-DD field, None when empty; anything else is a 422 naming the field."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise field_invalid(field, "invalid_date", f"{value!r} is not a day as YYYY-MM-DD") from None


def settlement_span(
    services: Services, month: str | None, since: str | None, until: str | None
) -> tuple[date, date]:
    """The form's period as the API reads it; nothing given is this month."""
    first, last = day_of(since, "since"), day_of(until, "until")
    if not month and first is None and last is None:
        month = month_of(services.clock())
    return resolve_span(month or None, first, last)


async def _settlement(services: Services, span: tuple[date, date]) -> Settlement:
    async with services.engine.connect() as conn:
        return await read_settlement(conn, *span)


async def balances(services: Services, viewer: Principal) -> list[tuple[str, str, BalanceOut]]:
    """(kind, name, balance) of buyers, publishers and the house accounts, as the API answers
    each one's balance: one read per kind of account, each account's balance row joined."""
    viewer.require("operator", "finance")
    found: list[tuple[str, str, BalanceOut]] = []
    b = t.account_balances.c
    house = [("exchange", account_id, f"Exchange: {account_id}", 0) for account_id in HOUSE_ACCOUNTS]
    async with services.engine.connect() as conn:
        for kind, table, credit in (
            ("buyer", t.buyers, t.buyers.c.credit_limit_cents),
            ("publisher", t.publishers, literal(0)),
        ):
            query = (
                select(table.c.id, table.c.name, credit.label("credit"), b.balance_cents, b.reserved_cents)
                .outerjoin(t.account_balances, (b.account_type == kind) & (b.account_id == table.c.id))
                .order_by(table.c.name, table.c.id)
                .limit(BALANCE_ROWS)
            )
            for row in await conn.execute(query):
                balance = balance_out(
                    row.id, kind, row.balance_cents or 0, row.reserved_cents or 0, int(row.credit)
                )
                found.append((kind, row.name, balance))
        for kind, account_id, name, credit in house:
            held = await read_balance(conn, kind, account_id)
            balance = balance_out(account_id, kind, held.balance_cents, held.reserved_cents, credit)
            found.append(("house", name, balance))
    return found


class MoneyController(Controller):
    path = "/console/money"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def money(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        month: Text = None,
        since: Text = None,
        until: Text = None,
    ) -> Response[str]:
        viewer.require("operator", "finance")
        span = settlement_span(services, month, since, until)
        settlement = await _settlement(services, span)
        query = f"since={span[0].isoformat()}&until={span[1].isoformat()}"
        # The month the period shows, to close or reopen: the one it starts in.
        shown_month = month_of(span[0])
        async with services.engine.connect() as conn:
            closed_months = {p.month for p in await read_periods(conn)}
            history = await read_period_events(conn, shown_month)
        month_end = parse_month(shown_month)[1]
        return await page(
            request,
            services,
            "money.html",
            viewer,
            title="Money",
            balances=await balances(services, viewer),
            settlement=settlement,
            columns=COLUMNS,
            month=month or "",
            since=since or "",
            until=until or "",
            download_query=query,
            shown_month=shown_month,
            month_closed=shown_month in closed_months,
            month_ended=services.clock().date() > month_end,
            history=history,
        )

    @get(["/settlement.csv", "/settlement.xlsx"], include_in_schema=False)
    async def settlement_file(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        month: Text = None,
        since: Text = None,
        until: Text = None,
    ) -> Response[bytes]:
        """The settlement as the API's download of it: the same bytes, the same file name."""
        viewer.require("operator", "finance")
        settlement = await _settlement(services, settlement_span(services, month, since, until))
        return await settlement_file(settlement, "csv" if request.url.path.endswith(".csv") else "xlsx")

    @get("/payouts.csv", include_in_schema=False)
    async def payout_run(
        self, services: ServicesDep, viewer: ViewerDep, month: Text = None
    ) -> Response[bytes]:
        """The payout run for the month, as GET /v1/payouts/proposal?format=csv gives it."""
        viewer.require("operator", "finance")
        last = parse_month(month or month_of(services.clock()))[1]
        return await payout_run_file(services, last, minimum_cents=0)


def statement_span(services: Services, since: str | None, until: str | None) -> tuple[date, date]:
    """The statement form's period; nothing given is this month up to today."""
    today = services.clock().date()
    first = day_of(since, "since") or today.replace(day=1)
    last = day_of(until, "until") or max(today, first)
    period(first, last)  # a backwards period is a 422 naming `since`
    return first, last


async def account_page(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Principal,
    account_id: str,
    since: str | None = None,
    until: str | None = None,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response[str]:
    """An account's page (staff, or the account itself): its terms, balance and statement; for
    staff the forms that record money, for operators its keys. A form's errors come back on it."""
    balance = await read_account_balance(services, viewer, account_id)
    first, last = statement_span(services, since, until)
    async with services.engine.connect() as conn:
        account = await find_account(conn, account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        statement = await read_statement(conn, account, period(first, last))
    document = {"buyer": "invoice", "publisher": "remittance"}.get(account.type)
    details: Any = None
    if account.type == "publisher":
        details = await read_publisher(services, account_id)
    elif account.type == "buyer":
        details = await read_buyer(services, account_id)
    keys = None
    if viewer.role == "operator" and details is not None:
        keys = await keys_page(services, account_id=account_id, limit=100)
    return await page(
        request,
        services,
        "account.html",
        viewer,
        status=422 if errors else 200,
        title=f"{account.name}",
        account=account,
        balance=balance,
        statement=statement,
        document=document,
        details=details,
        keys=keys,
        roles=("publisher",) if account.type == "publisher" else ("buyer",),
        verticals=[v.key for v in await services.verticals.all()],
        back=f"/console/accounts/{account_id}",
        since=first.isoformat(),
        until=last.isoformat(),
        values=shown_values(form),
        errors=errors or {},
        records_money=viewer.role in ("operator", "finance") and details is not None,
    )


class AccountController(Controller):
    path = "/console/accounts/{account_id:str}"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def account(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        account_id: AccountId,
        since: Text = None,
        until: Text = None,
    ) -> Response[str]:
        return await account_page(request, services, viewer, account_id, since, until)

    @get("/document", include_in_schema=False)
    async def document(
        self,
        services: ServicesDep,
        viewer: ViewerDep,
        account_id: AccountId,
        format: Text = None,
        since: Text = None,
        until: Text = None,
    ) -> Response[Any]:
        """The account's invoice (a buyer) or remittance (a publisher), as its API endpoint serves it."""
        if format not in ("pdf", "csv"):
            raise field_invalid("format", "invalid_choice", "format must be one of: pdf, csv")
        await read_account_balance(services, viewer, account_id)  # staff, or the account itself
        async with services.engine.connect() as conn:
            account = await find_account(conn, account_id)
        if account is None or account.type not in ("buyer", "publisher"):
            raise NotFound(f"no invoice or remittance for {account_id}")
        party_type = "buyer" if account.type == "buyer" else "publisher"
        may_read_document(viewer, party_type, account_id)
        first, last = statement_span(services, since, until)
        return await document_answer(
            services, party_type, account_id, month=None, since=first, until=last, format=format
        )
