"""A server killed while a buyer holds its post: the lead is settled with that buyer first.

Each test runs the exchange as its own process, kills it with SIGKILL once the best
bidder has the post in hand, changes what the buyers would now say, and restarts it.
Whoever takes the lead over asks the same buyer again (same request, same
Idempotency-Key) and settles by that answer: a sale at the winning bid, the waterfall
going on after a refusal, or an uncertain hold an operator decides. Nobody else is
offered the lead meanwhile, and nothing is charged twice.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, Account, Market, auto_insurance_lead, bearer
from tests.distribution.buyers import FakeBuyer, serve
from tests.processes import free_port, start_server, stop_server

pytestmark = pytest.mark.slow
FUNDS = 100_000


@dataclass
class Exchange:
    """An exchange process that a test kills and starts again, on one database and port."""

    database_url: str
    log: Path
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = self.port or free_port()
        self.process = start_server(self.database_url, self.port, self.log, **self.env)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)  # no shutdown, no flush: a crash
        self.process.wait()


@asynccontextmanager
async def exchange(database_url: str, tmp_path: Path, **env: str) -> AsyncIterator[tuple[Exchange, Market]]:
    server = Exchange(database_url, tmp_path / "server.log", env)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            yield server, Market(client=http, admin=bearer(ADMIN_KEY))  # type: ignore[arg-type]
    finally:
        if server.process is not None:
            stop_server(server.process)


async def _buyer_with_campaign(market: Market, fake: FakeBuyer, name: str, **campaign: Any) -> Account:
    buyer = await market.buyer(name=name)
    await market.fund(buyer, FUNDS)
    delivery = fake.delivery()
    delivery["post"]["timeout_ms"] = 60_000  # the post in flight outlasts the kill
    await market.campaign(buyer, delivery, **campaign)
    return buyer


async def _until(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


async def _lead(market: Market, lead_id: str) -> dict[str, Any]:
    return dict((await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json())


async def _settled(market: Market, lead_id: str) -> dict[str, Any] | None:
    lead = await _lead(market, lead_id)
    return lead if lead["status"] != "accepted" else None


async def _money(market: Market, buyer: Account) -> tuple[int, int]:
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    return balance["balance_cents"], balance["reserved_cents"]


async def _posted_then_killed(server: Exchange, market: Market, fake: FakeBuyer, mode: str) -> str:
    """Post a lead; kill the server once `fake` has its post in hand."""
    publisher = await market.publisher()
    answer = market.post_lead(publisher, auto_insurance_lead(), mode=mode)
    if mode == "async":
        lead_id = (await answer).json()["lead_id"]
    else:  # the publisher's request dies with the server: find the lead it made
        asyncio.ensure_future(answer).add_done_callback(lambda done: done.exception())
        page = await _until(lambda: _leads_of(market, publisher))
        lead_id = page[0]["id"]
    await _until(lambda: _truthy(fake.posts))
    server.kill()
    return lead_id


async def _leads_of(market: Market, publisher: Account) -> list[dict[str, Any]]:
    page = await market.client.get("/v1/leads", params={"publisher_id": publisher.id}, headers=market.admin)
    return list(page.json()["items"]) if page.status_code == 200 else []


async def _truthy(value: Any) -> Any:
    return value


async def test_a_post_accepted_as_its_server_died_is_sold_to_that_buyer_at_its_bid(
    database_url: str, tmp_path: Path
) -> None:
    """The re-run of the auction would now pick the other buyer; the takeover settles with
    the one that holds the lead instead, at its winning bid, within seconds of the restart
    (the default lease), and the timeline shows what the killed process sent."""
    async with serve(FakeBuyer(bid=30.0, post_delay=30.0), FakeBuyer(bid=20.0)) as (holder, other):
        async with exchange(database_url, tmp_path, EXCHANGE_OUTBOX_LEASE_SECONDS="") as (server, market):
            first = await _buyer_with_campaign(market, holder, "holder", exclusive=True)
            second = await _buyer_with_campaign(market, other, "other")
            lead_id = await _posted_then_killed(server, market, holder, "async")
            holder.bid, other.bid, holder.post_delay = 5.0, 50.0, 0.0
            server.start()
            restarted = time.monotonic()
            lead = await _until(lambda: _settled(market, lead_id))
            taken_over_in = time.monotonic() - restarted
            events = (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()
            audit = await market.client.get(
                "/v1/deliveries", params={"lead_id": lead_id}, headers=market.admin
            )
            holds = await market.client.get("/v1/holds", params={"lead_id": lead_id}, headers=market.admin)
            money = [await _money(market, first), await _money(market, second)]
    assert lead["status"] == "sold"
    assert [(s["buyer_id"], s["price_cents"]) for s in lead["sales"]] == [(first.id, 3000)]
    assert taken_over_in < 15
    assert money == [(FUNDS - 3000, 0), (FUNDS, 0)]
    # Asked again with the same request under the same key; nobody else was pinged or posted.
    assert len(holder.posts) == 2 and holder.posts[0].body == holder.posts[1].body
    assert (
        holder.posts[0].idempotency_key and holder.posts[0].idempotency_key == holder.posts[1].idempotency_key
    )
    assert (len(holder.pings), len(other.pings), len(other.posts)) == (1, 1, 0)
    (hold,) = holds.json()["items"]
    assert (hold["state"], hold["delivery_id"]) == ("sold", holder.posts[0].idempotency_key)
    kinds = [e["kind"] for e in events["items"]]
    for kind in ("eligibility", "pinged", "posting", "post_unanswered", "posted", "sold", "ledger_posted"):
        assert kind in kinds, kinds
    assert kinds.count("pinged") == 2
    assert kinds.index("posting") < kinds.index("post_unanswered") < kinds.index("sold")
    posts = sorted((d for d in audit.json()["items"] if d["kind"] == "post"), key=lambda d: d["attempt"])
    assert [(d["attempt"], d["status"]) for d in posts] == [(1, "unanswered"), (2, "accepted")]
    assert {p["request"]["idempotency_key"] for p in posts} == {hold["delivery_id"]}


async def test_a_post_refused_after_the_takeover_goes_on_down_the_waterfall(
    database_url: str, tmp_path: Path
) -> None:
    async with serve(FakeBuyer(bid=30.0, accept=False, post_delay=30.0), FakeBuyer(bid=20.0)) as (
        best,
        next_,
    ):
        async with exchange(database_url, tmp_path) as (server, market):
            first = await _buyer_with_campaign(market, best, "best", caps=[{"period": "day", "max_leads": 5}])
            second = await _buyer_with_campaign(market, next_, "next")
            lead_id = await _posted_then_killed(server, market, best, "sync")
            best.post_delay = 0.0
            server.start()
            lead = await _until(lambda: _settled(market, lead_id))
            money = [await _money(market, first), await _money(market, second)]
            holds = await market.client.get("/v1/holds", params={"lead_id": lead_id}, headers=market.admin)
    assert [(s["buyer_id"], s["price_cents"]) for s in lead["sales"]] == [(second.id, 2000)]
    assert money == [(FUNDS, 0), (FUNDS - 2000, 0)]
    # The rest of the first auction's waterfall, not a second auction.
    assert (len(best.pings), len(next_.pings), len(best.posts), len(next_.posts)) == (1, 1, 2, 1)
    assert sorted((h["buyer_id"], h["state"]) for h in holds.json()["items"]) == sorted(
        [(first.id, "released"), (second.id, "sold")]
    )


async def test_posts_that_stay_unanswered_wait_for_an_operator_who_decides_each(
    database_url: str, tmp_path: Path
) -> None:
    """The buyer is down after the restart: each lead is parked with an uncertain hold, shown
    to operators and offered to nobody; the decision then sells it to that buyer at the held
    price, or releases it down the waterfall."""
    async with serve(FakeBuyer(bid=30.0, post_delay=30.0), FakeBuyer(bid=20.0)) as (down, other):
        async with exchange(database_url, tmp_path) as (server, market):
            first = await _buyer_with_campaign(market, down, "down", caps=[{"period": "day", "max_leads": 5}])
            second = await _buyer_with_campaign(market, other, "other")
            publisher = await market.publisher()
            lead_ids = [
                (await market.post_lead(publisher, auto_insurance_lead(), mode="async")).json()["lead_id"]
                for _ in range(2)
            ]
            await _until(lambda: _truthy(len(down.posts) == 2))
            server.kill()
            down.post_delay, down.failures_before_success = 0.0, 1000
            server.start()

            async def parked() -> list[dict[str, Any]] | None:
                page = await market.client.get(
                    "/v1/holds", params={"state": "uncertain"}, headers=market.admin
                )
                items = page.json()["items"]
                return items if len(items) == 2 else None

            uncertain = {h["lead_id"]: h for h in await _until(parked)}
            waiting = [await _lead(market, lead_id) for lead_id in lead_ids]
            held_meanwhile = await _money(market, first)
            assert len(other.posts) == 0
            buyer_view = await market.client.get("/v1/holds", headers=first.auth)
            sold_to_down, released = lead_ids
            decisions = [
                await market.client.post(
                    f"/v1/holds/{uncertain[lead_id]['id']}/decision",
                    json={"sold": sold, "note": "asked the buyer"},
                    headers=market.admin,
                )
                for lead_id, sold in ((sold_to_down, True), (released, False))
            ]
            again = await market.client.post(
                f"/v1/holds/{uncertain[released]['id']}/decision", json={"sold": True}, headers=market.admin
            )
            leads = [await _until(lambda lead_id=lead_id: _settled(market, lead_id)) for lead_id in lead_ids]
            money = [await _money(market, first), await _money(market, second)]
    assert [lead["status"] for lead in waiting] == ["accepted", "accepted"]
    assert held_meanwhile == (FUNDS, 6000)
    assert buyer_view.status_code == 403
    assert all(h["request"]["idempotency_key"] == h["delivery_id"] for h in uncertain.values())
    assert [d.status_code for d in decisions] == [200, 200]
    assert [d.json()["state"] for d in decisions] == ["sold", "released"]
    assert again.status_code == 409 and again.json()["code"] == "hold_not_uncertain"
    assert [[(s["buyer_id"], s["price_cents"]) for s in lead["sales"]] for lead in leads] == [
        [(first.id, 3000)],
        [(second.id, 2000)],
    ]
    assert money == [(FUNDS - 3000, 0), (FUNDS - 2000, 0)]
    assert len(other.posts) == 1


async def test_a_sync_replay_answers_202_while_the_outcome_is_owed_then_the_outcome(
    database_url: str, tmp_path: Path
) -> None:
    """The publisher's sync request died with the server; its retry with the same key says
    `accepted` (202) while the takeover is still asking the buyer, then the real outcome."""
    async with serve(FakeBuyer(bid=30.0, post_delay=30.0)) as (fake,):
        async with exchange(database_url, tmp_path) as (server, market):
            await _buyer_with_campaign(market, fake, "buyer")
            publisher = await market.publisher(payout={"model": "revshare", "percent": 70})
            lead, key = auto_insurance_lead(), {"Idempotency-Key": "order-1"}
            dying = asyncio.ensure_future(market.post_lead(publisher, lead, headers=key))
            dying.add_done_callback(lambda done: done.exception())
            await _until(lambda: _truthy(fake.posts))
            server.kill()
            fake.post_delay, fake.failures_before_success = 1.0, 2  # the buyer is slow to answer again
            server.start()
            owed = await market.post_lead(publisher, lead, headers=key)

            async def replayed() -> httpx.Response | None:
                answer = await market.post_lead(publisher, lead, headers=key)
                return answer if answer.status_code != 202 else None

            settled = await _until(replayed)
    assert (owed.status_code, owed.json()["status"]) == (202, "accepted")
    assert settled.status_code == 200
    assert settled.json() == {
        "lead_id": owed.json()["lead_id"],
        "status": "sold",
        "grade": owed.json()["grade"],
        "payout_cents": 2100,
        "errors": [],
    }
    assert len(fake.posts) == 4  # the first, two answered 503, and the one that settled it
