"""The in-process outbox runner: claims due work rows, runs their job, marks them done.

Claims are leases (an atomic UPDATE that gives the rows a new token), so several
processes can share one outbox; work left by a crashed process is taken again when its
lease runs out, within seconds. A live process renews the leases it works under (its
claimed rows, and the sync requests distributing their own lead) every third of a
lease, so slow buyers never make a lead's distribution look abandoned; and work done
under a lease that was lost anyway (a process stalled for longer than a lease) is
refused where it would act (storage/outbox.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.jobs.distribute import JobContext, distribute
from exchange.jobs.notify import send_alert
from exchange.pipeline.batches import import_batch
from exchange.storage import tables as t
from exchange.storage.outbox import Lease, new_lease
from exchange.storage.statements import per_dialect
from exchange.tasks import stop_task

log = logging.getLogger(__name__)

Job = Callable[..., Awaitable[Any]]
JOBS: dict[str, Job] = {"distribute": distribute, "import_batch": import_batch, "send_alert": send_alert}
# Jobs that mark their own outbox row done in the transaction that records their outcome,
# sparing a second write transaction per row; they answer None when they did not.
SELF_COMPLETING = frozenset({"distribute"})
MAX_ATTEMPTS = 8


def _claim_statement(dialect: str) -> Any:
    """Lease up to `limit` due rows (oldest first) until `until`, answering what to run."""
    o = t.outbox.c
    now = bindparam("now", type_=t.UTCDateTime())
    due = and_(
        o.done_at.is_(None),
        o.due_at <= now,
        or_(o.locked_until.is_(None), o.locked_until < now),
    )
    ids = select(o.id).where(due).order_by(o.id).limit(bindparam("limit", type_=Integer()))
    if dialect == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    return (
        update(t.outbox)
        .where(o.id.in_(ids.scalar_subquery()), due)
        .values(
            locked_until=bindparam("until", type_=t.UTCDateTime()),
            attempts=o.attempts + 1,
            owner=bindparam("token"),
        )
        .returning(o.id, o.job, o.lead_id, o.payload, o.attempts, o.owner, o.locked_until)
    )


def _renew_statement(dialect: str) -> Any:
    """Extend the leases of `tokens` until `until`.

    A row locked meanwhile is skipped, not waited for: the transaction holding it is this
    process acting on the lead under the lease (storage/outbox.py), which extends or ends it
    itself. Waiting would hold the rows renewed so far while waiting, a deadlock with
    transactions that lock one lead's row and then a buyer's balance (seen on PostgreSQL).
    """
    o = t.outbox.c
    mine = select(o.id).where(o.done_at.is_(None), o.owner.in_(bindparam("tokens", expanding=True)))
    if dialect == "postgresql":
        mine = mine.with_for_update(skip_locked=True)
    return (
        update(t.outbox)
        .where(o.id.in_(mine.scalar_subquery()))
        .values(locked_until=bindparam("until", type_=t.UTCDateTime()))
    )


_CLAIM = per_dialect(_claim_statement)
_RENEW = per_dialect(_renew_statement)
_o = t.outbox.c
# A row's end, by whoever still holds its lease.
_END = update(t.outbox).where(_o.id == bindparam("row_id"), _o.owner == bindparam("token"))


class OutboxRunner:
    def __init__(self, ctx: JobContext, *, poll_seconds: float = 1.0, concurrency: int = 32) -> None:
        self._ctx = ctx
        self.lease = timedelta(seconds=ctx.lease_seconds)
        self._engine: AsyncEngine = ctx.engine
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        # The lease tokens this process works under: its claims', and sync requests'.
        self._leases: Counter[str] = Counter()

    def notify(self) -> None:
        self._wake.set()

    def start(self, *, claim: bool = True) -> None:
        """Claim and run due work (`claim`), and renew the leases this process works under."""
        if self._task is None and claim:
            self._task = asyncio.create_task(self._loop(), name="outbox-runner")
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_loop(), name="outbox-leases")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._renewer is not None:
            await stop_task(self._renewer)
            self._renewer = None

    @contextmanager
    def leasing(self, token: str) -> Iterator[None]:
        """While work runs under `token` (a claim's, or a sync request's), its lease is renewed."""
        self._leases[token] += 1
        try:
            yield
        finally:
            self._leases[token] -= 1
            if not self._leases[token]:
                del self._leases[token]

    async def renew_leases(self) -> None:
        """Extend every lease this process works under by a whole lease."""
        if not self._leases:
            return
        params = {"tokens": sorted(self._leases), "until": self._ctx.clock() + self.lease}
        async with self._engine.begin() as conn:
            await conn.execute(_RENEW(conn), params)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.renew_leases()
            except Exception:
                log.exception("renewing outbox leases failed")

    async def _loop(self) -> None:
        while True:
            try:
                claimed = await self.claim(self._concurrency - len(self._running))
            except Exception:
                log.exception("claiming outbox work failed")
                claimed = []
            for row in claimed:
                task = asyncio.create_task(self._run_one(row))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if claimed and len(self._running) < self._concurrency:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass

    async def claim(self, limit: int) -> list[Any]:
        if limit <= 0:
            return []
        now = self._ctx.clock()
        params = {"now": now, "until": now + self.lease, "limit": limit, "token": new_lease()}
        async with self._engine.begin() as conn:
            result = await conn.execute(_CLAIM(conn), params)
            return list(result.all())

    async def _run_one(self, row: Any) -> None:
        with self.leasing(row.owner):
            async with self._limit:
                lease = Lease(row.owner, row.locked_until)
                await run_job(self._ctx, row.id, row.job, row.lead_id, row.payload, row.attempts, lease)


async def run_job(
    ctx: JobContext,
    outbox_id: int,
    job: str,
    lead_id: str | None,
    payload: dict[str, Any],
    attempts: int,
    lease: Lease,
) -> Any:
    """Run one job claimed under `lease` and record its end: done, or due again after a
    backoff (then None). A lease lost meanwhile leaves the row to its new holder."""
    try:
        result = await JOBS[job](ctx, lead_id=lead_id, lease=lease, **payload)
    except Exception as exc:
        log.exception("job %s of outbox row %s failed", job, outbox_id)
        delay = min(600.0, 2.0**attempts) * (0.5 + random.random())
        values: dict[str, Any] = {"last_error": repr(exc)[:2000], "locked_until": None, "owner": None}
        if attempts >= MAX_ATTEMPTS:  # parked: GET /v1/jobs?state=failed
            values["done_at"] = values["failed_at"] = ctx.clock()
        else:
            values["due_at"] = ctx.clock() + timedelta(seconds=delay)
        async with ctx.engine.begin() as conn:
            await conn.execute(_END.values(**values), {"row_id": outbox_id, "token": lease.token})
        return None
    if result is None or job not in SELF_COMPLETING:
        async with ctx.engine.begin() as conn:
            await conn.execute(
                _END.values(done_at=ctx.clock(), locked_until=None, owner=None),
                {"row_id": outbox_id, "token": lease.token},
            )
    return result
