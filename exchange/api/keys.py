"""API keys: operators create more (finance staff, rotations) and revoke them at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select, update

from exchange.api.auth import PrincipalDep, new_api_key
from exchange.api.services import ServicesDep
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.migrate import hash_key
from exchange.types import Role

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class KeyIn(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    name: Name
    publisher_id: str | None = None
    buyer_id: str | None = None


class KeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    api_key: str
    role: Role
    name: str
    publisher_id: str | None = None
    buyer_id: str | None = None
    created_at: datetime


class KeyRevoked(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    revoked_at: datetime


async def insert_key(
    services: ServicesDep,
    *,
    role: Role,
    name: str,
    publisher_id: str | None = None,
    buyer_id: str | None = None,
) -> KeyCreated:
    api_key = new_api_key()
    created = KeyCreated(
        id=new_id("key"),
        api_key=api_key,
        role=role,
        name=name,
        publisher_id=publisher_id,
        buyer_id=buyer_id,
        created_at=services.clock(),
    )
    async with services.engine.begin() as conn:
        await conn.execute(
            t.api_keys.insert().values(
                id=created.id,
                role=role,
                name=name,
                key_hash=hash_key(api_key),
                publisher_id=publisher_id,
                buyer_id=buyer_id,
                created_at=created.created_at,
            )
        )
    return created


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["keys"]

    @post("/", summary="Create an API key (operator); the key is shown only in this answer")
    async def create_key(
        self,
        data: JSONBody[KeyIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> KeyCreated:
        principal.require("operator")
        owner_table, owner_id = None, None
        if data.role == "publisher":
            owner_table, owner_id = t.publishers, data.publisher_id
            if not owner_id:
                raise field_invalid("publisher_id", "required", "a publisher key names its publisher")
        elif data.role == "buyer":
            owner_table, owner_id = t.buyers, data.buyer_id
            if not owner_id:
                raise field_invalid("buyer_id", "required", "a buyer key names its buyer")
        if data.role in ("operator", "finance") and (data.publisher_id or data.buyer_id):
            raise field_invalid("role", "invalid_value", f"a {data.role} key belongs to no account")
        if (data.role == "publisher" and data.buyer_id) or (data.role == "buyer" and data.publisher_id):
            raise field_invalid("role", "invalid_value", "a key belongs to one account only")
        if owner_table is not None:
            async with services.engine.connect() as conn:
                found = await conn.scalar(select(owner_table.c.id).where(owner_table.c.id == owner_id))
            if found is None:
                field = "publisher_id" if data.role == "publisher" else "buyer_id"
                raise field_invalid(field, "not_found", f"no {data.role} {owner_id}")
        return await insert_key(
            services,
            role=data.role,
            name=data.name,
            publisher_id=data.publisher_id,
            buyer_id=data.buyer_id,
        )

    @delete("/{key_id:str}", status_code=200, summary="Revoke an API key at once (operator)")
    async def revoke_key(
        self,
        key_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> KeyRevoked:
        principal.require("operator")
        now = services.clock()
        async with services.engine.begin() as conn:
            result = await conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.id == key_id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(t.api_keys.c.id)
            )
            if result.first() is None:
                raise NotFound(f"no active key {key_id}")
        await services.changes.changed("keys")
        return KeyRevoked(id=key_id, revoked_at=now)
