"""The end of a lead's distribution: its answer, its status, its trail, its outbox row.

The outcome is recorded under the distribution's lease (storage/outbox.py): a process
that lost its lease records nothing, and the one that took the lead over decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.distribution.records import LeadForSale
from exchange.distribution.sale import Sold
from exchange.distribution.trail import Trail
from exchange.storage import tables as t
from exchange.storage.outbox import finish_distribution
from exchange.types import LeadAnswer

_lc = t.leads.c
# A lead still accepted becomes unsold.
_MARK_UNSOLD = (
    update(t.leads)
    .where(_lc.id == bindparam("lid"), _lc.status == "accepted")
    .values(status="unsold", updated_at=bindparam("now", type_=t.UTCDateTime()))
)


def answer_of(lead: LeadForSale, sold: list[Sold]) -> LeadAnswer:
    """The publisher's answer for a lead whose distribution ended with these sales."""
    if not sold:
        return LeadAnswer(lead_id=lead.id, status="unsold", grade=lead.grade)
    return LeadAnswer(
        lead_id=lead.id, status="sold", grade=lead.grade, payout_cents=sum(s.payout_cents for s in sold)
    )


def answer_as_stored(lead: LeadForSale) -> LeadAnswer:
    """The answer for a lead as its row stands (a distribution found already settled)."""
    return LeadAnswer(
        lead_id=lead.id,
        status=lead.status,  # type: ignore[arg-type]
        grade=lead.grade,  # type: ignore[arg-type]
        payout_cents=lead.payout_cents,
    )


async def record_outcome(
    conn: AsyncConnection, lead: LeadForSale, answer: LeadAnswer, trail: Trail, now: datetime, lease: str
) -> bool:
    """In the caller's transaction: the lead's distribution ends with `answer`. False, with
    nothing recorded, when `lease` no longer holds the lead's distribution."""
    if not await finish_distribution(conn, lead.id, lease, now):
        return False
    if answer.status == "unsold":
        await conn.execute(_MARK_UNSOLD, {"lid": lead.id, "now": now})
    await trail.flush(conn)
    return True


def unsold_at_intake(lead_id: str, excluded: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """The trail of a lead that no campaign can take, settled at intake in its own commit."""
    return [
        {
            "lead_id": lead_id,
            "kind": "eligibility",
            "at": now,
            "data": {"candidates": [], "excluded": excluded},
        },
        {"lead_id": lead_id, "kind": "unsold", "at": now, "data": {"reason": "no_eligible_campaign"}},
    ]
