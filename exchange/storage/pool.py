"""The connection pool: one connection at a time per unit of work, or an error at once.

A request or job (an asyncio task) that holds a connection and asks for a second one
waits for a connection it may itself be keeping busy: on SQLite, whose pool has one, it
waits forever (the whole process with it, until the pool's timeout); on PostgreSQL it
does so as soon as enough tasks do it at once. So the pool refuses a second checkout by
the same task, at once, naming the mistake: what a unit of work needs is read through
the connection it has, or before it takes one.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool


class SecondConnection(RuntimeError):
    """A bug, never a load problem: a task asked for a connection while holding one."""


class OneConnectionPerTask(AsyncAdaptedQueuePool):
    """An asyncio queue pool that refuses a task's second connection from it."""

    # Logged as SQLAlchemy's own pools are (quiet unless SQLAlchemy's logging is turned up).
    _sqla_logger_namespace = "sqlalchemy.pool.impl.OneConnectionPerTask"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connection records checked out, by the task that checked each out.
        self._held: weakref.WeakKeyDictionary[asyncio.Task[Any], Any] = weakref.WeakKeyDictionary()
        self._owner: dict[int, weakref.ref[asyncio.Task[Any]]] = {}

    def _do_get(self) -> Any:
        task = _current_task()
        if task is not None and task in self._held:
            raise SecondConnection(
                f"task {task.get_name()!r} asked for a second database connection while holding one;"
                " a unit of work uses one connection at a time"
            )
        record = super()._do_get()
        if task is not None:
            self._held[task] = record
            self._owner[id(record)] = weakref.ref(task)
        return record

    def _do_return_conn(self, record: Any) -> None:
        # The task that returns a connection need not be the one that took it (a kept one).
        owner = self._owner.pop(id(record), None)
        task = owner() if owner is not None else None
        if task is not None and self._held.get(task) is record:
            del self._held[task]
        super()._do_return_conn(record)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: a synchronous caller (migrations, a thread)
        return None
