"""Publishers: sources of leads, their payout terms, field mapping and consent text."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select, update

from exchange.api.auth import PrincipalDep
from exchange.api.keys import Name, insert_key
from exchange.api.services import ServicesDep
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.verticals import GRADES

Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
MAPPING_TARGET = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")


class RevsharePayout(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="revshare"):
    percent: Percent


class FixedPayout(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="fixed"):
    cents_by_grade: dict[str, int]


Payout = RevsharePayout | FixedPayout


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """This publisher's requests per second, and how many more it may send at once."""

    per_second: Annotated[float, msgspec.Meta(gt=0, le=100_000)]
    burst: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0


class PublisherIn(msgspec.Struct, frozen=True, kw_only=True):
    name: Name
    payout: Payout
    default_vertical: str | None = None
    field_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    consent_text: str | None = None
    rate_limit: RateLimit | None = None


class PublisherPatch(msgspec.Struct, frozen=True, kw_only=True):
    name: Name | None = None
    payout: Payout | None = None
    default_vertical: str | None = None
    field_mapping: dict[str, str] | None = None
    consent_text: str | None = None
    rate_limit: RateLimit | None = None


class PublisherOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    payout: Payout
    default_vertical: str | None
    field_mapping: dict[str, str]
    consent_text: str | None
    # None: the exchange's default (EXCHANGE_RATE_PER_SECOND, EXCHANGE_RATE_BURST).
    rate_limit: RateLimit | None
    inbox: str
    created_at: datetime


class PublisherCreated(PublisherOut, frozen=True, kw_only=True):
    api_key: str


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


async def _load(services: ServicesDep, publisher_id: str) -> PublisherOut:
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.publishers).where(t.publishers.c.id == publisher_id))).first()
    if row is None:
        raise NotFound(f"no publisher {publisher_id}")
    return _out(row)


class PublisherController(Controller):
    path = "/v1/publishers"
    tags = ["accounts"]

    @post("/", summary="Create a publisher (operator); answers its first API key and e-mail inbox")
    async def create_publisher(
        self,
        data: JSONBody[PublisherIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PublisherCreated:
        principal.require("operator")
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
        key = await insert_key(
            services, role="publisher", name=f"{data.name} (first key)", publisher_id=publisher_id
        )
        out = await _load(services, publisher_id)
        return PublisherCreated(**msgspec.structs.asdict(out), api_key=key.api_key)

    @get("/{publisher_id:str}", summary="A publisher (operator, finance, or the publisher itself)")
    async def get_publisher(
        self,
        publisher_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PublisherOut:
        principal.require("operator", "finance", "publisher")
        if principal.role == "publisher" and principal.publisher_id != publisher_id:
            raise NotFound(f"no publisher {publisher_id}")
        return await _load(services, publisher_id)

    @patch(
        "/{publisher_id:str}",
        summary="Change a publisher's terms, mapping or consent text (operator)",
    )
    async def update_publisher(
        self,
        publisher_id: FromPath[str],
        data: JSONBody[PublisherPatch],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PublisherOut:
        principal.require("operator")
        keys = {v.key for v in await services.verticals.all()}
        _check_terms(keys, data.payout, data.default_vertical, data.field_mapping)
        values = {k: msgspec.to_builtins(v) for k, v in msgspec.structs.asdict(data).items() if v is not None}
        if values:
            async with services.engine.begin() as conn:
                result = await conn.execute(
                    update(t.publishers).where(t.publishers.c.id == publisher_id).values(**values)
                )
                if result.rowcount == 0:
                    raise NotFound(f"no publisher {publisher_id}")
            # Cached principals carry the publisher's mapping and default vertical.
            await services.changes.changed("keys")
        return await _load(services, publisher_id)
