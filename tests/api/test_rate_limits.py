"""Rate limits: per key (a publisher's own, or the default), per address without a key, and
shared through Redis across servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings


async def _flood(market: Market, key: str, n: int) -> list[Any]:
    return list(
        await asyncio.gather(
            *(
                market.client.post(
                    "/v1/leads",
                    params={"vertical": "auto_insurance", "mode": "async"},
                    json=auto_insurance_lead(),
                    headers=bearer(key),
                )
                for _ in range(n)
            )
        )
    )


async def test_a_flooding_publisher_gets_429s_while_another_is_served(market: Market) -> None:
    flooder = await market.publisher(name="Flood", rate_limit={"per_second": 2, "burst": 4})
    other = await market.publisher(name="Calm")
    assert flooder.body["rate_limit"] == {"per_second": 2.0, "burst": 4}
    flood, calm = await asyncio.gather(_flood(market, flooder.key, 30), _flood(market, other.key, 30))
    limited = [a for a in flood if a.status_code == 429]
    assert 20 <= len(limited) <= 26, [a.status_code for a in flood]
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert limited[0].json()["code"] == "rate_limited"
    assert {a.status_code for a in calm} == {202}
    # The limit is the operator's to change.
    changed = await market.client.patch(
        f"/v1/publishers/{flooder.id}",
        json={"rate_limit": {"per_second": 1000, "burst": 100}},
        headers=market.admin,
    )
    assert changed.status_code == 200
    assert {a.status_code for a in await _flood(market, flooder.key, 20)} == {202}


async def test_requests_without_a_valid_key_are_limited_by_address(database_url: str) -> None:
    settings = exchange_settings(database_url, address_rate_per_second=1.0, address_burst=5)
    async with AsyncTestClient(app=create_app(settings)) as client:
        answers = [(await client.get("/v1/leads", headers=bearer("lx_guess"))).status_code for _ in range(12)]
        assert answers[:6] == [401] * 6 and set(answers[6:]) == {429}
        # A valid key is still served from that address.
        assert (await client.get("/v1/leads", headers=bearer(ADMIN_KEY))).status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_publishers_limit_holds_across_servers_through_redis(
    database_url: str, redis_url: str
) -> None:
    settings = exchange_settings(database_url, redis_url=redis_url)
    async with (
        AsyncTestClient(app=create_app(settings)) as one,
        AsyncTestClient(app=create_app(settings)) as two,
    ):
        market = Market(client=one, admin=bearer(ADMIN_KEY))
        publisher = await market.publisher(rate_limit={"per_second": 0.5, "burst": 5})
        answers = [
            await client.get("/v1/leads", headers=publisher.auth) for _ in range(5) for client in (one, two)
        ]
        # Six requests pass (the first and the burst of five), whichever server took them.
        assert [a.status_code for a in answers].count(200) == 6
