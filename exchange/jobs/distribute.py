"""The distribution job: offer an accepted lead to the campaigns and record the outcome.

A plain `async def job(ctx, ...)`: the outbox runner calls it in-process, a sync
request calls it directly; the engine (exchange/distribution) does the work, under the
lease its caller holds on the lead's outbox row.
"""

from __future__ import annotations

from typing import Any

from exchange.distribution.engine import DistributionContext, Mode
from exchange.distribution.engine import distribute as run_distribution
from exchange.storage.outbox import Lease
from exchange.types import LeadAnswer

JobContext = DistributionContext


async def distribute(
    ctx: JobContext, lead_id: str, *, lease: Lease, mode: Mode = "async", **_: Any
) -> LeadAnswer | None:
    return await run_distribution(ctx, lead_id, lease=lease, mode=mode)
