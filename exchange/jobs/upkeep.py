"""The server's upkeep beat: time-driven work no request or outbox row wakes.

Every `poll_seconds`, in each server process (each worker's, with REDIS_URL): the bids held
for publishers' pings that expired unposted are released (distribution/pings.py), and batched
file deliveries are formed and sent (jobs/file_batches.py); beside the beat, publishers' due
pulls run (pipeline/pulls.py). Each step is a conditional update, so any number of processes
may beat at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.outbound.registry import AdapterRegistry
from exchange.clock import Clock
from exchange.distribution.pings import expire_pings
from exchange.jobs.file_batches import CLAIM_SECONDS, form_batches, send_due
from exchange.pipeline.pulls import run_due_pulls
from exchange.tasks import stop_task

log = logging.getLogger(__name__)


class Upkeep:
    def __init__(
        self,
        engine: AsyncEngine,
        adapters: AdapterRegistry,
        clock: Clock,
        *,
        poll_seconds: float,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self.engine, self.adapters, self.clock = engine, adapters, clock
        self.poll_seconds, self.claim_seconds = poll_seconds, claim_seconds
        self._task: asyncio.Task[None] | None = None
        self._pulling: asyncio.Task[None] | None = None
        # The intake (exchange.api.services.Services), set once it exists: pulls take leads in.
        self.intake: Any = None

    async def run_once(self) -> None:
        await self.beat()
        await self.pull()

    async def beat(self) -> None:
        now = self.clock()
        await expire_pings(self.engine, now)
        await form_batches(self.engine, now)
        await send_due(self.engine, self.adapters, now, claim_seconds=self.claim_seconds)

    async def pull(self) -> None:
        if self.intake is not None:
            await run_due_pulls(self.intake, self.clock())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="upkeep")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
        if self._pulling is not None:
            await stop_task(self._pulling)
            self._pulling = None

    async def _loop(self) -> None:
        while True:
            # Pulls run beside the beat (a run may take minutes): expiring pings never waits on them.
            if self._pulling is None or self._pulling.done():
                self._pulling = asyncio.create_task(self._quietly(self.pull()), name="upkeep-pulls")
            await self._quietly(self.beat())
            await asyncio.sleep(self.poll_seconds)

    @staticmethod
    async def _quietly(step: Any) -> None:
        try:
            await step
        except Exception:  # a bad moment of the database: the next beat tries again
            log.exception("upkeep: a beat failed")
