"""Shared fixtures: a real database (SQLite file and PostgreSQL), the app, and a marketplace factory.

PostgreSQL tests skip when no server answers, except under CI=true where that fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.outbound.registry import default_registry
from exchange.api.app import create_app
from exchange.clock import utc_now
from exchange.distribution.catalog import CampaignCatalog
from exchange.distribution.engine import DistributionContext
from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from exchange.storage.migrate import seed, upgrade
from exchange.storage.verticals import VerticalCache

ADMIN_KEY = "test-admin-key"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_DATABASE = f"exchange_test_{os.getpid()}"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def service_or_skip(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} is not reachable at {host}:{port}, and CI needs it", pytrace=False)
    pytest.skip(f"{name} not reachable at {host}:{port}")


async def _pg_execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


@contextmanager
def fresh_postgres(name: str) -> Iterator[str]:
    """A new, empty database `name` on the tests' PostgreSQL server, dropped afterwards."""
    asyncio.run(_pg_execute(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: a server a test killed may still hold connections.
        asyncio.run(_pg_execute(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "exchange.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    service_or_skip("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgres(PG_DATABASE) as url:
        upgrade(url)
        yield url


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
def redis_url() -> str:
    """The tests' Redis database, emptied for each test."""
    service_or_skip("Redis", "127.0.0.1", 6379)

    async def flush() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()

    asyncio.run(flush())
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database of each kind, fresh for every test."""
    if request.param == "sqlite":
        path = tmp_path / "exchange.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    names = ", ".join(table.name for table in reversed(t.Base.metadata.sorted_tables))
    asyncio.run(_pg_execute(url, f"TRUNCATE {names} RESTART IDENTITY"))
    return url


def exchange_settings(database_url: str, **overrides: Any) -> Settings:
    """The tests' exchange: quick outbox polls, no source-score refresh, loopback buyers."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_key": ADMIN_KEY,
        "outbox_poll_seconds": 0.1,
        "source_score_seconds": 0,
        # Fake buyers listen on loopback.
        "allow_private_destinations": True,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return exchange_settings(database_url)


@asynccontextmanager
async def distributor(database_url: str) -> AsyncIterator[DistributionContext]:
    """A distribution context on an engine of its own: what another process would run."""
    engine = create_engine(database_url)
    adapters = default_registry(allow_private=True)
    ctx = DistributionContext(
        engine=engine,
        clock=utc_now,
        adapters=adapters,
        catalog=CampaignCatalog(engine, adapters),
        verticals=VerticalCache(engine),
    )
    try:
        yield ctx
    finally:
        await ctx.adapters.close()
        await engine.dispose()


class ShiftableClock:
    """The real time plus an offset a test may move forward (return windows, periods)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture
async def client(settings: Settings, clock: ShiftableClock) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Account:
    id: str
    key: str
    body: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.key)


@dataclass
class Market:
    """Builds a marketplace in a few readable lines; each test shows only what it is about."""

    client: AsyncTestClient[Any]
    admin: dict[str, str]

    async def publisher(self, **overrides: Any) -> Account:
        body = {"name": "Acme Leads", "payout": {"model": "revshare", "percent": 70}, **overrides}
        answer = await self.client.post("/v1/publishers", json=body, headers=self.admin)
        assert answer.status_code == 201, answer.text
        data = answer.json()
        return Account(id=data["id"], key=data["api_key"], body=data)

    async def buyer(self, **overrides: Any) -> Account:
        body = {"name": "Best Insurance", "timezone": "America/New_York", **overrides}
        answer = await self.client.post("/v1/buyers", json=body, headers=self.admin)
        assert answer.status_code == 201, answer.text
        data = answer.json()
        return Account(id=data["id"], key=data["api_key"], body=data)

    async def fund(self, buyer: Account, cents: int, reference: str | None = None) -> dict[str, Any]:
        answer = await self.client.post(
            f"/v1/buyers/{buyer.id}/payments",
            json={"amount_cents": cents, "reference": reference or f"wire-{next(_counter)}"},
            headers=self.admin,
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    async def campaign(
        self,
        buyer: Account,
        delivery: dict[str, Any],
        *,
        vertical: str = "auto_insurance",
        pricing: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        bid = "ping" in delivery
        body = {
            "buyer_id": buyer.id,
            "vertical": vertical,
            "pricing": pricing
            or (
                {"model": "bid", "floor_cents": 0}
                if bid
                else {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}
            ),
            "delivery": delivery,
            **overrides,
        }
        answer = await self.client.post("/v1/campaigns", json=body, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def distribution(self, vertical: str = "auto_insurance", **settings: Any) -> None:
        answer = await self.client.put(
            f"/v1/verticals/{vertical}/distribution", json=settings, headers=self.admin
        )
        assert answer.status_code == 200, answer.text

    async def post_lead(
        self,
        publisher: Account,
        lead: dict[str, Any] | None = None,
        *,
        vertical: str | None = "auto_insurance",
        mode: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        params = {k: v for k, v in {"vertical": vertical, "mode": mode}.items() if v}
        all_headers = {**publisher.auth, **(headers or {})}
        if lead is not None:
            kwargs["json"] = lead
        return await self.client.post("/v1/leads", params=params, headers=all_headers, **kwargs)


@pytest.fixture
def market(client: AsyncTestClient[Any]) -> Market:
    return Market(client=client, admin=bearer(ADMIN_KEY))


_counter = iter(range(1, 10**9))


def auto_insurance_lead(**overrides: Any) -> dict[str, Any]:
    """A complete, valid auto insurance lead; each call a different person."""
    n = next(_counter)
    lead: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"ada.{n}@example.com",
        "phone": f"+1415555{n % 10000:04d}",
        "address": "1 Market St",
        "city": "San Francisco",
        "state": "CA",
        "zip": "94105",
        "ip_address": "98.97.12.34",
        "date_of_birth": "1985-04-12",
        "currently_insured": True,
        "vehicle_year": 2019,
        "vehicle_make": "Toyota",
        "vehicle_model": "Camry",
        "consent": {
            "text": "I agree to be contacted.",
            "timestamp": "2026-11-01T10:00:00Z",
            "trustedform_cert_url": "https://cert.trustedform.com/" + "a1" * 20,
        },
    }
    lead.update(overrides)
    return lead


__all__ = ["ADMIN_KEY", "Account", "Market", "auto_insurance_lead", "bearer", "seed"]
