"""The holds state machine on a real database: exact reservations, one settlement per hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from buyers.campaigns import Cap
from exchange.distribution.holds import Gone, NotHeld, Refused, place, release, sell
from exchange.distribution.records import Hold, LeadForSale, load_hold, load_lead
from exchange.distribution.sale import Sold
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import Account, Market, auto_insurance_lead

NOW = datetime.now(UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _unsold_lead(market: Market) -> str:
    publisher = await market.publisher(payout={"model": "revshare", "percent": 50})
    answer = await market.post_lead(publisher, auto_insurance_lead())
    return str(answer.json()["lead_id"])


async def _place(
    engine: AsyncEngine,
    lead_id: str,
    buyer: Account,
    price: int,
    caps: list[Cap],
    *,
    exclusive: bool = False,
    campaign_id: str = "cmp_test",
) -> Any:
    async with engine.begin() as conn:
        return await place(
            conn,
            lead_id=lead_id,
            campaign_id=campaign_id,
            buyer_id=buyer.id,
            caps=caps,
            cap_timezone="America/New_York",
            price_cents=price,
            now=NOW,
            source="pull",
            exclusive=exclusive,
        )


async def _state(engine: AsyncEngine, buyer: Account) -> tuple[int, int, list[tuple[str, int, int]]]:
    """The buyer's reserved funds, its balance, and the campaign's cap counters."""
    a, k = t.account_balances.c, t.cap_counters.c
    async with engine.connect() as conn:
        funds = (
            await conn.execute(select(a.balance_cents, a.reserved_cents).where(a.account_id == buyer.id))
        ).one()
        counters = await conn.execute(select(k.period_key, k.leads, k.spend_cents).order_by(k.period_key))
        return funds.reserved_cents, funds.balance_cents, [tuple(c) for c in counters]


async def _lead(engine: AsyncEngine, lead_id: str) -> LeadForSale:
    async with engine.connect() as conn:
        lead = await load_lead(conn, lead_id)
    assert lead is not None
    return lead


async def test_a_hold_that_cannot_take_every_cap_and_the_funds_holds_nothing(
    market: Market, engine: AsyncEngine
) -> None:
    lead_id = await _unsold_lead(market)
    buyer = await market.buyer()
    await market.fund(buyer, 2500)
    caps = [Cap(period="day", max_leads=10), Cap(period="month", max_spend_cents=4000)]
    first = await _place(engine, lead_id, buyer, 2000, caps)
    assert isinstance(first, Hold) and first.state == "held"
    assert [c[1:] for c in first.counters] == [(1, 2000), (1, 2000)]
    over_cap = await _place(engine, lead_id, buyer, 2500, caps)  # the month's spend would be 4500
    assert isinstance(over_cap, NotHeld) and over_cap.code == "cap_reached"
    assert over_cap.reason == "cap month max_spend_cents 4000 reached"
    short = await _place(engine, lead_id, buyer, 1000, caps)  # within the caps; 500 of funds left
    assert isinstance(short, NotHeld) and short.code == "insufficient_funds"
    # Neither refusal left anything held: the day's counter was taken back each time.
    reserved, _, counters = await _state(engine, buyer)
    assert reserved == 2000
    assert [c[1:] for c in counters] == [(1, 2000), (1, 2000)]


async def test_a_hold_is_settled_once_whoever_tries_second(market: Market, engine: AsyncEngine) -> None:
    lead_id = await _unsold_lead(market)
    buyer = await market.buyer()
    await market.fund(buyer, 10_000)
    hold = await _place(engine, lead_id, buyer, 3000, [Cap(period="day", max_leads=5)])
    lead = await _lead(engine, lead_id)
    async with engine.begin() as conn:
        sold = await sell(conn, hold, lead, NOW, max_sales=1)
    async with engine.begin() as conn:
        late_release = await release(conn, hold, NOW, reason="a stalled process's refusal")
        late_sale = await sell(conn, hold, lead, NOW, max_sales=5)
        settled = await load_hold(conn, hold.id)
    assert isinstance(sold, Sold) and sold.price_cents == 3000 and sold.payout_cents == 1500
    assert late_release == Gone(state="sold") and late_sale == Gone(state="sold")
    assert settled is not None and (settled.state, settled.request) == ("sold", None)
    reserved, balance, counters = await _state(engine, buyer)
    assert (reserved, balance) == (0, 10_000 - 3000)  # charged once, nothing left held
    assert [c[1:] for c in counters] == [(1, 3000)]


async def test_a_sale_beyond_the_leads_limit_is_refused_and_its_hold_released(
    market: Market, engine: AsyncEngine
) -> None:
    lead_id = await _unsold_lead(market)
    buyer = await market.buyer()
    await market.fund(buyer, 10_000)
    caps = [Cap(period="day", max_leads=5)]
    first, second = [await _place(engine, lead_id, buyer, 1000, caps) for _ in range(2)]
    lead = await _lead(engine, lead_id)
    async with engine.begin() as conn:
        assert isinstance(await sell(conn, first, lead, NOW, max_sales=1), Sold)
    async with engine.begin() as conn:
        refused = await sell(conn, second, lead, NOW, max_sales=1)
        released = await load_hold(conn, second.id)
    assert refused == Refused(reason="the lead already has 1 sale(s)")
    assert released is not None and released.state == "released"
    reserved, balance, counters = await _state(engine, buyer)
    assert (reserved, balance) == (0, 10_000 - 1000)
    assert [c[1:] for c in counters] == [(1, 1000)]


async def test_an_exclusive_sale_stands_alone_whichever_comes_first(
    market: Market, engine: AsyncEngine
) -> None:
    buyer = await market.buyer()
    await market.fund(buyer, 10_000)
    outcomes = []
    for exclusive_first in (False, True):
        lead_id = await _unsold_lead(market)
        lead = await _lead(engine, lead_id)
        first = await _place(engine, lead_id, buyer, 500, [], exclusive=exclusive_first, campaign_id="cmp_1")
        second = await _place(
            engine, lead_id, buyer, 500, [], exclusive=not exclusive_first, campaign_id="cmp_2"
        )
        async with engine.begin() as conn:
            sold = await sell(conn, first, lead, NOW, max_sales=3)
            refused = await sell(conn, second, lead, NOW, max_sales=3)
        assert isinstance(sold, Sold) and sold.exclusive == exclusive_first
        outcomes.append(refused)
    assert outcomes == [
        Refused(reason="an exclusive sale, and the lead has 1 sale(s)"),
        Refused(reason="the lead was sold exclusively"),
    ]
    reserved, balance, _ = await _state(engine, buyer)
    assert (reserved, balance) == (0, 10_000 - 1000)
