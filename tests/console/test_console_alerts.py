"""The console's Alerts page: staff read every alert raised, a buyer its own; an operator and a
buyer subscribe (by e-mail, by signed webhook) and stop subscriptions, and set a buyer's
low-balance threshold in dollars; finance reads. Every change is the API's own
(exchange/api/alerts.py): it reads back through the API, audit included. Alerts are raised as
the app's alert watch raises them (exchange/jobs/alerts.py), on a real SMTP relay on loopback.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from billing.alerts import Condition, cap_reached, low_balance
from exchange.api.services import Services
from exchange.jobs.alerts import raise_alert
from exchange.settings import Settings
from tests.billing.test_alerts import PRICE, look, sold
from tests.conftest import ADMIN_KEY, Account, Market, exchange_settings
from tests.console.test_console import csrf_of, sign_in
from tests.console.test_console_money import finance_key
from tests.console.test_console_pages import _form_post
from tests.distribution.buyers import FakeBuyer, serve
from tests.transports import Mailbox, relay

__all__ = ["relay"]  # the SMTP relay e-mailed alerts go out through

PAGE = "/console/alerts"
SUBSCRIBE = "/console/alerts/subscriptions"
THRESHOLD = "/console/alerts/threshold"
_SECRET = re.compile(r'id="new-webhook-secret"[^>]*value="(whsec_[^"]+)"')


@pytest.fixture
def settings(database_url: str, relay: tuple[str, Mailbox]) -> Settings:
    # E-mail subscriptions need a relay; the watch's own loop waits an hour: tests raise alerts.
    return exchange_settings(database_url, smtp_relay=relay[0], upkeep_seconds=3600)


def raise_now(market: Market, *conditions: Condition) -> list[str]:
    """The alerts the watch would raise for these conditions, raised on the app's own loop."""
    services = market.client.app.state.services
    assert isinstance(services, Services)

    async def run() -> list[str]:
        async with services.engine.begin() as conn:
            raised = [await raise_alert(conn, c, services.clock()) for c in conditions]
        return [r for r in raised if r is not None]

    return list(market.client.blocking_portal.call(run))


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<span class="problem" id="err-{re.escape(field)}"[^>]*>([^<]*)<', page)
    assert found is not None, (field, page[:4000])
    return html.unescape(found.group(1))


def rows_of(page: str, table: str) -> str:
    """The body of one of the page's tables."""
    start = page.index(f'id="{table}"')
    return page[start : page.index("</table>", start)]


