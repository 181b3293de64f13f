"""Background work on arq and Redis, when REDIS_URL is set.

The transactional outbox stays the record of work owed: a lead, a batch or a re-send is
committed with its outbox row, whatever runs it. What changes is who runs it:

    serve    accepts, stores and answers; its relay (`ArqRelay`) hands due outbox rows to
             arq as jobs named after the row, its attempt and the hand-over period
             (`outbox:ID:ATTEMPT:PERIOD`), so a crash between commit and enqueue loses
             nothing (the row is still due and the next relay pass hands it over) and
             servers handing the same row over together enqueue it once (arq refuses a job
             id it already holds). A row still unclaimed a period (30 s) later is handed
             over again: its job may have died with a worker that had taken it from the
             queue. A `mode=sync` request still distributes its own lead.
    worker   `exchange worker`: arq runs `outbox_row(ID)`, which claims that row under a
             lease with the same conditional UPDATE the in-process runner uses, runs its job
             (the one definition in jobs/outbox.py) and records its end; a row already done,
             or leased by someone else, is left alone, so a job run twice acts once. A job
             that fails is due again after a backoff (a new attempt, so a new job id) and is
             parked after MAX_ATTEMPTS, for operators (`GET /v1/jobs?state=failed`). The
             upkeep beat (ping expiry, batched file deliveries, pulls) runs in the workers.

Without REDIS_URL the in-process runner claims and runs the same rows with the same job
functions: one definition of each job, two ways to run it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from exchange.jobs.outbox import OutboxRunner, run_job
from exchange.storage import tables as t
from exchange.storage.outbox import Lease, new_lease

log = logging.getLogger(__name__)

QUEUE = "exchange:outbox"
FUNCTION = "outbox_row"
# How many due rows one relay pass looks at, and how long a handed-over row is not handed
# over again (arq would refuse it anyway while it holds the job; this spares the round trip).
RELAY_BATCH = 500
RELAY_QUIET_SECONDS = 30.0

_o = t.outbox.c
_now = bindparam("now", type_=t.UTCDateTime())
_DUE = and_(_o.done_at.is_(None), _o.due_at <= _now, or_(_o.locked_until.is_(None), _o.locked_until < _now))
_DUE_ROWS = select(_o.id, _o.attempts).where(_DUE).order_by(_o.id).limit(RELAY_BATCH)
_CLAIM_ONE = (
    update(t.outbox)
    .where(_o.id == bindparam("row_id"), _DUE)
    .values(
        locked_until=bindparam("until", type_=t.UTCDateTime()),
        attempts=_o.attempts + 1,
        owner=bindparam("token"),
    )
    .returning(_o.id, _o.job, _o.lead_id, _o.payload, _o.attempts, _o.owner, _o.locked_until)
)


async def queue_pool(redis_url: str) -> Any:
    """arq's Redis connection (a redis.asyncio client too: pub/sub, health checks)."""
    from arq import create_pool
    from arq.connections import RedisSettings

    return await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=QUEUE)


def job_id(row_id: int, attempts: int, generation: int) -> str:
    """A row's job for one attempt, within one hand-over period: a row still unclaimed a
    period later (its job died with a worker that had taken it from the queue) gets a new
    job, rather than waiting for arq to give up on the old one."""
    return f"outbox:{row_id}:{attempts}:{generation}"


class ArqRelay(OutboxRunner):
    """The outbox runner of a server with REDIS_URL: due rows go to arq, not to this process.

    It still renews the leases of the sync requests this process serves (OutboxRunner)."""

    def __init__(self, ctx: Any, pool: Any, *, poll_seconds: float = 1.0) -> None:
        super().__init__(ctx, poll_seconds=poll_seconds)
        self.pool = pool
        self._handed: dict[tuple[int, int], float] = {}

    async def relay_due(self) -> int:
        """Hand every due row not handed over lately to arq; how many were handed."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_DUE_ROWS, {"now": self._ctx.clock()})).all()
        now = time.monotonic()
        self._handed = {key: at for key, at in self._handed.items() if now - at < RELAY_QUIET_SECONDS}
        handed = 0
        for row in rows:
            key = (row.id, row.attempts)
            if key in self._handed:
                continue
            generation = int(time.time() // RELAY_QUIET_SECONDS)
            await self.pool.enqueue_job(
                FUNCTION, row.id, _job_id=job_id(row.id, row.attempts, generation), _queue_name=QUEUE
            )
            self._handed[key] = now
            handed += 1
        return handed

    async def _loop(self) -> None:
        while True:
            try:
                await self.relay_due()
            except Exception:  # Redis or the database away for a moment: the next pass
                log.exception("handing outbox work to arq failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass


async def outbox_row(ctx: dict[str, Any], row_id: int) -> str:
    """The arq job: claim outbox row `row_id` if it is still due, and run its job."""
    services = ctx["services"]
    jobs, runner = services.jobs, services.runner
    now = jobs.clock()
    params = {"row_id": row_id, "now": now, "until": now + timedelta(seconds=jobs.lease_seconds)}
    async with jobs.engine.begin() as conn:
        row = (await conn.execute(_CLAIM_ONE, {**params, "token": new_lease()})).first()
    if row is None:
        return "not due"
    started = time.perf_counter()
    with runner.leasing(row.owner):
        await run_job(
            jobs, row.id, row.job, row.lead_id, row.payload, row.attempts, Lease(row.owner, row.locked_until)
        )
    services.metrics.job_seconds.labels(row.job).observe(time.perf_counter() - started)
    return row.job
