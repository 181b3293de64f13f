"""INSERT … ON CONFLICT for the connection's dialect: PostgreSQL and SQLite spell it alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.storage.statements import dialect_insert


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    return dialect_insert(conn.dialect.name, table)
