"""Who am I: the calling key's id, role, name and account, for consoles and scripts."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from sqlalchemy import select

from exchange.api.auth import EVERY_ROLE, PrincipalDep, roles
from exchange.api.services import ServicesDep
from exchange.storage import tables as t
from exchange.types import Role


class Me(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    key_id: Annotated[
        str,
        msgspec.Meta(
            description="The calling key's id (what `DELETE /v1/keys/{id}` revokes).",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]
    role: Annotated[Role, msgspec.Meta(description="What the key may do.", examples=["publisher"])]
    name: Annotated[
        str,
        msgspec.Meta(
            description="The key's name: who or what holds it.", examples=["Quote Leads LLC (first key)"]
        ),
    ]
    publisher_id: Annotated[
        str | None,
        msgspec.Meta(
            description="For a `publisher` key: the publisher it acts as; absent otherwise.",
            examples=["pub_01jp9zn4frpfzrv0peeg471ejb"],
        ),
    ] = None
    buyer_id: Annotated[
        str | None,
        msgspec.Meta(
            description="For a `buyer` key: the buyer it acts as; absent otherwise.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ] = None
    account_name: Annotated[
        str | None,
        msgspec.Meta(
            description="The name of that publisher or buyer; absent for operator and finance keys.",
            examples=["Quote Leads LLC"],
        ),
    ] = None


class MeController(Controller):
    path = "/v1/me"
    tags = ["keys"]

    @get("/", summary="The calling key: its id, role, name and account (any key)", opt=roles(*EVERY_ROLE))
    async def me(self, principal: PrincipalDep, services: ServicesDep) -> Me:
        k, p, b = t.api_keys.c, t.publishers.c, t.buyers.c
        query = (
            select(k.name, p.name.label("publisher_name"), b.name.label("buyer_name"))
            .select_from(
                t.api_keys.outerjoin(t.publishers, p.id == k.publisher_id).outerjoin(
                    t.buyers, b.id == k.buyer_id
                )
            )
            .where(k.id == principal.key_id)
        )
        async with services.engine.connect() as conn:
            row = (await conn.execute(query)).one()
        return Me(
            key_id=principal.key_id,
            role=principal.role,
            name=row.name,
            publisher_id=principal.publisher_id,
            buyer_id=principal.buyer_id,
            account_name=row.publisher_name or row.buyer_name,
        )
