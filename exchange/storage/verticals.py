"""Verticals as stored, cached per process: intake and distribution read them for every lead."""

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
