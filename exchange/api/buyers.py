"""Buyers: companies that buy leads, with their time zone and credit limit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody
from sqlalchemy import select

from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.keys import Name, first_key_name, insert_key
from exchange.api.params import BuyerId, PageCursor, PageLimit
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.paging import newest_first
from exchange.types import Cents, Page

NonNegativeCents = Cents


class BuyerIn(msgspec.Struct, frozen=True, kw_only=True):
    name: Annotated[
        Name,
        msgspec.Meta(
            description="The buyer's company name (1 to 200 characters).", examples=["Acme Insurance"]
        ),
    ]
    timezone: Annotated[
        str,
        msgspec.Meta(
            description="The IANA time zone its caps count days in when a campaign has no schedule.",
            examples=["America/New_York"],
        ),
    ]
    credit_limit_cents: Annotated[
        NonNegativeCents,
        msgspec.Meta(
            description=(
                "How far below zero its balance may go, in cents: a sale needs balance plus "
                "credit limit to cover the price."
            ),
            examples=[0, 100000],
        ),
    ] = 0


class BuyerOut(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer's id; also its ledger account's.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    name: Annotated[str, msgspec.Meta(description="The buyer's company name.", examples=["Acme Insurance"])]
    timezone: Annotated[
        str,
        msgspec.Meta(
            description="The IANA time zone its caps count days in when a campaign has no schedule.",
            examples=["America/New_York"],
        ),
    ]
    credit_limit_cents: Annotated[
        int, msgspec.Meta(description="How far below zero its balance may go, in cents.", examples=[0])
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was created (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]


class BuyerCreated(BuyerOut, frozen=True, kw_only=True):
    api_key: Annotated[
        str,
        msgspec.Meta(
            description=("The buyer's first API key (role `buyer`): shown this once, stored only as a hash."),
            examples=["lx_z6YYwXHdHrcUud0Y3zWK6qnvlz4wXWzpI_RL0zdU"],
        ),
    ]
    key_id: Annotated[
        str,
        msgspec.Meta(
            description="The first key's id: revoke it with `DELETE /v1/keys/{id}` (never the key itself).",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]


class BuyerPage(Page, kw_only=True):
    items: Annotated[list[BuyerOut], msgspec.Meta(description="The buyers on this page, newest first.")]


def check_timezone(field: str, name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise field_invalid(field, "invalid_timezone", f"{name!r} is not an IANA time zone") from None


def _out(row: Any) -> BuyerOut:
    return BuyerOut(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        credit_limit_cents=row.credit_limit_cents,
        created_at=row.created_at,
    )


async def create_buyer_for(services: Services, principal: Principal, data: BuyerIn) -> BuyerCreated:
    """A new buyer and its first key, audited as made by `principal` (an operator)."""
    check_timezone("timezone", data.timezone)
    buyer = BuyerOut(
        id=new_id("buy"),
        name=data.name,
        timezone=data.timezone,
        credit_limit_cents=data.credit_limit_cents,
        created_at=services.clock(),
    )
    async with services.engine.begin() as conn:
        await conn.execute(t.buyers.insert().values(**msgspec.structs.asdict(buyer)))
        await record_change(
            conn,
            principal,
            action="buyer.create",
            entity_type="buyer",
            entity_id=buyer.id,
            after=buyer,
            at=buyer.created_at,
        )
    key = await insert_key(
        services, role="buyer", name=first_key_name(data.name), buyer_id=buyer.id, actor=principal
    )
    return BuyerCreated(**msgspec.structs.asdict(buyer), api_key=key.api_key, key_id=key.id)


async def buyers_page(services: Services, limit: int, cursor: str | None) -> BuyerPage:
    """A page of buyers, newest first."""
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(
            conn, select(t.buyers), t.buyers.c.id, limit=limit, cursor=cursor
        )
    return BuyerPage(items=[_out(row) for row in rows], next_cursor=next_cursor)


async def read_buyer(services: Services, buyer_id: str) -> BuyerOut:
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.buyers).where(t.buyers.c.id == buyer_id))).first()
    if row is None:
        raise NotFound(f"no buyer {buyer_id}")
    return _out(row)


class BuyerController(Controller):
    path = "/v1/buyers"
    tags = ["accounts"]

    @post("/", summary="Create a buyer (operator); answers its first API key", opt=roles("operator"))
    async def create_buyer(
        self,
        data: JSONBody[BuyerIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> BuyerCreated:
        return await create_buyer_for(services, principal, data)

    @get("/", summary="Buyers, newest first (operator, finance)", opt=roles("operator", "finance"))
    async def list_buyers(
        self, services: ServicesDep, limit: PageLimit = 100, cursor: PageCursor = None
    ) -> BuyerPage:
        return await buyers_page(services, limit, cursor)

    @get(
        "/{buyer_id:str}",
        summary="A buyer (operator, finance, or the buyer itself)",
        opt=roles("operator", "finance", "buyer"),
    )
    async def get_buyer(
        self,
        buyer_id: BuyerId,
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> BuyerOut:
        if principal.role == "buyer" and principal.buyer_id != buyer_id:
            raise NotFound(f"no buyer {buyer_id}")
        return await read_buyer(services, buyer_id)
