"""What handlers need, built once per process and injected: engine, writer, runner, caches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.clock import Clock
from exchange.jobs.distribute import JobContext
from exchange.jobs.outbox import OutboxRunner
from exchange.jobs.upkeep import Upkeep
from exchange.pipeline.sources import SourceScores
from exchange.settings import Settings
from exchange.storage.checkpoint import WalCheckpointer
from exchange.storage.verticals import VerticalCache
from exchange.storage.writer import LeadWriter


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.leads = Counter(
            "exchange_leads_total",
            "Leads answered, by vertical and status",
            ["vertical", "status"],
            registry=self.registry,
        )
        self.intake_seconds = Histogram(
            "exchange_intake_seconds",
            "Time from body read to answer for POST /v1/leads",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.owed = Gauge(
            "exchange_jobs_owed",
            "Background jobs due now and not done (the queue's depth)",
            registry=self.registry,
        )
        self.oldest_owed = Gauge(
            "exchange_jobs_oldest_owed_seconds",
            "How long the oldest job owed has waited",
            registry=self.registry,
        )
        self.parked = Gauge(
            "exchange_jobs_failed",
            "Jobs whose attempts are spent, parked for operators",
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "exchange_job_seconds",
            "How long background jobs (outbox rows run by this process's arq worker) took, by job",
            ["job"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
        )


class KeyCache:
    """Recently seen keys, so a busy publisher's requests skip the key look-up.

    This process forgets an entry at once when a key is revoked or a publisher's terms
    change; other processes see the change within `ttl_seconds`.
    """

    def __init__(self, ttl_seconds: float = 1.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._seen: dict[str, tuple[float, Any]] = {}

    def get(self, digest: str) -> Any | None:
        found = self._seen.get(digest)
        if found is None or time.monotonic() - found[0] > self.ttl_seconds:
            return None
        return found[1]

    def put(self, digest: str, principal: Any) -> None:
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[digest] = (time.monotonic(), principal)

    def clear(self) -> None:
        self._seen.clear()


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    writer: LeadWriter
    runner: OutboxRunner
    upkeep: Upkeep
    jobs: JobContext
    verticals: VerticalCache
    metrics: Metrics
    sources: SourceScores
    principals: KeyCache = field(default_factory=KeyCache)
    # On a SQLite file: checkpoints its WAL off the event loop (storage/checkpoint.py).
    checkpointer: WalCheckpointer | None = None
    # The SMTP inbox, when EXCHANGE_SMTP_PORT is set (api/smtp.py).
    smtp: Any = None
    # The FTP drop box, when EXCHANGE_FTP_PORT is set (api/ftp.py).
    ftp: Any = None
    # arq's Redis connection when REDIS_URL is set (jobs/queue.py), and the change feed that
    # tells every process to drop what it caches when an operator changes it (api/changes.py).
    redis: Any = None
    changes: Any = None
    # Rate limits per key and per client address (api/limits.py).
    limits: Any = None
    # The file lock that keeps a second process off a SQLite database (storage/db.py).
    sqlite_lock: Any = None
    # The alert watch of this process (jobs/alerts.py).
    alerts: Any = None


ServicesDep = NamedDependency[Services]
