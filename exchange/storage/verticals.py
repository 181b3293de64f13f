"""Verticals as stored, cached per process: intake and distribution read them for every lead.

A reload takes a connection of its own: call these before a unit of work takes its one
(storage/pool.py), never while holding it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.storage import tables as t
from exchange.verticals import Distribution, FieldSpec, Vertical

# Verticals change rarely; other processes see a change within this many seconds.
VERTICAL_TTL_SECONDS = 5.0


@dataclass
class VerticalCache:
    engine: AsyncEngine
    _items: dict[str, Vertical] = field(default_factory=dict)
    _loaded_at: float = 0.0

    async def get(self, key: str) -> Vertical | None:
        return (await self.current()).get(key)

    async def current(self) -> dict[str, Vertical]:
        """Every vertical by key, as of at most VERTICAL_TTL_SECONDS ago."""
        if time.monotonic() - self._loaded_at > VERTICAL_TTL_SECONDS:
            await self.reload()
        return self._items

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
