"""The `email` delivery adapter: the lead as an ADF document or a readable text, through the relay.

`delivery = {"adapter": "email", "to": "leads@dealer.example" (or a list), "format": "adf"|"text",
"subject"?: "New lead: $first_name $last_name", "vendor"?: "Dealer name"}`, sent through
`EXCHANGE_SMTP_RELAY` with aiosmtplib (STARTTLS and a login from settings).

A post is accepted once the relay takes the message (its 250): e-mail has no answer to read.
A 4xx from the relay is worth another try; a 5xx fails the post. The Message-ID comes from the
delivery id, so a post sent again after a takeover is the same message to the dealer's CRM.
"""

from __future__ import annotations

import string
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal

import aiosmtplib
import msgspec
from email_validator import EmailNotValidError, validate_email

from adapters.outbound.adf import adf_document
from adapters.outbound.protocol import Delivery, Request, Stage
from exchange.errors import field_invalid

DEFAULT_SUBJECT = "New lead $lead_id"
PROVIDER_DOMAIN = "lead-exchange"
# The labels of the text format, in the order a person reads them; other fields follow.
_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "E-mail",
    "phone": "Phone",
    "address": "Address",
    "city": "City",
    "state": "State",
    "zip": "Zip",
}


class EmailConfig(msgspec.Struct, frozen=True, kw_only=True):
    to: list[str]
    format: Literal["adf", "text"] = "adf"
    subject: str = DEFAULT_SUBJECT
    vendor: str = "Dealer"


class EmailAdapter:
    name = "email"
    can_ping = False
    answers = False  # the relay's 250 is the delivery

    def __init__(
        self,
        relay: str | None,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool | None = None,
        sender: str = "leads@lead-exchange.invalid",
    ) -> None:
        self.relay = relay
        self.username, self.password = username, password
        self.starttls = starttls
        self.sender = sender

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> EmailConfig:
        if not self.relay:
            raise field_invalid(
                f"{field}.adapter",
                "not_configured",
                "e-mail delivery needs EXCHANGE_SMTP_RELAY (unset)",
            )
        unknown = set(delivery) - {"adapter", "to", "format", "subject", "vendor"}
        if unknown:
            raise field_invalid(
                f"{field}.{sorted(unknown)[0]}", "unknown_field", "not a key of an e-mail delivery"
            )
        to = delivery.get("to")
        recipients = [to] if isinstance(to, str) else to
        if not recipients or not isinstance(recipients, list):
            raise field_invalid(f"{field}.to", "required", "an address, or a list of them, to send leads to")
        checked = []
        for address in recipients:
            try:
                checked.append(validate_email(str(address), check_deliverability=False).normalized)
            except EmailNotValidError as exc:
                raise field_invalid(f"{field}.to", "invalid_email", f"{address!r}: {exc}") from None
        try:
            config = msgspec.convert({**_without(delivery, "adapter"), "to": checked}, EmailConfig)
        except msgspec.ValidationError as exc:
            raise field_invalid(f"{field}.{_where(exc)}", "invalid", str(exc)) from None
        for text, where in ((config.subject, "subject"), (config.vendor, "vendor")):
            if "\r" in text or "\n" in text:
                raise field_invalid(f"{field}.{where}", "invalid", "a line break")
        template = string.Template(config.subject)
        if not template.is_valid():
            raise field_invalid(f"{field}.subject", "invalid_template", "use $field or ${field} placeholders")
        return config

    def request(
        self,
        config: EmailConfig,
        stage: Stage,
        fields: Mapping[str, Any],
        *,
        shared: dict[Any, Any] | None = None,
    ) -> Request:
        if stage != "post":
            raise ValueError("e-mail carries posts only")
        values = {k: "" if v is None else str(v) for k, v in fields.items() if not isinstance(v, dict | list)}
        subject = string.Template(config.subject).safe_substitute(_Blank(values))
        if config.format == "adf":
            body = adf_document(fields, vendor=config.vendor, vendor_email=config.to[0])
            content_type = "application/xml"
        else:
            body = text_body(fields)
            content_type = "text/plain"
        return Request(
            adapter=self.name,
            target=", ".join(config.to),
            body=body,
            content_type=content_type,
            options={"subject": subject, "format": config.format},
            timeout_ms=30_000,
        )

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        started = time.perf_counter()

        def result(status: int | None, error: str | None = None, *, transient: bool = False) -> Delivery:
            latency_ms = (time.perf_counter() - started) * 1000
            return Delivery(status=status, latency_ms=latency_ms, error=error, transient=transient)

        if not self.relay:
            return result(None, "no relay: EXCHANGE_SMTP_RELAY is unset")
        host, _, port = self.relay.rpartition(":")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = request.target
        message["Subject"] = str(request.options.get("subject", ""))
        message["Date"] = formatdate(localtime=False)
        if key is not None:
            message["Message-ID"] = f"<{key}@{PROVIDER_DOMAIN}>"
        # Dealer CRMs read the ADF from the message's plain-text body.
        message.set_content(request.body, subtype="plain", charset="utf-8")
        try:
            await aiosmtplib.send(
                message,
                hostname=host or self.relay,
                port=int(port) if port.isdigit() else 25,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=request.timeout_ms / 1000,
            )
        except aiosmtplib.SMTPResponseException as exc:
            return result(exc.code, f"relay: {exc.code} {exc.message}", transient=400 <= exc.code < 500)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code = min((e.code for e in exc.recipients), default=550)
            return result(code, f"relay refused the recipients: {exc}", transient=400 <= code < 500)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return result(None, f"relay unreachable: {exc}", transient=True)
        # Taken for at least one recipient (all refused raises above): delivered.
        return result(250)

    async def close(self) -> None:
        pass


def text_body(fields: Mapping[str, Any]) -> str:
    """A lead a person reads: labelled lines, contact first, then every other field."""
    lines = ["A new lead", ""]
    for name, label in _LABELS.items():
        if fields.get(name) not in (None, ""):
            lines.append(f"{label}: {fields[name]}")
    others = [n for n in sorted(fields) if n not in _LABELS and n not in ("lead_id", "consent", "grade")]
    for name in others:
        value = fields[name]
        if value not in (None, "", [], {}):
            lines.append(f"{name.replace('_', ' ').capitalize()}: {value}")
    if fields.get("grade"):
        lines.append(f"Grade: {fields['grade']}")
    lines += ["", f"Lead id: {fields.get('lead_id', '')}"]
    return "\n".join(lines) + "\n"


class _Blank(dict[str, str]):
    """A field the lead lacks renders empty in the subject."""

    def __missing__(self, key: str) -> str:
        return ""


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _where(exc: msgspec.ValidationError) -> str:
    marker = "at `$."
    text = str(exc)
    return text.split(marker, 1)[1].split("`", 1)[0] if marker in text else "adapter"
