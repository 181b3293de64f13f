"""Checkpoints of a SQLite database's write-ahead log, off the event loop.

A checkpoint copies the pages the WAL holds back into the database file and fsyncs both.
Left to SQLite, it runs inside whichever commit takes the WAL past `wal_autocheckpoint`
pages: on the exchange's SQLite driver (storage/inline.py) that commit runs on the event
loop's thread, so every request in flight waited for the copy and the fsync, and with a
big database (random index pages) the process sat idle in them ≈ 10 % of the time under
load. The server's engine turns autocheckpoint off (db.create_engine, `checkpoints=False`)
and this checkpointer takes over, with a connection and a thread of its own: every
`interval` seconds a PASSIVE checkpoint, which never waits for a reader or the writer, nor
makes them wait. The sqlite3 module lets go of the GIL while SQLite works, so the loop
runs meanwhile.

A PASSIVE checkpoint alone never lets the WAL start over under steady load. SQLite
rewinds the log to its beginning only when a write transaction starts after a checkpoint
has copied every frame, and by the time a checkpoint beside a busy writer returns, newer
commits are always there: the log grew for as long as the load lasted (400 MB in the
benchmark's ten seconds; a day of steady intake would fill a disk). Every commit then
extended the file, and the file system allocated and zeroed each new block: with a
million leads stored, whose commits dirty random pages, that was most of what a lead
cost over one on an empty database. So once the log is `restart_frames` long, the
checkpointer makes a pass or two more, then holds the process's one SQLite connection
(db.create_engine gives a SQLite file a pool of one), which keeps every writer of this
process waiting on the event loop, and checkpoints what was committed since: a short
pause, after which the next commit starts the log over in the space it already has.

Durability is unchanged: a commit is in the WAL (and survives the process) when it
returns; a checkpoint only moves committed pages into the main file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.tasks import stop_task

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often the checkpointer runs. Every pass copies each page changed since the last one:
# the rarer the passes, the more often a page changed twice is copied once (on a big
# database with a million stored leads, 0.5 s measured 5-10 % more CPU per lead than 2 s).
INTERVAL_SECONDS = 2.0
# A log this long is finished with the writers held, so it can start over: 64 MB of 4 KB
# pages, about two seconds of intake at full rate here. A held pass costs every writer a
# pause, and the passes before it copy the pages the writer keeps changing (on a small
# database, the same few hundred) once more: at full rate nearly every interval ends with
# one, at lower rates only every few. Once the file has grown this far, reusing it costs
# no allocation.
RESTART_FRAMES = 16_384
# Passes beside the writer before the held one, to leave it little to copy and sync; and
# what counts as little.
MORE_PASSES = 2
FEW_FRAMES = 64


class WalCheckpointer:
    """Checkpoint the WAL of the SQLite file at `path` every `interval` seconds until stopped."""

    def __init__(
        self, path: Path, interval: float = INTERVAL_SECONDS, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        # Passes run with the writers held: what the WAL's restarts cost.
        self.held = 0

    def start(self, engine: AsyncEngine) -> None:
        """Run beside `engine`, the process's engine on this file, whose pool is one connection."""
        if self._task is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
            self._task = asyncio.create_task(self._run(engine), name="wal-checkpoint")

    async def stop(self) -> None:
        """Stop checkpointing beside the engine. Once nothing writes any more, `close`."""
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def close(self) -> None:
        """Checkpoint once more, then let go of the connection and the thread."""
        if self._executor is None:
            return
        await self.checkpoint()
        await self._in_thread(self._close)
        self._executor.shutdown()
        self._executor = None

    async def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: (frames in the log, frames now copied into the file)."""
        return await self._in_thread(self._checkpoint)

    async def _run(self, engine: AsyncEngine) -> None:
        settled = -1  # the log's length when a held pass last finished it
        while True:
            await asyncio.sleep(self.interval)
            frames, _ = await self.checkpoint()
            if frames < self.restart_frames or frames == settled:
                continue  # short, or idle since the last held pass (the next commit restarts it)
            # Even a pass that copied every frame it saw is behind when it returns: the writer
            # committed meanwhile. A pass or two more beside the writer leave the held pass
            # little to copy and sync (the sync of a few hundred random pages alone takes tens
            # of milliseconds on a virtual disk).
            for _ in range(MORE_PASSES):
                seen, (frames, _) = frames, await self.checkpoint()
                if frames - seen <= FEW_FRAMES:
                    break
            async with engine.connect():  # every writer of this process waits meanwhile
                settled, _ = await self.checkpoint()
                self.held += 1

    async def _in_thread(self, work: Callable[[], T]) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _checkpoint(self) -> tuple[int, int]:
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            _, frames, copied = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the next turn tries again; the WAL only grows meanwhile
            log.warning("checkpoint of %s failed: %s", self.path, exc)
            return 0, 0
        return int(frames), int(copied)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
