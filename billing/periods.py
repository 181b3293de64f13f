"""Accounting periods: whole UTC months that finance closes so their figures never change again.

A closed month takes no posting dated in it. Postings the exchange makes as things happen
(sales, returns, payments) are dated now, in the open month: a return decided after its sale's
month closed lands in the month it was decided, its memo naming the sale it reverses. Only a
posting finance dates itself (an `effective_date` on a payment, payout or adjustment) can aim
at a closed month, and that is refused with 409 `period_closed`.

A month can be closed once it has ended and a grace period has passed, so that a sale
committing at the stroke of midnight is in before the door shuts. On PostgreSQL a close and a
dated posting take the month's advisory lock (exclusive and shared), so neither can slip past
the other; SQLite runs one writer at a time anyway.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime, timedelta
from typing import Annotated

import msgspec
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.clock import day_after
from exchange.errors import Conflict, field_invalid
from exchange.storage import tables as t
from exchange.types import FieldError, Role

# YYYY-MM for years 0001-9999: the pattern the API documents and enforces.
MONTH_PATTERN = r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)
# How long after a month ends it may be closed: postings in flight at midnight land first.
CLOSE_GRACE = timedelta(minutes=5)


class PeriodView(msgspec.Struct, frozen=True, kw_only=True):
    month: Annotated[str, msgspec.Meta(description="The month, YYYY-MM (UTC).", examples=["2025-03"])]
    status: Annotated[
        str,
        msgspec.Meta(
            description=("`open` (postings may still be dated in it) or `closed` (its figures are final)."),
            examples=["closed"],
        ),
    ]
    closed_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When it was closed (UTC); null while open.", examples=["2025-03-15T16:02:11Z"]
        ),
    ] = None
    closed_by: Annotated[
        str | None,
        msgspec.Meta(
            description="The id of the key that closed it; null while open.",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ] = None
    note: Annotated[
        str | None,
        msgspec.Meta(description="The note given when it was closed.", examples=["March 2025 books closed"]),
    ] = None


class PeriodEventView(msgspec.Struct, frozen=True, kw_only=True):
    month: Annotated[str, msgspec.Meta(description="The month, YYYY-MM.", examples=["2025-03"])]
    action: Annotated[str, msgspec.Meta(description="`close` or `reopen`.", examples=["close"])]
    at: Annotated[datetime, msgspec.Meta(description="When (UTC).", examples=["2025-03-15T16:02:11Z"])]
    by: Annotated[
        str,
        msgspec.Meta(
            description="The id of the key that did it.", examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"]
        ),
    ]
    role: Annotated[
        str, msgspec.Meta(description="That key's role: `finance` or `operator`.", examples=["finance"])
    ]
    note: Annotated[
        str | None, msgspec.Meta(description="The note given.", examples=["March 2025 books closed"])
    ]


def parse_month(month: str, field: str = "month") -> tuple[date, date]:
    """The first and last day of a `YYYY-MM` month; 422 naming `field` otherwise."""
    if not _MONTH.match(month):
        raise field_invalid(
            field, "invalid_month", f"{month!r} is not a month as YYYY-MM (0001-01 to 9999-12)"
        )
    year, number = int(month[:4]), int(month[5:])
    first = date(year, number, 1)
    last = date(year, 12, 31) if number == 12 else date(year, number + 1, 1) - timedelta(days=1)
    return first, last


def month_of(at: datetime | date) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def resolve_span(month: str | None, since: date | None, until: date | None) -> tuple[date, date]:
    """`?month=` or `?since=&until=` (both inclusive days), never a mix; 422 naming the field."""
    if month is not None:
        if since is not None or until is not None:
            field = "since" if since is not None else "until"
            raise field_invalid(field, "with_month", "give either month or since and until, not both")
        return parse_month(month)
    if since is None or until is None:
        field = "since" if since is None else "until"
        raise field_invalid(field, "missing", "give since and until (both inclusive), or month=YYYY-MM")
    if since > until:
        raise field_invalid("since", "after_until", f"{since} is after until {until}")
    return since, until


def dated(effective_date: date | None, now: datetime, field: str = "effective_date") -> datetime:
    """When a posting dated by finance lands: now for today or no date, else the last instant of
    that day, so it counts in the day it names and after that day's other postings."""
    if effective_date is None or effective_date == now.date():
        return now
    if effective_date > now.date():
        raise field_invalid(field, "in_future", f"{effective_date} is after today ({now.date()})")
    return day_after(effective_date) - timedelta(microseconds=1)


