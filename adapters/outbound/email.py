"""The `email` delivery adapter: the lead as an ADF document or as text a person reads, sent
through the exchange's relay (EXCHANGE_SMTP_RELAY).

E-mail has no answer to read: a post is accepted once the relay takes the message (its 250).
A 4xx from the relay is worth another try, a 5xx fails the post. The Message-ID comes from the
delivery id, so a post sent again (a retry, a takeover) is the same message to the dealer.
"""

from __future__ import annotations

import asyncio
import re
import string
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Literal

import aiosmtplib
import msgspec
from email_validator import EmailNotValidError, validate_email

from adapters.outbound.adf import PROVIDER, adf_document, label, labelled_lines, plain
from adapters.outbound.protocol import Delivery, Request, Stage
from exchange.clock import Clock, utc_now
from exchange.errors import field_invalid

__all__ = ["DEFAULT_SUBJECT", "EmailAdapter", "EmailConfig", "text_body"]

EmailFormat = Literal["adf", "text"]
CONTENT_TYPES: dict[str, str] = {"adf": "application/xml", "text": "text/plain"}
DEFAULT_SUBJECT = "New lead $lead_id"
MAX_RECIPIENTS = 20
MAX_SUBJECT = 255
# SMTP's own limit on a line; a body within it goes out as written, not quoted-printable.
_MAX_LINE = 998
_KEYS = frozenset({"adapter", "to", "format", "subject", "from"})
# The contact first, in the order a person reads an address book entry.
_CONTACT = ("first_name", "last_name", "email", "phone", "address", "city", "state", "zip")
_TEXT_LAST = ("consent", "grade", "lead_id")
_TEXT_LABELS = {"email": "E-mail", "zip": "Zip"}
# What a Message-ID's left part may hold (RFC 5322 dot-atom text).
_NOT_ID_CHAR = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")
# Line breaks, tabs and control characters a header cannot hold: the subject stays one line.
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")


class EmailConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's e-mail delivery, as checked when it was saved."""

    to: tuple[str, ...]
    format: EmailFormat
    subject: str = DEFAULT_SUBJECT
    sender: str | None = None  # the delivery's `from`; None: the exchange's own address