async def subscriptions(market: Market, auth: dict[str, str] | None = None) -> list[dict[str, Any]]:
    answer = await market.client.get("/v1/alerts/subscriptions", headers=auth or market.admin)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def threshold_of(market: Market, buyer: Account) -> int | None:
    answer = await market.client.get(f"/v1/alerts/thresholds/{buyer.id}", headers=market.admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["low_balance_cents"]  # type: ignore[no-any-return]


async def audit_of(market: Market, **params: str) -> list[dict[str, Any]]:
    answer = await market.client.get("/v1/audit", params=params, headers=market.admin)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def post_from_page(market: Market, action: str, **fields: Any) -> Any:
    """POST with the page's CSRF token, whether or not the page offers this form."""
    shown = await market.client.get(PAGE)
    assert shown.status_code == 200, shown.text[:400]
    data = {"csrf_token": csrf_of(shown.text), **fields}
    return await market.client.post(action, data=data, follow_redirects=False)


@pytest.mark.parametrize(
    ("role", "status", "subscribes", "sets_threshold"),
    [
        ("operator", 200, True, True),
        ("finance", 200, False, False),
        ("buyer", 200, True, True),
        ("publisher", 403, False, False),
    ],
)
async def test_the_page_opens_for_the_roles_the_api_lets_read_alerts(
    market: Market, role: str, status: int, subscribes: bool, sets_threshold: bool
) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    key = {"operator": ADMIN_KEY, "finance": await finance_key(market)}
    key |= {"publisher": publisher.key, "buyer": buyer.key}
    await sign_in(market.client, key[role])
    answer = await market.client.get(PAGE)
    assert answer.status_code == status, answer.text[:300]
    home = (await market.client.get("/console/leads")).text
    assert ('href="/console/alerts"' in home) == (status == 200)
    if status != 200:
        return
    assert 'id="alerts-table"' in answer.text
    assert ('id="new-subscription-form"' in answer.text) == subscribes
    assert ('id="subscriptions-table"' in answer.text) == subscribes
    assert ('id="threshold-form"' in answer.text) == sets_threshold
    # Staff filter by buyer; a buyer sees its own alerts only, and is offered no such filter.
    assert ('id="f-buyer_id"' in answer.text) == (role != "buyer")


async def test_a_buyer_sees_its_own_alerts_and_subscriptions_and_stops_no_other(market: Market) -> None:
    one, other = await market.buyer(name="One Insurance"), await market.buyer(name="Other Insurance")
    [mine, theirs] = raise_now(
        market,
        low_balance(one.id, "One Insurance", 1200, 5000) or pytest.fail("no condition"),
        cap_reached("cmp_other1", other.id, "Other Insurance", ["cap day max_leads 1 reached"])
        or pytest.fail("no condition"),
    )
    operators = await market.client.post(
        "/v1/alerts/subscriptions",
        json={"kinds": ["cap_reached"], "email": "ops@exchange.example"},
        headers=market.admin,
    )
    others = await market.client.post(
        "/v1/alerts/subscriptions",
        json={"kinds": ["low_balance"], "email": "billing@other.example"},
        headers=other.auth,
    )
    assert operators.status_code == others.status_code == 201

    await sign_in(market.client, one.key)
    page = (await market.client.get(PAGE)).text
    alerts = rows_of(page, "alerts-table")
    assert f'id="alert-{mine}"' in alerts and f'id="alert-{theirs}"' not in alerts
    assert "One Insurance: the balance, 1200 cents" in alerts
    assert "$12.00" in alerts and "$50.00" in alerts  # its data, in dollars
    assert f'href="/console/accounts/{one.id}"' in alerts
    # Asking for another buyer's alerts shows none of them.
    assert f'id="alert-{theirs}"' not in (await market.client.get(PAGE, params={"buyer_id": other.id})).text
    listed = rows_of(page, "subscriptions-table")
    assert operators.json()["id"] not in listed and others.json()["id"] not in listed
    for foreign in (operators.json()["id"], others.json()["id"]):
        answer = await post_from_page(market, f"{SUBSCRIBE}/{foreign}/stop")
        assert answer.status_code == 404, answer.text[:300]
    assert len(await subscriptions(market)) == 2  # both still there

    own = await _form_post(market, PAGE, SUBSCRIBE, kinds="cap_reached", email="alerts@one.example")
    assert own.status_code == 303, own.text[:2000]
    [made] = await subscriptions(market, one.auth)
    assert (made["audience"], made["buyer_id"], made["kinds"]) == ("buyer", one.id, ["cap_reached"])
    assert f'id="subscription-{made["id"]}"' in (await market.client.get(PAGE)).text
    no_token = await market.client.post(f"{SUBSCRIBE}/{made['id']}/stop", follow_redirects=False)
    assert no_token.status_code == 403 and len(await subscriptions(market, one.auth)) == 1
    stopped = await _form_post(market, PAGE, f"{SUBSCRIBE}/{made['id']}/stop")
    assert stopped.status_code == 303 and stopped.headers["location"].startswith(PAGE)
    assert await subscriptions(market, one.auth) == []
    [removed] = await audit_of(market, entity_id=made["id"], action="alert_subscription.delete")
    assert removed["actor_account_id"] == one.id

    # Finance reads every buyer's alerts, filters them, and may not subscribe nor set thresholds.
    await sign_in(market.client, await finance_key(market))
    everything = rows_of((await market.client.get(PAGE)).text, "alerts-table")
    assert f'id="alert-{mine}"' in everything and f'id="alert-{theirs}"' in everything
    capped = (await market.client.get(PAGE, params={"kind": "cap_reached"})).text
    assert f'id="alert-{theirs}"' in capped and f'id="alert-{mine}"' not in capped
    by_buyer = (await market.client.get(PAGE, params={"buyer_id": one.id})).text
    assert f'id="alert-{mine}"' in by_buyer and f'id="alert-{theirs}"' not in by_buyer
    refused = await post_from_page(market, SUBSCRIBE, kinds="low_balance", email="books@exchange.example")
    assert refused.status_code == 403
    refused = await post_from_page(market, THRESHOLD, threshold_buyer_id=one.id, low_balance="10")
    assert refused.status_code == 403
    refused = await post_from_page(market, f"{SUBSCRIBE}/{operators.json()['id']}/stop")
    assert refused.status_code == 403
    assert len(await subscriptions(market)) == 2 and await threshold_of(market, one) is None


async def test_a_webhook_subscription_is_the_apis_and_its_secret_is_shown_once(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, ADMIN_KEY)
    made = await _form_post(
        market,
        PAGE,
        SUBSCRIBE,
        kinds=["low_balance", "delivery_failing"],
        email="ops@exchange.example",
        webhook_url="https://hooks.example/alerts",
        buyer_id=buyer.id,
    )
    assert made.status_code == 201, made.text[:3000]
    assert "no-store" in made.headers["cache-control"]
    secret = _SECRET.search(made.text)
    assert secret is not None, made.text[:3000]

    [stored] = await subscriptions(market)
    assert stored["id"] in made.text
    assert stored["audience"] == "operator" and stored["buyer_id"] == buyer.id
    assert stored["kinds"] == ["delivery_failing", "low_balance"]
    assert (stored["email"], stored["webhook_url"]) == (
        "ops@exchange.example",
        "https://hooks.example/alerts",
    )
    [created] = await audit_of(market, entity_id=stored["id"])
    assert created["action"] == "alert_subscription.create" and created["actor_role"] == "operator"
    assert secret.group(1) not in str(created)

    # Never again: the list shows the subscription, not its secret.
    again = await market.client.get(PAGE)
    assert f'id="subscription-{stored["id"]}"' in again.text and secret.group(1) not in again.text
    assert "whsec_" not in again.text

    # An e-mail subscription for every buyer has no secret to show: back to the page.
    every = await _form_post(market, PAGE, SUBSCRIBE, kinds="cap_reached", email="caps@exchange.example")
    assert every.status_code == 303 and every.headers["location"].startswith(PAGE)
    newest = (await subscriptions(market))[0]
    assert (newest["buyer_id"], newest["kinds"], newest["webhook_url"]) == (None, ["cap_reached"], None)


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"kinds": "low_balance", "email": "not an address"}, "email", "not an e-mail address"),
        ({"kinds": "low_balance", "webhook_url": "ftp://hooks.example/in"}, "webhook_url", "https://"),
        ({"email": "ops@exchange.example"}, "kinds", "length"),
        ({"kinds": "low_balance"}, "email", "or both"),
        (
            {"kinds": "low_balance", "email": "ops@exchange.example", "buyer_id": "buy_nobody"},
            "buyer_id",
            "no buyer",
        ),
    ],
)
async def test_a_subscription_that_cannot_work_comes_back_beside_its_field_and_writes_nothing(
    market: Market, fields: dict[str, str], field: str, said: str
) -> None:
    await sign_in(market.client, ADMIN_KEY)
    answer = await _form_post(market, PAGE, SUBSCRIBE, **fields)
    assert answer.status_code == 422, answer.text[:2000]
    assert said in error_beside(answer.text, field)
    if field in ("email", "webhook_url", "buyer_id"):
        tied = re.search(rf'<input id="as-{field}"[^>]*>', answer.text)
        assert tied is not None
        assert 'aria-invalid="true"' in tied.group(0) and f"err-{field}" in tied.group(0)
    for name, value in fields.items():  # as typed, to correct
        if name != "kinds":
            assert f'value="{html.escape(value)}"' in answer.text
    if "kinds" in fields:
        assert re.search(rf'id="as-kind-{fields["kinds"]}"[^>]*checked', answer.text)
    assert await subscriptions(market) == []
    assert await audit_of(market, action="alert_subscription.create") == []


