"""`exchange worker`: an arq worker that runs the outbox's jobs and the upkeep beat.

It needs REDIS_URL (the queue) and PostgreSQL (several processes share the database).
Each worker runs up to EXCHANGE_WORKER_JOBS jobs at once; start as many workers as the load
needs. SIGTERM lets the jobs in hand finish (up to a minute); a worker killed outright
leaves its jobs' outbox rows leased, and they are due again once the lease runs out.
"""

from __future__ import annotations

import logging
from typing import Any

from exchange.jobs.queue import FUNCTION, QUEUE, outbox_row
from exchange.settings import Settings

JOB_TIMEOUT_SECONDS = 3600  # a big batch's import is one job
log = logging.getLogger(__name__)


async def _startup(ctx: dict[str, Any]) -> None:
    from exchange.api.app import start_services

    ctx["services"] = await start_services(ctx["settings"], role="worker")
    log.info("exchange worker ready: %d jobs at once", ctx["settings"].worker_jobs)


async def _shutdown(ctx: dict[str, Any]) -> None:
    from exchange.api.app import stop_services

    if "services" in ctx:
        await stop_services(ctx.pop("services"))


def build_worker(settings: Settings, *, burst: bool = False) -> Any:
    from arq import func
    from arq.connections import RedisSettings
    from arq.worker import Worker

    assert settings.redis_url is not None
    return Worker(
        # max_tries=1: a job that failed is the outbox's to retry (a new attempt, a new job).
        functions=[func(outbox_row, name=FUNCTION, max_tries=1, keep_result=0)],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=_startup,
        on_shutdown=_shutdown,
        ctx={"settings": settings},
        max_jobs=settings.worker_jobs,
        job_timeout=JOB_TIMEOUT_SECONDS,
        keep_result=0,
        poll_delay=0.05,
        job_completion_wait=60,
        burst=burst,
        log_results=False,
    )
