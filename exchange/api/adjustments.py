"""Adjustments over the API: finance's manual credits and debits, with a reason."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import JSONBody, QueryParameter

from billing.adjustments import (
    AdjustmentReason,
    AdjustmentView,
    SignedCents,
    post_adjustment,
    read_adjustments,
)
from billing.ledger import HouseAccount
from billing.periods import dated
from exchange.api.auth import PrincipalDep, roles
from exchange.api.params import LongPageLimit
from exchange.api.services import ServicesDep
from exchange.audit import record_change
from exchange.types import Page


class AdjustmentIn(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=32,
            description="a buyer or publisher id",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    amount_cents: Annotated[
        SignedCents,
        msgspec.Meta(
            description="the signed change to the account's balance: positive credits a buyer"
            " (more to spend) or a publisher (more owed to it), negative debits it",
            examples=[5000],
        ),
    ]
    reason: Annotated[
        AdjustmentReason,
        msgspec.Meta(
            description="picks the house account on the other side, unless named", examples=["goodwill"]
        ),
    ]
    note: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=2000,
            description="why, for the statements",
            examples=["credit for the outage of 14 March"],
        ),
    ]
    reference: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=200,
            description="your reference; one adjustment per account and reference",
            examples=["adj-2025-0314-acme"],
        ),
    ]
    house_account: Annotated[
        HouseAccount | None,
        msgspec.Meta(description="the house account on the other side; by reason if absent", examples=[None]),
    ] = None
    corrects: Annotated[
        Annotated[str, msgspec.Meta(max_length=32)] | None,
        msgspec.Meta(description="the ledger transaction this corrects, if any", examples=[None]),
    ] = None
    effective_date: Annotated[
        date | None,
        msgspec.Meta(
            description="the day it takes effect, if not today; its month must be open",
            examples=["2025-03-14"],
        ),
    ] = None


class AdjustmentPage(Page, kw_only=True):
    items: Annotated[list[AdjustmentView], msgspec.Meta(description="Adjustments, newest first.")]


class AdjustmentController(Controller):
    path = "/v1/adjustments"
    tags = ["money"]

    @post(
        "/",
        summary="Post a manual credit or debit to an account, with a reason (finance, operator)",
        opt=roles("operator", "finance"),
    )
    async def adjust(
        self, data: JSONBody[AdjustmentIn], principal: PrincipalDep, services: ServicesDep
    ) -> Response[AdjustmentView]:
        now = services.clock()
        async with services.engine.begin() as conn:
            view, is_new = await post_adjustment(
                conn,
                account_id=data.account_id,
                amount_cents=data.amount_cents,
                reason=data.reason,
                note=data.note,
                reference=data.reference,
                at=dated(data.effective_date, now),
                dated=data.effective_date is not None,
                by=principal.key_id,
                house_account=data.house_account,
                corrects=data.corrects,
            )
            if is_new:
                await record_change(
                    conn,
                    principal,
                    action="adjustment.create",
                    entity_type="adjustment",
                    entity_id=view.transaction_id,
                    after=view,
                    at=now,
                )
        return Response(view, status_code=201 if is_new else 200)

    @get(
        "/",
        summary="Adjustments, newest first, optionally one account's (finance, operator)",
        opt=roles("operator", "finance"),
    )
    async def list_adjustments(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        account_id: Annotated[
            str | None,
            QueryParameter(
                max_length=32,
                description=(
                    "Only adjustments to this account: a buyer's or publisher's id, or a house account."
                ),
            ),
        ] = None,
        limit: LongPageLimit = 100,
        cursor: Annotated[
            str | None,
            QueryParameter(
                max_length=64,
                description=(
                    "Where the page starts: the previous page's `next_cursor`; omitted: the first page."
                ),
            ),
        ] = None,
    ) -> AdjustmentPage:
        async with services.engine.connect() as conn:
            items, more = await read_adjustments(conn, account_id=account_id, limit=limit, before=cursor)
        return AdjustmentPage(items=items, next_cursor=items[-1].transaction_id if more else None)
