"""Smooth weighted round-robin, its position shared by every process through the database.

Each pick adds every candidate's weight to its counter, takes the highest, and
subtracts the total from the winner (the nginx scheme): over many leads each
campaign gets its weight's share, interleaved rather than in bursts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.storage import tables as t
from exchange.storage.upsert import insert_for


def smooth_order(currents: dict[str, int], weights: dict[str, int]) -> tuple[list[str], dict[str, int]]:
    """Order candidates for one pick (winner first) and the counters after it. Pure."""
    total = sum(weights.values())
    after = {cid: currents.get(cid, 0) + weight for cid, weight in weights.items()}
    # Ties go to the lexically smallest id so every process orders alike.
    order = sorted(after, key=lambda cid: (-after[cid], cid))
    after[order[0]] -= total
    return order, after


async def rotate(conn: AsyncConnection, pool: str, weights: dict[str, int]) -> list[str]:
    """Advance the pool's rotation by one pick among `weights`' campaigns; the order, winner first.

    Call inside a write transaction: the first UPDATE takes the lock that serialises picks.
    """
    if len(weights) <= 1:
        return list(weights)
    r = t.rotation_state.c
    ids = sorted(weights)
    await conn.execute(
        insert_for(conn, t.rotation_state)
        .values([{"pool": pool, "campaign_id": cid, "current": 0} for cid in ids])
        .on_conflict_do_nothing()
    )
    # One UPDATE both adds the weights and locks the rows (row locks on PostgreSQL, the
    # write lock on SQLite), so concurrent picks in other processes queue behind it.
    added = await conn.execute(
        update(t.rotation_state)
        .where(r.pool == pool, r.campaign_id.in_(ids))
        .values(current=r.current + case(weights, value=r.campaign_id, else_=0))
        .returning(r.campaign_id, r.current)
    )
    after = {row.campaign_id: int(row.current) for row in added}
    order = sorted(after, key=lambda cid: (-after[cid], cid))
    await conn.execute(
        update(t.rotation_state)
        .where(r.pool == pool, r.campaign_id == order[0])
        .values(current=r.current - sum(weights.values()))
    )
    return order


def rank_ties(candidates: Sequence[tuple[str, int]], rotation: list[str]) -> list[str]:
    """Campaign ids by price, highest first; equal prices in rotation order."""
    position = {cid: i for i, cid in enumerate(rotation)}
    return [cid for cid, _ in sorted(candidates, key=lambda c: (-c[1], position.get(c[0], len(position))))]
