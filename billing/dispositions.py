"""Dispositions: what became of a lead at the buyer, one at a time or as a CSV of many.

They feed the source reports and the closed loop (a source whose leads convert
grades better); a disposition moves no money.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.errors import BadRequest, NotFound
from exchange.ids import new_id
from exchange.storage import tables as t

DispositionStatus = Literal["contacted", "appointment", "quoted", "sold", "dead"]
STATUSES: tuple[str, ...] = ("contacted", "appointment", "quoted", "sold", "dead")
Revenue = Annotated[int, msgspec.Meta(ge=0, le=10**12)]


class DispositionIn(msgspec.Struct, frozen=True, kw_only=True):
    status: Annotated[
        DispositionStatus,
        msgspec.Meta(
            description=(
                "What became of the lead at the buyer: `contacted`, `appointment`, `quoted`, "
                "`sold` (the consumer bought: counts as a conversion for the source) or `dead`."
            ),
            examples=["quoted"],
        ),
    ]
    revenue_cents: Annotated[
        Revenue | None,
        msgspec.Meta(
            description=(
                "What the buyer made from the consumer, in cents, when it wants to say; it "
                "feeds the source report."
            ),
            examples=[125000],
        ),
    ] = None


class DispositionView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The disposition's id.", examples=["dsp_01jp9zqfp0c89k4sgq6c11cy4y"])
    ]
    lead_id: Annotated[
        str, msgspec.Meta(description="The lead it is about.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    status: Annotated[
        DispositionStatus,
        msgspec.Meta(description="What became of the lead at the buyer.", examples=["quoted"]),
    ]
    revenue_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="What the buyer made from it, in cents; null when not said.", examples=[None]
        ),
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was reported (UTC).", examples=["2025-03-15T16:02:11Z"])
    ]


class RowOutcome(msgspec.Struct, frozen=True, kw_only=True):
    row: Annotated[
        int,
        msgspec.Meta(description="The CSV row, 1 being the first data row under the header.", examples=[1]),
    ]
    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The row's lead id as written; null when the row has none.",
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    status: Annotated[
        Literal["accepted", "rejected"],
        msgspec.Meta(description="`accepted` (recorded) or `rejected` (see `error`).", examples=["rejected"]),
    ]
    error: Annotated[
        str | None,
        msgspec.Meta(
            description="Why the row was rejected; null when it was accepted.",
            examples=["status: 'won' is not one of contacted, appointment, quoted, sold, dead"],
        ),
    ] = None


class BulkOutcome(msgspec.Struct, frozen=True, kw_only=True):
    accepted: Annotated[int, msgspec.Meta(description="How many rows were recorded.", examples=[41])]
    rejected: Annotated[
        int, msgspec.Meta(description="How many rows were not, each named in `rows`.", examples=[1])
    ]
    rows: Annotated[list[RowOutcome], msgspec.Meta(description="Each row's outcome, in file order.")]


async def record_disposition(
    conn: AsyncConnection, *, lead_id: str, buyer_id: str, data: DispositionIn, now: datetime
) -> DispositionView:
    """A buyer's disposition of a lead it bought; any other lead is not found."""
    publisher_id = await conn.scalar(
        select(t.sales.c.publisher_id)
        .where(t.sales.c.lead_id == lead_id, t.sales.c.buyer_id == buyer_id)
        .limit(1)
    )
    if publisher_id is None:
        raise NotFound(f"no lead {lead_id}")
    view = DispositionView(
        id=new_id("dsp"),
        lead_id=lead_id,
        status=data.status,
        revenue_cents=data.revenue_cents,
        created_at=now,
    )
    await conn.execute(
        t.dispositions.insert().values(
            **msgspec.structs.asdict(view), buyer_id=buyer_id, publisher_id=publisher_id
        )
    )
    await conn.execute(
        t.lead_events.insert().values(
            lead_id=lead_id,
            kind="disposition",
            at=now,
            data={"buyer_id": buyer_id, "status": data.status, "revenue_cents": data.revenue_cents},
        )
    )
    return view


def read_rows(body: bytes) -> list[tuple[int, dict[str, str | None]]]:
    """CSV rows numbered from 1 (the first data row), with the header's names as keys."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the CSV is not UTF-8 (byte {exc.start})", code="invalid_encoding") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = {"lead_id", "status"} - set(header)
    if missing:
        raise BadRequest(
            f"the CSV header needs lead_id,status[,revenue_cents]; missing {sorted(missing)}",
            code="invalid_csv",
        )
    reader.fieldnames = header
    return [(i, row) for i, row in enumerate(reader, start=1)]


def parse_row(row: dict[str, Any]) -> tuple[str, DispositionIn]:
    """One CSV row as a disposition, or ValueError naming what is wrong with it."""
    lead_id = (row.get("lead_id") or "").strip()
    if not lead_id:
        raise ValueError("lead_id is empty")
    status = (row.get("status") or "").strip().lower()
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    revenue_text = (row.get("revenue_cents") or "").strip()
    revenue = None
    if revenue_text:
        if not revenue_text.isdigit():
            raise ValueError(f"revenue_cents {revenue_text!r} is not a whole number of cents")
        revenue = int(revenue_text)
    return lead_id, DispositionIn(status=status, revenue_cents=revenue)  # type: ignore[arg-type]
