"""The demo marketplace: a publisher and a buyer with well-known keys, for a first try.

Only `exchange demo` / `exchange serve --demo` create it; the keys are public, so
never run it against a database that holds real accounts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select

from billing.ledger import CASH, Entry, post_transaction
from buyers.campaigns import BidPricing, CampaignIn, Cap, Filter
from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from exchange.storage.migrate import hash_key, seed, upgrade

DEMO_OPERATOR_KEY = "demo-operator-key"
DEMO_PUBLISHER_KEY = "demo-publisher-key"
DEMO_BUYER_KEY = "demo-buyer-key"
DEMO_PUBLISHER_ID = "pub_demo"
DEMO_BUYER_ID = "buy_demo"


async def seed_demo(settings: Settings, port: int = 8000) -> str:
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    await seed(engine, admin_key=settings.admin_key)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        have = await conn.scalar(select(t.publishers.c.id).where(t.publishers.c.id == DEMO_PUBLISHER_ID))
        if have is None:
            await conn.execute(
                t.publishers.insert().values(
                    id=DEMO_PUBLISHER_ID,
                    name="Demo Publisher",
                    payout={"model": "revshare", "percent": 70},
                    default_vertical="auto_insurance",
                    inbox="demo",
                    field_mapping={},
                    consent_text="I agree to be contacted about insurance quotes.",
                    created_at=now,
                )
            )
            await conn.execute(
                t.buyers.insert().values(
                    id=DEMO_BUYER_ID,
                    name="Demo Insurance Agency",
                    timezone="America/Los_Angeles",
                    credit_limit_cents=0,
                    created_at=now,
                )
            )
            await conn.execute(
                t.api_keys.insert(),
                [
                    {
                        "id": "key_demo_operator",
                        "role": "operator",
                        "name": "demo operator",
                        "key_hash": hash_key(DEMO_OPERATOR_KEY),
                        "publisher_id": None,
                        "buyer_id": None,
                        "created_at": now,
                    },
                    {
                        "id": "key_demo_publisher",
                        "role": "publisher",
                        "name": "demo publisher",
                        "key_hash": hash_key(DEMO_PUBLISHER_KEY),
                        "publisher_id": DEMO_PUBLISHER_ID,
                        "buyer_id": None,
                        "created_at": now,
                    },
                    {
                        "id": "key_demo_buyer",
                        "role": "buyer",
                        "name": "demo buyer",
                        "key_hash": hash_key(DEMO_BUYER_KEY),
                        "publisher_id": None,
                        "buyer_id": DEMO_BUYER_ID,
                        "created_at": now,
                    },
                ],
            )
        have_campaign = await conn.scalar(select(t.campaigns.c.id).where(t.campaigns.c.id == "cmp_demo_bid"))
        if have_campaign is None:
            await _seed_demo_campaign(conn, port, now)
    await engine.dispose()
    return (
        "demo marketplace ready: operator key "
        f"{DEMO_OPERATOR_KEY}, publisher key {DEMO_PUBLISHER_KEY}, buyer key {DEMO_BUYER_KEY}"
    )


async def _seed_demo_campaign(conn: Any, port: int, now: datetime) -> None:
    """The demo buyer, funded with $10,000, bids on auto insurance leads through the demo exchange."""
    rules = {
        "format": "json",
        "accepted": {"path": "status", "equals": "ok"},
        "price": "bid",
        "reference": "lead_ref",
    }
    base = f"http://127.0.0.1:{port}/demo-buyer"
    campaign = CampaignIn(
        buyer_id=DEMO_BUYER_ID,
        vertical="auto_insurance",
        name="Demo auto insurance, California and Nevada",
        pricing=BidPricing(floor_cents=500),
        filters=[Filter(field="state", op="in", value=["CA", "NV"])],
        caps=[Cap(period="day", max_leads=500)],
        delivery={
            "adapter": "http",
            "ping": {"url": f"{base}/ping", "format": "json", "response": rules, "timeout_ms": 300},
            "post": {"url": f"{base}/post", "format": "json", "response": rules, "timeout_ms": 2000},
        },
    )
    await conn.execute(
        t.campaigns.insert().values(
            id="cmp_demo_bid",
            buyer_id=DEMO_BUYER_ID,
            vertical="auto_insurance",
            active=True,
            config=msgspec.to_builtins(campaign),
            created_at=now,
            updated_at=now,
        )
    )
    await post_transaction(
        conn,
        kind="payment",
        natural_key=f"payment:{DEMO_BUYER_ID}:demo-funding",
        entries=[Entry("buyer", DEMO_BUYER_ID, 1_000_000), Entry("cash", CASH, -1_000_000)],
        at=now,
        memo={"reference": "demo-funding", "amount_cents": 1_000_000, "balance_cents": 1_000_000},
    )
