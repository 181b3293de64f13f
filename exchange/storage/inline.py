"""SQLite run on the event loop's own thread: the exchange's default SQLite driver.

aiosqlite hands every statement to a thread of its own and wakes the event loop with
the result: two context switches and a loop wake-up per statement, which measured as
the largest single cost of the intake path (see docs/performance.md). An indexed
statement on SQLite takes microseconds, less than that hand-off; so this dialect runs
the standard library's sqlite3 directly under SQLAlchemy's asyncio layer (whose
greenlet bridge then never suspends), and the pool is the asyncio one, so a request
that finds the connection busy waits on the event loop, not in SQLite.

The trade-offs, decided:
- A statement blocks the event loop while it runs. That is what a statement on an
  indexed path costs anyway; long reports over big tables stall other requests for
  their duration. Deployments that run long reports beside heavy intake use PostgreSQL,
  or `sqlite+aiosqlite://`, which keeps aiosqlite's threads.
- One process owns the file: a second process writing the same file makes this one wait
  in SQLite's busy handler with the loop blocked, up to `busy_timeout` (see db.py).
  Several workers call for PostgreSQL.

URLs: `sqlite:///path` (and `sqlite+inline:///path`) use this driver;
`sqlite+aiosqlite:///path` keeps aiosqlite.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool
from sqlalchemy.util.concurrency import await_


class _Done:
    """An awaitable that is already finished."""

    def __await__(self) -> Any:
        return iter(())


_DONE = _Done()


def _passed_through_loop() -> None:
    # SQLAlchemy's AsyncConnection.execute insists that a statement awaited something
    # (a guard against sync drivers used by mistake); this await finishes at once.
    await_(_DONE)


class _Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        # The asyncio layer closes cursors of threaded drivers before leaving the greenlet;
        # a sqlite3 cursor stays readable on this thread, so there is nothing to do.
        return None


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)


class _ExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> Any:
        # A sqlite3 cursor already fetches as it is read: streams (large exports) use it as is.
        return self._dbapi_connection.cursor()


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    driver = "inline"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = _ExecutionContext

    @classmethod
    def get_pool_class(cls, url: URL) -> type[Any]:
        # The asyncio pool: a checkout that must wait awaits instead of blocking the loop.
        return AsyncAdaptedQueuePool if cls._is_url_file_db(url) else StaticPool

    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        _passed_through_loop()
        cursor.execute(statement, parameters)

    def do_executemany(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        _passed_through_loop()
        cursor.executemany(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        _passed_through_loop()
        cursor.execute(statement)

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = super().create_connect_args(url)
        # Connections are made and used on the loop's thread; the pool may close one from
        # another thread at interpreter exit.
        kwargs["check_same_thread"] = False
        kwargs["factory"] = _Connection
        return args, kwargs


registry.register("sqlite.inline", __name__, "InlineSQLiteDialect")