async def test_a_threshold_typed_in_dollars_reads_back_in_cents(market: Market) -> None:
    buyer, other = await market.buyer(), await market.buyer(name="Other Insurance")
    await sign_in(market.client, buyer.key)
    answer = await _form_post(market, PAGE, THRESHOLD, low_balance="$1,250.50")
    assert answer.status_code == 303, answer.text[:2000]
    assert await threshold_of(market, buyer) == 125_050
    shown = (await market.client.get(PAGE)).text
    assert 'data-cents="125050"' in shown and "$1,250.50" in shown
    # A buyer's form names no buyer: another's id sent anyway changes only its own.
    answer = await _form_post(market, PAGE, THRESHOLD, low_balance="0", threshold_buyer_id=other.id)
    assert answer.status_code == 303
    assert (await threshold_of(market, buyer), await threshold_of(market, other)) == (0, None)
    [update, first] = await audit_of(market, action="alert_threshold.update")
    assert first["entity_id"] == buyer.id and first["after"] == {"low_balance_cents": 125_050}
    assert update["before"] == {"low_balance_cents": 125_050} and update["actor_account_id"] == buyer.id

    await sign_in(market.client, ADMIN_KEY)
    answer = await _form_post(market, PAGE, THRESHOLD, threshold_buyer_id=other.id, low_balance="250")
    assert answer.status_code == 303 and other.id in answer.headers["location"]
    assert await threshold_of(market, other) == 25_000
    for_other = (await market.client.get(answer.headers["location"])).text
    assert 'data-cents="25000"' in for_other and f'value="{other.id}"' in for_other
    cleared = await _form_post(market, PAGE, THRESHOLD, threshold_buyer_id=buyer.id, clear="yes")
    assert cleared.status_code == 303 and await threshold_of(market, buyer) is None

    # Finance reads a buyer's threshold, with no form to change it.
    await sign_in(market.client, await finance_key(market))
    read = (await market.client.get(PAGE, params={"buyer_id": other.id})).text
    assert 'data-cents="25000"' in read and "$250.00" in read and 'id="threshold-form"' not in read


