"""SQLite through either driver: the default runs on the event loop, aiosqlite on its thread.

Both must read what the other wrote, datetimes included, so a deployment can switch.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

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
