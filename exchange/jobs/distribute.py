"""The distribution job: offer an accepted lead to the campaigns and record the outcome.

A plain `async def job(ctx, ...)`: the outbox runner calls it in-process, a sync
request calls it directly; the engine (exchange/distribution) does the work.
"""

from __future__ import annotations

from typing import Any

from exchange.distribution.engine import DistributionContext, Mode, release_abandoned_hold
from exchange.distribution.engine import distribute as run_distribution
from exchange.types import LeadAnswer

JobContext = DistributionContext


async def distribute(
    ctx: JobContext, lead_id: str, mode: Mode = "async", held: dict[str, Any] | None = None, **_: Any
) -> LeadAnswer | None:
    """`held`: a hold the lead's previous distribution made and never ended (its process
    stopped during a post); it is released, with an event, before the lead is offered again."""
    if held is not None:
        await release_abandoned_hold(ctx, lead_id, held)
    return await run_distribution(ctx, lead_id, mode=mode)