@pytest.mark.parametrize(
    ("typed", "said"),
    [("ten", "not an amount"), ("12.345", "two decimals"), ("-5", "0.00 or more"), ("", "give the amount")],
)
async def test_a_threshold_that_is_not_dollars_and_cents_is_named_and_nothing_changes(
    market: Market, typed: str, said: str
) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, buyer.key)
    assert (await _form_post(market, PAGE, THRESHOLD, low_balance="100")).status_code == 303
    answer = await _form_post(market, PAGE, THRESHOLD, low_balance=typed)
    assert answer.status_code == 422, answer.text[:2000]
    assert said in error_beside(answer.text, "low_balance")
    tied = re.search(r'<input id="th-low_balance"[^>]*>', answer.text)
    assert tied is not None and 'aria-invalid="true"' in tied.group(0)
    assert f'value="{typed}"' in tied.group(0)
    assert await threshold_of(market, buyer) == 10_000
    assert len(await audit_of(market, action="alert_threshold.update")) == 1


async def test_an_operator_naming_no_buyer_or_an_unknown_one_is_told_beside_the_field(market: Market) -> None:
    await sign_in(market.client, ADMIN_KEY)
    for typed, said in (("", "give the buyer's id"), ("buy_nobody", "no buyer buy_nobody")):
        answer = await _form_post(market, PAGE, THRESHOLD, threshold_buyer_id=typed, low_balance="50")
        assert answer.status_code == 422, answer.text[:2000]
        assert said in error_beside(answer.text, "threshold_buyer_id")
        assert 'value="50"' in answer.text
    assert await audit_of(market, action="alert_threshold.update") == []


async def test_a_low_balance_alert_raised_by_the_watch_is_listed_with_what_it_says(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer(name="Acme Insurance")
    await market.fund(buyer, 5000)
    await sign_in(market.client, buyer.key)
    assert (await _form_post(market, PAGE, THRESHOLD, low_balance="45.00")).status_code == 303
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False), pricing=PRICE)
        await sold(market, publisher)  # $50.00 → $40.00: below $45.00
    [raised] = look(market)
    page = (await market.client.get(PAGE)).text
    row = re.search(rf'<tr id="alert-{raised}".*?</tr>', page, re.S)
    assert row is not None, page[:4000]
    assert 'data-kind="low_balance"' in row.group(0) and "Low balance" in row.group(0)
    assert "Acme Insurance: the balance, 4000 cents, is below the alert threshold of 4500 cents" in row.group(
        0
    )
    assert "$40.00" in row.group(0) and "$45.00" in row.group(0)
    assert f'<a href="/console/accounts/{buyer.id}">' in row.group(0)
    [api] = (await market.client.get("/v1/alerts", headers=buyer.auth)).json()["items"]
    assert api["id"] == raised


async def test_older_alerts_are_a_page_on_keeping_the_filters(market: Market) -> None:
    buyer = await market.buyer()
    caps = [
        cap_reached(f"cmp_{i:04d}", buyer.id, "Acme", ["cap day max_leads 1 reached"]) for i in range(101)
    ]
    raised = raise_now(market, *(c for c in caps if c is not None))
    raise_now(market, low_balance(buyer.id, "Acme", 0, 100) or pytest.fail("no condition"))
    await sign_in(market.client, await finance_key(market))
    first = (await market.client.get(PAGE, params={"kind": "cap_reached", "buyer_id": buyer.id})).text
    older = re.search(r'id="alerts-older" href="([^"]+)"', first)
    assert older is not None, first[-3000:]
    link = html.unescape(older.group(1))
    assert "kind=cap_reached" in link and f"buyer_id={buyer.id}" in link
    assert rows_of(first, "alerts-table").count('class="alert-row"') == 100
    second = (await market.client.get(link)).text
    assert rows_of(second, "alerts-table").count('class="alert-row"') == 1
    assert f'id="alert-{sorted(raised)[0]}"' in second and 'id="alerts-older"' not in second
