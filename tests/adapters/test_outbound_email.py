"""E-mail delivery against a real SMTP server on loopback (aiosmtpd): the lead as ADF or as
text, and the relay's answers (250 delivered, 4xx worth another try, 5xx refused)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from lxml import etree

from adapters.outbound.email import EmailAdapter, EmailConfig
from adapters.outbound.protocol import DeliveryAdapter
from exchange.errors import Invalid
from exchange.types import Consent
from tests.processes import free_port
from tests.transports import Mailbox, relay

__all__ = ["relay"]  # the shared fixture

DTD = Path(__file__).resolve().parents[3] / "shared" / "samples" / "adf" / "adf_1_0.dtd"
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
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
    "vehicle_price_cents": 3_250_000,
    "trade_in_make": "Honda",
    "trade_in_model": "Civic",
    "trade_in_mileage": 61_000,
    "timeframe": "within 2 weeks",
    "credit_band": "good",
    "consent": Consent(text="I agree to be contacted", timestamp=datetime(2026, 3, 1, tzinfo=UTC)),
    "grade": "A",
}
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True)


def adapter_for(relay_address: str | None, **options: Any) -> EmailAdapter:
    return EmailAdapter(relay_address, clock=lambda: NOW, **options)


def configured(adapter: EmailAdapter, *, allow_private: bool = False, **delivery: Any) -> EmailConfig:
    settings = {"adapter": "email", "format": "adf", **delivery}
    return adapter.configure(settings, allow_private=allow_private, field="delivery")


def adf_of(message: EmailMessage) -> etree._Element:
    assert message.get_content_type() == "text/plain"  # where dealers' CRMs read ADF
    return etree.fromstring(message.get_content().encode(), SAFE_XML)


async def test_an_adf_lead_arrives_as_the_plain_body_of_its_message(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    adapter = adapter_for(address, sender="leads@exchange.example")
    config = configured(adapter, to="sales@dealer.example")
    request = adapter.request(config, "post", LEAD)
    result = await adapter.send(request, key="dlv_7")
    assert (result.status, result.error, result.transient) == (250, None, False)
    assert result.latency_ms > 0
    [message] = mailbox.messages
    assert message["To"] == "sales@dealer.example"
    assert message["From"] == "leads@exchange.example"
    assert message["Subject"] == "New lead lead_01"
    assert message["Message-ID"] == "<dlv_7@lead-exchange>"
    assert message["Date"].datetime == NOW
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith('<?xml version="1.0"?>\n<?adf version="1.0"?>\n<adf>')


async def test_the_adf_document_carries_the_lead_in_the_dtds_order(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    adapter = adapter_for(address)
    await adapter.send(adapter.request(configured(adapter, to="sales@dealer.example"), "post", LEAD), key="k")
    prospect = adf_of(mailbox.messages[0]).find("prospect")
    assert prospect is not None
    assert [child.tag for child in prospect] == [
        "id", "requestdate", "vehicle", "vehicle", "customer", "vendor", "provider"
    ]  # fmt: skip
    lead_id = prospect.find("id")
    assert lead_id is not None
    assert (lead_id.text, lead_id.get("sequence"), lead_id.get("source")) == ("lead_01", "1", "lead-exchange")
    assert datetime.fromisoformat(prospect.findtext("requestdate") or "") == NOW
    wanted, trade_in = prospect.findall("vehicle")
    assert (wanted.get("interest"), wanted.get("status")) == ("buy", "new")
    assert [(c.tag, c.text) for c in wanted] == [
        ("year", "2024"), ("make", "Subaru"), ("model", "Outback"), ("price", "32500.00")
    ]  # fmt: skip
    assert (trade_in.get("interest"), trade_in.findtext("make"), trade_in.findtext("odometer")) == (
        "trade-in",
        "Honda",
        "61000",
    )
    contact = prospect.find("customer/contact")
    assert contact is not None
    assert [(n.get("part"), n.text) for n in contact.findall("name")] == [
        ("first", "Ada"),
        ("last", "Lovelace"),
    ]
    assert (contact.findtext("email"), contact.findtext("phone")) == ("ada@example.com", "+14155550100")
    street = contact.find("address/street")
    assert street is not None and (street.get("line"), street.text) == ("1", "1 Main St")
    assert [(c.tag, c.text) for c in contact.findall("address/*")][1:] == [
        ("city", "Austin"), ("regioncode", "TX"), ("postalcode", "73301")
    ]  # fmt: skip
    comments = (prospect.findtext("customer/comments") or "").splitlines()
    assert {"Timeframe: within 2 weeks", "Credit band: good", "Grade: A"} <= set(comments)
    assert "Consent text: I agree to be contacted" in comments
    vendor_name = prospect.find("vendor/contact/name")
    assert vendor_name is not None and (vendor_name.get("part"), vendor_name.text) == (
        "full",
        "lead-exchange",
    )
    provider_name = prospect.find("provider/name")
    assert provider_name is not None
    assert (provider_name.get("part"), provider_name.text) == ("full", "lead-exchange")


async def test_the_adf_validates_against_the_dtd(relay: tuple[str, Mailbox]) -> None:
    if not DTD.exists():
        pytest.skip(f"no ADF DTD at {DTD}")
    address, mailbox = relay
    adapter = adapter_for(address)
    config = configured(adapter, to="sales@dealer.example")
    dtd = etree.DTD(str(DTD))
    leads = [
        LEAD,
        {"lead_id": "lead_02", "phone": "5125550100", "zip": "78701"},  # no name, no vehicle
        {"year": 1999, "make": "Chevrolet", "model": "Blazer", "last_name": "Doe", "email": "d@example.com"},
        {"first_name": "Bell\x07\x00e", "comments": "line\x0b one\nline two", "vendor_name": "Other"},
        {},
    ]
    for lead in leads:
        result = await adapter.send(adapter.request(config, "post", lead), key=None)
        assert result.status == 250
        document = adf_of(mailbox.messages[-1])
        assert dtd.validate(document), (lead, dtd.error_log.filter_from_errors())
    ada = adf_of(mailbox.messages[0]).find("prospect")
    assert ada is not None
    assert ada.findtext("customer/contact/name") == "Ada"
    assert ada.findtext("customer/contact/phone") == "+14155550100"
    assert ada.findtext("customer/contact/address/postalcode") == "73301"
    assert ada.findtext("id") == "lead_01"
    plain_names = adf_of(mailbox.messages[2]).find("prospect/vehicle")
    assert plain_names is not None
    assert [plain_names.findtext(tag) for tag in ("year", "make", "model")] == ["1999", "Chevrolet", "Blazer"]


def test_characters_xml_cannot_carry_are_left_out() -> None:
    adapter = adapter_for("127.0.0.1:25")
    lead = {"first_name": "Bell\x07\x00e", "comments": "one\x1b two", "lead_id": "lead\x0c_3"}
    body = adapter.request(configured(adapter, to="x@dealer.example"), "post", lead).body
    prospect = etree.fromstring(body.encode(), SAFE_XML).find("prospect")
    assert prospect is not None
    assert prospect.findtext("customer/contact/name") == "Belle"
    assert prospect.findtext("customer/comments") == "one two"
    assert prospect.findtext("id") == "lead_3"


async def test_a_text_lead_reads_as_labelled_lines_under_its_subject(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    adapter = adapter_for(address)
    config = configured(
        adapter,
        to=["a@dealer.example", "B@Dealer.example", "a@dealer.example"],
        format="text",
        subject="Lead: ${first_name} $last_name, $zip$missing",
    )
    request = adapter.request(config, "post", {**LEAD, "comments": "call after 5\nnot before"})
    assert (request.target, request.content_type) == ("a@dealer.example, B@dealer.example", "text/plain")
    result = await adapter.send(request, key="dlv_8")
    assert result.status == 250
    [message] = mailbox.messages
    assert message["Subject"] == "Lead: Ada Lovelace, 73301"
    assert message["To"] == "a@dealer.example, B@dealer.example"
    lines = message.get_content().splitlines()
    for line in (
        "First name: Ada",
        "Last name: Lovelace",
        "E-mail: ada@example.com",
        "Phone: +14155550100",
        "Zip: 73301",
        "Vehicle make: Subaru",
        "Vehicle price: 32,500.00",
        "Trade-in model: Civic",
        "Comments: call after 5",
        "  not before",
        "Grade: A",
        "Lead id: lead_01",
    ):
        assert line in lines, line
    assert lines.index("First name: Ada") < lines.index("Phone: +14155550100") < lines.index("Grade: A")
    assert lines[-1] == "Lead id: lead_01"


def test_the_subject_renders_fields_on_one_line_and_missing_ones_empty() -> None:
    adapter = adapter_for("127.0.0.1:25")
    config = configured(adapter, to="x@dealer.example", subject="$$5 lead from $city: $first_name $nope")
    lead = {"first_name": "Ada\r\nBcc: evil@example.com", "city": "Austin"}
    assert (
        adapter.request(config, "post", lead).options["subject"]
        == "$5 lead from Austin: Ada Bcc: evil@example.com"
    )
    default = configured(adapter, to="x@dealer.example")
    assert adapter.request(default, "post", {}).options["subject"] == "New lead"


def test_a_request_is_plain_data_saying_what_goes_out() -> None:
    adapter = adapter_for("127.0.0.1:25", timeout_s=12)
    assert isinstance(adapter, DeliveryAdapter)
    assert (adapter.name, adapter.can_ping, adapter.answers) == ("email", False, False)
    config = configured(adapter, to="x@dealer.example", **{"from": "Leads@Exchange.example"})
    request = adapter.request(config, "post", LEAD)
    assert (request.adapter, request.target, request.content_type) == (
        "email",
        "x@dealer.example",
        "application/xml",
    )
    assert request.options == {
        "subject": "New lead lead_01",
        "from": "Leads@exchange.example",
        "format": "adf",
    }
    assert request.timeout_ms == 12_000
    assert request.audit("dlv_1")["subject"] == "New lead lead_01"
    shared: dict[Any, Any] = {}
    assert adapter.request(config, "post", LEAD, shared=shared).body == request.body
    assert adapter.request(config, "post", {}, shared=shared).body == request.body  # built once per payload
    with pytest.raises(ValueError):
        adapter.request(config, "ping", LEAD)


@dataclass
class Envelopes:
    """A relay's handler that keeps each message with its envelope sender."""

    received: list[tuple[str, EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((envelope.mail_from, message))  # type: ignore[arg-type]
        return "250 OK"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"exchange", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers (235 or 535)


@pytest.fixture
def guarded_relay() -> Iterator[tuple[str, Envelopes]]:
    """A relay that takes mail only after a login (in the clear: loopback, no certificate)."""
    handler = Envelopes()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_login,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield f"127.0.0.1:{port}", handler
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_the_relay_login_and_the_envelope_sender(guarded_relay: tuple[str, Envelopes]) -> None:
    address, handler = guarded_relay
    adapter = adapter_for(address, username="exchange", password="s3cret", sender="bounces@exchange.example")
    config = configured(adapter, to="x@dealer.example", format="text", **{"from": "leads@exchange.example"})
    result = await adapter.send(adapter.request(config, "post", LEAD), key="k")
    assert (result.status, result.error) == (250, None)
    [(envelope_sender, message)] = handler.received
    assert (envelope_sender, message["From"]) == ("bounces@exchange.example", "leads@exchange.example")
    refused = adapter_for(address, username="exchange", password="wrong")
    result = await refused.send(refused.request(config, "post", LEAD), key="k")
    assert (result.status, result.transient) == (535, False)
    assert result.error and result.error.startswith("relay refused: 535")


async def test_a_message_id_comes_from_the_delivery_key(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    adapter = adapter_for(address)
    request = adapter.request(configured(adapter, to="x@dealer.example"), "post", LEAD)
    for key in ("dlv_9", "dlv_9", "odd key<@>", None, None):
        assert (await adapter.send(request, key=key)).status == 250
    ids = [message["Message-ID"] for message in mailbox.messages]
    assert ids[:3] == ["<dlv_9@lead-exchange>", "<dlv_9@lead-exchange>", "<odd_key___@lead-exchange>"]
    assert ids[3] != ids[4] and all(i.startswith("<") and i.endswith("@lead-exchange>") for i in ids[3:])


async def test_a_4xx_is_worth_another_try_and_a_5xx_is_not(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    mailbox.answers = {
        "busy@dealer.example": "451 4.3.0 try later",
        "gone@dealer.example": "550 5.1.1 no such user",
    }
    adapter = adapter_for(address)
    busy = await adapter.send(
        adapter.request(configured(adapter, to="busy@dealer.example"), "post", LEAD), key="k"
    )
    gone = await adapter.send(
        adapter.request(configured(adapter, to="gone@dealer.example"), "post", LEAD), key="k"
    )
    assert (busy.status, busy.transient) == (451, True)
    assert busy.error and busy.error.startswith("relay: 451 4.3.0 try later")
    assert (gone.status, gone.transient) == (550, False)
    assert gone.error and gone.error.startswith("relay refused: 550 5.1.1 no such user")
    both = configured(adapter, to=["gone@dealer.example", "busy@dealer.example"])
    either = await adapter.send(adapter.request(both, "post", LEAD), key="k")
    assert (either.status, either.transient) == (451, True)  # the busy one may take it later
    assert mailbox.messages == []


async def test_a_message_one_recipient_took_is_delivered(relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    mailbox.answers = {"gone@dealer.example": "550 5.1.1 no such user"}
    adapter = adapter_for(address)
    config = configured(adapter, to=["gone@dealer.example", "sales@dealer.example"])
    result = await adapter.send(adapter.request(config, "post", LEAD), key="k")
    assert (result.status, result.error) == (250, None)
    assert b"refused gone@dealer.example: 550" in result.body
    assert len(mailbox.messages) == 1


async def test_an_unreachable_relay_is_reported_not_raised() -> None:
    adapter = adapter_for(f"127.0.0.1:{free_port()}")
    result = await adapter.send(
        adapter.request(configured(adapter, to="x@dealer.example"), "post", LEAD), key="k"
    )
    assert (result.status, result.transient) == (None, True)
    assert result.error and result.error.startswith("connection refused")


@pytest.fixture
async def silent_relay() -> AsyncIterator[str]:
    """A server that takes the connection and never says a word."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()


async def test_a_silent_relay_times_out_within_the_requests_bound(silent_relay: str) -> None:
    adapter = adapter_for(silent_relay, timeout_s=0.3)
    request = adapter.request(configured(adapter, to="x@dealer.example"), "post", LEAD)
    result = await adapter.send(request, key="k")
    assert (result.status, result.error, result.transient) == (None, "timeout", True)
    assert 250 <= result.latency_ms < 2000


TO = "x@dealer.example"


@pytest.mark.parametrize(
    ("delivery", "where", "code"),
    [
        ({}, "delivery.to", "required"),
        ({"to": []}, "delivery.to", "required"),
        ({"to": "not an address"}, "delivery.to", "invalid_email"),
        ({"to": [TO, "y@"]}, "delivery.to[1]", "invalid_email"),
        ({"to": "x@dealer.test"}, "delivery.to", "invalid_email"),
        ({"to": [f"x{n}@dealer.example" for n in range(21)]}, "delivery.to", "too_many"),
        ({"to": TO, "format": "pdf"}, "delivery.format", "invalid"),
        ({"to": TO, "format": None}, "delivery.format", "required"),
        ({"to": TO, "cc": "y@dealer.example"}, "delivery.cc", "unknown_field"),
        ({"to": TO, "subject": "a\r\nBcc: z@e.example"}, "delivery.subject", "invalid"),
        ({"to": TO, "subject": "$1 off"}, "delivery.subject", "invalid_template"),
        ({"to": TO, "subject": "${consent.text}"}, "delivery.subject", "invalid_template"),
        ({"to": TO, "subject": 7}, "delivery.subject", "invalid"),
        ({"to": TO, "from": "Leads <l@e.example>"}, "delivery.from", "invalid_email"),
    ],
)
def test_unusable_settings_are_refused_naming_the_field(
    delivery: dict[str, Any], where: str, code: str
) -> None:
    with pytest.raises(Invalid) as caught:
        configured(adapter_for("127.0.0.1:25"), **delivery)
    [error] = caught.value.errors
    assert (error.field, error.code) == (where, code)
    assert caught.value.status_code == 422 and caught.value.message.startswith(where)


def test_without_a_relay_e_mail_deliveries_are_refused_saying_why() -> None:
    with pytest.raises(Invalid) as caught:
        configured(adapter_for(None), to=TO)
    [error] = caught.value.errors
    assert (error.field, error.code) == ("delivery.adapter", "not_configured")
    assert "EXCHANGE_SMTP_RELAY" in error.message


def test_test_domains_pass_where_private_destinations_do() -> None:
    adapter = adapter_for("127.0.0.1:25")
    assert configured(adapter, allow_private=True, to="x@dealer.test").to == ("x@dealer.test",)


def test_a_relay_setting_that_is_not_host_and_port_fails_at_start() -> None:
    with pytest.raises(ValueError, match="EXCHANGE_SMTP_RELAY"):
        EmailAdapter("smtp.example:smtp")
    assert EmailAdapter("[::1]:2525").relay == "[::1]:2525"
