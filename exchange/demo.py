"""The demo marketplace: a publisher and a buyer with well-known keys, for a first try.

Only `exchange demo` / `exchange serve --demo` create it; the keys are public, so
never run it against a database that holds real accounts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from exchange.storage.migrate import hash_key, seed, upgrade

DEMO_OPERATOR_KEY = "demo-operator-key"
DEMO_PUBLISHER_KEY = "demo-publisher-key"
DEMO_BUYER_KEY = "demo-buyer-key"
DEMO_PUBLISHER_ID = "pub_demo"
DEMO_BUYER_ID = "buy_demo"


async def seed_demo(settings: Settings) -> str:
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
    await engine.dispose()
    return (
        "demo marketplace ready: operator key "
        f"{DEMO_OPERATOR_KEY}, publisher key {DEMO_PUBLISHER_KEY}, buyer key {DEMO_BUYER_KEY}"
    )
