"""Money recorded from the console (finance, operators): a buyer's payment and a publisher's
payout on the account's page, and a month closed (or reopened, by an operator) on the money page.

Each goes through the API's own function (exchange/api/money.py, payouts.py, periods.py):
the same checks, the same one-posting-per-reference, the same audit row. Amounts are typed in
dollars and cents as people write them ("1,250.00") and turned into integer cents exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, post
from litestar.di import Provide
from litestar.response import Redirect

from billing.periods import parse_month
from exchange.api.auth import Principal
from exchange.api.money import PaymentIn, record_payment_for
from exchange.api.params import AccountId
from exchange.api.payouts import PayoutIn, record_payout_for
from exchange.api.periods import MonthPath, close_period_for, reopen_period_for
from exchange.api.services import ServicesDep
from exchange.console.fields import converted, form_of, placed_errors, text
from exchange.console.money import account_page
from exchange.console.render import ViewerDep, provide_viewer
from exchange.errors import ExchangeError, field_invalid

# The API's field names, shown beside the form's own.
_AS_FORM = {"amount_cents": "amount"}
MONEY_FIELDS = {"amount", "reference", "effective_date", "note", "force"}


def cents_of(typed: str, field: str = "amount", *, zero_allowed: bool = False) -> int:
    """'1,250.5', '$1250.50' or '1250' as cents; empty, not above zero, more than two decimals
    or not a number is a 422 naming the field."""
    cleaned = typed.strip().replace(",", "").removeprefix("$").strip()
    if not cleaned:
        raise field_invalid(field, "required", "give the amount in dollars, such as 1250.00")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise field_invalid(field, "not_an_amount", f"{typed!r} is not an amount such as 1250.00") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise field_invalid(field, "not_an_amount", f"{typed!r}: give dollars with at most two decimals")
    if amount < 0 or (amount == 0 and not zero_allowed):
        least = "0.00 or more" if zero_allowed else "more than 0.00"
        raise field_invalid(field, "out_of_range", f"{typed!r}: the amount must be {least}")
    return int(amount * 100)


def _transfer_body(form: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"amount_cents": cents_of(text(form, "amount"))}
    body["reference"] = text(form, "reference")
    if text(form, "effective_date"):
        body["effective_date"] = text(form, "effective_date")
    return body


def _errors_of(exc: ExchangeError) -> dict[str, list[str]]:
    return placed_errors(exc, MONEY_FIELDS, _AS_FORM)


class MoneyActionsController(Controller):
    path = "/console/accounts/{account_id:str}"
    dependencies = {"viewer": Provide(provide_viewer)}

    @post("/payments", include_in_schema=False, status_code=303)
    async def payment(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, account_id: AccountId
    ) -> Response[Any]:
        """Record a buyer's payment; back on its page, the statement shows it."""
        return await _record(request, services, viewer, account_id, "payment")

    @post("/payouts", include_in_schema=False, status_code=303)
    async def payout(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, account_id: AccountId
    ) -> Response[Any]:
        """Record money paid to a publisher; more than it is owed needs `force` and a note."""
        return await _record(request, services, viewer, account_id, "payout")


async def _record(
    request: Request[Any, Any, Any], services: ServicesDep, viewer: Principal, account_id: str, kind: str
) -> Response[Any]:
    viewer.require("operator", "finance")
    form = await form_of(request)
    try:
        body = _transfer_body(form)
        if kind == "payment":
            await record_payment_for(services, viewer, account_id, converted(body, PaymentIn))
        else:
            body |= {"force": text(form, "force") == "yes", "note": text(form, "note") or None}
            await record_payout_for(services, viewer, account_id, converted(body, PayoutIn))
    except ExchangeError as exc:
        if exc.status_code not in (409, 422):  # 404 and 403 are pages of their own
            raise
        return await account_page(
            request, services, viewer, account_id, form={**form, "kind": kind}, errors=_errors_of(exc)
        )
    return Redirect(f"/console/accounts/{account_id}", status_code=303)


class PeriodActionsController(Controller):
    path = "/console/periods/{month:str}"
    dependencies = {"viewer": Provide(provide_viewer)}

    @post("/close", include_in_schema=False, status_code=303)
    async def close(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, month: MonthPath
    ) -> Redirect:
        """Close an ended month (finance, operators); 409s (not ended, already closed) as pages."""
        viewer.require("operator", "finance")
        parse_month(month)
        await close_period_for(services, viewer, month, text(await form_of(request), "note") or None)
        return Redirect(f"/console/money?{urlencode({'month': month})}", status_code=303)

    @post("/reopen", include_in_schema=False, status_code=303)
    async def reopen(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, month: MonthPath
    ) -> Redirect:
        """Reopen a closed month (operators only), saying why."""
        viewer.require("operator")
        parse_month(month)
        await reopen_period_for(services, viewer, month, text(await form_of(request), "note"))
        return Redirect(f"/console/money?{urlencode({'month': month})}", status_code=303)
