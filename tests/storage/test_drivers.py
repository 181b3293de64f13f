"""SQLite through either driver: the default runs on the event loop, aiosqlite on its thread.

Both must read what the other wrote, datetimes included, so a deployment can switch.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

from exchange.storage import tables as t
from exchange.storage.db import create_engine
from exchange.storage.migrate import upgrade
from exchange.storage.writer import LeadWriter
from tests.storage.test_writer import NOW, _write


async def _write_one(url: str) -> str:
    engine = create_engine(url)
    writer = LeadWriter(engine)
    writer.start()
    try:
        result = await writer.write(_write("h-" + url.split(":")[0]))
    finally:
        await writer.stop()
        await engine.dispose()
    return result.answer.lead_id


async def _received_at(url: str, lead_id: str) -> datetime:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            at = await conn.scalar(select(t.leads.c.received_at).where(t.leads.c.id == lead_id))
    finally:
        await engine.dispose()
    assert isinstance(at, datetime)
    return at


async def test_each_driver_reads_what_the_other_wrote(tmp_path: Path) -> None:
    path = tmp_path / "exchange.db"
    inline, threaded = f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, inline)  # alembic runs its own event loop
    by_inline = await _write_one(inline)
    by_threaded = await _write_one(threaded)
    for url in (inline, threaded):
        for lead_id in (by_inline, by_threaded):
            at = await _received_at(url, lead_id)
            assert at == NOW and at.tzinfo is UTC


async def test_the_default_url_runs_on_the_loop_and_aiosqlite_stays_available(tmp_path: Path) -> None:
    inline = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    threaded = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert (inline.dialect.driver, threaded.dialect.driver) == ("inline", "aiosqlite")
    await inline.dispose()
    await threaded.dispose()


async def test_an_idle_postgresql_connection_the_server_closed_is_replaced_at_checkout(
    postgres_url: str,
) -> None:
    """Pooled connections are pinged only after sitting idle; a dead one is then replaced,
    and the caller never sees it."""
    engine = create_engine(postgres_url, idle_ping_seconds=0.2)
    killer = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with killer.connect() as other:  # the server ends the pooled session
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.3)  # idle past the threshold: the next checkout pings
        async with engine.connect() as conn:
            second = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()
        await killer.dispose()
