"""Publisher payouts over the API: record one paid, list them, and propose a payout run."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select

from billing.exports import CSV_MEDIA_TYPE
from billing.payments import record_transfer
from billing.payouts import PayoutProposal, PayoutView, proposal_csv, propose_payouts, read_payouts
from billing.periods import MONTH_PATTERN, dated, parse_month
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.finance import CsvOperation, download
from exchange.api.params import PublisherId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound, field_invalid
from exchange.storage import tables as t
from exchange.types import MAX_CENTS

Month = Annotated[str | None, QueryParameter(pattern=MONTH_PATTERN, description="a whole month, YYYY-MM")]


class PayoutIn(msgspec.Struct, frozen=True, kw_only=True):
    amount_cents: Annotated[
        int, msgspec.Meta(ge=1, le=MAX_CENTS, description="the amount paid, in cents", examples=[150000])
    ]
    reference: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=200,
            description="the bank transfer's reference; one payout per publisher and reference",
            examples=["run-2026-11-30"],
        ),
    ]
    force: Annotated[
        bool, msgspec.Meta(description="pay more than is owed (an advance); needs a note", examples=[False])
    ] = False
    note: Annotated[
        Annotated[str, msgspec.Meta(max_length=2000)] | None,
        msgspec.Meta(description="why, for the record", examples=["advance agreed with finance"]),
    ] = None
    effective_date: Annotated[
        date | None,
        msgspec.Meta(
            description="the day the money left, if not today; its month must be open",
            examples=["2025-03-31"],
        ),
    ] = None


class PayoutOut(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The payout's ledger transaction.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]
    # What the exchange still owes the publisher after this payout.
    balance_cents: Annotated[
        int,
        msgspec.Meta(
            description="What the exchange still owes the publisher after it, in cents.", examples=[0]
        ),
    ]


class PayoutList(msgspec.Struct, frozen=True, kw_only=True):
    items: Annotated[list[PayoutView], msgspec.Meta(description="The publisher's payouts, newest first.")]


async def record_payout_for(
    services: Services, principal: Principal, publisher_id: str, data: PayoutIn
) -> tuple[PayoutOut, bool]:
    """Record money paid to a publisher once per reference, audited; (the answer, whether it is new).
    More than is owed needs `force` and a note."""
    if data.force and not (data.note and data.note.strip()):
        raise field_invalid("note", "missing", "a forced payout needs a note saying why")
    now = services.clock()
    async with services.engine.begin() as conn:
        found = await conn.scalar(select(t.publishers.c.id).where(t.publishers.c.id == publisher_id))
        if found is None:
            raise NotFound(f"no publisher {publisher_id}")
        transfer = await record_transfer(
            conn,
            "payout",
            publisher_id,
            amount_cents=data.amount_cents,
            reference=data.reference,
            at=dated(data.effective_date, now),
            dated=data.effective_date is not None,
            force=data.force,
            memo={"by": principal.key_id, "forced": data.force, "note": data.note},
        )
        if transfer.is_new:
            await record_change(
                conn,
                principal,
                action="payout.create",
                entity_type="payout",
                entity_id=transfer.transaction_id,
                after={"publisher_id": publisher_id, **msgspec.to_builtins(data)},
                at=now,
            )
    out = PayoutOut(transaction_id=transfer.transaction_id, balance_cents=transfer.balance_cents)
    return out, transfer.is_new


class PayoutController(Controller):
    path = "/v1/publishers/{publisher_id:str}/payouts"
    tags = ["money"]

    @post(
        "/",
        summary="Record money paid to a publisher (finance, operator); one per reference",
        responses={
            200: ResponseSpec(
                PayoutOut, generate_examples=False, description="the same reference again: the first answer"
            )
        },
        opt=roles("operator", "finance"),
    )
    async def record_payout(
        self,
        publisher_id: PublisherId,
        data: JSONBody[PayoutIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Response[PayoutOut]:
        out, is_new = await record_payout_for(services, principal, publisher_id, data)
        return Response(out, status_code=201 if is_new else 200)

    @get(
        "/",
        summary="A publisher's payouts, newest first (finance, operator, or the publisher itself)",
        opt=roles("operator", "finance", "publisher"),
    )
    async def list_payouts(
        self, publisher_id: PublisherId, principal: PrincipalDep, services: ServicesDep
    ) -> PayoutList:
        if not (principal.is_staff or principal.publisher_id == publisher_id):
            raise NotFound(f"no publisher {publisher_id}")
        async with services.engine.connect() as conn:
            found = await conn.scalar(select(t.publishers.c.id).where(t.publishers.c.id == publisher_id))
            if found is None:
                raise NotFound(f"no publisher {publisher_id}")
            return PayoutList(items=await read_payouts(conn, publisher_id))


async def payout_run_file(services: Services, last: date, minimum_cents: int) -> Response[bytes]:
    """The payout run up to `last` as the CSV a bank upload starts from (the API's and the console's)."""
    async with services.engine.connect() as conn:
        proposal = await propose_payouts(conn, last, minimum_cents)
    return download(proposal_csv(proposal), CSV_MEDIA_TYPE, f"payout-run_{last.isoformat()}.csv")


class PayoutRunController(Controller):
    path = "/v1/payouts"
    tags = ["money"]

    @get(
        "/proposal",
        summary="A payout run: what each publisher is owed for a period, above a minimum (finance, operator)",
        description="Owed at the end of the period (`month`, or `until`, inclusive) less payouts made since,"
        " never more than owed now. `format=csv` is a file a bank upload can start from; each line's"
        " reference makes posting it with POST /v1/publishers/{id}/payouts pay once.",
        operation_class=CsvOperation,
        opt=roles("operator", "finance"),
    )
    async def proposal(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        month: Month = None,
        until: Annotated[
            date | None, QueryParameter(description="the period's last UTC day, inclusive")
        ] = None,
        minimum_cents: Annotated[
            int, QueryParameter(ge=0, le=MAX_CENTS, description="leave out publishers owed less")
        ] = 0,
        format: Annotated[
            Literal["json", "csv"],
            QueryParameter(
                description=(
                    "`json`, or the proposal as a `csv` file (one row per publisher, for the bank's upload)."
                )
            ),
        ] = "json",
    ) -> Response[PayoutProposal]:
        if month is not None:
            if until is not None:
                raise field_invalid("until", "with_month", "give either month or until, not both")
            last = parse_month(month)[1]
        elif until is None:
            raise field_invalid("until", "missing", "give until (inclusive) or month=YYYY-MM")
        else:
            last = until
        if format == "csv":
            return await payout_run_file(services, last, minimum_cents)
        async with services.engine.connect() as conn:
            return Response(await propose_payouts(conn, last, minimum_cents))