class EmailAdapter:
    """Delivery by e-mail: `{"adapter": "email", "to", "format": "adf"|"text", "subject"?,
    "from"?}`. One connection per message: leads by e-mail are few, and a relay may close an
    idle connection at any time."""

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
        timeout_s: float = 30.0,
        vendor: str = PROVIDER,
        clock: Clock = utc_now,
    ) -> None:
        """`relay` is `host:port` (EXCHANGE_SMTP_RELAY), None when unset: campaigns by e-mail
        are then refused. `starttls` None upgrades when the relay offers it. `sender` is the
        envelope sender (bounces come back to it) and the From unless a delivery sets `from`.
        `vendor` names the exchange as the ADF document's vendor."""
        self.relay = relay or None
        self._host, self._port = _relay_address(relay) if relay else ("", None)
        self.username, self.password = username, password
        self.starttls = starttls
        self.sender = sender
        self.timeout_ms = max(10, round(timeout_s * 1000))
        self.vendor = vendor
        self.clock = clock

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> EmailConfig:
        """The settings checked, or a 422 naming the first wrong one. `allow_private` (tests,
        development) also lets addresses at `.test` domains through."""
        if not self.relay:
            raise field_invalid(
                f"{field}.adapter",
                "not_configured",
                "e-mail delivery is not available here: EXCHANGE_SMTP_RELAY is unset",
            )
        unknown = sorted(set(delivery) - _KEYS)
        if unknown:
            raise field_invalid(f"{field}.{unknown[0]}", "unknown_field", "not a key of an e-mail delivery")
        recipients = _recipients(delivery.get("to"), field=f"{field}.to", test=allow_private)
        format = delivery.get("format")
        if format not in CONTENT_TYPES:
            raise field_invalid(
                f"{field}.format",
                "required" if format is None else "invalid",
                "'adf' (the XML dealers' CRMs import) or 'text' (for a person to read)",
            )
        subject = delivery.get("subject")
        subject = DEFAULT_SUBJECT if subject is None else _subject_template(subject, field=f"{field}.subject")
        sender = delivery.get("from")
        if sender is not None:
            sender = _address(sender, field=f"{field}.from", test=allow_private)
        return EmailConfig(to=recipients, format=format, subject=subject, sender=sender)

    def request(
        self,
        config: EmailConfig,
        stage: Stage,
        fields: Mapping[str, Any],
        *,
        shared: dict[Any, Any] | None = None,
    ) -> Request:
        """The message for `fields`: its body, recipients, subject and From."""
        if stage != "post":
            raise ValueError("e-mail cannot carry a ping: nobody answers it")
        sender = config.sender or self.sender
        if shared is None:
            body = self._body(config.format, fields, sender)
        else:  # campaigns with the same format and From receive the same document
            key = (self.name, config.format, sender)
            body = shared.get(key)
            if body is None:
                body = shared[key] = self._body(config.format, fields, sender)
        return Request(
            adapter=self.name,
            target=", ".join(config.to),
            body=body,
            content_type=CONTENT_TYPES[config.format],
            options={
                "subject": render_subject(config.subject, fields),
                "from": sender,
                "format": config.format,
            },
            timeout_ms=self.timeout_ms,
        )

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        """Hand the message to the relay once, within the request's timeout all told."""
        started = time.perf_counter()

        def delivery(
            status: int | None, error: str | None = None, *, transient: bool = False, answer: str = ""
        ) -> Delivery:
            latency_ms = (time.perf_counter() - started) * 1000
            return Delivery(
                status=status,
                body=answer.encode("utf-8"),
                content_type="text/plain" if answer else None,
                latency_ms=latency_ms,
                error=error,
                transient=transient,
            )

        if not self.relay:
            return delivery(None, "no relay: EXCHANGE_SMTP_RELAY is unset")
        recipients = [address.strip() for address in request.target.split(",") if address.strip()]
        try:
            message = self._message(request, recipients, key)
        except ValueError as exc:  # a header a stored request should never have had
            return delivery(None, f"invalid request: {exc}")
        seconds = request.timeout_ms / 1000
        try:
            async with asyncio.timeout(seconds):
                refused, answer = await aiosmtplib.send(
                    message,
                    sender=self.sender,
                    recipients=recipients,
                    hostname=self._host,
                    port=self._port,
                    username=self.username,
                    password=self.password,
                    start_tls=self.starttls,
                    timeout=seconds,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: a 4xx among them may take it later.
            worst = min(exc.recipients, key=lambda r: (not 400 <= r.code < 500, r.code))
            return _refusal(delivery, worst.code, f"{worst.message} ({worst.recipient})")
        except aiosmtplib.SMTPResponseException as exc:
            return _refusal(delivery, exc.code, exc.message)
        except TimeoutError:
            return delivery(None, "timeout", transient=True)
        except aiosmtplib.SMTPConnectError as exc:
            if isinstance(exc.__cause__, ConnectionRefusedError):
                return delivery(None, f"connection refused: {self.relay}", transient=True)
            return delivery(None, f"connection failed: {self.relay}: {exc}", transient=True)
        except aiosmtplib.SMTPServerDisconnected as exc:
            return delivery(None, f"relay disconnected: {exc}", transient=True)
        except aiosmtplib.SMTPNotSupported as exc:  # STARTTLS or a login the relay does not offer
            return delivery(None, f"relay: {exc}")
        except aiosmtplib.SMTPException as exc:
            return delivery(None, f"smtp error: {exc}", transient=True)
        except OSError as exc:  # TLS handshake, a reset connection
            return delivery(None, f"network error: {exc.strerror or exc}", transient=True)
        notes = [answer, *(f"refused {address}: {r.code} {r.message}" for address, r in refused.items())]
        return delivery(250, answer="\n".join(notes))

    async def close(self) -> None:
        """Nothing held open: each message has its own connection."""

    def _body(self, format: EmailFormat, fields: Mapping[str, Any], sender: str) -> str:
        if format == "adf":
            return adf_document(fields, vendor=self.vendor, vendor_email=sender, now=self.clock())
        return text_body(fields)

    def _message(self, request: Request, recipients: list[str], key: str | None) -> EmailMessage:
        message = EmailMessage()  # the modern `email.policy.default`
        message["From"] = str(request.options.get("from") or self.sender)
        message["To"] = ", ".join(recipients)
        message["Subject"] = str(request.options.get("subject", ""))
        message["Date"] = format_datetime(self.clock())
        message["Message-ID"] = message_id(key)
        # ADF goes in the plain-text body: that is where dealers' CRMs look for it.
        message.set_content(
            request.body, subtype="plain", charset="utf-8", cte=_transfer_encoding(request.body)
        )
        return message


def text_body(fields: Mapping[str, Any]) -> str:
    """The lead as a person reads it: the contact first, then every other field, the lead id
    last; one `Label: value` line each."""
    values = plain(fields)
    lines = ["New lead", ""]
    for name in _CONTACT:
        if values.get(name) not in (None, ""):
            lines.append(f"{_TEXT_LABELS.get(name, label(name))}: {values[name]}")
    rest = [name for name in values if name not in _CONTACT and name not in _TEXT_LAST]
    lines += labelled_lines(values, [*rest, "consent", "grade"])
    if values.get("lead_id"):
        lines += ["", f"Lead id: {values['lead_id']}"]
    # A value over several lines (comments) stays under its label.
    return "\n".join(line.replace("\n", "\n  ") for line in lines) + "\n"


def render_subject(template: str, fields: Mapping[str, Any]) -> str:
    """The subject with each `$field` replaced: empty for a field the lead lacks, one line."""
    values = _SubjectFields(
        {name: value for name, value in plain(fields).items() if not isinstance(value, dict | list)}
    )
    subject = _SPACES.sub(" ", string.Template(template).substitute(values)).strip()
    return subject if len(subject) <= MAX_SUBJECT else subject[: MAX_SUBJECT - 1] + "…"


def message_id(key: str | None) -> str:
    """`<KEY@lead-exchange>`: every attempt of one delivery is the same message to its reader."""
    if key is None:
        return make_msgid(domain=PROVIDER)
    return f"<{_NOT_ID_CHAR.sub('_', key).strip('.') or '_'}@{PROVIDER}>"


class _SubjectFields(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return ""


def _refusal(delivery: Callable[..., Delivery], code: int, message: str) -> Delivery:
    """The relay's reply: a 4xx may pass later, a 5xx will not."""
    reply = f"{code} {message}".strip()
    if 400 <= code < 500:
        return delivery(code, f"relay: {reply}", transient=True, answer=reply)
    if 500 <= code < 600:
        return delivery(code, f"relay refused: {reply}", answer=reply)
    return delivery(code if code > 0 else None, f"relay: {reply}", transient=True, answer=reply)


def _recipients(to: Any, *, field: str, test: bool) -> tuple[str, ...]:
    addresses = [to] if isinstance(to, str) else to
    if not isinstance(addresses, list) or not addresses:
        raise field_invalid(field, "required", "an address, or a list of addresses, to send leads to")
    if len(addresses) > MAX_RECIPIENTS:
        raise field_invalid(field, "too_many", f"at most {MAX_RECIPIENTS} addresses")
    checked: dict[str, str] = {}
    for index, address in enumerate(addresses):
        where = field if isinstance(to, str) else f"{field}[{index}]"
        normalized = _address(address, field=where, test=test)
        checked.setdefault(normalized.lower(), normalized)
    return tuple(checked.values())


def _address(address: Any, *, field: str, test: bool) -> str:
    """One address, as the relay takes it: an international domain in its ASCII form. A name
    with non-ASCII letters before the @ is refused, as relays without SMTPUTF8 would."""
    if not isinstance(address, str):
        raise field_invalid(field, "invalid_email", "an e-mail address is a string")
    try:
        valid = validate_email(
            address, check_deliverability=False, allow_smtputf8=False, test_environment=test
        )
    except EmailNotValidError as exc:
        raise field_invalid(field, "invalid_email", f"{address!r} is not an e-mail address: {exc}") from None
    return valid.ascii_email or valid.normalized


def _subject_template(subject: Any, *, field: str) -> str:
    if not isinstance(subject, str) or not subject.strip():
        raise field_invalid(field, "invalid", "a subject is a non-empty string")
    if len(subject) > MAX_SUBJECT:
        raise field_invalid(field, "invalid", f"at most {MAX_SUBJECT} characters")
    if "\r" in subject or "\n" in subject:
        raise field_invalid(field, "invalid", "a subject is one line")
    if not string.Template(subject).is_valid():
        raise field_invalid(
            field,
            "invalid_template",
            "placeholders are $field or ${field} with a field name (letters, digits, '_'); "
            "write $$ for a dollar sign",
        )
    return subject


def _relay_address(relay: str) -> tuple[str, int | None]:
    """`host:port`, `[v6 address]:port`, or a bare host (the port aiosmtplib chooses)."""
    host, port = relay.strip(), ""
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if not host or (port and not port.isdigit()) or (port and not 0 < int(port) < 65536):
        raise ValueError(f"EXCHANGE_SMTP_RELAY is host:port, not {relay!r}")
    return host, int(port) if port else None


def _transfer_encoding(body: str) -> str | None:
    """As written when SMTP can carry it (aiosmtplib re-encodes 8-bit text for a relay without
    8BITMIME); otherwise the email package's choice of quoted-printable or base64."""
    if any(len(line) > _MAX_LINE for line in body.splitlines()):
        return None
    return "7bit" if body.isascii() else "8bit"
