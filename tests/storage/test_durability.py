"""Durable before acknowledged: SIGKILL the server mid-traffic, restart, find every acked lead.

The server runs as its own process (`exchange serve`), as in production; the outbox
work left by the killed process is finished after the restart.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, update

from exchange.jobs.outbox import run_job
from exchange.storage import tables as t
from exchange.storage.outbox import Lease
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, distributor
from tests.processes import free_port, start_server


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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = start_server(database_url, port, log)
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

    server = start_server(database_url, port, log)
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
        until = datetime.now(UTC) + timedelta(seconds=60)
        async with ctx.engine.begin() as conn:
            # Leased to this retry, so the app's own runner does not take the row meanwhile.
            await conn.execute(
                update(t.outbox)
                .where(o.lead_id == lead_id)
                .values(done_at=None, owner="lse_retry", locked_until=until)
            )
            row = (await conn.execute(select(o.id, o.payload).where(o.lead_id == lead_id))).one()
        lease = Lease("lse_retry", until)
        answer = await run_job(ctx, row.id, "distribute", lead_id, row.payload, 2, lease)
        async with ctx.engine.connect() as conn:
            done = await conn.scalar(select(o.done_at).where(o.id == row.id))
    assert answer is not None and answer.status == "unsold"
    assert done is not None
