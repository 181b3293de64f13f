"""Publishers: sources of leads, their payout terms, field mapping and consent text."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import JSONBody
from sqlalchemy import select, update

from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.keys import Name, first_key_name, insert_key
from exchange.api.params import PageCursor, PageLimit, PublisherId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.paging import newest_first
from exchange.types import GRADE_KEYS, Page, documented
from exchange.verticals import GRADES

Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
MAPPING_TARGET = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
# A publisher's own field name, and the canonical or vertical field (a or a.b) it stands for.
FieldMapping = dict[
    Annotated[str, msgspec.Meta(min_length=1)], Annotated[str, msgspec.Meta(pattern=MAPPING_TARGET.pattern)]
]


class RevsharePayout(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="revshare"):
    percent: Annotated[
        Percent,
        msgspec.Meta(
            description=(
                "The publisher's share of each sale's price, 0 to 100: it earns `floor(price × "
                "percent / 100)` cents; the rest is the exchange's margin."
            ),
            examples=[70],
        ),
    ]


class FixedPayout(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="fixed"):
    cents_by_grade: Annotated[
        # _check_terms names a bad grade or amount: documented, not decoded (exchange/types.py)
        dict[str, Annotated[int, documented(minimum=0)]],
        GRADE_KEYS,
        msgspec.Meta(
            description=(
                "What the publisher earns per sold lead of each grade, in cents; a grade not named earns 0."
            ),
            examples=[{"A": 1500, "B": 1000, "C": 500}],
        ),
    ]


Payout = RevsharePayout | FixedPayout


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """This publisher's requests per second, and how many more it may send at once."""

    per_second: Annotated[
        float,
        msgspec.Meta(gt=0, le=100_000),
        msgspec.Meta(
            description=("Requests per second this publisher may send, on average (above 0, up to 100000)."),
            examples=[20.0],
        ),
    ]
    burst: Annotated[
        int,
        msgspec.Meta(ge=0, le=1_000_000),
        msgspec.Meta(
            description="How many requests beyond the rate it may send at once before it gets 429.",
            examples=[40],
        ),
    ] = 0


class PublisherIn(msgspec.Struct, frozen=True, kw_only=True):
    name: Annotated[
        Name,
        msgspec.Meta(
            description="The publisher's name (1 to 200 characters); its e-mail inbox is made from it.",
            examples=["Quote Leads LLC"],
        ),
    ]
    payout: Annotated[
        Payout,
        msgspec.Meta(
            description=(
                "How it is paid per sold lead: `revshare` (a percentage of the price) or "
                "`fixed` (cents by grade)."
            ),
        ),
    ]
    default_vertical: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The vertical of its e-mailed and uploaded leads that name none; null: they must name one."
            ),
            examples=["auto_insurance"],
        ),
    ] = None
    field_mapping: Annotated[
        FieldMapping,
        msgspec.Meta(
            description=(
                "The publisher's own field names, each given the canonical or vertical field it "
                "stands for (`consent.text` reaches inside one): its leads are renamed before "
                "they are read."
            ),
            examples=[{"FirstName": "first_name", "zip_code": "zip", "optin_text": "consent.text"}],
        ),
    ] = msgspec.field(default_factory=dict)
    consent_text: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The consent statement its hosted lead form shows beside the checkbox; null: none set."
            ),
            examples=["I agree to be contacted by phone and e-mail about insurance quotes."],
        ),
    ] = None
    rate_limit: Annotated[
        RateLimit | None,
        msgspec.Meta(
            description=(
                "Its own request rate; null: the exchange's default (EXCHANGE_RATE_PER_SECOND, "
                "EXCHANGE_RATE_BURST)."
            ),
        ),
    ] = None


class PublisherPatch(msgspec.Struct, frozen=True, kw_only=True):
    name: Annotated[
        Name | None,
        msgspec.Meta(description="A new name; omitted or null: unchanged.", examples=["Quote Leads LLC"]),
    ] = None
    payout: Annotated[
        Payout | None,
        msgspec.Meta(description="New payout terms, for leads sold from now on; omitted or null: unchanged."),
    ] = None
    default_vertical: Annotated[
        str | None,
        msgspec.Meta(
            description="A new default vertical; omitted or null: unchanged.", examples=["auto_insurance"]
        ),
    ] = None
    field_mapping: Annotated[
        FieldMapping | None,
        msgspec.Meta(
            description=(
                "A new field mapping, replacing the old one whole; omitted or null: unchanged. "
                "The publisher's own field names, each given the canonical or vertical field it "
                "stands for (`consent.text` reaches inside one): its leads are renamed before "
                "they are read."
            ),
            examples=[{"FirstName": "first_name", "zip_code": "zip", "optin_text": "consent.text"}],
        ),
    ] = None
    consent_text: Annotated[
        str | None,
        msgspec.Meta(
            description="A new consent statement for its lead form; omitted or null: unchanged.",
            examples=["I agree to be contacted by phone and e-mail about insurance quotes."],
        ),
    ] = None
    rate_limit: Annotated[
        RateLimit | None, msgspec.Meta(description="A new request rate; omitted or null: unchanged.")
    ] = None


