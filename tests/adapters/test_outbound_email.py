"""E-mail delivery against a real SMTP server on loopback (aiosmtpd): ADF and text, and the
relay's answers (250 delivered, 4xx worth another try, 5xx refused)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from lxml import etree

from adapters.outbound.email import EmailAdapter
from exchange.errors import Invalid
from tests.processes import free_port

DTD = Path(__file__).resolve().parents[3] / "shared" / "samples" / "adf" / "adf_1_0.dtd"
LEAD: dict[str, Any] = {
    "lead_id": "lead_01",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+14155550100",
    "address": "1 Main St",
    "city": "Austin",
    "state": "TX",
    "zip": "73301",
    "vehicle_year": 2024,
    "vehicle_make": "Subaru",
    "vehicle_model": "Outback",
    "trade_in_make": "Honda",
    "trade_in_model": "Civic",
    "credit_band": "good",
    "grade": "A",
}


@dataclass
class Mailbox:
    """An SMTP server's handler: keeps what it takes, answers some recipients as told."""

    messages: list[EmailMessage] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        answer = self.answers.get(address)
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def relay() -> Iterator[tuple[str, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"127.0.0.1:{port}", mailbox
    finally:
        controller.stop()


def configured(adapter: EmailAdapter, **delivery: Any) -> Any:
    return adapter.configure({"adapter": "email", **delivery}, allow_private=False, field="delivery")


async def test_an_adf_lead_arrives_valid_and_whole(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    adapter = EmailAdapter(address, sender="leads@exchange.example")
    config = configured(adapter, to="sales@dealer.example", format="adf", vendor="Hill Motors")
    result = await adapter.send(adapter.request(config, "post", LEAD), key="dlv_7")
    assert (result.status, result.error, result.transient) == (250, None, False)
    [message] = mailbox.messages
    assert message["To"] == "sales@dealer.example"
    assert message["Message-ID"] == "<dlv_7@lead-exchange>"
    body = message.get_content().replace("\r\n", "\n")  # lines end in CRLF on the wire
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>')
    document = etree.fromstring(body.encode())
    prospect = document.find("prospect")
    assert prospect is not None
    assert prospect.findtext("id") == "lead_01"
    contact = prospect.find("customer/contact")
    assert contact is not None
    assert [n.text for n in contact.findall("name")] == ["Ada", "Lovelace"]
    assert contact.findtext("email") == "ada@example.com"
    assert contact.findtext("phone") == "+14155550100"
    assert contact.findtext("address/postalcode") == "73301"
    vehicles = prospect.findall("vehicle")
    assert [(v.get("interest"), v.findtext("make")) for v in vehicles] == [
        ("buy", "Subaru"),
        ("trade-in", "Honda"),
    ]
    assert prospect.findtext("vendor/vendorname") == "Hill Motors"
    assert "credit_band: good" in (prospect.findtext("customer/comments") or "")


async def test_the_adf_validates_against_the_dtd(relay: tuple[str, Mailbox]) -> None:
    if not DTD.exists():
        pytest.skip("the ADF DTD of the shared samples is not beside the project")
    address, mailbox = relay
    adapter = EmailAdapter(address)
    dtd = etree.DTD(str(DTD))
    for lead in (LEAD, {"lead_id": "lead_02", "phone": "5125550100", "zip": "78701"}):
        config = configured(adapter, to="sales@dealer.example")
        await adapter.send(adapter.request(config, "post", lead), key=None)
        document = etree.fromstring(mailbox.messages[-1].get_content().encode())
        assert dtd.validate(document), dtd.error_log.filter_from_errors()


async def test_a_text_lead_reads_as_labelled_lines_under_its_subject(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    adapter = EmailAdapter(address)
    config = configured(
        adapter,
        to=["a@dealer.example", "b@dealer.example"],
        format="text",
        subject="Lead: $first_name ${zip} $nope",
    )
    result = await adapter.send(adapter.request(config, "post", LEAD), key="dlv_8")
    assert result.status == 250
    [message] = mailbox.messages
    assert message["Subject"] == "Lead: Ada 73301 "
    assert message["To"] == "a@dealer.example, b@dealer.example"
    lines = message.get_content().splitlines()
    assert "First name: Ada" in lines and "Phone: +14155550100" in lines and "Lead id: lead_01" in lines


async def test_a_4xx_is_worth_another_try_and_a_5xx_is_not(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    mailbox.answers = {
        "busy@dealer.example": "451 4.3.0 try later",
        "gone@dealer.example": "550 5.1.1 no such user",
    }
    adapter = EmailAdapter(address)
    busy = await adapter.send(
        adapter.request(configured(adapter, to="busy@dealer.example"), "post", LEAD), key="k"
    )
    gone = await adapter.send(
        adapter.request(configured(adapter, to="gone@dealer.example"), "post", LEAD), key="k"
    )
    assert (busy.status, busy.transient) == (451, True) and busy.error
    assert (gone.status, gone.transient) == (550, False) and gone.error
    assert mailbox.messages == []


async def test_an_unreachable_relay_is_reported_not_raised() -> None:
    adapter = EmailAdapter(f"127.0.0.1:{free_port()}")
    result = await adapter.send(
        adapter.request(configured(adapter, to="x@dealer.example"), "post", LEAD), key="k"
    )
    assert result.status is None and result.transient and result.error


@pytest.mark.parametrize(
    ("relay_address", "delivery", "where", "code"),
    [
        (None, {"to": "x@dealer.example"}, "delivery.adapter", "not_configured"),
        ("127.0.0.1:25", {}, "delivery.to", "required"),
        ("127.0.0.1:25", {"to": "not an address"}, "delivery.to", "invalid_email"),
        ("127.0.0.1:25", {"to": "x@dealer.example", "format": "pdf"}, "delivery.format", "invalid"),
        (
            "127.0.0.1:25",
            {"to": "x@dealer.example", "cc": "y@dealer.example"},
            "delivery.cc",
            "unknown_field",
        ),
        (
            "127.0.0.1:25",
            {"to": "x@dealer.example", "subject": "a\r\nBcc: z@e.example"},
            "delivery.subject",
            "invalid",
        ),
        (
            "127.0.0.1:25",
            {"to": "x@dealer.example", "subject": "$1 off"},
            "delivery.subject",
            "invalid_template",
        ),
    ],
)
def test_unusable_settings_are_refused_naming_the_field(
    relay_address: str | None, delivery: dict[str, Any], where: str, code: str
) -> None:
    with pytest.raises(Invalid) as caught:
        configured(EmailAdapter(relay_address), **delivery)
    [error] = caught.value.errors
    assert (error.field, error.code) == (where, code)


def test_e_mail_carries_no_pings() -> None:
    adapter = EmailAdapter("127.0.0.1:25")
    with pytest.raises(ValueError):
        adapter.request(configured(adapter, to="x@dealer.example"), "ping", LEAD)
