"""Verticals: field schemas readable by every role, distribution settings set by operators."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post, put
from litestar.params import JSONBody
from sqlalchemy import select, update

from exchange.api.auth import PrincipalDep, roles
from exchange.api.params import VerticalKey
from exchange.api.services import ServicesDep
from exchange.audit import record_change
from exchange.errors import Conflict, NotFound
from exchange.storage import tables as t
from exchange.types import Page
from exchange.verticals import (
    Distribution,
    Vertical,
    VerticalIn,
    check_distribution,
    check_vertical,
)


class VerticalPage(Page, kw_only=True):
    items: Annotated[
        list[Vertical], msgspec.Meta(description="Every vertical, built-in and the operator's own.")
    ]


class VerticalController(Controller):
    path = "/v1/verticals"
    tags = ["verticals"]

    @get(
        "/",
        summary="Every vertical with its fields and distribution settings",
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def list_verticals(self, principal: PrincipalDep, services: ServicesDep) -> VerticalPage:
        return VerticalPage(items=await services.verticals.all())

    @get(
        "/{key:str}",
        summary="One vertical: its fields and distribution settings",
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def get_vertical(
        self, key: VerticalKey, principal: PrincipalDep, services: ServicesDep
    ) -> Vertical:
        await services.changes.changed("verticals")
        vertical = await services.verticals.get(key)
        if vertical is None:
            raise NotFound(f"no vertical {key!r}")
        return vertical

    @post("/", summary="Create an operator's own vertical", opt=roles("operator"))
    async def create_vertical(
        self,
        data: JSONBody[VerticalIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Vertical:
        check_vertical(data)
        check_distribution(data.distribution)
        now = services.clock()
        async with services.engine.begin() as conn:
            exists = await conn.scalar(select(t.verticals.c.key).where(t.verticals.c.key == data.key))
            if exists is not None:
                raise Conflict(f"vertical {data.key!r} exists", code="already_exists")
            await conn.execute(
                t.verticals.insert().values(
                    key=data.key,
                    fields=msgspec.to_builtins(data.fields),
                    distribution=msgspec.to_builtins(data.distribution),
                    is_builtin=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            await record_change(
                conn,
                principal,
                action="vertical.create",
                entity_type="vertical",
                entity_id=data.key,
                after=data,
                at=now,
            )
        await services.changes.changed("verticals")
        return Vertical(key=data.key, fields=data.fields, distribution=data.distribution)

    @put(
        "/{key:str}/distribution", summary="Set how a vertical's leads are distributed", opt=roles("operator")
    )
    async def set_distribution(
        self,
        key: VerticalKey,
        data: JSONBody[Distribution],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Distribution:
        check_distribution(data)
        now = services.clock()
        async with services.engine.begin() as conn:
            before = await conn.scalar(select(t.verticals.c.distribution).where(t.verticals.c.key == key))
            result = await conn.execute(
                update(t.verticals)
                .where(t.verticals.c.key == key)
                .values(distribution=msgspec.to_builtins(data), updated_at=now)
            )
            if result.rowcount == 0:
                raise NotFound(f"no vertical {key!r}")
            await record_change(
                conn,
                principal,
                action="vertical.set_distribution",
                entity_type="vertical",
                entity_id=key,
                before={"distribution": before},
                after={"distribution": data},
                at=now,
            )
        await services.changes.changed("verticals")
        return data
