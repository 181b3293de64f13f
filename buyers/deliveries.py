"""What a campaign's `delivery` holds, adapter by adapter: the shapes the spec teaches.

The API decodes `delivery` as an object and hands it to the adapter its `adapter` key names,
whose `configure` reads it (adapters/outbound): a plugin adapter brings keys nobody here
knows, and each adapter's refusals (their codes and field names) are part of the contract.
Decoding through a tagged union would refuse a plugin's delivery and reword those refusals,
so these Structs are not the decoder: they document the built-in adapters' settings as a union
on `adapter` (exchange/api/spec_schemas.py), with one open shape for plugins. A test holds
their examples to what the adapters accept.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

# The built-in adapters by name; a plugin may register any other.
BUILTIN_ADAPTERS = ("http", "email", "ftp", "webhook")
_URL_NOTE = (
    "A host that resolves to a loopback, private or link-local address is refused unless the "
    "exchange runs with EXCHANGE_ALLOW_PRIVATE_DESTINATIONS=1."
)
# Examples, shared by the fields that show them and the whole deliveries below.
_PING_RULE = {"format": "json", "accepted": {"path": "status", "equals": "ok"}, "price": "bid"}
_POST_RULE = {
    "format": "text",
    "accepted": {"regex": "^SUCCESS"},
    "reason": "(?<=reason=)\\w+",
    "reference": "(?<=id=)\\w+",
}
_PING = {
    "url": "https://api.buyer.example/ping",
    "format": "json",
    "timeout_ms": 300,
    "mapping": {"st": "state", "zip": "zip"},
    "response": _PING_RULE,
}
_POST = {
    "url": "https://api.buyer.example/post",
    "format": "form",
    "method": "POST",
    "timeout_ms": 5000,
    "mapping": {"FirstName": "first_name", "Phone": "phone", "Key": "=secret123"},
    "headers": {"X-Api-Key": "k-2f9c1e"},
    "response": _POST_RULE,
}
_BATCH = {"max_leads": 100, "every_minutes": 60}
_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy/xIq9S3ptGcbjQv1wXqtuPpxLZ8IWRmJPYv0KOhRB"

FieldMapping = Annotated[
    dict[str, str],
    msgspec.Meta(
        description=(
            "The buyer's names, in order, each given a canonical or vertical field name (a dotted "
            "name reaches inside one, e.g. `consent.text`) or `=literal`, sent as written (an API "
            "key, a source code); literals of 4 characters or more are masked in the delivery audit."
        ),
        examples=[{"FirstName": "first_name", "Phone": "phone", "Key": "=secret123"}],
    ),
]


class Accepted(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How to tell an accepting answer: a JSON path / XPath, or a regular expression."""

    path: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "Where the verdict is, for `json` (a dotted path of keys and list indexes; a key "
                "matches regardless of case when only one does) and `xml` (an XPath). The answer "
                "accepts when the value found equals `equals`, or, without `equals`, is true-ish."
            ),
            examples=["status", "/response/result"],
        ),
    ] = None
    regex: Annotated[
        str | None,
        msgspec.Meta(
            description="For `text` answers: the answer accepts when this regular expression matches.",
            examples=["^SUCCESS"],
        ),
    ] = None
    equals: Annotated[
        Any,
        msgspec.Meta(
            description=(
                "The value `path` must find for the answer to accept (compared as text, case aside, "
                'so 1 and "1" agree); omitted: any true-ish value accepts.'
            ),
            examples=["ok", True],
        ),
    ] = None


