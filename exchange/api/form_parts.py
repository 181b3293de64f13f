"""A hosted form's parts: its fields, its consent text, the token it carries and the script
that embeds it (the routes are in api/forms.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import msgspec
from sqlalchemy import select

from exchange.api.services import Services
from exchange.pipeline.intake import Source
from exchange.storage import tables as t
from exchange.verticals import FieldSpec, Vertical

FORM_LIFETIME = timedelta(hours=4)
DEFAULT_CONSENT = (
    "I agree to be contacted by phone, text message and e-mail about my request, including by "
    "automated means. Consent is not a condition of purchase."
)
# The contact fields a person types; the others (address, user agent, page, ids) are the
# exchange's to fill.
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "address", "city", "state", "zip")
_INPUT_HINTS: dict[str, tuple[str, str, str]] = {  # name: (input type, autocomplete, inputmode)
    "first_name": ("text", "given-name", ""),
    "last_name": ("text", "family-name", ""),
    "email": ("email", "email", "email"),
    "phone": ("tel", "tel", "tel"),
    "address": ("text", "street-address", ""),
    "city": ("text", "address-level2", ""),
    "state": ("text", "address-level1", ""),
    "zip": ("text", "postal-code", "numeric"),
}


class FormField(msgspec.Struct, frozen=True, kw_only=True):
    """One input of the form, as the template draws it."""

    name: str
    label: str
    required: bool
    kind: str  # an <input> type, or `select`
    autocomplete: str = ""
    inputmode: str = ""
    options: list[tuple[str, str]] = msgspec.field(default_factory=list)


class FormOf(msgspec.Struct, frozen=True, kw_only=True):
    """A publisher's form for one vertical: its source terms, fields and consent text."""

    source: Source
    vertical: Vertical
    fields: list[FormField]
    consent_text: str


def form_token(secret: bytes, publisher_id: str, vertical: str, expires: int) -> str:
    body = f"hosted-form:{publisher_id}:{vertical}:{expires}"
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{expires}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def token_holds(secret: bytes, publisher_id: str, vertical: str, sent: str | None, now: int) -> bool:
    """Whether a posted token is this form's own and not yet expired."""
    expires, _, _ = (sent or "").partition(".")
    # ASCII digits only: `isdigit` also takes `¹`, which int() refuses.
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12 or int(expires) <= now:
        return False
    expected = form_token(secret, publisher_id, vertical, int(expires))
    return hmac.compare_digest((sent or "").encode(), expected.encode())


def _label(name: str) -> str:
    return {"zip": "ZIP code", "email": "E-mail"}.get(name, name.replace("_", " ").capitalize())


def _field(spec: FieldSpec) -> FormField:
    kind, autocomplete, inputmode = _INPUT_HINTS.get(spec.name, ("text", "", ""))
    options: list[tuple[str, str]] = []
    if spec.type == "enum":
        kind, options = "select", [(v, v.replace("_", " ")) for v in spec.values or []]
    elif spec.type == "bool":
        kind, options = "select", [("yes", "Yes"), ("no", "No")]
    elif spec.type == "int":
        kind, inputmode = "text", "numeric"
    elif spec.type == "date":
        kind = "date"
    return FormField(
        name=spec.name,
        label=_label(spec.name),
        required=spec.required,
        kind=kind,
        autocomplete=autocomplete,
        inputmode=inputmode,
        options=options,
    )


def form_fields(vertical: Vertical) -> list[FormField]:
    """The contact fields first (as the vertical specifies them, if it does), then its own."""
    contact = [_field(vertical.spec(name) or FieldSpec(name=name, type="str")) for name in CONTACT_FIELDS]
    own = [_field(spec) for spec in vertical.fields if spec.name not in CONTACT_FIELDS]
    hidden = {"ip_address", "user_agent", "landing_page_url", "sub_id", "external_id"}
    return contact + [f for f in own if f.name not in hidden]


async def find_form(services: Services, publisher_id: str, vertical_key: str) -> FormOf | None:
    vertical = await services.verticals.get(vertical_key)
    if vertical is None:
        return None
    p = t.publishers.c
    query = select(p.id, p.default_vertical, p.payout, p.consent_text).where(p.id == publisher_id)
    async with services.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    # The form's inputs carry canonical and vertical names: the publisher's own field
    # mapping is for its own posts, not for this form.
    source = Source(publisher_id=row.id, default_vertical=row.default_vertical, payout=row.payout)
    consent = (row.consent_text or "").strip() or DEFAULT_CONSENT
    return FormOf(source=source, vertical=vertical, fields=form_fields(vertical), consent_text=consent)


def embed_script(form_url: str) -> str:
    """A script that puts the form, in a frame sized to it, where the script tag stands."""
    url = msgspec.json.encode(form_url).decode().replace("</", "<\\/")
    return (
        "(function () {\n"
        "  var here = document.currentScript;\n"
        "  var frame = document.createElement('iframe');\n"
        f"  frame.src = {url} + '?page_url=' + encodeURIComponent(location.href);\n"
        "  frame.title = 'Lead form';\n"
        "  frame.style.cssText = 'width:100%;max-width:40rem;border:0;min-height:40rem;';\n"
        "  window.addEventListener('message', function (event) {\n"
        "    if (event.source === frame.contentWindow && event.data && event.data.exchangeForm) {\n"
        "      frame.style.height = event.data.height + 'px';\n"
        "    }\n"
        "  });\n"
        "  here.parentNode.insertBefore(frame, here.nextSibling);\n"
        "})();\n"
    )
