"""The server's SQLite WAL is checkpointed off the event loop, not inside its commits, and
starts over under steady load instead of growing for as long as the load lasts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.checkpoint import WalCheckpointer
from exchange.storage.db import create_engine
from exchange.storage.migrate import upgrade
from exchange.storage.writer import LeadWriter
from tests.storage.test_writer import _write


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
        checkpointer.start(engine)
        try:
            grown = await asyncio.to_thread(_size_when_grown, path, before)
        finally:
            await checkpointer.stop()
            await checkpointer.close()
        assert grown > before + 1000 * 4096
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM lead_events")) == 10_000
    finally:
        await engine.dispose()


async def _wal_under_load(path: Path, restart_frames: int, seconds: float = 1.5) -> tuple[int, int, int]:
    """Commit leads without pause for `seconds` beside a checkpointer: (largest WAL file seen,
    held passes, leads written)."""
    url = f"sqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url, checkpoints=False)
    checkpointer = WalCheckpointer(path, interval=0.05, restart_frames=restart_frames)
    writer = LeadWriter(engine)
    wal, largest, written = Path(f"{path}-wal"), 0, 0
    checkpointer.start(engine)
    writer.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.gather(*(writer.write(_write(new_id("phone"))) for _ in range(32)))
            written += 32
            largest = max(largest, _size(wal))
    finally:
        await writer.stop()
        await checkpointer.stop()
        await engine.dispose()
        await checkpointer.close()
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(t.leads)) == written
    finally:
        await engine.dispose()
    return largest, checkpointer.held, written


async def test_under_steady_load_the_wal_starts_over_instead_of_growing(tmp_path: Path) -> None:
    # The same load twice: once never holding the writers, once holding them at 400 frames.
    unbounded, never_held, written_unbounded = await _wal_under_load(tmp_path / "a.db", restart_frames=10**12)
    bounded, held, written = await _wal_under_load(tmp_path / "b.db", restart_frames=400)
    assert never_held == 0 and held >= 2
    # Without a held pass the log only grows (every frame since the start is in it).
    assert unbounded > 3 * 400 * 4096
    # With them it starts over, and the pauses leave the load going (noisy machines: a margin).
    assert bounded < unbounded / 3, (bounded, unbounded)
    assert written > written_unbounded / 4
