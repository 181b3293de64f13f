"""Money recorded from the console: finance records a buyer's payment and a publisher's payout on
the account's page and closes a month on the money page; an operator reopens it. Each is the
API's own posting (balances, one posting per reference, period rules, audit), read back
through the API."""

from __future__ import annotations

import html
import re

import pytest

from tests.billing.ledger_scenario import move_to
from tests.conftest import ADMIN_KEY, Account, Market, ShiftableClock, auto_insurance_lead, bearer
from tests.console.test_console import sign_in
from tests.console.test_console_money import finance_key
from tests.console.test_console_pages import _form_post
from tests.distribution.buyers import FakeBuyer, serve


async def balance(market: Market, account: Account) -> int:
    answer = await market.client.get(f"/v1/accounts/{account.id}/balance", headers=market.admin)
    return int(answer.json()["balance_cents"])


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<span class="problem" id="err-{re.escape(field)}"[^>]*>([^<]*)<', page)
    assert found is not None, page[:4000]
    return html.unescape(found.group(1))


async def test_finance_records_a_payment_in_dollars_once_per_reference(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, await finance_key(market))
    page = f"/console/accounts/{buyer.id}"
    action = f"{page}/payments"
    made = await _form_post(market, page, action, amount="1,250.50", reference="wire-77")
    assert made.status_code == 303 and made.headers["location"] == page
    assert await balance(market, buyer) == 125_050
    statement = (await market.client.get(page)).text.split('id="statement-table"', 1)[1]
    assert 'data-cents="125050"' in statement and "wire-77" in statement

    again = await _form_post(market, page, action, amount="1250.50", reference="wire-77")
    assert again.status_code == 303 and await balance(market, buyer) == 125_050  # paid once
    other = await _form_post(market, page, action, amount="99", reference="wire-77")
    assert other.status_code == 422 and "wire-77" in other.text
    assert await balance(market, buyer) == 125_050
    audit = await market.client.get("/v1/audit", params={"action": "payment.create"}, headers=market.admin)
    assert [row["after"]["amount_cents"] for row in audit.json()["items"]] == [125_050]


@pytest.mark.parametrize(
    ("typed", "said"),
    [("12.345", "two decimals"), ("ten", "not an amount"), ("-5", "more than 0.00"), ("", "give the amount")],
)
async def test_an_amount_that_is_not_dollars_and_cents_is_named_and_nothing_posts(
    market: Market, typed: str, said: str
) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, await finance_key(market))
    page = f"/console/accounts/{buyer.id}"
    answer = await _form_post(market, page, f"{page}/payments", amount=typed, reference="wire-1")
    assert answer.status_code == 422
    assert said in error_beside(answer.text, "amount")
    assert f'value="{typed}"' in answer.text  # as typed, to correct
    assert await balance(market, buyer) == 0


async def test_a_payout_beyond_what_is_owed_needs_force_and_a_note(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer(bid=20.0)) as (fake,):
        await market.campaign(buyer, fake.delivery())
        sold = await market.post_lead(publisher, auto_insurance_lead())
    assert sold.json()["status"] == "sold"
    owed = await balance(market, publisher)
    assert owed == 1400  # 70% of $20.00

    await sign_in(market.client, await finance_key(market))
    page = f"/console/accounts/{publisher.id}"
    action = f"{page}/payouts"
    over = await _form_post(market, page, action, amount="20", reference="ach-1")
    assert over.status_code == 422 and await balance(market, publisher) == owed
    assert "owed" in over.text
    unexplained = await _form_post(market, page, action, amount="20", reference="ach-1", force="yes")
    assert unexplained.status_code == 422 and "note" in error_beside(unexplained.text, "note")
    forced = await _form_post(
        market, page, action, amount="20", reference="ach-1", force="yes", note="Advance agreed by phone"
    )
    assert forced.status_code == 303
    assert await balance(market, publisher) == owed - 2000
    payouts = await market.client.get(f"/v1/publishers/{publisher.id}/payouts", headers=market.admin)
    assert [p["amount_cents"] for p in payouts.json()["items"]] == [2000]


