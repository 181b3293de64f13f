"""Every endpoint against every role and a second tenant of the same role (CONTRACT.md,
"Authentication and roles"): 401 without a key, 403 for a role that may never, 404 for
another tenant's object, and never a byte of the first tenant's data in any answer.

The routes come from the app itself: a route served without a row here fails the test by name.
One world is built per database (tests/api/tenants.py) and every row is tried by every
caller; all mismatches are reported together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from exchange.api.app import create_app
from exchange.settings import Settings
from tests.api.tenants import ALERTS, FIXED, PAUSED_WEBHOOK, World, build_world, csv_of_lead_1, lead_1
from tests.conftest import Market, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve
from tests.transports import ftp

__all__ = ["ftp"]  # the FTP server buyer_1's batched files go to

# In this order among those allowed: tenant 1 before tenant 2 (a lead buyer_1 claims is gone).
CALLERS = ("operator", "finance", "publisher_1", "buyer_1", "publisher_2", "buyer_2", "anonymous")
# Callers owning nothing of tenant 1: no answer to them may hold any of its data.
OUTSIDERS = ("publisher_2", "buyer_2", "anonymous")
STAFF = "operator finance"
EVERYONE = "operator finance publisher_1 buyer_1 publisher_2 buyer_2"

# Served, but not in the table: each for its reason.
NOT_IN_TABLE = {
    "/healthz": "a service endpoint without a key (tests/api/test_access.py)",
    "/metrics": "loopback, else an operator key (tests/api/test_access.py)",
    "/schema": "the served spec and its documentation page, public by design",
    "/forms/": "hosted lead forms: public pages posting as their publisher, no key",
    "/demo-buyer/": "the demo buyer, mounted only by `exchange serve --demo`",
    "/console": "the console's pages: a session cookie, not a key (tests/console/test_console.py)",
}


@dataclass(frozen=True)
class Row:
    """What each caller gets from one request. `allow`: may do it (2xx, or a 4xx about the
    body, never 401/403/404); `hide`: another tenant's object, 404; `scoped`: may list, and
    sees none of tenant 1's rows (2xx); anyone else: 403; without a key: 401.

    Paths, queries and bodies name tenant 1's objects as `{placeholder}`s of World.ids;
    `use` maps a placeholder to another of them."""

    method: str
    path: str
    allow: str
    hide: str = ""
    scoped: str = ""
    query: str = ""
    use: tuple[tuple[str, str], ...] = ()
    use_as: tuple[tuple[str, str, str], ...] = ()  # (caller, placeholder, id): its own object
    body: Any = None  # JSON, or (content type, text or bytes)
    shows: tuple[str, ...] = ()  # tenant-1 data outsiders see here by design (label prefixes)
    check: Callable[[Any], bool] | None = None  # more to ask of a scoped caller's answer

    def expected(self, caller: str) -> str:
        if caller == "anonymous":
            return "401"
        for outcome, callers in (("allowed", self.allow), ("404", self.hide), ("scoped", self.scoped)):
            if caller in callers.split():
                return outcome
        return "403"


def _email() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "vendor@sender.example", "leads@leads.example", "lead"
    mail.set_content("First Name: Table\nZip Code: 94105\n")
    return bytes(mail)


NEW_CAMPAIGN = {
    "buyer_id": "{buyer_id}",
    "vertical": "auto_insurance",
    "active": False,
    "pricing": FIXED,
    "delivery": PAUSED_WEBHOOK,
}
NEW_PULL = {"kind": "feed", "url": "{dead_url}", "vertical": "auto_insurance"}
ADJUSTMENT = {
    "account_id": "{buyer_id}",
    "amount_cents": 1,
    "reason": "goodwill",
    "note": "t",
    "reference": "t",
}
ALERTS_TO_BUYER_1 = {**ALERTS, "buyer_id": "{buyer_id}"}
THRESHOLD = {"low_balance_cents": 500_000}
DAY = "since={today}&until={today}"
DISPOSITIONS_CSV = ("text/csv", "lead_id,status,revenue_cents\n{lead_id},quoted,\n")
LISTED = ("publisher_1's unsold lead",)  # the marketplace lists unsold leads, anonymised, to every buyer


def no_row_accepted(answer: Any) -> bool:
    return answer["accepted"] == 0


def own_account(what: str, owner: str) -> Row:
    """An account's balance or statement: staff and the account itself read it; to any other
    account, of either kind, it is not found."""
    others = " ".join(c for c in ("publisher_1", "buyer_1", "publisher_2", "buyer_2") if c != owner)
    account = "publisher_id" if owner.startswith("publisher") else "buyer_id"
    return Row(
        "GET",
        f"/v1/accounts/{{account_id}}/{what}",
        f"{STAFF} {owner}",
        hide=others,
        use=(("account_id", account),),
    )


# Where CONTRACT.md is silent, a role is denied (403): finance reads money and accounts, never
# campaigns, pulls, batches, deliveries, jobs, keys or the audit; a publisher or buyer only its own.
TABLE: tuple[Row, ...] = (
    Row("POST", "/v1/keys", "operator", body={"role": "finance", "name": "table"}),
    Row("GET", "/v1/keys", "operator"),
    Row("GET", "/v1/keys", "operator", query="account_id={publisher_id}"),
    # Every key may ask who it is; the answer is its own only.
    Row("GET", "/v1/me", EVERYONE),
    Row("GET", "/v1/publishers", STAFF),
    Row("GET", "/v1/buyers", STAFF),
    # Revoking is the operators', even for a publisher's own key.
    Row("DELETE", "/v1/keys/{key_id}", "operator", use=(("key_id", "spare_key_id"),)),
    Row(
        "POST",
        "/v1/publishers",
        "operator",
        body={"name": "T", "payout": {"model": "revshare", "percent": 5}},
    ),
    Row("GET", "/v1/publishers/{publisher_id}", "operator finance publisher_1", hide="publisher_2"),
    # Terms are the operators' to set, even on a publisher's own account.
    Row("PATCH", "/v1/publishers/{publisher_id}", "operator", body={"consent_text": "I agree."}),
    Row("POST", "/v1/publishers/{publisher_id}/pulls", "operator", body=NEW_PULL),
    Row("GET", "/v1/publishers/{publisher_id}/pulls", "operator publisher_1", hide="publisher_2"),
    Row("GET", "/v1/pulls/{pull_id}", "operator publisher_1", hide="publisher_2"),
    Row("POST", "/v1/pulls/{pull_id}/run", "operator"),
    Row("DELETE", "/v1/pulls/{pull_id}", "operator"),  # after its run: a stopped pull runs no more
    # A publisher's payouts: staff record them; the publisher reads its own; a buyer never.
    Row("POST", "/v1/publishers/{publisher_id}/payouts", STAFF, body={"amount_cents": 1, "reference": "t"}),
    Row("GET", "/v1/publishers/{publisher_id}/payouts", "operator finance publisher_1", hide="publisher_2"),
    Row("GET", "/v1/payouts/proposal", STAFF, query="until={today}"),
    Row("POST", "/v1/buyers", "operator", body={"name": "T", "timezone": "UTC"}),
    Row("GET", "/v1/buyers/{buyer_id}", "operator finance buyer_1", hide="buyer_2"),
    Row("POST", "/v1/buyers/{buyer_id}/payments", STAFF, body={"amount_cents": 500, "reference": "t"}),
    Row("GET", "/v1/verticals", EVERYONE),
    Row("GET", "/v1/verticals/{key}", EVERYONE, use=(("key", "vertical"),)),
    Row(
        "POST",
        "/v1/verticals",
        "operator",
        body={"key": "t_vertical", "fields": [{"name": "n", "type": "str"}]},
    ),
    Row("PUT", "/v1/verticals/{key}/distribution", "operator", use=(("key", "other_vertical"),), body={}),
    Row("GET", "/v1/leads", "operator finance publisher_1 buyer_1", scoped="publisher_2 buyer_2"),
    Row(
        "GET",
        "/v1/leads",
        "operator finance publisher_1 buyer_1",
        scoped="publisher_2 buyer_2",
        query="publisher_id={publisher_id}",
    ),
    # Posting is each publisher's own act (this lead is refused: it has no contact).
    Row(
        "POST",
        "/v1/leads",
        "publisher_1 publisher_2",
        query="vertical=auto_insurance",
        body={"first_name": "T"},
    ),
    Row(
        "POST",
        "/v1/leads/batch",
        "operator publisher_1",
        hide="publisher_2",
        query="vertical=auto_insurance&publisher_id={publisher_id}",
        body=("text/csv", csv_of_lead_1("table")),
    ),
    Row("GET", "/v1/batches/{batch_id}", "operator publisher_1", hide="publisher_2"),
    Row(
        "POST", "/v1/pings", "publisher_1 publisher_2", query="vertical=auto_insurance", body={"zip": "94105"}
    ),
    Row(
        "POST",
        "/v1/posts",
        "publisher_1",
        hide="publisher_2",
        body={"ping_id": "{ping_id}", "lead": lead_1()},
    ),
    Row("POST", "/v1/inbound/email", "publisher_1 publisher_2", body=("message/rfc822", _email())),
    Row("GET", "/v1/leads/{lead_id}", "operator finance publisher_1 buyer_1", hide="publisher_2 buyer_2"),
    Row("GET", "/v1/leads/{lead_id}/events", "operator"),
    Row(
        "GET",
        "/v1/leads/{lead_id}/explain",
        "operator finance publisher_1 buyer_1",
        hide="publisher_2 buyer_2",
    ),
    Row("DELETE", "/v1/leads/{lead_id}/personal-data", "operator", use=(("lead_id", "erasable_lead_id"),)),
    Row("POST", "/v1/leads/{lead_id}/returns", "buyer_1", hide="buyer_2", body={"reason": "other"}),
    Row("POST", "/v1/leads/{lead_id}/dispositions", "buyer_1", hide="buyer_2", body={"status": "quoted"}),
    # Another buyer's lead in a file of dispositions is a rejected row, never recorded.
    Row(
        "POST", "/v1/dispositions", "buyer_1", scoped="buyer_2", check=no_row_accepted, body=DISPOSITIONS_CSV
    ),
    Row("GET", "/v1/returns", "operator finance buyer_1", scoped="buyer_2"),
    Row("GET", "/v1/returns", "operator finance buyer_1", scoped="buyer_2", query="buyer_id={buyer_id}"),
    Row("POST", "/v1/returns/{return_id}/decision", "operator", body={"approve": False}),
    Row("GET", "/v1/campaigns", "operator buyer_1", scoped="buyer_2"),
    Row("GET", "/v1/campaigns", "operator buyer_1", scoped="buyer_2", query="buyer_id={buyer_id}"),
    Row("POST", "/v1/campaigns", "operator buyer_1", hide="buyer_2", body=NEW_CAMPAIGN),
    Row("GET", "/v1/campaigns/{campaign_id}", "operator buyer_1", hide="buyer_2"),
    Row("PATCH", "/v1/campaigns/{campaign_id}", "operator buyer_1", hide="buyer_2", body={"weight": 2}),
    Row("POST", "/v1/campaigns/{campaign_id}/webhook-secret", "operator buyer_1", hide="buyer_2"),
    # The marketplace is shared: every buyer sees unsold leads, anonymised, and may claim one.
    Row("GET", "/v1/marketplace", "operator buyer_1 buyer_2", shows=LISTED),
    Row(
        "POST",
        "/v1/marketplace/{lead_id}/claim",
        "buyer_1 buyer_2",
        use=(("lead_id", "claimable_lead_id"),),
        body={},
        shows=LISTED,
    ),
    Row("GET", "/v1/deliveries", "operator"),
    Row("POST", "/v1/deliveries/{delivery_id}/resend", "operator"),
    Row("GET", "/v1/file-batches", "operator"),
    Row("POST", "/v1/file-batches/{batch_id}/retry", "operator", use=(("batch_id", "file_batch_id"),)),
    Row("GET", "/v1/holds", STAFF),
    Row("GET", "/v1/holds/{hold_id}", STAFF),
    Row("POST", "/v1/holds/{hold_id}/decision", "operator", body={"sold": True}),
    Row("GET", "/v1/jobs", "operator"),
    Row("POST", "/v1/jobs/{job_id}/retry", "operator"),
    Row("GET", "/v1/audit", "operator"),
    # Alerts: operators hear of any buyer's, a buyer of its own; finance reads them, sets nothing.
    Row("POST", "/v1/alerts/subscriptions", "operator buyer_1", hide="buyer_2", body=ALERTS_TO_BUYER_1),
    Row("GET", "/v1/alerts/subscriptions", "operator buyer_1", scoped="buyer_2"),
    Row(
        "DELETE",
        "/v1/alerts/subscriptions/{subscription_id}",
        "operator buyer_1",
        hide="buyer_2",
        use_as=(("operator", "subscription_id", "operator_subscription_id"),),
    ),
    Row("PUT", "/v1/alerts/thresholds/{buyer_id}", "operator buyer_1", hide="buyer_2", body=THRESHOLD),
    Row("GET", "/v1/alerts/thresholds/{buyer_id}", "operator finance buyer_1", hide="buyer_2"),
    Row("GET", "/v1/alerts", "operator finance buyer_1", scoped="buyer_2"),
    Row("GET", "/v1/alerts", "operator finance buyer_1", scoped="buyer_2", query="buyer_id={buyer_id}"),
    # Invoices are a buyer's, remittances a publisher's: the other kind of account may never (403).
    Row("GET", "/v1/buyers/{buyer_id}/invoices", "operator finance buyer_1", hide="buyer_2", query=DAY),
    Row(
        "GET",
        "/v1/publishers/{publisher_id}/remittances",
        "operator finance publisher_1",
        hide="publisher_2",
        query=DAY,
    ),
    Row("GET", "/v1/reports/sources", "operator finance publisher_1", scoped="publisher_2"),
    Row("GET", "/v1/reports/daily", STAFF),
    Row("GET", "/v1/ledger/entries", STAFF),
    Row("GET", "/v1/settlements", STAFF, query=DAY),
    Row("POST", "/v1/adjustments", STAFF, body=ADJUSTMENT),
    Row("GET", "/v1/adjustments", STAFF),
    Row("GET", "/v1/adjustments", STAFF, query="account_id={buyer_id}"),
    Row("GET", "/v1/periods", STAFF),
    Row("GET", "/v1/periods/{month}", STAFF, use=(("month", "last_month"),)),
    Row("POST", "/v1/periods/{month}/close", STAFF, use=(("month", "last_month"),), body={}),
    Row("POST", "/v1/periods/{month}/reopen", "operator", use=(("month", "last_month"),), body={"note": "t"}),
    *(own_account(what, owner) for what in ("balance", "statement") for owner in ("publisher_1", "buyer_1")),
    # Last: archiving is for good, and rows above use the campaign.
    Row("DELETE", "/v1/campaigns/{campaign_id}", "operator buyer_1", hide="buyer_2"),
)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A quick upkeep beat: buyer_1's batched file is formed while the world is built.
    return exchange_settings(database_url, upkeep_seconds=0.2)


def fill(value: Any, names: dict[str, str]) -> Any:
    """`value` with every `{placeholder}` in its strings replaced by the id it names."""
    if isinstance(value, str):
        return value.format_map(names)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(fill(v, names) for v in value)
    return value


async def call(client: Any, world: World, row: Row, caller: str) -> tuple[str, httpx.Response]:
    """The answer to `caller`'s request for this row, and the request's text (to tell an echo
    of what the caller sent from a leak)."""
    names = {**world.ids, **{placeholder: world.ids[name] for placeholder, name in row.use}}
    names |= {placeholder: world.ids[name] for who, placeholder, name in row.use_as if who == caller}
    query = fill(row.query, names)
    url = fill(row.path, names) + (f"?{query}" if query else "")
    headers = dict(world.headers[caller])
    body = fill(row.body, names)
    if isinstance(body, tuple):
        headers["Content-Type"], content = body
        content = content if isinstance(content, bytes) else content.encode()
        return url + content.decode(), await client.request(row.method, url, content=content, headers=headers)
    return url + json.dumps(body), await client.request(row.method, url, json=body, headers=headers)


def judge(row: Row, caller: str, sent: str, answer: httpx.Response, world: World) -> list[str]:
    """What is wrong with this answer, if anything."""
    expected, status = row.expected(caller), answer.status_code
    if expected == "allowed":
        right = status < 500 and status not in (401, 403, 404, 429)
    elif expected == "scoped":
        right = 200 <= status < 300 and (row.check is None or row.check(answer.json()))
    else:
        right = status == int(expected)
    where = f"{row.method} {row.path}{'?' + row.query if row.query else ''} as {caller}"
    found = [] if right else [f"{where}: expected {expected}, got {status} {answer.text[:200]}"]
    if caller in OUTSIDERS:
        found += [
            f"{where}: the answer ({status}) holds {label}"
            for label, value in world.secrets.items()
            if value in answer.text and value not in sent and not label.startswith(row.shows)
        ]
    return found


async def test_every_endpoint_answers_every_role_and_tenant_as_the_contract_says(
    market: Market, ftp: tuple[int, Path]
) -> None:
    async with serve(FakeBuyer(), FakeBuyer()) as fakes:
        world = await build_world(market, fakes, ftp[0])
        mismatches = []
        for row in TABLE:
            # Those who may not go first: the object is still there when they are refused it.
            for caller in sorted(CALLERS, key=lambda caller: row.expected(caller) == "allowed"):
                sent, answer = await call(market.client, world, row, caller)
                mismatches += judge(row, caller, sent, answer, world)
    assert not mismatches, f"{len(mismatches)} answers differ from the table:\n" + "\n".join(mismatches)


_TYPED = re.compile(r"\{(\w+):\w+\}")


def served_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves, `{name:type}` read as `{name}`."""
    found = set()
    for route in app.routes:
        path = _TYPED.sub(r"{\1}", route.path)
        methods = route.methods - {"HEAD", "OPTIONS"} if isinstance(route, HTTPRoute) else {"ASGI"}
        found |= {(method, path) for method in methods}
    return found


def test_every_served_route_has_a_row_and_every_row_a_route() -> None:
    served = {
        (method, path)
        for method, path in served_routes(create_app(Settings(demo=True)))
        if not path.startswith(tuple(NOT_IN_TABLE))
    }
    rows = {(r.method, r.path) for r in TABLE}
    missing = ", ".join(f"{m} {p}" for m, p in sorted(served - rows))
    assert not missing, f"served without a row in TABLE (add one): {missing}"
    stale = ", ".join(f"{m} {p}" for m, p in sorted(rows - served))
    assert not stale, f"rows of routes no longer served: {stale}"