class PublisherOut(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description="The publisher's id; also its ledger account's and its FTP login.",
            examples=["pub_01jp9zn4frpfzrv0peeg471ejb"],
        ),
    ]
    name: Annotated[str, msgspec.Meta(description="The publisher's name.", examples=["Quote Leads LLC"])]
    payout: Annotated[Payout, msgspec.Meta(description="How it is paid per sold lead.")]
    default_vertical: Annotated[
        str | None,
        msgspec.Meta(
            description="The vertical of its e-mailed and uploaded leads that name none; null: none.",
            examples=["auto_insurance"],
        ),
    ]
    field_mapping: Annotated[
        dict[str, str],
        msgspec.Meta(
            description=(
                "The publisher's own field names, each given the canonical or vertical field it "
                "stands for (`consent.text` reaches inside one): its leads are renamed before "
                "they are read."
            ),
            examples=[{"FirstName": "first_name", "zip_code": "zip", "optin_text": "consent.text"}],
        ),
    ]
    consent_text: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The consent statement its hosted lead form shows beside the checkbox; null: none set."
            ),
            examples=["I agree to be contacted by phone and e-mail about insurance quotes."],
        ),
    ]
    # None: the exchange's default (EXCHANGE_RATE_PER_SECOND, EXCHANGE_RATE_BURST).
    rate_limit: Annotated[
        RateLimit | None,
        msgspec.Meta(
            description=(
                "Its own request rate; null: the exchange's default (EXCHANGE_RATE_PER_SECOND, "
                "EXCHANGE_RATE_BURST)."
            ),
        ),
    ]
    inbox: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The local part of the e-mail address that takes its leads: mail to `INBOX@` "
                "any domain the exchange receives for (or `INBOX+VERTICAL@`)."
            ),
            examples=["quote-leads-llc-4f2a9c"],
        ),
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was created (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]


class PublisherCreated(PublisherOut, frozen=True, kw_only=True):
    api_key: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The publisher's first API key (role `publisher`), also its FTP password: shown "
                "this once, stored only as a hash."
            ),
            examples=["lx_4a1ZwH3RXOL2CTz4_eDDFA5b1BlwJASRlURIrdFY"],
        ),
    ]
    key_id: Annotated[
        str,
        msgspec.Meta(
            description="The first key's id: revoke it with `DELETE /v1/keys/{id}` (never the key itself).",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]


class PublisherPage(Page, kw_only=True):
    items: Annotated[
        list[PublisherOut], msgspec.Meta(description="The publishers on this page, newest first.")
    ]


def _check_terms(
    services_verticals: set[str],
    payout: Payout | None,
    default_vertical: str | None,
    mapping: dict[str, str] | None,
) -> None:
    if isinstance(payout, FixedPayout):
        for grade, cents in payout.cents_by_grade.items():
            if grade not in GRADES:
                raise field_invalid(f"payout.cents_by_grade.{grade}", "invalid_value", "grade must be A-D")
            if cents < 0:
                raise field_invalid(f"payout.cents_by_grade.{grade}", "out_of_range", "must be >= 0")
    if default_vertical is not None and default_vertical not in services_verticals:
        raise field_invalid("default_vertical", "unknown_vertical", f"no vertical {default_vertical!r}")
    for theirs, ours in (mapping or {}).items():
        if not theirs or not MAPPING_TARGET.match(ours):
            raise field_invalid(
                f"field_mapping.{theirs}",
                "invalid_value",
                f"{ours!r} is not a field name (a or a.b)",
            )


def _inbox(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "publisher"
    return f"{slug}-{secrets.token_hex(3)}"


def _out(row: Any) -> PublisherOut:
    return PublisherOut(
        id=row.id,
        name=row.name,
        payout=msgspec.convert(row.payout, Payout),
        default_vertical=row.default_vertical,
        field_mapping=row.field_mapping,
        consent_text=row.consent_text,
        rate_limit=msgspec.convert(row.rate_limit, RateLimit) if row.rate_limit else None,
        inbox=row.inbox,
        created_at=row.created_at,
    )


async def read_publisher(services: Services, publisher_id: str) -> PublisherOut:
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.publishers).where(t.publishers.c.id == publisher_id))).first()
    if row is None:
        raise NotFound(f"no publisher {publisher_id}")
    return _out(row)


