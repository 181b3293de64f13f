"""What handlers need, built once per process and injected: engine, writer, runner, caches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec
from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.clock import Clock
from exchange.jobs.distribute import JobContext
from exchange.jobs.outbox import OutboxRunner
from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.writer import LeadWriter
from exchange.verticals import Distribution, FieldSpec, Vertical

# Verticals change rarely; other processes see a change within this many seconds.
VERTICAL_TTL_SECONDS = 5.0


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
class VerticalCache:
    engine: AsyncEngine
    _items: dict[str, Vertical] = field(default_factory=dict)
    _loaded_at: float = 0.0

    async def get(self, key: str) -> Vertical | None:
        if time.monotonic() - self._loaded_at > VERTICAL_TTL_SECONDS:
            await self.reload()
        return self._items.get(key)

    async def all(self) -> list[Vertical]:
        await self.reload()
        return sorted(self._items.values(), key=lambda v: v.key)

    async def reload(self) -> None:
        v = t.verticals.c
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(v.key, v.fields, v.distribution))).all()
        self._items = {
            row.key: Vertical(
                key=row.key,
                fields=msgspec.convert(row.fields, list[FieldSpec]),
                distribution=msgspec.convert(row.distribution, Distribution),
            )
            for row in rows
        }
        self._loaded_at = time.monotonic()


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


ServicesDep = NamedDependency[Services]
