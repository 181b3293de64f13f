"""Two `serve` processes on one PostgreSQL database, 1,000 leads, and one of them killed
with SIGKILL while posts are in flight.

The buyers accept every post (taking a repeat of the same Idempotency-Key as the same
lead); their bids are random, so some leads go to an exclusive campaign alone and others
to two shared ones. Afterwards every post a buyer accepted is exactly one sale, no lead
an exclusive campaign received reached another buyer, every acknowledged lead is stored
and settled, the ledger balances and nothing stays reserved.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import func, select

from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer
from tests.distribution.buyers import FakeBuyer, serve
from tests.processes import free_port, start_server, stop_server

pytestmark = pytest.mark.slow
LEADS = 1000
WORKERS = 24


@dataclass
class RandomBidder(FakeBuyer):
    """Bids anywhere between `low` and `high` on each ping."""

    low: float = 10.0
    high: float = 60.0

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/ping":
            self.bid = round(random.uniform(self.low, self.high), 2)
        return await super().handle(request)


# A campaign's pricing, whether it is exclusive, and its caps.
Plan = tuple[dict[str, Any], bool, list[dict[str, Any]]]


async def funded_campaigns(
    market: Market, fakes: list[Any], plans: list[Plan]
) -> dict[int, tuple[str, bool]]:
    """A funded buyer per fake, each with one campaign by its plan: {id(fake): (buyer, exclusive)}."""
    buyers = {}
    for n, (fake, (pricing, exclusive, caps)) in enumerate(zip(fakes, plans, strict=True)):
        buyer = await market.buyer(name=f"B{n}")
        await market.fund(buyer, 10_000_000)
        delivery = fake.delivery(bid=pricing["model"] == "bid")
        delivery["post"]["timeout_ms"] = 10_000
        await market.campaign(buyer, delivery, pricing=pricing, exclusive=exclusive, caps=caps)
        buyers[id(fake)] = (buyer.id, exclusive)
    return buyers


async def _post_leads(bases: list[str], key: str, alive: list[bool], acknowledged: list[str]) -> None:
    numbers = itertools.count()

    async def worker(w: int) -> None:
        async with httpx.AsyncClient(headers=bearer(key), timeout=30) as client:
            while (i := next(numbers)) < LEADS:
                lead = auto_insurance_lead(email=f"two.{i}@example.com", phone=f"+1212555{i:04d}")
                mode = "async" if i % 2 else "sync"
                for s in itertools.chain([w % len(bases)], range(len(bases))):
                    if not alive[s]:
                        continue
                    try:
                        answer = await client.post(
                            f"{bases[s]}/v1/leads",
                            params={"vertical": "auto_insurance", "mode": mode},
                            json=lead,
                        )
                    except httpx.HTTPError:
                        break  # its server died under it: that lead's fate is the exchange's
                    if 200 <= answer.status_code < 300:
                        acknowledged.append(answer.json()["lead_id"])
                    break

    await asyncio.gather(*(worker(w) for w in range(WORKERS)))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_every_post_a_buyer_accepted_is_one_sale_when_one_of_two_servers_dies(
    database_url: str, tmp_path: Path
) -> None:
    fakes = [
        RandomBidder(post_delay=0.2),  # exclusive
        RandomBidder(post_delay=0.2),
        FakeBuyer(post_delay=0.2),  # fixed price 20.00
        FakeBuyer(post_delay=0.2),  # fixed price 45.00, exclusive
    ]
    async with serve(*fakes):
        ports = [free_port(), free_port()]
        servers = [
            start_server(database_url, port, tmp_path / f"server{n}.log", EXCHANGE_OUTBOX_LEASE_SECONDS="2")
            for n, port in enumerate(ports)
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            async with httpx.AsyncClient(base_url=bases[1], timeout=30) as http:
                market = Market(client=http, admin=bearer(ADMIN_KEY))  # type: ignore[arg-type]
                await market.distribution(max_sales=2)
                publisher = await market.publisher()
                plans: list[Plan] = [
                    ({"model": "bid", "floor_cents": 0}, True, []),
                    ({"model": "bid", "floor_cents": 0}, False, []),
                    ({"model": "fixed", "cents_by_grade": dict.fromkeys("ABCD", 2000)}, False, []),
                    ({"model": "fixed", "cents_by_grade": dict.fromkeys("ABCD", 4500)}, True, []),
                ]
                buyers = await funded_campaigns(market, fakes, plans)

                alive = [True, True]
                acknowledged: list[str] = []
                posting = asyncio.create_task(_post_leads(bases, publisher.key, alive, acknowledged))
                while len(acknowledged) < LEADS // 3:  # noqa: ASYNC110 - waits on traffic
                    await asyncio.sleep(0.01)
                # Posts are in flight on both servers at every instant of the load.
                alive[0] = False
                servers[0].send_signal(signal.SIGKILL)
                servers[0].wait()
                await posting

                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    owed = await _owed(database_url)
                    if owed == (0, 0):
                        break
                    await asyncio.sleep(0.5)
                assert owed == (0, 0), f"still owed after two minutes: {owed}"
                events = await _event_kinds(database_url)
        finally:
            for server in servers:
                stop_server(server)

    sales, entries, reserved, stored = await _money_trail(database_url, acknowledged)
    accepted: set[tuple[str, str]] = set()
    receivers: dict[str, set[str]] = defaultdict(set)
    for fake in fakes:
        buyer_id, _ = buyers[id(fake)]
        for post in fake.posts:
            lead_id = json.loads(post.body)["lead_id"]
            receivers[lead_id].add(buyer_id)
            if post.idempotency_key in fake.taken:
                accepted.add((lead_id, buyer_id))
    exclusive_buyers = {buyer_id for buyer_id, exclusive in buyers.values() if exclusive}

    assert len(acknowledged) >= LEADS // 3 and stored == len(set(acknowledged))
    assert len(sales) == len(set(sales)), "a lead sold twice to one campaign"
    assert set(sales) == accepted  # every post a buyer took is exactly one sale, and no other
    shared_with_an_exclusive = {
        lead for lead, got in receivers.items() if got & exclusive_buyers and len(got) > 1
    }
    assert shared_with_an_exclusive == set()
    assert entries == [] and reserved == 0
    # The kill caught posts in flight, and the takeover settled them with their buyers.
    assert events.get("post_unanswered", 0) >= 1
    assert events.get("sold", 0) == len(sales)


async def _owed(database_url: str) -> tuple[int, int]:
    """Leads still being distributed, and holds still open."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            leads = await conn.scalar(
                select(func.count()).select_from(t.leads).where(t.leads.c.status == "accepted")
            )
            holds = await conn.scalar(
                select(func.count())
                .select_from(t.holds)
                .where(t.holds.c.state.in_(["held", "posting", "uncertain"]))
            )
        return int(leads or 0), int(holds or 0)
    finally:
        await engine.dispose()


async def _event_kinds(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            e = t.lead_events.c
            rows = await conn.execute(select(e.kind, func.count()).group_by(e.kind))
            return {kind: int(n) for kind, n in rows}
    finally:
        await engine.dispose()


async def _money_trail(
    database_url: str, acknowledged: list[str]
) -> tuple[list[tuple[str, str]], list[str], int, int]:
    """(lead, buyer) of every sale; unbalanced transactions; funds still reserved; how many
    acknowledged leads are stored."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            s, le = t.sales.c, t.ledger_entries.c
            sales = [(r.lead_id, r.buyer_id) for r in await conn.execute(select(s.lead_id, s.buyer_id))]
            unbalanced = await conn.execute(
                select(le.transaction_id).group_by(le.transaction_id).having(func.sum(le.amount_cents) != 0)
            )
            reserved = await conn.scalar(select(func.sum(t.account_balances.c.reserved_cents)))
            stored = await conn.scalar(
                select(func.count()).select_from(t.leads).where(t.leads.c.id.in_(set(acknowledged)))
            )
        return sales, list(unbalanced.scalars()), int(reserved or 0), int(stored or 0)
    finally:
        await engine.dispose()
