"""Batched file deliveries: each campaign's queued leads become files, each lead in one.

    form   a campaign's queue holds `max_leads` leads, or its oldest has waited
           `every_minutes`: a batch takes up to `max_leads` of them, in one transaction that
           sets each item's batch once (an item already taken is never taken again)
    send   an open batch due now is claimed for a while (`due_at` moved on), its file built
           from its items in their order and stored under the batch's own name; then marked
           `sent`. A process that dies in between leaves the batch open: the next attempt
           writes the same file under the same name again, replacing it, so a restart neither
           drops a lead nor puts one in two files.

A batch that keeps failing goes to `failed` after MAX_ATTEMPTS, with its error, where
operators see it (`GET /v1/file-batches?state=failed`) and send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.outbound.registry import AdapterRegistry
from exchange.audit import AuditHook
from exchange.distribution.batches import batch_options
from exchange.distribution.calls import from_record
from exchange.ids import new_id
from exchange.storage import tables as t

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# How long a claimed batch is one process's before another may try it (an upload's bound).
CLAIM_SECONDS = 120.0
_i, _b = t.file_batch_items.c, t.file_batches.c


async def form_batches(engine: AsyncEngine, now: datetime) -> list[str]:
    """Batches for every campaign whose queue is full or old enough; their ids."""
    async with engine.connect() as conn:
        waiting = (
            await conn.execute(
                select(_i.campaign_id, func.count(), func.min(_i.created_at), func.max(_i.id))
                .where(_i.batch_id.is_(None))
                .group_by(_i.campaign_id)
            )
        ).all()
        formed = []
        for campaign_id, count, oldest, newest_id in waiting:
            kept = await conn.scalar(select(_i.request).where(_i.id == newest_id))
            options = batch_options(from_record(kept))
            max_leads = int(options.get("max_leads") or 10_000)
            every = options.get("every_minutes")
            old_enough = every is not None and oldest <= now - timedelta(minutes=float(every))
            if count >= max_leads or old_enough:
                formed.append((campaign_id, max_leads))
    ids = []
    for campaign_id, max_leads in formed:
        batch_id = await _form(engine, campaign_id, max_leads, now)
        if batch_id is not None:
            ids.append(batch_id)
    return ids


async def _form(engine: AsyncEngine, campaign_id: str, max_leads: int, now: datetime) -> str | None:
    batch_id = new_id("fb")
    async with engine.begin() as conn:
        oldest = (
            select(_i.id)
            .where(_i.campaign_id == campaign_id, _i.batch_id.is_(None))
            .order_by(_i.created_at, _i.id)
            .limit(max_leads)
        )
        taken = await conn.execute(
            update(t.file_batch_items)
            .where(_i.id.in_(oldest.scalar_subquery()), _i.batch_id.is_(None))
            .values(batch_id=batch_id)
        )
        if taken.rowcount == 0:  # another process formed it first
            return None
        await conn.execute(
            t.file_batches.insert().values(
                id=batch_id,
                campaign_id=campaign_id,
                state="open",
                leads=taken.rowcount,
                attempts=0,
                created_at=now,
                due_at=now,
            )
        )
    return batch_id


async def send_due(
    engine: AsyncEngine, adapters: AdapterRegistry, now: datetime, *, claim_seconds: float = CLAIM_SECONDS
) -> int:
    """Send every open batch due now; how many went out."""
    async with engine.connect() as conn:
        due = (
            await conn.scalars(
                select(_b.id).where(_b.state == "open", _b.due_at <= now).order_by(_b.due_at).limit(100)
            )
        ).all()
    sent = 0
    for batch_id in due:
        sent += await send_batch(engine, adapters, batch_id, now, claim_seconds=claim_seconds)
    return sent


async def send_batch(
    engine: AsyncEngine,
    adapters: AdapterRegistry,
    batch_id: str,
    now: datetime,
    *,
    claim_seconds: float = CLAIM_SECONDS,
) -> bool:
    """Claim the batch, store its file, mark it sent; False if another process has it or the
    file server did not take it (the batch waits for its next attempt)."""
    async with engine.begin() as conn:
        claimed = await conn.execute(
            update(t.file_batches)
            .where(_b.id == batch_id, _b.state == "open", _b.due_at <= now)
            .values(attempts=_b.attempts + 1, due_at=now + timedelta(seconds=claim_seconds))
            .returning(_b.attempts, _b.campaign_id)
        )
        row = claimed.first()
        if row is None:
            return False
        attempts, campaign_id = row
        items = (
            await conn.execute(
                select(_i.lead_id, _i.request).where(_i.batch_id == batch_id).order_by(_i.created_at, _i.id)
            )
        ).all()
    requests = [from_record(item.request) for item in items]
    adapter = adapters.adapter_for(requests[0].adapter) if requests else None
    combine: Callable[..., Any] | None = getattr(adapter, "combine", None)
    if adapter is None or combine is None:
        error = f"no delivery adapter {requests[0].adapter if requests else '?'!r} that writes batched files"
        await _failed(engine, batch_id, attempts, error, now)
        return False
    request = combine(requests, batch_id)
    delivery = await adapter.send(request, key=batch_id)
    done = now
    if delivery.error is not None:
        await _failed(engine, batch_id, attempts, delivery.error, done, transient=delivery.transient)
        return False
    name = str(request.options.get("file", batch_id))
    async with engine.begin() as conn:
        await conn.execute(
            update(t.file_batches)
            .where(_b.id == batch_id)
            .values(state="sent", sent_at=done, file=name, error=None)
        )
        await conn.execute(
            t.lead_events.insert(),
            [
                {
                    "lead_id": item.lead_id,
                    "kind": "delivered_in_file",
                    "at": done,
                    "data": {"campaign_id": campaign_id, "batch_id": batch_id, "file": name},
                }
                for item in items
            ],
        )
    return True


async def _failed(
    engine: AsyncEngine, batch_id: str, attempts: int, error: str, now: datetime, *, transient: bool = True
) -> None:
    """The batch waits for its next try (backing off), or fails for good after MAX_ATTEMPTS
    or an error no retry mends (a refused login)."""
    final = attempts >= MAX_ATTEMPTS or not transient
    log.warning("file batch %s: attempt %d failed: %s", batch_id, attempts, error)
    async with engine.begin() as conn:
        await conn.execute(
            update(t.file_batches)
            .where(_b.id == batch_id, _b.state == "open")
            .values(
                state="failed" if final else "open",
                error=error,
                due_at=now + timedelta(seconds=min(3600, 15 * 2 ** (attempts - 1))),
            )
        )


async def retry_batch(
    engine: AsyncEngine, batch_id: str, now: datetime, audit: AuditHook | None = None
) -> bool:
    """An operator sends a failed batch again: open and due now, its attempts counted afresh;
    `audit` records it in the same transaction."""
    async with engine.begin() as conn:
        done = await conn.execute(
            update(t.file_batches)
            .where(_b.id == batch_id, _b.state == "failed")
            .values(state="open", due_at=now, attempts=0)
        )
        if done.rowcount == 1 and audit is not None:
            await audit(conn)
    return done.rowcount == 1
