"""Holds in the console: operators and finance see what buyers hold, uncertain ones first, and an
operator records the buyer's word on an uncertain post: a sale at the held price, or released.
The decision is the API's own (the hold, the lead and the ledger read back through the API)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api.test_audit import _failed_post, _uncertain
from tests.conftest import ADMIN_KEY, Account, Market, auto_insurance_lead
from tests.console.test_console import sign_in
from tests.console.test_console_money import finance_key
from tests.console.test_console_pages import FIXED, _form_post
from tests.distribution.buyers import FakeBuyer, serve


async def uncertain_hold(market: Market, publisher: Account, buyer: Account) -> dict[str, Any]:
    """A post the buyer refused, re-sent by an operator, whose answer then never comes in time,
    nor to the asks after it: uncertain."""
    async with serve(FakeBuyer()) as (fake,):
        delivery = fake.delivery(bid=False)
        delivery["post"]["timeout_ms"] = 300
        await market.campaign(buyer, delivery, pricing=FIXED)
        fake.accept = False
        unsold = await market.post_lead(publisher, auto_insurance_lead())
        failed = await _failed_post(market, unsold.json()["lead_id"])
        fake.post_delay = 1.0
        resent = await market.client.post(f"/v1/deliveries/{failed}/resend", headers=market.admin)
        assert resent.status_code in (200, 201, 202), resent.text
        hold_id = await _uncertain(market, str(resent.json()["hold_id"]))
    return dict((await market.client.get(f"/v1/holds/{hold_id}", headers=market.admin)).json())


async def test_holds_open_to_staff_and_only_an_operator_decides(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    hold = await uncertain_hold(market, publisher, buyer)
    await sign_in(market.client, await finance_key(market))
    shown = await market.client.get("/console/holds")
    assert shown.status_code == 200 and f'id="hold-{hold["id"]}"' in shown.text
    assert f'id="decide-{hold["id"]}"' not in shown.text  # finance reads, never decides
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
    assert token is not None
    refused = await market.client.post(
        f"/console/holds/{hold['id']}/decision", data={"csrf_token": token.group(1), "outcome": "sold"}
    )
    assert refused.status_code == 403
    for key in (publisher.key, buyer.key):
        await sign_in(market.client, key)
        assert (await market.client.get("/console/holds")).status_code == 403


@pytest.mark.parametrize("outcome", ["sold", "released"])
async def test_an_operator_records_the_buyers_word_on_an_uncertain_post(market: Market, outcome: str) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    hold = await uncertain_hold(market, publisher, buyer)
    await sign_in(market.client, ADMIN_KEY)
    page = (await market.client.get("/console/holds")).text
    row = page.split(f'id="hold-{hold["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "uncertain" in row and "$20.00" in row and "As sent" in row
    decided = await _form_post(
        market,
        "/console/holds",
        f"/console/holds/{hold['id']}/decision",
        outcome=outcome,
        note="The buyer's support desk confirmed by phone",
        back="/console/holds?state=uncertain&buyer=&lead=",
    )
    assert decided.status_code == 303 and decided.headers["location"].startswith("/console/holds?")

    stored = (await market.client.get(f"/v1/holds/{hold['id']}", headers=market.admin)).json()
    assert stored["state"] == outcome and stored["decided_by"]
    lead = (await market.client.get(f"/v1/leads/{hold['lead_id']}", headers=market.admin)).json()
    balance = await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)
    if outcome == "sold":
        assert [sale["price_cents"] for sale in lead["sales"]] == [2000]
        assert balance.json()["balance_cents"] == 100_000 - 2000
    else:
        assert lead["sales"] == [] and balance.json()["balance_cents"] == 100_000
        assert balance.json()["reserved_cents"] == 0
    audit = await market.client.get("/v1/audit", params={"entity_id": hold["id"]}, headers=market.admin)
    [row_] = audit.json()["items"]
    assert row_["action"] == "hold.decide" and row_["after"]["note"].startswith("The buyer's")
    # Decided, it leaves the uncertain list, and a second decision is refused.
    assert f'id="hold-{hold["id"]}"' not in (await market.client.get("/console/holds")).text
    listed = (await market.client.get("/console/holds?state=")).text
    assert f'id="decide-{hold["id"]}"' not in listed  # no form for a decided hold
    token = re.search(r'name="csrf_token" value="([^"]+)"', listed)
    assert token is not None
    again = await market.client.post(
        f"/console/holds/{hold['id']}/decision", data={"csrf_token": token.group(1), "outcome": "sold"}
    )
    assert again.status_code == 409


async def test_a_decision_without_an_outcome_is_refused_and_changes_nothing(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    hold = await uncertain_hold(market, publisher, buyer)
    await sign_in(market.client, ADMIN_KEY)
    answer = await _form_post(
        market, "/console/holds", f"/console/holds/{hold['id']}/decision", outcome="maybe"
    )
    assert answer.status_code == 422 and "outcome" in answer.text
    stored = (await market.client.get(f"/v1/holds/{hold['id']}", headers=market.admin)).json()
    assert stored["state"] == "uncertain"
