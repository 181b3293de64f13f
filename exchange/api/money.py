"""Money over the API: buyers' prepaid payments and account balances."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from sqlalchemy import select

from billing.ledger import CASH, HOUSE_ACCOUNTS, read_balance
from billing.payments import record_transfer
from billing.periods import dated
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import AccountId, BuyerId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound
from exchange.storage import tables as t
from exchange.types import MAX_CENTS


class PaymentIn(msgspec.Struct, frozen=True, kw_only=True):
    amount_cents: Annotated[
        int, msgspec.Meta(ge=1, le=MAX_CENTS, description="the amount received, in cents", examples=[500000])
    ]
    reference: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=200,
            description="the bank's or processor's reference; one payment per reference",
            examples=["wire-2025-0314"],
        ),
    ]
    effective_date: Annotated[
        date | None,
        msgspec.Meta(
            description="the day the money arrived, if not today; its month must be open",
            examples=["2025-03-14"],
        ),
    ] = None


class PaymentOut(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The payment's ledger transaction.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]
    balance_cents: Annotated[
        int, msgspec.Meta(description="The buyer's balance after it, in cents.", examples=[500000])
    ]


class BalanceOut(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer's or publisher's id.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"]
        ),
    ]
    account_type: Annotated[str, msgspec.Meta(description="`buyer` or `publisher`.", examples=["buyer"])]
    balance_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "The balance from the ledger, in cents: for a buyer payments − charges + "
                "credits (funded: positive); for a publisher payouts earned − reversals − "
                "payouts paid (what the exchange owes it)."
            ),
            examples=[475000],
        ),
    ]
    reserved_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "What open holds keep aside for sales in progress, in cents (a buyer's; 0 for a publisher)."
            ),
            examples=[2500],
        ),
    ]
    credit_limit_cents: Annotated[
        int,
        msgspec.Meta(
            description="How far below zero a buyer's balance may go, in cents; 0 for a publisher.",
            examples=[0],
        ),
    ]
    available_cents: Annotated[
        int,
        msgspec.Meta(
            description="What a buyer may still spend: balance − reserved + credit limit, in cents.",
            examples=[472500],
        ),
    ]


async def record_payment_for(
    services: Services, principal: Principal, buyer_id: str, data: PaymentIn
) -> tuple[PaymentOut, bool]:
    """Record a buyer's payment once per reference, audited; (the answer, whether it is new)."""
    now = services.clock()
    async with services.engine.begin() as conn:
        found = await conn.scalar(select(t.buyers.c.id).where(t.buyers.c.id == buyer_id))
        if found is None:
            raise NotFound(f"no buyer {buyer_id}")
        transfer = await record_transfer(
            conn,
            "payment",
            buyer_id,
            amount_cents=data.amount_cents,
            reference=data.reference,
            at=dated(data.effective_date, now),
            dated=data.effective_date is not None,
            memo={"by": principal.key_id},
        )
        if transfer.is_new:
            await record_change(
                conn,
                principal,
                action="payment.create",
                entity_type="payment",
                entity_id=transfer.transaction_id,
                after={
                    "buyer_id": buyer_id,
                    "amount_cents": data.amount_cents,
                    "reference": data.reference,
                    "effective_date": data.effective_date,
                },
                at=now,
            )
    out = PaymentOut(transaction_id=transfer.transaction_id, balance_cents=transfer.balance_cents)
    return out, transfer.is_new


class PaymentController(Controller):
    path = "/v1/buyers/{buyer_id:str}/payments"
    tags = ["money"]

    @post(
        "/",
        summary="Record a buyer's prepaid payment (operator, finance); one per reference",
        responses={
            200: ResponseSpec(
                PaymentOut, generate_examples=False, description="the same reference again: the first answer"
            )
        },
        opt=roles("operator", "finance"),
    )
    async def record_payment(
        self,
        buyer_id: BuyerId,
        data: JSONBody[PaymentIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Response[PaymentOut]:
        out, is_new = await record_payment_for(services, principal, buyer_id, data)
        return Response(out, status_code=201 if is_new else 200)


class BalanceController(Controller):
    path = "/v1/accounts"
    tags = ["money"]

    @get(
        "/{account_id:str}/balance",
        summary="An account's balance (finance, operator, or the account itself)",
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def balance(
        self, account_id: AccountId, principal: PrincipalDep, services: ServicesDep
    ) -> BalanceOut:
        return await read_account_balance(services, principal, account_id)


async def read_account_balance(services: Services, principal: Principal, account_id: str) -> BalanceOut:
    """An account's balance as `principal` may see it: staff any, an account its own (else 404)."""
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
        elif account_id in HOUSE_ACCOUNTS and principal.is_staff:
            account_type, credit = "exchange", 0
        elif account_id == CASH and principal.is_staff:
            account_type, credit = CASH, 0
        else:
            raise NotFound(f"no account {account_id}")
        balance = await read_balance(conn, account_type, account_id)
    return balance_out(account_id, account_type, balance.balance_cents, balance.reserved_cents, credit)


def balance_out(
    account_id: str, account_type: str, balance_cents: int, reserved_cents: int, credit_cents: int
) -> BalanceOut:
    """An account's balance as the API answers it: what it may still spend follows from the rest."""
    return BalanceOut(
        account_id=account_id,
        account_type=account_type,
        balance_cents=balance_cents,
        reserved_cents=reserved_cents,
        credit_limit_cents=credit_cents,
        available_cents=balance_cents - reserved_cents + credit_cents,
    )
