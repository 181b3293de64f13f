"""One connection per unit of work: a task that asks for a second is refused at once, and
the embedded default keeps answering whatever a request reads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from exchange.storage.db import create_engine
from exchange.storage.pool import SecondConnection
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer
from tests.processes import free_port, start_server, stop_server


async def test_a_task_asking_for_a_second_connection_is_refused_at_once(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        started = time.monotonic()
        async with engine.connect():
            with pytest.raises(SecondConnection, match="second database connection"):
                async with engine.connect():
                    pass
        assert time.monotonic() - started < 1

        async def one_at_a_time(n: int) -> int:
            async with engine.connect() as conn:
                return int(await conn.scalar(text(f"SELECT {n}")) or 0)

        # Other tasks wait their turn as always (SQLite has one connection), one each.
        async with engine.connect() as conn:
            waiting = asyncio.gather(*(one_at_a_time(n) for n in range(20)))
            await conn.execute(text("SELECT 1"))
        assert await waiting == list(range(20))
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_the_marketplace_after_a_quiet_spell_answers_beside_intake_on_the_default_url(
    tmp_path: Path,
) -> None:
    """`exchange serve` with DATABASE_URL unset (SQLite, one connection): the marketplace page
    that reloads the verticals after a quiet spell answers at once, and so do a lead post and
    /healthz sent beside it."""
    port = free_port()
    # The default URL is relative: ./var/exchange.db in the server's working directory.
    server = start_server("", port, tmp_path / "server.log", cwd=tmp_path)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            market = Market(client=http, admin=bearer(ADMIN_KEY))  # type: ignore[arg-type]
            await market.distribution(floor_cents_by_grade={g: 1000 for g in "ABCD"})
            publisher, buyer = await market.publisher(), await market.buyer()
            for _ in range(3):
                assert (await market.post_lead(publisher, auto_insurance_lead())).json()["status"] == "unsold"
            await asyncio.sleep(6)  # past the verticals' cache (5 s)

            async def timed(request: asyncio.Future[httpx.Response]) -> tuple[int, float]:
                started = time.monotonic()
                answer = await request
                return answer.status_code, time.monotonic() - started

            answers = await asyncio.gather(
                timed(http.get("/v1/marketplace", headers=buyer.auth)),
                timed(market.post_lead(publisher, auto_insurance_lead())),
                timed(http.get("/healthz")),
            )
            listed = (await http.get("/v1/marketplace", headers=buyer.auth)).json()["items"]
    finally:
        stop_server(server)
    assert [code for code, _ in answers] == [200, 201, 200]
    assert all(seconds < 1 for _, seconds in answers), answers
    assert len(listed) == 4
