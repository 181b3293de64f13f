"""Lists newest first, a page at a time: rows by descending id, each page's cursor the last id
it showed, so the next page starts below it whatever was added meanwhile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncConnection


async def newest_first(
    conn: AsyncConnection, query: Select[Any], id_column: Any, *, limit: int, cursor: str | None
) -> tuple[list[Row[Any]], str | None]:
    """A page of `query`'s rows below `cursor`, newest first, and the next page's cursor (None
    on the last page)."""
    if cursor:
        query = query.where(id_column < cursor)
    rows = (await conn.execute(query.order_by(id_column.desc()).limit(limit + 1))).all()
    return rows[:limit], (str(rows[limit - 1].id) if len(rows) > limit else None)
