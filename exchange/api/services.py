"""What handlers need, built once per process and injected: engine, writer, runner, caches."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.clock import Clock
from exchange.jobs.distribute import JobContext
from exchange.jobs.outbox import OutboxRunner
from exchange.pipeline.sources import SourceScores
from exchange.settings import Settings
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


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    writer: LeadWriter
    runner: OutboxRunner
    jobs: JobContext
    verticals: VerticalCache
    metrics: Metrics
    sources: SourceScores


ServicesDep = NamedDependency[Services]
