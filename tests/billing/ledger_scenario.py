"""Trading around a period in a few lines: payments, sales and a return before, inside and after it.

The period is SINCE..UNTIL; `expected` works out each account's settlement for it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing.ledger import HOUSE
from tests.conftest import Account, Market, ShiftableClock, auto_insurance_lead, bearer
from tests.distribution.buyers import FakeBuyer, serve

SINCE, UNTIL = "2026-11-10", "2026-11-11"


def move_to(clock: ShiftableClock, iso: str) -> None:
    """Put the app's clock at `iso`; it then runs on in real time, milliseconds per request."""
    clock.offset = datetime.fromisoformat(iso).astimezone(UTC) - datetime.now(UTC)


async def finance_key(market: Market) -> dict[str, str]:
    answer = await market.client.post("/v1/keys", json={"role": "finance", "name": "f"}, headers=market.admin)
    assert answer.status_code == 201, answer.text
    return bearer(answer.json()["api_key"])


async def sell(market: Market, publisher: Account, fakes: list[FakeBuyer], winner: int, bid: float) -> str:
    """Only `fakes[winner]` bids, so the lead goes to that buyer at `bid`."""
    for i, fake in enumerate(fakes):
        fake.bid = bid if i == winner else None
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.status_code == 201 and answer.json()["status"] == "sold", answer.text
    return str(answer.json()["lead_id"])


async def approve_return(market: Market, buyer: Account, lead_id: str) -> None:
    returned = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "other", "note": "never answered"}, headers=buyer.auth
    )
    assert returned.status_code == 201, returned.text
    if returned.json()["status"] == "pending":
        decided = await market.client.post(
            f"/v1/returns/{returned.json()['id']}/decision", json={"approve": True}, headers=market.admin
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"


@dataclass
class Scenario:
    publisher: Account
    alpha: Account
    beta: Account
    # What the balance endpoint said at the period's last minute.
    balances_at_until: dict[str, int] = field(default_factory=dict)


async def trade(market: Market, clock: ShiftableClock) -> Scenario:
    move_to(clock, "2026-11-09T12:00:00Z")
    publisher = await market.publisher(name="Acme Leads", payout={"model": "revshare", "percent": 70})
    alpha = await market.buyer(name="Alpha Insurance")
    beta = await market.buyer(name="Beta Auto")
    scenario = Scenario(publisher=publisher, alpha=alpha, beta=beta)
    async with serve(FakeBuyer(), FakeBuyer()) as fakes:
        await market.campaign(alpha, fakes[0].delivery())
        await market.campaign(beta, fakes[1].delivery())
        await market.fund(alpha, 100_000)
        await market.fund(beta, 50_000)
        await sell(market, publisher, fakes, 0, 30.00)  # before: alpha −3000, publisher +2100, house +900

        move_to(clock, "2026-11-10T09:00:00Z")
        await market.fund(beta, 20_000)
        await sell(market, publisher, fakes, 1, 25.00)  # beta −2500, publisher +1750, house +750
        move_to(clock, "2026-11-10T15:00:00Z")
        returned = await sell(market, publisher, fakes, 0, 40.00)  # alpha −4000, publisher +2800, house +1200
        move_to(clock, "2026-11-11T08:00:00Z")
        await approve_return(market, alpha, returned)  # alpha +4000, publisher −2800, house −1200
        move_to(clock, "2026-11-11T23:59:00Z")
        await sell(market, publisher, fakes, 1, 10.00)  # beta −1000, publisher +700, house +300
        for account_id in (alpha.id, beta.id, publisher.id, HOUSE):
            balance = await market.client.get(f"/v1/accounts/{account_id}/balance", headers=market.admin)
            scenario.balances_at_until[account_id] = balance.json()["balance_cents"]

        move_to(clock, "2026-11-12T00:00:00Z")
        await sell(market, publisher, fakes, 0, 50.00)  # after the period
        await market.fund(alpha, 5_000)
    return scenario


def expected(s: Scenario) -> dict[str, dict[str, int]]:
    """Each account's settlement for SINCE..UNTIL, column by column."""
    return {
        s.alpha.id: dict(
            leads=1, gross_cents=4000, returns_cents=4000, net_cents=0,
            opening_balance_cents=97_000, closing_balance_cents=97_000,
        ),
        s.beta.id: dict(
            leads=2, gross_cents=3500, returns_cents=0, net_cents=3500,
            opening_balance_cents=50_000, closing_balance_cents=66_500,
        ),
        s.publisher.id: dict(
            leads=3, gross_cents=5250, returns_cents=2800, net_cents=2450,
            opening_balance_cents=2100, closing_balance_cents=4550,
        ),
        HOUSE: dict(
            leads=3, gross_cents=2250, returns_cents=1200, net_cents=1050,
            opening_balance_cents=900, closing_balance_cents=1950,
        ),
    }  # fmt: skip
