"""A lead's distribution row in the outbox, and the lease it is worked under.

Whoever works on a row holds its lease: a token (`owner`) and an expiry (`locked_until`).
A live process renews its leases (jobs/outbox.py); one that stalls or dies loses them
once they expire, and whoever claims the row next gets a new token. Distribution acts on
a lead only through `extend_lease` and `finish_distribution`, which match the token in
the transaction that acts: a process that lost its lease finds nothing to match, and
stops, instead of selling the lead beside the process that took it over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.ids import new_id
from exchange.storage import tables as t

_o = t.outbox.c
_NOW = bindparam("p_now", type_=t.UTCDateTime())
_MINE = (
    _o.lead_id == bindparam("p_lead_id"),
    _o.job == "distribute",
    _o.done_at.is_(None),
    _o.owner == bindparam("p_token"),
)
# Row-locking on PostgreSQL: a claim of the row by another process waits for this
# transaction, then finds the lease extended (or sees everything it committed).
_EXTEND = (
    update(t.outbox)
    .where(*_MINE)
    .values(locked_until=bindparam("p_until", type_=t.UTCDateTime()))
    .returning(_o.id)
)
_FINISH = (
    update(t.outbox)
    .where(*_MINE)
    .values(done_at=_NOW, locked_until=None, owner=None, payload={})
    .returning(_o.id)
)
_OPEN = (
    select(_o.id)
    .where(_o.lead_id == bindparam("p_lead_id"), _o.job == "distribute", _o.done_at.is_(None))
    .limit(1)
)
_INSERT = t.outbox.insert()


class Lease(msgspec.Struct, frozen=True):
    """A lease on a lead's distribution: its token, and when it ran out as last extended."""

    token: str
    until: datetime


def new_lease() -> str:
    return new_id("lse")


def distribution_row(
    lead_id: str, now: datetime, *, token: str | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """A lead's distribution owed: free for the runner, or leased to `token` until `until`
    (a sync request distributing its own lead)."""
    return {
        "job": "distribute",
        "lead_id": lead_id,
        "payload": {},
        "due_at": now,
        "attempts": 0,
        "locked_until": until,
        "owner": token,
        "created_at": now,
    }


async def extend_lease(conn: AsyncConnection, lead_id: str, token: str, until: datetime) -> bool:
    """Extend the lease on the lead's distribution if `token` still holds it; False if not."""
    found = await conn.execute(_EXTEND, {"p_lead_id": lead_id, "p_token": token, "p_until": until})
    return found.first() is not None


async def finish_distribution(conn: AsyncConnection, lead_id: str, token: str, now: datetime) -> bool:
    """Mark the lead's distribution done if `token` still holds it; False if not."""
    found = await conn.execute(_FINISH, {"p_lead_id": lead_id, "p_token": token, "p_now": now})
    return found.first() is not None


async def owe_distribution(conn: AsyncConnection, lead_id: str, now: datetime) -> None:
    """Owe the lead a distribution again (after an operator settled what stopped it), unless
    one is owed already: a lead has one distribution at a time."""
    if (await conn.execute(_OPEN, {"p_lead_id": lead_id})).first() is None:
        await conn.execute(_INSERT, distribution_row(lead_id, now))