class ResponseRule(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How to read a buyer's answer: JSON dotted paths, XPath, or regular expressions. Whatever
    the rule says, an answer with a status outside 2xx never accepts."""

    format: Annotated[
        Literal["json", "xml", "text"],
        msgspec.Meta(
            description=(
                "How the answer is read: `json` by dotted paths, `xml` by XPath (an element's text "
                "is its value), `text` by regular expressions (the value is the first group "
                "when the expression has one, else the whole match)."
            ),
            examples=["json"],
        ),
    ]
    accepted: Annotated[
        Accepted,
        msgspec.Meta(
            description="What makes the answer an acceptance (for a ping: a bid).",
            examples=[_PING_RULE["accepted"], _POST_RULE["accepted"]],
        ),
    ]
    price: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "Where the price is, in currency units (12.50), read into cents. Required on a "
                "ping's rule: it is the bid."
            ),
            examples=["bid", "(?<=price=)[0-9.]+"],
        ),
    ] = None
    reason: Annotated[
        str | None,
        msgspec.Meta(
            description="Where a refusal's reason is; kept in the delivery audit.", examples=["message"]
        ),
    ] = None
    reference: Annotated[
        str | None,
        msgspec.Meta(
            description="Where the buyer's own id for the lead is; kept with the sale.",
            examples=["(?<=id=)\\w+", "data.lead_id"],
        ),
    ] = None


class HttpStep(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One HTTP request of an `http` delivery: the ping or the post."""

    url: Annotated[
        str,
        msgspec.Meta(
            description=f"Where the request goes: an http or https URL. {_URL_NOTE}",
            examples=["https://api.buyer.example/leads"],
        ),
    ]
    format: Annotated[
        Literal["json", "form", "xml"],
        msgspec.Meta(
            description=(
                "The body: `json` (an object), `form` (application/x-www-form-urlencoded "
                "name-value pairs) or `xml` (a `<lead>` of field elements)."
            ),
            examples=["form"],
        ),
    ] = "json"
    method: Annotated[
        Literal["POST", "PUT", "GET"],
        msgspec.Meta(
            description="The HTTP method; a GET carries a form body as its query string.", examples=["POST"]
        ),
    ] = "POST"
    timeout_ms: Annotated[
        int,
        msgspec.Meta(
            ge=10,
            le=60_000,
            description=(
                "How long the exchange waits for the whole answer, connecting included, in "
                "milliseconds; past it the attempt is a timeout (a post's is retried)."
            ),
            examples=[300, 5000],
        ),
    ] = 5000
    mapping: Annotated[
        FieldMapping | None,
        msgspec.Meta(
            description=(
                "Omitted: every field under its canonical name. A ping's mapping may not name a "
                "personal field (name, e-mail, phone, street address, IP): it is refused at save time."
            )
        ),
    ] = None
    headers: Annotated[
        dict[str, str],
        msgspec.Meta(
            description=(
                "Extra request headers (one line each); values of 4 characters or more are masked "
                "in the delivery audit."
            ),
            examples=[{"X-Api-Key": "k-2f9c1e"}],
        ),
    ] = msgspec.field(default_factory=dict)
    response: Annotated[
        ResponseRule | None,
        msgspec.Meta(
            description=(
                "How to read the buyer's answer. Required on a ping (it reads the bid); a post "
                "without one is accepted by any 2xx answer."
            ),
            examples=[_PING_RULE, _POST_RULE],
        ),
    ] = None


class HttpDelivery(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="adapter", tag="http"
):
    """Pings and posts over HTTP in the buyer's own format (JSON, form or XML)."""

    ping: Annotated[
        HttpStep | msgspec.UnsetType,
        msgspec.Meta(
            description=(
                "The anonymised offer that asks for a bid. Required with `bid` pricing and refused "
                "with `fixed` pricing; it never carries personal data, whatever its mapping."
            ),
            examples=[_PING],
        ),
    ] = msgspec.UNSET
    post: Annotated[
        HttpStep,
        msgspec.Meta(
            description=(
                "The whole lead, sent to the winner. The same `Idempotency-Key` header goes with "
                "every attempt of one post."
            ),
            examples=[_POST],
        ),
    ]


class EmailDelivery(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="adapter", tag="email"
):
    """Each lead as an e-mail, sent through the exchange's relay (EXCHANGE_SMTP_RELAY; without
    it this adapter is refused). Fixed pricing only: a post is accepted once the relay takes it."""

    to: Annotated[
        str | Annotated[list[str], msgspec.Meta(min_length=1, max_length=20)],
        msgspec.Meta(
            description="Who receives each lead: one address, or a list of up to 20.",
            examples=["leads@dealer.example", ["leads@dealer.example", "crm@dealer.example"]],
        ),
    ]
    format: Annotated[
        Literal["adf", "text"],
        msgspec.Meta(
            description=(
                "`adf`: the ADF XML document dealers' CRMs import; `text`: labelled lines for a "
                "person to read."
            ),
            examples=["adf"],
        ),
    ]
    subject: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=255,
            description=(
                "The subject, one line; `$field` or `${field}` puts in a field of the lead "
                "(`$lead_id`, `$state`…), `$$` a dollar sign."
            ),
            examples=["New lead $lead_id from $state"],
        ),
    ] = "New lead $lead_id"
    from_: Annotated[
        str | None,
        msgspec.Meta(
            description="The From address; omitted: the exchange's own sender.",
            examples=["leads@exchange.example"],
        ),
    ] = msgspec.field(default=None, name="from")


