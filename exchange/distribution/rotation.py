"""Smooth weighted round-robin, its position shared by every process through the database.

Each pick adds every candidate's weight to its counter, takes the highest, and
subtracts the total from the winner (the nginx scheme): over many leads each
campaign gets its weight's share, interleaved rather than in bursts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, case, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.storage import tables as t
from exchange.storage.statements import dialect_insert, per_dialect

# Hot statements, built once (exchange/storage/statements.py); values bound at execution.
_r = t.rotation_state.c
# A campaign's counter in a pool, at 0 unless it has one.
_OPEN_COUNTER = per_dialect(
    lambda dialect: (
        dialect_insert(dialect, t.rotation_state)
        .values(pool=bindparam("p_pool"), campaign_id=bindparam("p_campaign_id"), current=0)
        .on_conflict_do_nothing()
    )
)


@lru_cache(maxsize=64)
def _add_weights(n: int) -> Any:
    """Add each of `n` campaigns' weight to its counter in the pool; the counters after.

    Values: `p_pool`, and `p_campaign_{i}` with `p_weight_{i}` for i < n. One statement
    per pool size, as the CASE has one WHEN per campaign.
    """
    ids = [bindparam(f"p_campaign_{i}", type_=String()) for i in range(n)]
    weights = [bindparam(f"p_weight_{i}", type_=Integer()) for i in range(n)]
    return (
        update(t.rotation_state)
        .where(_r.pool == bindparam("p_pool"), _r.campaign_id.in_(ids))
        .values(current=_r.current + case(*zip(ids, weights, strict=True), value=_r.campaign_id, else_=0))
        .returning(_r.campaign_id, _r.current)
    )


_TAKE_TOTAL = (
    update(t.rotation_state)
    .where(_r.pool == bindparam("p_pool"), _r.campaign_id == bindparam("p_campaign_id"))
    .values(current=_r.current - bindparam("p_total"))
)


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
    ids = sorted(weights)
    await conn.execute(_OPEN_COUNTER(conn), [{"p_pool": pool, "p_campaign_id": cid} for cid in ids])
    # One UPDATE both adds the weights and locks the rows (row locks on PostgreSQL, the
    # write lock on SQLite), so concurrent picks in other processes queue behind it.
    values: dict[str, object] = {"p_pool": pool}
    for i, cid in enumerate(ids):
        values[f"p_campaign_{i}"] = cid
        values[f"p_weight_{i}"] = weights[cid]
    added = await conn.execute(_add_weights(len(ids)), values)
    after = {row.campaign_id: int(row.current) for row in added}
    order = sorted(after, key=lambda cid: (-after[cid], cid))
    await conn.execute(
        _TAKE_TOTAL, {"p_pool": pool, "p_campaign_id": order[0], "p_total": sum(weights.values())}
    )
    return order


def rank_ties(candidates: Sequence[tuple[str, int]], rotation: list[str]) -> list[str]:
    """Campaign ids by price, highest first; equal prices in rotation order."""
    position = {cid: i for i, cid in enumerate(rotation)}
    return [cid for cid, _ in sorted(candidates, key=lambda c: (-c[1], position.get(c[0], len(position))))]