async def create_publisher_for(
    services: Services, principal: Principal, data: PublisherIn
) -> PublisherCreated:
    """A new publisher and its first key, audited as made by `principal` (an operator)."""
    keys = {v.key for v in await services.verticals.all()}
    _check_terms(keys, data.payout, data.default_vertical, data.field_mapping)
    publisher_id = new_id("pub")
    now = services.clock()
    inbox = _inbox(data.name)
    async with services.engine.begin() as conn:
        await conn.execute(
            t.publishers.insert().values(
                id=publisher_id,
                name=data.name,
                payout=msgspec.to_builtins(data.payout),
                default_vertical=data.default_vertical,
                inbox=inbox,
                field_mapping=data.field_mapping,
                consent_text=data.consent_text,
                rate_limit=msgspec.to_builtins(data.rate_limit),
                created_at=now,
            )
        )
        await record_change(
            conn,
            principal,
            action="publisher.create",
            entity_type="publisher",
            entity_id=publisher_id,
            after={**msgspec.to_builtins(data), "inbox": inbox, "created_at": now},
            at=now,
        )
    key = await insert_key(
        services,
        role="publisher",
        name=first_key_name(data.name),
        publisher_id=publisher_id,
        actor=principal,
    )
    out = await read_publisher(services, publisher_id)
    return PublisherCreated(**msgspec.structs.asdict(out), api_key=key.api_key, key_id=key.id)


async def publishers_page(services: Services, limit: int, cursor: str | None) -> PublisherPage:
    """A page of publishers, newest first."""
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(
            conn, select(t.publishers), t.publishers.c.id, limit=limit, cursor=cursor
        )
    return PublisherPage(items=[_out(row) for row in rows], next_cursor=next_cursor)


class PublisherController(Controller):
    path = "/v1/publishers"
    tags = ["accounts"]

    @post(
        "/",
        summary="Create a publisher (operator); answers its first API key and e-mail inbox",
        opt=roles("operator"),
    )
    async def create_publisher(
        self,
        data: JSONBody[PublisherIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PublisherCreated:
        return await create_publisher_for(services, principal, data)

    @get("/", summary="Publishers, newest first (operator, finance)", opt=roles("operator", "finance"))
    async def list_publishers(
        self, services: ServicesDep, limit: PageLimit = 100, cursor: PageCursor = None
    ) -> PublisherPage:
        return await publishers_page(services, limit, cursor)

    @get(
        "/{publisher_id:str}",
        summary="A publisher (operator, finance, or the publisher itself)",
        opt=roles("operator", "finance", "publisher"),
    )
    async def get_publisher(
        self,
        publisher_id: PublisherId,
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PublisherOut:
        if principal.role == "publisher" and principal.publisher_id != publisher_id:
            raise NotFound(f"no publisher {publisher_id}")
        return await read_publisher(services, publisher_id)

    @patch(
        "/{publisher_id:str}",
        summary="Change a publisher's terms, mapping or consent text (operator)",
        opt=roles("operator"),
    )
    async def update_publisher(
        self,
        publisher_id: PublisherId,
        data: JSONBody[PublisherPatch],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PublisherOut:
        keys = {v.key for v in await services.verticals.all()}
        _check_terms(keys, data.payout, data.default_vertical, data.field_mapping)
        values = {k: msgspec.to_builtins(v) for k, v in msgspec.structs.asdict(data).items() if v is not None}
        if values:
            async with services.engine.begin() as conn:
                p = t.publishers.c
                before = (
                    await conn.execute(select(*(p[k] for k in values)).where(p.id == publisher_id))
                ).first()
                result = await conn.execute(
                    update(t.publishers).where(t.publishers.c.id == publisher_id).values(**values)
                )
                if result.rowcount == 0 or before is None:
                    raise NotFound(f"no publisher {publisher_id}")
                await record_change(
                    conn,
                    principal,
                    action="publisher.update",
                    entity_type="publisher",
                    entity_id=publisher_id,
                    before=before._mapping,
                    after=values,
                    at=services.clock(),
                )
            # Cached principals carry the publisher's mapping and default vertical.
            await services.changes.changed("keys")
        return await read_publisher(services, publisher_id)
