"""The database engine: SQLite in WAL mode by default, PostgreSQL through asyncpg.

One engine per process; JSON columns go through msgspec both ways.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from exchange.storage import inline  # noqa: F401 - registers the sqlite+inline dialect
from exchange.storage.pool import OneConnectionPerTask

# A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
IDLE_PING_SECONDS = 1.0
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _to_json(value: Any) -> str:
    return _json_encoder.encode(value).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class SqliteBusy(RuntimeError):
    """Another process holds this SQLite database."""


class SqliteLock:
    """One process per SQLite database: an exclusive lock on `DB.lock` beside the file, held
    while the process runs. SQLite serialises writers within one process (storage/writer.py)
    and the exchange's leases, caps and holds rely on one writer at a time; two processes on
    one file would contend on its lock, so a second one is refused at start with a reason.
    Several processes (`serve --workers`, more servers, `exchange worker`) need PostgreSQL."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    @classmethod
    def take(cls, url: str) -> SqliteLock | None:
        path = sqlite_path(url)
        if path is None:
            return None
        try:
            import fcntl
        except ImportError:  # not on this platform: nothing to hold
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(f"{path}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise SqliteBusy(
                f"another exchange process is using the SQLite database {path}: SQLite serves one "
                "process; for several (serve --workers, more servers, exchange worker) set "
                "DATABASE_URL=postgresql+asyncpg://…"
            ) from None
        return cls(handle)

    def release(self) -> None:
        if not self._handle.closed:
            self._handle.close()  # closing the file lets the lock go


def engine_url(url: str) -> URL:
    """The URL the engine really opens: plain `sqlite://` runs on the loop (storage/inline.py)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+inline")
    return parsed


def create_engine(
    url: str, *, pool_size: int = 10, checkpoints: bool = True, idle_ping_seconds: float = IDLE_PING_SECONDS
) -> AsyncEngine:
    """The engine for `url`. `checkpoints=False` (a SQLite file whose WAL a WalCheckpointer
    keeps, storage/checkpoint.py) stops SQLite checkpointing inside this engine's commits.
    On PostgreSQL a pooled connection idle for `idle_ping_seconds` is pinged at checkout."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "json_serializer": _to_json,
        "json_deserializer": _json_decoder.decode,
    }
    if not is_sqlite(url):
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, poolclass=OneConnectionPerTask)
    elif path is not None:
        # SQLite has one writer at a time: one connection per process queues this process's
        # work on the event loop instead of in SQLite's busy handler, which sleeps up to
        # 100 ms between tries, and spares a thread per extra connection.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60, poolclass=OneConnectionPerTask)
    engine = create_async_engine(engine_url(url), **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if not checkpoints:
            event.listen(engine.sync_engine, "connect", _no_autocheckpoint)
    else:
        _ping_when_idle(engine, idle_ping_seconds)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only if it sat unused for `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip per transaction,
    ≈ 1 in 8 of an auction's. A connection returned moments ago is as good as the
    statement it just ran; one that sat idle may have been closed by the server (a
    restart, an idle timeout) and is pinged, and replaced if the ping fails. A server
    that drops a connection within `idle_seconds` of its last use fails that one
    transaction, and the pool is renewed at once (SQLAlchemy invalidates it on the error).
    """
    dialect = engine.sync_engine.dialect

    def used(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info["used_at"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        used_at = record.info.get("used_at")
        if used_at is not None and time.monotonic() - used_at < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out another
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc

    event.listen(engine.sync_engine, "connect", used)
    event.listen(engine.sync_engine, "checkin", used)
    event.listen(engine.sync_engine, "checkout", checkout)


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; synchronous=NORMAL keeps every commit
    # through a process crash (what a 2xx promises), fsyncing at checkpoints.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
