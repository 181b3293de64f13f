"""The campaign form's delivery: a few plain fields for the common cases (an HTTP post, with a ping
for bid pricing; an e-mail), or the API's JSON for everything else (headers, mappings, FTP,
webhooks, plugins).

Fields are named after the API's paths (`delivery.post.url`,
`delivery.ping.response.price`), so an error from the API's own checks lands beside the field it
names. A delivery the plain fields cannot say exactly is shown, and kept, as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from exchange.console.fields import text
from exchange.errors import field_invalid

KINDS = (
    ("http", "HTTP post (with a ping for bid pricing)"),
    ("email", "E-mail"),
    ("json", "JSON, as the API takes it (headers, mappings, FTP, webhooks…)"),
)
BODY_FORMATS = ("json", "form", "xml")
ANSWER_FORMATS = ("json", "xml", "text")
EMAIL_FORMATS = ("text", "adf")
STEP_PARTS = (
    "url",
    "format",
    "response.format",
    "response.accepted.path",
    "response.accepted.equals",
    "response.price",
)
FIELDS = (
    {"delivery", "delivery.kind", "delivery.to", "delivery.format"}
    | {f"delivery.post.{part}" for part in STEP_PARTS}
    | {f"delivery.ping.{part}" for part in STEP_PARTS}
)
# The API names a text answer's expression `regex`; the form asks for it where the path goes.
ERROR_ALIASES = {
    f"delivery.{step}.response.accepted.regex": f"delivery.{step}.response.accepted.path"
    for step in ("ping", "post")
}


def _step(form: Mapping[str, Any], prefix: str, *, ping: bool) -> dict[str, Any]:
    step: dict[str, Any] = {"url": text(form, f"{prefix}url")}
    step["format"] = text(form, f"{prefix}format") or "json"
    where = text(form, f"{prefix}response.accepted.path")
    equals = text(form, f"{prefix}response.accepted.equals")
    price = text(form, f"{prefix}response.price")
    if ping or where or equals or price:
        answer = text(form, f"{prefix}response.format") or "json"
        accepted: dict[str, Any] = {"regex" if answer == "text" else "path": where}
        if equals:
            accepted["equals"] = equals
        rule: dict[str, Any] = {"format": answer, "accepted": accepted}
        if price:
            rule["price"] = price
        step["response"] = rule
    return step


def delivery_of(form: Mapping[str, Any]) -> dict[str, Any] | None:
    """The delivery the form describes; None when it describes none (JSON chosen and left empty)."""
    kind = text(form, "delivery.kind") or "json"
    if kind == "http":
        delivery: dict[str, Any] = {"adapter": "http", "post": _step(form, "delivery.post.", ping=False)}
        if text(form, "delivery.ping.url"):
            delivery["ping"] = _step(form, "delivery.ping.", ping=True)
        return delivery
    if kind == "email":
        to = [address.strip() for address in text(form, "delivery.to").split(",") if address.strip()]
        return {
            "adapter": "email",
            "to": to[0] if len(to) == 1 else to,
            "format": text(form, "delivery.format") or "text",
        }
    if kind != "json":
        raise field_invalid("delivery.kind", "invalid_choice", "choose HTTP, e-mail or JSON")
    raw = text(form, "delivery")
    if not raw:
        return None
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise field_invalid("delivery", "malformed_json", f"delivery must be a JSON object: {exc}") from None
    if not isinstance(found, dict):
        raise field_invalid("delivery", "not_an_object", "delivery must be a JSON object")
    return found


def _step_values(step: Mapping[str, Any], prefix: str) -> dict[str, str]:
    values = {f"{prefix}url": str(step.get("url", "")), f"{prefix}format": str(step.get("format", ""))}
    rule = step.get("response") or {}
    accepted = rule.get("accepted") or {}
    values[f"{prefix}response.format"] = str(rule.get("format", "json"))
    values[f"{prefix}response.accepted.path"] = str(accepted.get("path") or accepted.get("regex") or "")
    if "equals" in accepted:
        values[f"{prefix}response.accepted.equals"] = str(accepted["equals"])
    if "price" in rule:
        values[f"{prefix}response.price"] = str(rule["price"])
    return values


def delivery_values(delivery: Mapping[str, Any]) -> dict[str, str]:
    """What the delivery fields show for a campaign's delivery: the plain fields when they say it
    exactly (read back, they make the same delivery), else JSON. The JSON is always there too."""
    values = {"delivery.kind": "json", "delivery": json.dumps(delivery, indent=2, ensure_ascii=False)}
    plain: dict[str, str] = {}
    if delivery.get("adapter") == "http" and isinstance(delivery.get("post"), dict):
        plain = {"delivery.kind": "http", **_step_values(delivery["post"], "delivery.post.")}
        if isinstance(delivery.get("ping"), dict):
            plain |= _step_values(delivery["ping"], "delivery.ping.")
    elif delivery.get("adapter") == "email":
        to = delivery.get("to")
        plain = {
            "delivery.kind": "email",
            "delivery.to": ", ".join(to) if isinstance(to, list) else str(to or ""),
            "delivery.format": str(delivery.get("format", "")),
        }
    if plain and delivery_of(plain) == dict(delivery):
        values |= plain
    return values
