"""The served spec is the API: schemathesis runs every check over every operation with each
role's key, on SQLite and on PostgreSQL, against the exchange as its own process.

A small world is made first through the API (a publisher, a funded buyer, a campaign, a sold
and an unsold lead, a return, a ping), so path parameters often name real objects. Any 5xx,
any answer the spec does not describe (status, headers, body) and any input the server judges
otherwise than the spec fails the test with schemathesis's report.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, IN_CI, auto_insurance_lead, bearer, fresh_postgres, service_or_skip
from tests.distribution.buyers import FakeBuyer, serve
from tests.processes import free_port, start_server, stop_server

pytestmark = pytest.mark.slow

# Least privileged first: the operator's run may revoke, erase and pause what the others read.
ROLES = ("buyer", "publisher", "finance", "operator")
# Test cases per operation and phase: the four roles on one database take about a minute.
MAX_EXAMPLES = 8
SEED = 20261205

# Operations whose input obeys rules no JSON Schema states (one field needed given another,
# dates in order, an id that must name an existing object, an amount within what is owed, a
# time zone the tz database knows, a file or message whose content the schema can only call
# text): a request the schema allows may be refused with a 4xx naming the rule (422, or 400
# for a document that does not read). For these alone such an answer may meet a schema-valid
# request; every other operation must take whatever the spec allows.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's own list
DATES = "since and until, or month, and since not after until"
DOCUMENT = "the body is a document (a lead, a CSV file, an e-mail) the schema types only as text"
BEYOND_THE_SCHEMA = {
    "POST /v1/keys": "a publisher or buyer key names an existing account of its role, others none",
    "POST /v1/publishers": "default_vertical names an existing vertical",
    "PATCH /v1/publishers/{publisher_id}": "default_vertical names an existing vertical",
    "POST /v1/publishers/{publisher_id}/pulls": "the vertical is named when the publisher has no default",
    "POST /v1/buyers": "timezone is one the tz database knows",
    "POST /v1/buyers/{buyer_id}/payments": "a reference already used names that payment's amount",
    "POST /v1/publishers/{publisher_id}/payouts": "what is owed at most, unless forced",
    "POST /v1/campaigns": "its buyer and vertical exist; filters, caps, schedule and delivery settings work",
    "PATCH /v1/campaigns/{campaign_id}": "as a new campaign; id and times are read-only",
    "POST /v1/campaigns/{campaign_id}/webhook-secret": "only a webhook delivery is signed",
    "POST /v1/verticals": "an enum field has values and no other does; names are not repeated",
    "POST /v1/leads": DOCUMENT + "; a lead obeys its vertical's fields: a rejected lead is a 422 answer",
    "POST /v1/pings": DOCUMENT + "; the ping obeys its vertical's fields",
    "POST /v1/posts": "the lead is whole, contact details included",
    "POST /v1/inbound/email": DOCUMENT,
    "POST /v1/dispositions": DOCUMENT,
    "POST /v1/leads/{lead_id}/returns": "within the campaign's return window",
    "POST /v1/marketplace/{lead_id}/claim": "campaign_id: an active campaign of the buyer's for the lead",
    "POST /v1/leads/batch": "an operator names the publisher the rows come from",
    "POST /v1/adjustments": "a non-zero amount, to an account that exists",
    "POST /v1/alerts/subscriptions": "the buyer named exists",
    "POST /v1/periods/{month}/close": "a month is closed once it has ended",
    "GET /v1/settlements": DATES,
    "GET /v1/ledger/entries": DATES,
    "GET /v1/accounts/{account_id}/statement": DATES,
    "GET /v1/reports/sources": DATES,
    "GET /v1/reports/daily": DATES + ", 366 days at most",
    "GET /v1/buyers/{buyer_id}/invoices": DATES,
    "GET /v1/publishers/{publisher_id}/remittances": DATES,
    "GET /v1/payouts/proposal": "until, or month",
}
# Bodies that are text on the wire (a CSV file, an e-mail): no input breaks their `type`, a
# number or `true` sent as one being text all the same, so they are sent only as the spec has them.
TEXT_BODIES = ("POST /v1/leads/batch", "POST /v1/dispositions", "POST /v1/inbound/email")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# Ids of the world sent in bodies rather than paths.
BODY_IDS = ("ping_id",)


def where(name: str) -> str:
    """Where an id of the world goes: the path, or the body."""
    return "body" if name in BODY_IDS else "path"


@dataclass
class World:
    """Keys by role, and ids of real objects by the name of the parameter that takes them."""

    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    # The roles each operation names ("Roles: operator, finance." in its description).
    roles: dict[str, set[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.ids.setdefault(name, []).append(value)


def seed_world(base_url: str, buyer: FakeBuyer) -> World:
    """One of each thing, made as clients make them."""
    world = World(keys={"operator": ADMIN_KEY})
    with httpx.Client(base_url=base_url, timeout=30, headers=bearer(ADMIN_KEY)) as api:

        def call(method: str, path: str, key: str = ADMIN_KEY, **kwargs: Any) -> dict[str, Any]:
            answer = api.request(method, path, headers=bearer(key), **kwargs)
            assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
            return dict(answer.json())

        world.keys["finance"] = call("POST", "/v1/keys", json={"role": "finance", "name": "Fuzz finance"})[
            "api_key"
        ]
        publisher = call(
            "POST",
            "/v1/publishers",
            json={"name": "Fuzz Leads", "payout": {"model": "revshare", "percent": 70}},
        )
        world.keys["publisher"] = publisher["api_key"]
        world.add("publisher_id", publisher["id"])
        world.add("account_id", publisher["id"])
        account = call("POST", "/v1/buyers", json={"name": "Fuzz Insurance", "timezone": "America/New_York"})
        world.keys["buyer"] = account["api_key"]
        world.add("buyer_id", account["id"])
        world.add("account_id", account["id"])
        call(
            "POST", f"/v1/buyers/{account['id']}/payments", json={"amount_cents": 500_000, "reference": "w-1"}
        )
        campaign = call(
            "POST",
            "/v1/campaigns",
            json={
                "buyer_id": account["id"],
                "vertical": "auto_insurance",
                "pricing": {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}},
                "delivery": buyer.delivery(bid=False),
                "return_window_hours": 24 * 90,
            },
        )
        world.add("campaign_id", campaign["id"])
        publisher_key = world.keys["publisher"]
        sold = call("POST", "/v1/leads?vertical=auto_insurance", publisher_key, json=auto_insurance_lead())
        assert sold["status"] == "sold", sold
        world.add("lead_id", sold["lead_id"])
        unsold = call("POST", "/v1/leads?vertical=solar", publisher_key, json=solar_lead())
        world.add("lead_id", unsold["lead_id"])
        returned = call(
            "POST", "/v1/leads?vertical=auto_insurance", publisher_key, json=auto_insurance_lead()
        )
        answer = call(
            "POST",
            f"/v1/leads/{returned['lead_id']}/returns",
            world.keys["buyer"],
            json={"reason": "bad_phone"},
        )
        world.add("lead_id", returned["lead_id"])
        world.add("return_id", answer["id"])
        ping = call("POST", "/v1/pings?vertical=auto_insurance", publisher_key, json=ping_fields())
        world.add("ping_id", ping["ping_id"])
        world.add("key", "auto_insurance")
        world.add("key", "solar")
        spec = api.get("/schema/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            named = re.search(r"Roles: ([a-z, ]+)\.", operation.get("description") or "")
            if named:
                world.roles[f"{method.upper()} {path}"] = set(named.group(1).split(", "))
    return world


def solar_lead() -> dict[str, Any]:
    lead = auto_insurance_lead()
    for name in ("date_of_birth", "currently_insured", "vehicle_year", "vehicle_make", "vehicle_model"):
        lead.pop(name)
    return {**lead, "homeowner": True, "monthly_electric_bill_cents": 18_000}


def ping_fields() -> dict[str, Any]:
    lead = auto_insurance_lead()
    for name in ("first_name", "last_name", "email", "phone", "address", "ip_address"):
        lead.pop(name)
    return lead


def config(base_url: str, world: World, role: str) -> str:
    """schemathesis.toml for one role's run."""
    lines = [
        f'base-url = "{base_url}"',
        "workers = 1",
        "color = false",
        f'hooks = "{HOOKS}"',
        # Reproducible in CI: the same seed, and no examples carried over from earlier runs.
        f"seed = {SEED}" if IN_CI else "",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        f"deterministic = {'true' if IN_CI else 'false'}",
        'database = "none"',
        # No text the exchange stores holds a NUL (PostgreSQL cannot), and every JSON body
        # holding one is refused (422) before it is read: the spec's description says so.
        "allow-x00 = false",
        "[cache]",
        "enabled = false",
        "[headers]",
        f'Authorization = "Bearer {world.keys[role]}"',
        "[checks]",
        "enabled = true",
        "[dictionaries]",
        *(f"{name} = {{ values = {values!r} }}".replace("'", '"') for name, values in world.ids.items()),
        "[parameters]",
        # Half the time a real object, half the time whatever the schema allows.
        *(f'"{where(name)}.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in world.ids),
    ]
    refused = ", ".join(f'"{status}"' for status in [*ACCEPTED, "400", "422"])
    # An operation the role may never call answers 403 before reading anything: a few fuzzed
    # requests show that, without the coverage phase's exhaustive inputs.
    forbidden = {operation for operation, roles in world.roles.items() if role not in roles}
    for operation in sorted({*BEYOND_THE_SCHEMA, *TEXT_BODIES, *forbidden}):
        lines += ["[[operations]]", f'include-name = "{operation}"']
        if operation in BEYOND_THE_SCHEMA:
            lines.append(f"checks.positive_data_acceptance.expected-statuses = [{refused}]")
        if operation in TEXT_BODIES:
            lines.append('generation.mode = "positive"')
        if operation in forbidden:
            lines += ["phases.coverage.enabled = false", "generation.max-examples = 2"]
    return "\n".join(line for line in lines if line) + "\n"


def run_schemathesis(base_url: str, world: World, role: str, workdir: Path) -> tuple[int, str, int]:
    """One role's run: its exit code, its report, and how many test cases it sent."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "schemathesis.toml"
    config_file.write_text(config(base_url, world, role))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config_file),
        "run",
        f"{base_url}/schema/openapi.json",
        "--checks",
        "all",
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    found = re.search(r"(\d+) generated", output)
    return done.returncode, output, int(found.group(1)) if found else 0


@pytest.fixture(params=["sqlite", "postgresql"])
def exchange(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The exchange as its own process, without rate limits (the fuzzer is one busy client;
    429 is documented all the same)."""
    port = free_port()
    limits = {"EXCHANGE_RATE_PER_SECOND": "0", "EXCHANGE_ADDRESS_RATE_PER_SECOND": "0"}
    if request.param == "sqlite":
        server = start_server(
            f"sqlite:///{tmp_path / 'exchange.db'}", port, tmp_path / "server.log", **limits
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_server(server)
        return
    service_or_skip("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgres(f"exchange_fuzz_{os.getpid()}") as url:
        server = start_server(url, port, tmp_path / "server.log", **limits)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_server(server)


async def test_every_role_finds_the_api_as_the_spec_says(exchange: str, tmp_path: Path) -> None:
    async with serve(FakeBuyer(bid=None)) as (buyer,):
        world = seed_world(exchange, buyer)
        failures: list[str] = []
        started = time.monotonic()
        sent = 0
        for role in ROLES:
            code, output, cases = run_schemathesis(exchange, world, role, tmp_path / role)
            sent += cases
            if code != 0:
                failures.append(f"===== schemathesis as {role} (exit {code}) =====\n{output}")
        elapsed = time.monotonic() - started
    print(f"schemathesis: {len(ROLES)} roles, {sent} test cases in {elapsed:.0f} s")
    assert not failures, "\n".join(failures)
