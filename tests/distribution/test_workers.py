"""Background work on arq workers (REDIS_URL): servers accept and store, workers distribute.

The in-process tests run a server app and an arq worker in one event loop on PostgreSQL and
Redis; the slow one runs `exchange serve` and `exchange worker` processes and kills them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from exchange.jobs.worker import build_worker
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve
from tests.distribution.test_two_servers import (
    Plan,
    RandomBidder,
    _money_trail,
    _owed,
    _post_leads,
    funded_campaigns,
)
from tests.processes import free_port, start_server, start_worker, stop_server

DAILY_150 = [{"period": "day", "max_leads": 150}]
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _lead_status(market: Market, lead_id: str) -> str:
    answer = await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)
    return str(answer.json()["status"])


@on_postgres
async def test_a_server_with_redis_stores_and_a_worker_distributes(database_url: str, redis_url: str) -> None:
    settings = exchange_settings(database_url, redis_url=redis_url)
    async with serve(FakeBuyer()) as (buyer_fake,):
        async with AsyncTestClient(app=create_app(settings)) as client:
            market = Market(client=client, admin=bearer(ADMIN_KEY))
            publisher, buyer = await market.publisher(), await market.buyer()
            await market.fund(buyer, 100_000)
            await market.campaign(buyer, buyer_fake.delivery())
            answer = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
            assert answer.status_code == 202
            lead_id = answer.json()["lead_id"]
            await asyncio.sleep(0.5)
            # The server only hands the work over: without a worker the lead waits.
            assert await _lead_status(market, lead_id) == "accepted"
            health = (await client.get("/healthz")).json()
            assert health["redis"] == "ok" and health["owed"] >= 1

            worker = build_worker(settings, burst=True)
            await worker.async_run()
            await worker.close()
            assert await _lead_status(market, lead_id) == "sold"
            assert len(buyer_fake.posts) == 1
            # A sync post is still distributed by the request itself.
            sync = await market.post_lead(publisher, auto_insurance_lead())
            assert sync.json()["status"] == "sold"
            health = (await client.get("/healthz")).json()
            assert health["owed"] == 0 and health["oldest_owed_seconds"] is None


async def test_a_job_whose_attempts_are_spent_is_parked_and_run_again(database_url: str) -> None:
    settings = exchange_settings(database_url)
    async with AsyncTestClient(app=create_app(settings)) as client:
        market = Market(client=client, admin=bearer(ADMIN_KEY))
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                # A job of a kind no process knows, on its last attempt: it fails, and parks.
                inserted = await conn.execute(
                    t.outbox.insert()
                    .values(job="no_such_job", payload={}, due_at=_now(), attempts=7, created_at=_now())
                    .returning(t.outbox.c.id)
                )
                job_id = inserted.scalar_one()
        finally:
            await engine.dispose()
        for _ in range(100):
            failed = (await client.get("/v1/jobs", params={"state": "failed"}, headers=market.admin)).json()
            if failed["items"]:
                break
            await asyncio.sleep(0.05)
        [parked] = failed["items"]
        assert (
            parked["id"] == job_id and parked["state"] == "failed" and "no_such_job" in parked["last_error"]
        )
        publisher = await market.publisher()
        forbidden = await client.get("/v1/jobs", headers=bearer(publisher.key))
        assert forbidden.status_code == 403
        again = await client.post(f"/v1/jobs/{job_id}/retry", headers=market.admin)
        assert again.status_code == 200 and again.json()["attempts"] == 0
        twice = await client.post(f"/v1/jobs/{job_id}/retry", headers=market.admin)
        assert twice.status_code == 409 and twice.json()["code"] == "job_not_failed"
        missing = await client.post(f"/v1/jobs/{2**70}/retry", headers=market.admin)
        assert missing.status_code == 404


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_sqlite_serves_one_process_and_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    port = free_port()
    first = start_server(url, port, tmp_path / "first.log")
    try:
        env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
        second = subprocess.run(
            [sys.executable, "-m", "exchange.cli", "serve", "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2 and "SQLite serves one process" in second.stderr
        worker = subprocess.run(
            [sys.executable, "-m", "exchange.cli", "worker"],
            env={**env, "REDIS_URL": "redis://127.0.0.1:6379/9"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert worker.returncode == 2 and "PostgreSQL" in worker.stderr
    finally:
        stop_server(first)


@pytest.mark.slow
@on_postgres
async def test_two_servers_and_two_workers_survive_losing_one_of_each(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """1,000 leads through two servers at once while two workers distribute them; one server
    and one worker are SIGKILLed mid-run and started again. Every acknowledged lead is
    distributed, every post a buyer took is exactly one sale, none beyond max_sales or beside
    an exclusive one, caps exact, the ledger balanced and nothing left held."""
    fakes = [RandomBidder(post_delay=0.05), RandomBidder(post_delay=0.05), FakeBuyer(post_delay=0.05)]
    env = {"REDIS_URL": redis_url, "EXCHANGE_OUTBOX_LEASE_SECONDS": "2"}
    async with serve(*fakes):
        ports = [free_port(), free_port()]
        servers = [
            start_server(database_url, p, tmp_path / f"server{n}.log", **env) for n, p in enumerate(ports)
        ]
        workers = [
            start_worker(database_url, redis_url, tmp_path / f"worker{n}.log", **env) for n in range(2)
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
                    # Capped: 150 leads a day at most, whichever process sells them.
                    ({"model": "fixed", "cents_by_grade": dict.fromkeys("ABCD", 2000)}, False, DAILY_150),
                ]
                buyers = await funded_campaigns(market, fakes, plans)

                alive = [True, True]
                acknowledged: list[str] = []
                posting = asyncio.create_task(_post_leads(bases, publisher.key, alive, acknowledged))
                while len(acknowledged) < 300:  # noqa: ASYNC110 - waits on traffic
                    await asyncio.sleep(0.01)
                workers[0].send_signal(signal.SIGKILL)
                alive[0] = False
                servers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                servers[0].wait()
                workers[0] = start_worker(database_url, redis_url, tmp_path / "worker0.log", **env)
                servers[0] = start_server(database_url, ports[0], tmp_path / "server0.log", **env)
                alive[0] = True
                await posting

                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    owed = await _owed(database_url)
                    if owed == (0, 0):
                        break
                    await asyncio.sleep(0.5)
                assert owed == (0, 0), f"still owed after two minutes: {owed}"
        finally:
            for process in [*servers, *workers]:
                stop_server(process)

    sales, unbalanced, reserved, stored = await _money_trail(database_url, acknowledged)
    accepted = set()
    for fake in fakes:
        buyer_id, _ = buyers[id(fake)]
        for post in fake.posts:
            if post.idempotency_key in fake.taken:
                accepted.add((_lead_of(post), buyer_id))
    capped_buyer = buyers[id(fakes[2])][0]
    assert len(acknowledged) >= 300 and stored == len(set(acknowledged))
    assert len(sales) == len(set(sales)) and set(sales) == accepted
    per_lead: dict[str, list[str]] = {}
    for lead_id, buyer_id in sales:
        per_lead.setdefault(lead_id, []).append(buyer_id)
    exclusive = buyers[id(fakes[0])][0]
    assert all(len(got) <= 2 and (exclusive not in got or len(got) == 1) for got in per_lead.values())
    assert sum(1 for _, buyer_id in sales if buyer_id == capped_buyer) <= 150
    assert unbalanced == [] and reserved == 0


def _lead_of(post: Any) -> str:
    return str(json.loads(post.body)["lead_id"])


@on_postgres
async def test_an_operators_change_reaches_every_process_through_redis(
    database_url: str, redis_url: str
) -> None:
    """A paused campaign and a revoked key, changed through one server, hold on the other at
    once, well inside the other's own cache lifetimes (2 s and 1 s)."""
    settings = exchange_settings(database_url, redis_url=redis_url)
    async with serve(FakeBuyer()) as (fake,):
        async with (
            AsyncTestClient(app=create_app(settings)) as one,
            AsyncTestClient(app=create_app(settings)) as other,
        ):
            here, there = (
                Market(client=one, admin=bearer(ADMIN_KEY)),
                Market(client=other, admin=bearer(ADMIN_KEY)),
            )
            publisher, buyer = await here.publisher(), await here.buyer()
            await here.fund(buyer, 100_000)
            campaign = await here.campaign(buyer, fake.delivery())
            assert (await there.post_lead(publisher, auto_insurance_lead())).json()["status"] == "sold"
            # Both processes now hold the campaign and the publisher's key in their caches.
            paused = await one.patch(
                f"/v1/campaigns/{campaign['id']}", json={"active": False}, headers=here.admin
            )
            assert paused.status_code == 200
            await asyncio.sleep(0.2)
            assert (await there.post_lead(publisher, auto_insurance_lead())).json()["status"] == "unsold"

            key = await one.post(
                "/v1/keys",
                json={"role": "publisher", "name": "second", "publisher_id": publisher.id},
                headers=here.admin,
            )
            second_key = key.json()["api_key"]
            assert (await other.get("/v1/leads", headers=bearer(second_key))).status_code == 200
            revoked = await one.delete(f"/v1/keys/{key.json()['id']}", headers=here.admin)
            assert revoked.status_code == 200
            await asyncio.sleep(0.2)
            assert (await other.get("/v1/leads", headers=bearer(second_key))).status_code == 401


