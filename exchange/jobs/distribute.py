"""The distribution job: offer an accepted lead to the campaigns and record the outcome.

Campaigns, auctions and deliveries plug in here (buyers/ and exchange/distribution/);
a lead no campaign takes is `unsold` and stays listed for the marketplace.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.clock import Clock
from exchange.storage import tables as t
from exchange.types import LeadAnswer


class JobContext(msgspec.Struct, kw_only=True):
    engine: AsyncEngine
    clock: Clock


async def distribute(ctx: JobContext, lead_id: str, **_: Any) -> LeadAnswer | None:
    """Sell the lead if a campaign wants it; returns the publisher's answer, None if unknown."""
    now = ctx.clock()
    leads = t.leads.c
    async with ctx.engine.begin() as conn:
        row = (
            await conn.execute(
                select(leads.id, leads.status, leads.grade, leads.payout_cents).where(leads.id == lead_id)
            )
        ).first()
        if row is None:
            return None
        if row.status != "accepted":
            # Already distributed (a retried job): the recorded outcome stands.
            return LeadAnswer(
                lead_id=row.id, status=row.status, grade=row.grade, payout_cents=row.payout_cents
            )
        # No campaign store exists yet in this build, so nobody can buy: the lead is unsold.
        answer = LeadAnswer(lead_id=row.id, status="unsold", grade=row.grade)
        await conn.execute(
            update(t.leads)
            .where(leads.id == lead_id, leads.status == "accepted")
            .values(status="unsold", updated_at=now)
        )
        await conn.execute(
            t.lead_events.insert().values(
                lead_id=lead_id, kind="unsold", at=now, data={"reason": "no_eligible_campaign"}
            )
        )
        await conn.execute(
            update(t.outbox)
            .where(
                t.outbox.c.lead_id == lead_id,
                t.outbox.c.job == "distribute",
                t.outbox.c.done_at.is_(None),
            )
            .values(done_at=now, locked_until=None)
        )
        # A sync request stored its idempotent answer as 201 before it knew the outcome.
        await conn.execute(
            update(t.idempotency_keys)
            .where(t.idempotency_keys.c.lead_id == lead_id, t.idempotency_keys.c.status_code == 201)
            .values(answer=msgspec.to_builtins(answer))
        )
    return answer
