"""Money over the API: buyers' prepaid payments and account balances."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from billing.ledger import CASH, Entry, post_transaction, read_balance
from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.errors import Invalid, NotFound
from exchange.storage import tables as t
from exchange.types import MAX_CENTS


class PaymentIn(msgspec.Struct, frozen=True, kw_only=True):
    amount_cents: Annotated[int, msgspec.Meta(ge=1, le=MAX_CENTS)]
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PaymentOut(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: str
    balance_cents: int


class BalanceOut(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    account_type: str
    balance_cents: int
    reserved_cents: int
    credit_limit_cents: int
    available_cents: int


class PaymentController(Controller):
    path = "/v1/buyers/{buyer_id:str}/payments"
    tags = ["money"]

    @post("/", summary="Record a buyer's prepaid payment (operator, finance); one per reference")
    async def record_payment(
        self,
        buyer_id: FromPath[str],
        data: JSONBody[PaymentIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Response[PaymentOut]:
        principal.require("operator", "finance")
        now = services.clock()
        async with services.engine.begin() as conn:
            found = await conn.scalar(select(t.buyers.c.id).where(t.buyers.c.id == buyer_id))
            if found is None:
                raise NotFound(f"no buyer {buyer_id}")
            posted = await post_transaction(
                conn,
                kind="payment",
                natural_key=f"payment:{buyer_id}:{data.reference}",
                entries=[
                    Entry("buyer", buyer_id, data.amount_cents),
                    Entry("cash", CASH, -data.amount_cents),
                ],
                at=now,
                memo={"reference": data.reference, "amount_cents": data.amount_cents},
            )
            if posted.is_new:
                balance = (await read_balance(conn, "buyer", buyer_id)).balance_cents
                await conn.execute(
                    t.ledger_transactions.update()
                    .where(t.ledger_transactions.c.id == posted.transaction_id)
                    .values(
                        memo={
                            "reference": data.reference,
                            "amount_cents": data.amount_cents,
                            "balance_cents": balance,
                        }
                    )
                )
                return Response(
                    PaymentOut(transaction_id=posted.transaction_id, balance_cents=balance), status_code=201
                )
            memo = await conn.scalar(
                select(t.ledger_transactions.c.memo).where(
                    t.ledger_transactions.c.id == posted.transaction_id
                )
            )
        if memo.get("amount_cents") != data.amount_cents:
            raise Invalid(
                f"reference {data.reference!r} was already used for a payment of "
                f"{memo.get('amount_cents')} cents",
                code="idempotency_mismatch",
            )
        return Response(
            PaymentOut(transaction_id=posted.transaction_id, balance_cents=memo["balance_cents"]),
            status_code=200,
        )


class BalanceController(Controller):
    path = "/v1/accounts"
    tags = ["money"]

    @get(
        "/{account_id:str}/balance", summary="An account's balance (finance, operator, or the account itself)"
    )
    async def balance(
        self, account_id: FromPath[str], principal: PrincipalDep, services: ServicesDep
    ) -> BalanceOut:
        own = account_id in (principal.buyer_id, principal.publisher_id)
        if not (principal.is_staff or own):
            raise NotFound(f"no account {account_id}")
        async with services.engine.connect() as conn:
            buyer = (
                await conn.execute(select(t.buyers.c.credit_limit_cents).where(t.buyers.c.id == account_id))
            ).first()
            if buyer is not None:
                account_type, credit = "buyer", int(buyer.credit_limit_cents)
            elif await conn.scalar(select(t.publishers.c.id).where(t.publishers.c.id == account_id)):
                account_type, credit = "publisher", 0
            elif account_id in ("exchange", "cash") and principal.is_staff:
                account_type, credit = account_id, 0
            else:
                raise NotFound(f"no account {account_id}")
            balance = await read_balance(conn, account_type, account_id)
        return BalanceOut(
            account_id=account_id,
            account_type=account_type,
            balance_cents=balance.balance_cents,
            reserved_cents=balance.reserved_cents,
            credit_limit_cents=credit,
            available_cents=balance.balance_cents - balance.reserved_cents + credit,
        )