class FileBatching(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When queued leads go out as one file: at `max_leads` waiting or when the oldest has
    waited `every_minutes`, whichever comes first. Name at least one."""

    max_leads: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None,
        msgspec.Meta(description="A file goes out once this many leads wait.", examples=[100]),
    ] = None
    every_minutes: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=1440)] | None,
        msgspec.Meta(
            description="A file goes out once its oldest lead has waited this many minutes.", examples=[60]
        ),
    ] = None


class FtpDelivery(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="adapter", tag="ftp"
):
    """Leads as CSV files stored on the buyer's FTP or SFTP server, written under a temporary
    name and renamed once whole. Fixed pricing only: a post is accepted once the file is stored."""

    url: Annotated[
        str,
        msgspec.Meta(
            description=(
                "`ftp://user:password@host:port/dir` (the path is relative to the login directory; "
                "`%2F` makes it absolute) or `sftp://user:password@host/dir` (absolute; `/~/dir` is "
                f"in the home directory). The password is masked in the delivery audit. {_URL_NOTE}"
            ),
            examples=["sftp://dealer:s3cret@files.dealer.example/incoming"],
        ),
    ]
    format: Annotated[
        Literal["csv"],
        msgspec.Meta(
            description=(
                "A header row (the mapping's columns, or the lead's field names sorted), then one "
                "row per lead."
            ),
            examples=["csv"],
        ),
    ] = "csv"
    mapping: Annotated[
        FieldMapping | None,
        msgspec.Meta(description="The file's columns; omitted: every field of the lead under its own name."),
    ] = None
    batch: Annotated[
        FileBatching | None,
        msgspec.Meta(
            description=(
                "Omitted: one file per lead, `lead-{delivery id}.csv`. Given: the leads are queued "
                "and sent together, one file per batch."
            ),
            examples=[_BATCH],
        ),
    ] = None
    host_key: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "For sftp only: the server's public key, one OpenSSH line; any other key fails the "
                "post for good. Omitted: the exchange's known hosts decide."
            ),
            examples=[_HOST_KEY],
        ),
    ] = None
    timeout_ms: Annotated[
        int,
        msgspec.Meta(
            ge=1000,
            le=110_000,
            description="How long one upload may take, connecting included, in milliseconds.",
            examples=[60_000],
        ),
    ] = 60_000


class WebhookDelivery(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="adapter", tag="webhook"
):
    """The lead as JSON, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`) with the campaign's secret, which the creating answer returns once as
    `webhook_secret`. A 2xx takes the lead; a 4xx refuses it; a 429 or 5xx is tried again."""

    url: Annotated[
        str,
        msgspec.Meta(
            description=f"Where each lead is posted: an http or https URL. {_URL_NOTE}",
            examples=["https://hooks.buyer.example/leads"],
        ),
    ]
    timeout_ms: Annotated[
        int,
        msgspec.Meta(
            ge=10,
            le=60_000,
            description="How long the exchange waits for the answer, connecting included, in milliseconds.",
            examples=[10_000],
        ),
    ] = 10_000


class PluginDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery by an adapter a plugin registered (entry-point group `exchange.adapters`):
    its other keys are that adapter's own, checked by it when the campaign is saved."""

    adapter: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The name the plugin's adapter registered under; an adapter not installed here is "
                "refused (`unknown_adapter`)."
            ),
            examples=["crm_bridge"],
            extra_json_schema={"not": {"enum": list(BUILTIN_ADAPTERS)}},
        ),
    ]


# `delivery` as the spec documents it (exchange/api/spec_schemas.py reads this off the field).
DELIVERY_UNION = {
    "one_of": (HttpDelivery, EmailDelivery, FtpDelivery, WebhookDelivery, PluginDelivery),
    "discriminator": "adapter",
}
DELIVERY_EXAMPLES: list[dict[str, Any]] = [
    {"adapter": "http", "ping": _PING, "post": _POST},
    {
        "adapter": "email",
        "to": ["leads@dealer.example"],
        "format": "adf",
        "subject": "New lead $lead_id",
        "from": "leads@exchange.example",
    },
    {
        "adapter": "ftp",
        "url": "sftp://dealer:s3cret@files.dealer.example/incoming",
        "format": "csv",
        "mapping": {"First": "first_name", "Last": "last_name", "Phone": "phone", "Source": "=exchange"},
        "batch": _BATCH,
        "host_key": _HOST_KEY,
        "timeout_ms": 60_000,
    },
    {"adapter": "webhook", "url": "https://hooks.buyer.example/leads", "timeout_ms": 10_000},
]
