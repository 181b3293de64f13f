"""The server's SQLite WAL is checkpointed by a thread of its own, not inside its commits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from exchange.storage import tables as t
from exchange.storage.checkpoint import WalCheckpointer
from exchange.storage.db import create_engine
from exchange.storage.migrate import upgrade


def _size(path: Path) -> int:
    return path.stat().st_size


def _size_when_grown(path: Path, before: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while _size(path) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    return _size(path)


async def _autocheckpoint(url: str, **options: bool) -> int:
    engine = create_engine(url, **options)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("PRAGMA wal_autocheckpoint")))
    finally:
        await engine.dispose()


async def test_the_server_engine_leaves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert await _autocheckpoint(url) == 1000  # SQLite's own default elsewhere
    assert await _autocheckpoint(url, checkpoints=False) == 0


async def test_the_thread_moves_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    url = f"sqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url, checkpoints=False)
    try:
        async with engine.connect() as conn:  # settle what migrating left in the WAL
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        before = path.stat().st_size
        now = datetime.now(UTC)
        rows = [
            {"lead_id": f"lead_{i}", "kind": "received", "at": now, "data": {"pad": "x" * 500}}
            for i in range(10_000)
        ]
        for start in range(0, len(rows), 500):  # several commits, past 1000 pages of WAL
            async with engine.begin() as conn:
                await conn.execute(t.lead_events.insert(), rows[start : start + 500])
        # Committed, in the WAL past SQLite's 1000-page mark, and not in the database file.
        assert _size(path) == before
        assert _size(Path(f"{path}-wal")) > 1000 * 4096

        checkpointer = WalCheckpointer(path, interval=0.05)
        checkpointer.start()
        try:
            grown = await asyncio.to_thread(_size_when_grown, path, before)
        finally:
            await asyncio.to_thread(checkpointer.stop)
        assert grown > before + 1000 * 4096
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM lead_events")) == 10_000
    finally:
        await engine.dispose()
