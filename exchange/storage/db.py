"""The database engine: SQLite in WAL mode by default, PostgreSQL through asyncpg.

One engine per process; JSON columns go through msgspec both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from exchange.storage import inline  # noqa: F401 - registers the sqlite+inline dialect

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


def engine_url(url: str) -> URL:
    """The URL the engine really opens: plain `sqlite://` runs on the loop (storage/inline.py)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+inline")
    return parsed


def create_engine(url: str, *, pool_size: int = 10, checkpoints: bool = True) -> AsyncEngine:
    """The engine for `url`. `checkpoints=False` (a SQLite file whose WAL a WalCheckpointer
    keeps, storage/checkpoint.py) stops SQLite checkpointing inside this engine's commits."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "json_serializer": _to_json,
        "json_deserializer": _json_decoder.decode,
    }
    if not is_sqlite(url):
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    elif path is not None:
        # SQLite has one writer at a time: one connection per process queues this process's
        # work on the event loop instead of in SQLite's busy handler, which sleeps up to
        # 100 ms between tries, and spares a thread per extra connection.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    engine = create_async_engine(engine_url(url), **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if not checkpoints:
            event.listen(engine.sync_engine, "connect", _no_autocheckpoint)
    return engine


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
