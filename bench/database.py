"""The benchmark's database: always empty at the start, so every run measures the same work.

SQLite gets a new file in a temporary directory; PostgreSQL a new database, dropped after.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from exchange.storage import tables as t
from exchange.storage.db import engine_url


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'exchange.db'}"


async def _execute(url: str, *statements: str) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(engine_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def fresh_postgres(server_url: str, name: str | None = None) -> Iterator[str]:
    """A new database `name` (`exchange_bench_<pid>` by default) on the server of
    `server_url`, dropped on exit."""
    parsed = make_url(server_url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    name = name or f"exchange_bench_{os.getpid()}"
    asyncio.run(_execute(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: the server under test may still hold connections if it was killed.
        asyncio.run(_execute(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _count_backlog(url: str) -> int:
    engine = create_async_engine(engine_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(t.outbox).where(t.outbox.c.done_at.is_(None))
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()


def outbox_backlog(url: str) -> int:
    """Work the exchange acknowledged (202) but has not done yet: distribution still owed."""
    return asyncio.run(_count_backlog(url))
