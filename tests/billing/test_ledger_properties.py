"""Property tests of the ledger on a real database: whatever sequence of sales, returns,
payments and retries, every transaction balances, nothing lands twice, and cached
balances equal the sum of the entries."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from billing.ledger import CASH, HOUSE, Entry, post_transaction
from exchange.storage import tables as t
from exchange.storage.db import create_engine

NOW = datetime(2026, 11, 26, tzinfo=UTC)
_run = itertools.count()

payment = st.tuples(st.just("payment"), st.integers(0, 2), st.integers(1, 10**7))
sale = st.tuples(
    st.just("sale"), st.integers(0, 2), st.integers(0, 2), st.integers(0, 50_000), st.integers(0, 100)
)
give_back = st.tuples(st.just("return"), st.integers(0, 30))
retry = st.tuples(st.just("retry"), st.integers(0, 30))
operations = st.lists(st.one_of(payment, sale, give_back, retry), min_size=1, max_size=25)


def plan(run: int, ops: list[tuple[Any, ...]]) -> tuple[list[tuple[str, str, list[Entry]]], dict[str, int]]:
    """Postings (kind, natural key, entries) as the code under test would make them, and the
    balances a correct ledger must end with."""
    postings: list[tuple[str, str, list[Entry]]] = []
    sales: list[tuple[str, list[Entry]]] = []
    for n, op in enumerate(ops):
        if op[0] == "payment":
            buyer = f"b{run}-{op[1]}"
            postings.append(
                (
                    "payment",
                    f"payment:{buyer}:ref{n}",
                    [Entry("buyer", buyer, op[2]), Entry("cash", CASH, -op[2])],
                )
            )
        elif op[0] == "sale":
            buyer, publisher, price, percent = f"b{run}-{op[1]}", f"p{run}-{op[2]}", op[3], op[4]
            payout = price * percent // 100
            entries = [
                Entry("buyer", buyer, -price),
                Entry("publisher", publisher, payout),
                Entry("exchange", HOUSE, price - payout),
            ]
            key = f"sale:lead{run}-{n}:c"
            postings.append(("sale", key, entries))
            sales.append((key, entries))
        elif op[0] == "return" and sales:
            key, entries = sales[op[1] % len(sales)]
            reversed_entries = [Entry(e.account_type, e.account_id, -e.amount_cents) for e in entries]
            postings.append(("return", f"return:{key}", reversed_entries))
        elif op[0] == "retry" and postings:
            postings.append(postings[op[1] % len(postings)])
    expected: dict[str, int] = {}
    seen: set[str] = set()
    for _, key, entries in postings:
        if key in seen:
            continue
        seen.add(key)
        for e in entries:
            if e.account_type in ("buyer", "publisher"):
                expected[e.account_id] = expected.get(e.account_id, 0) + e.amount_cents
    return postings, expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_any_sequence_balances_lands_once_and_caches_true_balances(
    database_url: str, ops: list[tuple[Any, ...]]
) -> None:
    run = next(_run)
    postings, expected = plan(run, ops)

    async def check() -> None:
        engine = create_engine(database_url)
        try:
            for kind, key, entries in postings:
                async with engine.begin() as conn:
                    await post_transaction(conn, kind=kind, natural_key=key, entries=entries, at=NOW)
            async with engine.connect() as conn:
                e, b, tx = t.ledger_entries.c, t.account_balances.c, t.ledger_transactions.c
                unbalanced = await conn.execute(
                    select(e.transaction_id).group_by(e.transaction_id).having(func.sum(e.amount_cents) != 0)
                )
                assert unbalanced.all() == []
                keys = {key for _, key, _ in postings}
                landed = await conn.scalar(
                    select(func.count()).select_from(t.ledger_transactions).where(tx.natural_key.in_(keys))
                )
                assert landed == len(keys)
                sums = dict(
                    (
                        await conn.execute(
                            select(e.account_id, func.sum(e.amount_cents)).group_by(e.account_id)
                        )
                    ).all()
                )
                cached = dict((await conn.execute(select(b.account_id, b.balance_cents))).all())
                assert cached == {k: int(v) for k, v in sums.items()}
                for account, balance in expected.items():
                    assert cached.get(account, 0) == balance
        finally:
            await engine.dispose()

    asyncio.run(check())
