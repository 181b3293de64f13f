"""Buyers: companies that buy leads, with their time zone and credit limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from exchange.api.auth import PrincipalDep
from exchange.api.keys import Name, insert_key
from exchange.api.services import ServicesDep
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.types import Cents

NonNegativeCents = Cents


class BuyerIn(msgspec.Struct, frozen=True, kw_only=True):
    name: Name
    timezone: str
    credit_limit_cents: NonNegativeCents = 0


class BuyerOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    timezone: str
    credit_limit_cents: int
    created_at: datetime


class BuyerCreated(BuyerOut, frozen=True, kw_only=True):
    api_key: str


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


class BuyerController(Controller):
    path = "/v1/buyers"
    tags = ["accounts"]

    @post("/", summary="Create a buyer (operator); answers its first API key")
    async def create_buyer(
        self,
        data: JSONBody[BuyerIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> BuyerCreated:
        principal.require("operator")
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
        key = await insert_key(services, role="buyer", name=f"{data.name} (first key)", buyer_id=buyer.id)
        return BuyerCreated(**msgspec.structs.asdict(buyer), api_key=key.api_key)

    @get("/{buyer_id:str}", summary="A buyer (operator, finance, or the buyer itself)")
    async def get_buyer(
        self,
        buyer_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> BuyerOut:
        principal.require("operator", "finance", "buyer")
        if principal.role == "buyer" and principal.buyer_id != buyer_id:
            raise NotFound(f"no buyer {buyer_id}")
        async with services.engine.connect() as conn:
            row = (await conn.execute(select(t.buyers).where(t.buyers.c.id == buyer_id))).first()
        if row is None:
            raise NotFound(f"no buyer {buyer_id}")
        return _out(row)
