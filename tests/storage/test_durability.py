"""Durable before acknowledged: SIGKILL the server mid-traffic, restart, find every acked lead.

The server runs as its own process (`exchange serve`), as in production; the outbox
work left by the killed process is finished after the restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select, update

from exchange.jobs.outbox import run_job
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, distributor
from tests.distribution.buyers import FakeBuyer, serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EXCHANGE_ADMIN_KEY": ADMIN_KEY,
        "EXCHANGE_OUTBOX_LEASE_SECONDS": "1",
        "EXCHANGE_OUTBOX_POLL_SECONDS": "0.2",
        # Fake buyers listen on loopback.
        "EXCHANGE_ALLOW_PRIVATE_DESTINATIONS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


async def _fire(base: str, key: str, acknowledged: list[str], stop: asyncio.Event, worker: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers=bearer(key), timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            mode = "async" if i % 2 else "sync"
            lead = auto_insurance_lead(
                email=f"w{worker}.{i}@example.com", phone=f"+1212555{worker:02d}{i % 100:02d}"
            )
            try:
                answer = await client.post(
                    "/v1/leads", params={"vertical": "auto_insurance", "mode": mode}, json=lead
                )
            except httpx.HTTPError:
                return  # the server died under us: what was acknowledged is what counts
            if 200 <= answer.status_code < 300:
                acknowledged.append(answer.json()["lead_id"])


async def test_every_acknowledged_lead_survives_sigkill(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = _start(database_url, port, log)
    try:
        async with httpx.AsyncClient(base_url=base, headers=bearer(ADMIN_KEY)) as admin:
            created = await admin.post(
                "/v1/publishers", json={"name": "P", "payout": {"model": "revshare", "percent": 70}}
            )
            key = created.json()["api_key"]
        acknowledged: list[str] = []
        stop = asyncio.Event()
        workers = [asyncio.create_task(_fire(base, key, acknowledged, stop, w)) for w in range(16)]
        while len(acknowledged) < 150:  # noqa: ASYNC110 - waits on traffic, not on a signal
            await asyncio.sleep(0.01)
        server.send_signal(signal.SIGKILL)  # no shutdown, no flush: a crash
        server.wait()
        stop.set()
        await asyncio.gather(*workers)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(acknowledged) >= 150

    server = _start(database_url, port, log)
    try:
        async with httpx.AsyncClient(base_url=base, headers=bearer(ADMIN_KEY), timeout=10) as admin:
            statuses = {}
            for lead_id in acknowledged:
                answer = await admin.get(f"/v1/leads/{lead_id}")
                assert answer.status_code == 200, f"acknowledged lead {lead_id} lost"
                statuses[lead_id] = answer.json()["status"]
            # Work owed by the killed process (distribution) is resumed from the outbox.
            deadline = time.monotonic() + 20
            pending = [i for i, s in statuses.items() if s == "accepted"]
            while pending and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                pending = [
                    i for i in pending if (await admin.get(f"/v1/leads/{i}")).json()["status"] == "accepted"
                ]
            assert pending == []
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


async def test_a_retried_distribution_of_a_settled_lead_ends_its_outbox_row(
    market: Market, database_url: str
) -> None:
    """A job run again after its lead was settled (a crash in between) completes its work."""
    publisher = await market.publisher()
    # A campaign the lead is offered to, whose buyer cannot pay: distributed, then unsold.
    unfunded = await market.buyer()
    await market.campaign(
        unfunded,
        {
            "adapter": "http",
            "post": {
                "url": "http://127.0.0.1:9/post",
                "format": "json",
                "response": {"format": "json", "accepted": {"path": "status", "equals": "ok"}},
            },
        },
        pricing={"model": "fixed", "cents_by_grade": {g: 1000 for g in "ABCD"}},
    )
    lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    o = t.outbox.c
    async with distributor(database_url) as ctx:
        async with ctx.engine.begin() as conn:
            await conn.execute(update(t.outbox).where(o.lead_id == lead_id).values(done_at=None))
            row = (await conn.execute(select(o.id, o.payload).where(o.lead_id == lead_id))).one()
        answer = await run_job(ctx, row.id, "distribute", lead_id, row.payload, 2)
        async with ctx.engine.connect() as conn:
            done = await conn.scalar(select(o.done_at).where(o.id == row.id))
    assert answer is not None and answer.status == "unsold"
    assert done is not None


async def test_a_hold_left_by_a_killed_process_is_released_when_its_lead_is_taken_over(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL during a buyer's post: the bid stays reserved on the buyer's funds and cap
    until the lead's distribution is taken over, which releases it and sells the lead."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    funds = 100_000
    # The post outlasts the kill and the takeover, but ends before the test does.
    async with serve(FakeBuyer(bid=25.0, post_delay=8.0)) as (slow,):
        server = _start(database_url, port, log)
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                market = Market(client=http, admin=bearer(ADMIN_KEY))  # type: ignore[arg-type]
                publisher = await market.publisher()
                buyer = await market.buyer()
                await market.fund(buyer, funds)
                delivery = slow.delivery()
                delivery["post"]["timeout_ms"] = 10_000
                await market.campaign(buyer, delivery, caps=[{"period": "day", "max_leads": 5}])
                posted = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
                lead_id = posted.json()["lead_id"]
                for _ in range(100):  # the post reaches the buyer: the hold is made
                    if slow.posts:
                        break
                    await asyncio.sleep(0.05)
                held = (await http.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
            server.send_signal(signal.SIGKILL)  # mid-post: neither a sale nor a release
            server.wait()
        finally:
            if server.poll() is None:
                server.kill()
        assert held["reserved_cents"] == 2500
        slow.post_delay = 0.0
        server = _start(database_url, port, log)
        try:
            async with httpx.AsyncClient(base_url=base, headers=bearer(ADMIN_KEY), timeout=10) as admin:
                for _ in range(100):  # taken over once the dead process's lease has run out
                    lead = (await admin.get(f"/v1/leads/{lead_id}")).json()
                    if lead["status"] != "accepted":
                        break
                    await asyncio.sleep(0.2)
                balance = (await admin.get(f"/v1/accounts/{buyer.id}/balance")).json()
                events = (await admin.get(f"/v1/leads/{lead_id}/events")).json()["items"]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    assert lead["status"] == "sold"
    assert [s["price_cents"] for s in lead["sales"]] == [2500]
    assert (balance["balance_cents"], balance["reserved_cents"]) == (funds - 2500, 0)
    released = [e["data"] for e in events if e["kind"] == "reservation_released"]
    assert [(r["buyer_id"], r["price_cents"]) for r in released] == [(buyer.id, 2500)]
    assert len(slow.posts) == 2
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        counted = await conn.scalar(select(t.cap_counters.c.leads))
    await engine.dispose()
    assert counted == 1  # the released hold's lead no longer counts against the cap