async def test_accounts_themselves_get_no_forms_and_may_not_post_money(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, buyer.key)
    page = f"/console/accounts/{buyer.id}"
    own = await market.client.get(page)
    assert own.status_code == 200 and 'id="record-form"' not in own.text
    # With this page's own token, a hand-made POST is still refused.
    token = re.search(r'name="csrf_token" value="([^"]+)"', own.text)
    assert token is not None
    answer = await market.client.post(
        f"{page}/payments", data={"csrf_token": token.group(1), "amount": "5000", "reference": "self"}
    )
    assert answer.status_code == 403 and await balance(market, buyer) == 0


async def test_finance_closes_a_month_then_only_an_operator_reopens_it(
    market: Market, clock: ShiftableClock
) -> None:
    buyer = await market.buyer()
    move_to(clock, "2026-12-02T10:00:00Z")
    finance = await finance_key(market)
    await sign_in(market.client, finance)
    money = "/console/money?month=2026-11"
    shown = (await market.client.get(money)).text
    assert "2026-11 is <strong>open</strong>" in shown and 'id="close-month-form"' in shown
    closed = await _form_post(market, money, "/console/periods/2026-11/close", note="Books done")
    assert closed.status_code == 303
    state = await market.client.get("/v1/periods/2026-11", headers=bearer(finance))
    assert state.json()["status"] == "closed"

    # A payment dated into it comes back beside its date, and posts nothing.
    page = f"/console/accounts/{buyer.id}"
    late = await _form_post(
        market, page, f"{page}/payments", amount="100", reference="late", effective_date="2026-11-20"
    )
    assert late.status_code == 422 and "closed" in error_beside(late.text, "effective_date")
    assert await balance(market, buyer) == 0

    after = (await market.client.get(money)).text
    assert "2026-11 is <strong>closed</strong>" in after and 'id="reopen-month-form"' not in after
    assert "Books done" in after.split('id="period-history"', 1)[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', after)
    assert token is not None
    refused = await market.client.post(
        "/console/periods/2026-11/reopen", data={"csrf_token": token.group(1), "note": "x"}
    )
    assert refused.status_code == 403

    await sign_in(market.client, ADMIN_KEY)
    reopened = await _form_post(market, money, "/console/periods/2026-11/reopen", note="A missed wire")
    assert reopened.status_code == 303
    assert (await market.client.get("/v1/periods/2026-11", headers=market.admin)).json()["status"] == "open"
    history = (await market.client.get(money)).text.split('id="period-history"', 1)[1]
    assert "A missed wire" in history and "reopen" in history


async def test_a_month_not_yet_ended_offers_no_close(market: Market, clock: ShiftableClock) -> None:
    move_to(clock, "2026-12-02T10:00:00Z")
    await sign_in(market.client, await finance_key(market))
    shown = (await market.client.get("/console/money?month=2026-12")).text
    assert "has not ended yet" in shown and 'id="close-month-form"' not in shown


async def test_the_payout_run_is_the_apis_file(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer(bid=20.0)) as (fake,):
        await market.campaign(buyer, fake.delivery())
        await market.post_lead(publisher, auto_insurance_lead())
    finance = await finance_key(market)
    await sign_in(market.client, finance)
    shown = (await market.client.get("/console/money")).text
    link = re.search(r'id="payout-run" href="([^"]+)"', shown)
    assert link is not None
    ours = await market.client.get(html.unescape(link.group(1)))
    month_of_link = html.unescape(link.group(1)).split("month=", 1)[1]
    theirs = await market.client.get(
        "/v1/payouts/proposal", params={"month": month_of_link, "format": "csv"}, headers=bearer(finance)
    )
    assert ours.status_code == 200 and ours.content == theirs.content
    assert publisher.id in ours.text