@pytest.mark.slow
def test_servers_starting_together_on_a_new_database_migrate_and_seed_once(tmp_path: Path) -> None:
    from tests.conftest import fresh_postgres, service_or_skip

    service_or_skip("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgres(f"exchange_together_{free_port()}") as url:
        ports = [free_port() for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            starting = [pool.submit(start_server, url, p, tmp_path / f"s{p}.log") for p in ports]
            servers = [future.result() for future in starting]
        try:
            for port in ports:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
                assert health["status"] == "ok"
            verticals = httpx.get(
                f"http://127.0.0.1:{ports[0]}/v1/verticals", headers=bearer(ADMIN_KEY)
            ).json()
            assert len({v["key"] for v in verticals["items"]}) == len(verticals["items"]) >= 5
        finally:
            for server in servers:
                stop_server(server)


@pytest.mark.slow
@on_postgres
async def test_rotation_holds_its_weights_across_servers_and_workers(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """300 async leads through two servers, sold by two workers in rotation among campaigns
    weighted 1, 2 and 3: each gets its share within one lead."""
    env = {"REDIS_URL": redis_url}
    async with serve(FakeBuyer(), FakeBuyer(), FakeBuyer()) as fakes:
        ports = [free_port(), free_port()]
        processes = [start_server(database_url, p, tmp_path / f"s{p}.log", **env) for p in ports]
        processes += [start_worker(database_url, redis_url, tmp_path / f"w{n}.log", **env) for n in range(2)]
        try:
            clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]
            market = Market(client=clients[0], admin=bearer(ADMIN_KEY))  # type: ignore[arg-type]
            await market.distribution(strategy="round_robin")
            publisher = await market.publisher()
            fixed = {"model": "fixed", "cents_by_grade": dict.fromkeys("ABCD", 1000)}
            for n, (fake, weight) in enumerate(zip(fakes, (1, 2, 3), strict=True)):
                buyer = await market.buyer(name=f"R{n}")
                await market.fund(buyer, 10_000_000)
                await market.campaign(buyer, fake.delivery(bid=False), pricing=fixed, weight=weight)

            async def post(n: int) -> None:
                answer = await clients[n % 2].post(
                    "/v1/leads",
                    params={"vertical": "auto_insurance", "mode": "async"},
                    json=auto_insurance_lead(),
                    headers=bearer(publisher.key),
                )
                assert answer.status_code == 202, answer.text

            for start in range(0, 300, 30):
                await asyncio.gather(*(post(n) for n in range(start, start + 30)))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(len(f.posts) for f in fakes) < 300:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            for client in clients:
                await client.aclose()
        finally:
            for process in processes:
                stop_server(process)
    counts = [len(fake.posts) for fake in fakes]
    assert sum(counts) == 300
    assert all(abs(count - 300 * weight / 6) <= 1 for count, weight in zip(counts, (1, 2, 3), strict=True)), (
        counts
    )
