"""Checkpoints of a SQLite database's write-ahead log, on a thread of their own.

A checkpoint copies the pages the WAL holds back into the database file and fsyncs both.
Left to SQLite, it runs inside whichever commit takes the WAL past `wal_autocheckpoint`
pages: on the exchange's SQLite driver (storage/inline.py) that commit runs on the event
loop's thread, so every request in flight waited for the copy and the fsync, and with a
big database (random index pages) the process sat idle in them ≈ 10 % of the time under
load. The server's engine turns autocheckpoint off (db.create_engine, `checkpoints=False`)
and this thread checkpoints instead, with a connection of its own, every `interval`
seconds: PASSIVE, so it never waits for a reader or the writer, nor makes them wait.
The sqlite3 module lets go of the GIL while SQLite works, so the loop runs meanwhile.

Durability is unchanged: a commit is in the WAL (and survives the process) when it
returns; a checkpoint only moves committed pages into the main file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# How often the thread checkpoints: at intake's full rate the WAL gathers a few MB a second.
INTERVAL_SECONDS = 0.5


class WalCheckpointer:
    """Checkpoint the WAL of the SQLite file at `path` every `interval` seconds until stopped."""

    def __init__(self, path: Path, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Checkpoint once more, then end the thread."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(connection)
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the next turn tries again; the WAL only grows meanwhile
            log.warning("checkpoint of %s failed: %s", self.path, exc)
