"""Applying migrations (Alembic, programmatically) and seeding what exists from the first start."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.storage import tables as t
from exchange.verticals import BUILTIN_VERTICALS

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Blocking: run from a thread when an event loop is running."""
    command.upgrade(alembic_config(url), "head")


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


async def seed(engine: AsyncEngine, *, admin_key: str | None) -> None:
    """Insert missing built-in verticals and the bootstrap operator key; never overwrite.
    Processes starting together may race to insert the same rows: the loser looks again."""
    try:
        await _seed(engine, admin_key)
    except IntegrityError:
        await _seed(engine, admin_key)


async def _seed(engine: AsyncEngine, admin_key: str | None) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        have = set((await conn.execute(select(t.verticals.c.key))).scalars())
        rows = [
            {
                "key": v.key,
                "fields": msgspec.to_builtins(v.fields),
                "distribution": msgspec.to_builtins(v.distribution),
                "is_builtin": True,
                "created_at": now,
                "updated_at": now,
            }
            for v in BUILTIN_VERTICALS
            if v.key not in have
        ]
        if rows:
            await conn.execute(t.verticals.insert(), rows)
        if admin_key:
            digest = hash_key(admin_key)
            found = await conn.scalar(select(t.api_keys.c.id).where(t.api_keys.c.key_hash == digest))
            if found is None:
                await conn.execute(
                    t.api_keys.insert().values(
                        id="key_admin_" + digest[:12],
                        role="operator",
                        name="EXCHANGE_ADMIN_KEY",
                        key_hash=digest,
                        created_at=now,
                    )
                )
