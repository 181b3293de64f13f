"""The SMTP inbox: real mail sent with smtplib to the exchange's listener."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from tests.api.test_inbound_email import ADF
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings
from tests.processes import free_port


@pytest.fixture
async def inbox_market(database_url: str) -> AsyncIterator[tuple[Market, int]]:
    port = free_port()
    settings = exchange_settings(database_url, smtp_port=port)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Market(client=client, admin=bearer(ADMIN_KEY)), port


def send(port: int, to: str, message: EmailMessage) -> dict[str, Any]:
    """Send over SMTP; the refused recipients, or the server's error."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        try:
            return {"refused": smtp.send_message(message, to_addrs=[to])}
        except smtplib.SMTPRecipientsRefused as exc:
            return {"rcpt": {a: code for a, (code, _) in exc.recipients.items()}}
        except smtplib.SMTPDataError as exc:
            return {"data": exc.smtp_code, "text": exc.smtp_error.decode()}
        except smtplib.SMTPSenderRefused as exc:
            return {"sender": exc.smtp_code}


def mail(body: str, *, attach_adf: bool = False, message_id: str = "<s1@sender.example>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "provider@sender.example"
    message["To"] = "lead inbox"
    message["Subject"] = "lead"
    message["Message-ID"] = message_id
    message.set_content(body)
    if attach_adf:
        message.add_attachment(ADF.encode(), maintype="application", subtype="xml", filename="lead.adf")
    return message


async def test_leads_e_mailed_to_an_inbox_are_stored_before_the_250(inbox_market: tuple[Market, int]) -> None:
    market, port = inbox_market
    publisher = await market.publisher()
    inbox = publisher.body["inbox"]
    adf = await asyncio.to_thread(
        send, port, f"{inbox}@leads.example", mail("See attached.", attach_adf=True)
    )
    assert adf == {"refused": {}}
    lead = auto_insurance_lead()
    lines = "\n".join(
        [
            f"First Name: {lead['first_name']}",
            f"Last Name: {lead['last_name']}",
            f"Email: {lead['email']}",
            f"Phone: {lead['phone']}",
            f"Zip: {lead['zip']}",
        ]
    )
    plus = await asyncio.to_thread(
        send, port, f"{inbox}+auto_insurance@leads.example", mail(lines, message_id="<s2@sender.example>")
    )
    assert plus == {"refused": {}}
    leads = (await market.client.get("/v1/leads", headers=publisher.auth)).json()["items"]
    assert sorted(item["vertical"] for item in leads) == ["auto_insurance", "auto_sales"]
    adf_lead = next(item for item in leads if item["vertical"] == "auto_sales")
    events = (await market.client.get(f"/v1/leads/{adf_lead['id']}/events", headers=market.admin)).json()[
        "items"
    ]
    received = next(e for e in events if e["kind"] == "received")["data"]
    assert (received["channel"], received["message_id"]) == ("smtp", "<s1@sender.example>")
    assert received["sender"] == "provider@sender.example"


async def test_an_unknown_inbox_is_refused_at_rcpt_and_a_message_without_leads_after_data(
    inbox_market: tuple[Market, int],
) -> None:
    market, port = inbox_market
    publisher = await market.publisher()
    unknown = await asyncio.to_thread(send, port, "nobody@leads.example", mail("First Name: Ada"))
    assert unknown == {"rcpt": {"nobody@leads.example": 550}}
    bad_vertical = await asyncio.to_thread(send, port, f"{publisher.body['inbox']}+nope@x.example", mail("x"))
    assert bad_vertical == {"rcpt": {f"{publisher.body['inbox']}+nope@x.example": 550}}
    empty = await asyncio.to_thread(send, port, f"{publisher.body['inbox']}@x.example", mail("Hello there"))
    assert empty["data"] == 554 and "no lead" in empty["text"]


async def test_an_oversized_message_is_refused_by_its_size(inbox_market: tuple[Market, int]) -> None:
    market, port = inbox_market
    publisher = await market.publisher()

    def too_big() -> tuple[int, bytes] | str:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            announced = int(smtp.esmtp_features["size"])
            try:
                smtp.sendmail(
                    "a@x.example", [f"{publisher.body['inbox']}@x.example"], b"x" * (announced + 10)
                )
            except smtplib.SMTPException as exc:
                return type(exc).__name__
            return "taken"

    assert await asyncio.to_thread(too_big) in ("SMTPDataError", "SMTPSenderRefused")
