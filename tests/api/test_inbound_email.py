"""`POST /v1/inbound/email`: a raw message of leads through the same intake as a post."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from tests.conftest import Market, auto_insurance_lead

ADF = """<?xml version="1.0"?>
<?adf version="1.0"?>
<adf><prospect>
  <requestdate>2026-12-01T10:00:00-08:00</requestdate>
  <vehicle interest="buy" status="new"><year>2025</year><make>Subaru</make><model>Outback</model></vehicle>
  <customer><contact>
    <name part="first">Grace</name><name part="last">Hopper</name>
    <email>grace@example.com</email><phone>(415) 555-2671</phone>
    <address><postalcode>94105</postalcode></address>
  </contact></customer>
  <vendor><contact><name part="full">Hill Motors</name></contact></vendor>
</prospect></adf>
"""


def message(body: str, *, to: str = "acme@leads.example", message_id: str = "<m1@sender.example>") -> bytes:
    mail = EmailMessage()
    mail["From"] = "vendor@sender.example"
    mail["To"] = to
    mail["Subject"] = "New lead"
    mail["Message-ID"] = message_id
    mail.set_content(body)
    return bytes(mail)


async def post(market: Market, publisher: Any, raw: bytes, **params: str) -> Any:
    return await market.client.post(
        "/v1/inbound/email",
        params=params,
        content=raw,
        headers={**publisher.auth, "Content-Type": "message/rfc822"},
    )


async def test_an_adf_message_is_an_auto_sales_lead(market: Market) -> None:
    publisher = await market.publisher()
    answer = await post(market, publisher, message(ADF))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["message_id"] == "<m1@sender.example>"
    [lead] = body["leads"]
    assert lead["status"] == "accepted", lead
    stored = (await market.client.get(f"/v1/leads/{lead['lead_id']}", headers=publisher.auth)).json()
    assert stored["vertical"] == "auto_sales" and stored["fields"]["first_name"] == "Grace"
    events = (await market.client.get(f"/v1/leads/{lead['lead_id']}/events", headers=market.admin)).json()[
        "items"
    ]
    received = next(e for e in events if e["kind"] == "received")
    assert (
        received["data"]["channel"] == "email_api" and received["data"]["sender"] == "vendor@sender.example"
    )
    # The same message again (a sender retrying) makes no second lead.
    again = await post(market, publisher, message(ADF))
    assert again.json()["leads"][0]["lead_id"] == lead["lead_id"]


async def test_key_value_lines_take_the_vertical_the_address_names(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    lines = "\n".join(
        [
            f"First Name: {lead['first_name']}",
            f"Last Name: {lead['last_name']}",
            f"E-mail: {lead['email']}",
            f"Phone Number: {lead['phone']}",
            f"Zip Code: {lead['zip']}",
            f"date_of_birth: {lead['date_of_birth']}",
            f"vehicle_year: {lead['vehicle_year']}",
            f"vehicle_make: {lead['vehicle_make']}",
            f"vehicle_model: {lead['vehicle_model']}",
            "currently_insured: true",
        ]
    )
    answer = await post(market, publisher, message(lines, to="acme+auto_insurance@leads.example"))
    assert answer.status_code == 202, answer.text
    [outcome] = answer.json()["leads"]
    assert outcome["status"] == "accepted", outcome  # stored; distributed as an async post is
    stored = (await market.client.get(f"/v1/leads/{outcome['lead_id']}", headers=publisher.auth)).json()
    assert stored["vertical"] == "auto_insurance" and stored["fields"]["zip"] == lead["zip"]
    assert stored["status"] == "unsold"  # no campaign in this market


async def test_a_message_without_a_vertical_or_a_lead_is_refused_with_the_reason(market: Market) -> None:
    publisher = await market.publisher()
    no_vertical = await post(market, publisher, message("First Name: Ada\nZip Code: 94105"))
    [outcome] = no_vertical.json()["leads"]
    assert outcome["status"] == "rejected" and outcome["errors"][0]["field"] == "vertical"
    nothing = await post(market, publisher, message("Hello, how are you?", message_id="<m2@x>"))
    assert nothing.status_code == 422 and nothing.json()["errors"][0]["code"] == "no_leads"
    garbage = await post(market, publisher, b"\x00\xff not a message at all")
    assert garbage.status_code == 422
    buyer = await market.buyer()
    assert (await post(market, buyer, message(ADF))).status_code == 403