def _lock_key(month: str) -> int:
    return zlib.crc32(f"period:{month}".encode()) - 2**31


async def _lock_month(conn: AsyncConnection, month: str, *, shared: bool) -> None:
    if conn.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(text(f"SELECT {function}(:key)"), {"key": _lock_key(month)})


async def ensure_open(conn: AsyncConnection, at: datetime, field: str = "effective_date") -> None:
    """Refuse (409 `period_closed`, naming `field`) a posting dated in a closed month.

    Call it inside the posting's transaction: on PostgreSQL it holds the month's shared lock until
    that transaction ends, so a close waits for the posting or the posting sees the close."""
    month = month_of(at)
    await _lock_month(conn, month, shared=True)
    closed = await conn.scalar(select(t.closed_periods.c.month).where(t.closed_periods.c.month == month))
    if closed is not None:
        message = f"{month} is closed: date the posting in an open month, or have an operator reopen {month}"
        raise Conflict(
            message,
            code="period_closed",
            errors=[FieldError(field=field, code="period_closed", message=message)],
        )


async def is_closed(conn: AsyncConnection, since: date, until: date) -> bool:
    """Whether every month from `since` to `until` is closed (YYYY-MM strings sort as months do)."""
    months = (until.year - since.year) * 12 + until.month - since.month + 1
    m = t.closed_periods.c.month
    closed = await conn.scalar(
        select(func.count()).where(m >= month_of(since), m <= month_of(until)).select_from(t.closed_periods)
    )
    return closed == months


async def _record(
    conn: AsyncConnection, month: str, action: str, at: datetime, by: str, role: Role, note: str | None
) -> None:
    await conn.execute(
        t.period_events.insert().values(month=month, action=action, at=at, by=by, role=role, note=note)
    )


async def close_month(
    conn: AsyncConnection, month: str, *, by: str, role: Role, note: str | None, now: datetime
) -> PeriodView:
    """Close a month that has ended; 409 `already_closed` if it is, 422 `period_not_ended` if not yet."""
    _first, last = parse_month(month)
    ends = day_after(last)
    closable_at = (
        ends + CLOSE_GRACE if ends < datetime.max.replace(tzinfo=ends.tzinfo) - CLOSE_GRACE else ends
    )
    if now < closable_at:
        raise field_invalid(
            "month", "period_not_ended", f"{month} can be closed from {closable_at.isoformat()} on"
        )
    await _lock_month(conn, month, shared=False)
    try:
        async with conn.begin_nested():
            await conn.execute(
                t.closed_periods.insert().values(month=month, closed_at=now, closed_by=by, note=note)
            )
    except IntegrityError:
        raise Conflict(f"{month} is already closed", code="already_closed") from None
    await _record(conn, month, "close", now, by, role, note)
    return PeriodView(month=month, status="closed", closed_at=now, closed_by=by, note=note)


async def reopen_month(
    conn: AsyncConnection, month: str, *, by: str, role: Role, note: str, now: datetime
) -> PeriodView:
    """Reopen a closed month (an operator's decision, with its reason); 409 `not_closed` if open."""
    parse_month(month)
    await _lock_month(conn, month, shared=False)
    removed = await conn.execute(delete(t.closed_periods).where(t.closed_periods.c.month == month))
    if removed.rowcount == 0:
        raise Conflict(f"{month} is not closed", code="not_closed")
    await _record(conn, month, "reopen", now, by, role, note)
    return PeriodView(month=month, status="open")


async def read_periods(conn: AsyncConnection) -> list[PeriodView]:
    """Closed months, newest first."""
    p = t.closed_periods.c
    rows = await conn.execute(select(t.closed_periods).order_by(p.month.desc()))
    return [
        PeriodView(month=r.month, status="closed", closed_at=r.closed_at, closed_by=r.closed_by, note=r.note)
        for r in rows
    ]


async def read_period_events(conn: AsyncConnection, month: str) -> list[PeriodEventView]:
    e = t.period_events.c
    rows = await conn.execute(select(t.period_events).where(e.month == month).order_by(e.id))
    return [
        PeriodEventView(month=r.month, action=r.action, at=r.at, by=r.by, role=r.role, note=r.note)
        for r in rows
    ]
