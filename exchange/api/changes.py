"""What each process caches, how stale it may be, and how an operator's change reaches them.

    cache                         where                          stale at most
    API keys (principals)         api/services.KeyCache          1 s   (revocations, terms)
    campaigns (the catalogue)     distribution/catalog.py        2 s   (pauses, edits)
    verticals and distribution    storage/verticals.py           5 s
    source scores                 pipeline/sources.py            EXCHANGE_SOURCE_SCORE_SECONDS

The process that makes a change drops its own cache at once. With REDIS_URL every process
also hears of it on the `exchange:changes` channel and drops that cache within moments (a
publish and a message: milliseconds); the bounds above still hold if a message is lost.
Caps, rotation, balances, holds, idempotency and leases are never cached: they live in the
database, read and written in the transactions that use them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from exchange.tasks import stop_task

log = logging.getLogger(__name__)

CHANNEL = "exchange:changes"
KINDS = ("keys", "campaigns", "verticals")


class Changes:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._services: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self, services: Any) -> None:
        self._services = services
        if self.redis is not None:
            self._task = asyncio.create_task(self._listen(), name="changes")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def changed(self, kind: str) -> None:
        """`kind` changed here: drop this process's cache now, and tell the others."""
        await self.forget(kind)
        if self.redis is not None:
            try:
                await self.redis.publish(CHANNEL, kind)
            except Exception:  # the others still see it within their cache's bound
                log.warning("could not announce a change of %s", kind, exc_info=True)

    async def forget(self, kind: str) -> None:
        services = self._services
        if kind == "keys":
            services.principals.clear()
        elif kind == "campaigns":
            services.jobs.catalog.invalidate()
        elif kind == "verticals":
            await services.verticals.reload()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        kind = message["data"]
                        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                        if kind in KINDS:
                            await self.forget(kind)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: caches still expire on their own; listen again
                log.warning("the change feed stopped; listening again", exc_info=True)
                await asyncio.sleep(1.0)
