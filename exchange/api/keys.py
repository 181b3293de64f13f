"""API keys: operators list them, create more (finance staff, rotations) and revoke them at once.

A key's secret is shown once, when made; lists show its id, role, name and account only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select, update

from exchange.api.auth import Principal, PrincipalDep, new_api_key, roles
from exchange.api.params import KeyId, PageCursor, PageLimit
from exchange.api.services import Services, ServicesDep
from exchange.audit import Actor, record_change
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.migrate import hash_key
from exchange.storage.paging import newest_first
from exchange.types import Page, Role

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# How every key's secret begins (auth.new_api_key); ids begin `key_`.
SECRET_PREFIX = "lx_"
AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class KeyIn(msgspec.Struct, frozen=True, kw_only=True):
    role: Annotated[
        Role,
        msgspec.Meta(
            description=(
                "What the key may do: `operator`, `finance`, `publisher` (bound to "
                "`publisher_id`) or `buyer` (bound to `buyer_id`)."
            ),
            examples=["finance"],
        ),
    ]
    name: Annotated[
        Name,
        msgspec.Meta(
            description="Who or what holds it, for people reading the key list (1 to 200 characters).",
            examples=["Finance team"],
        ),
    ]
    publisher_id: Annotated[
        AccountId | None,
        msgspec.Meta(
            description=("For a `publisher` key: the publisher it acts as; must be absent for other roles."),
            examples=["pub_01jp9zn4frpfzrv0peeg471ejb"],
        ),
    ] = None
    buyer_id: Annotated[
        AccountId | None,
        msgspec.Meta(
            description="For a `buyer` key: the buyer it acts as; must be absent for other roles.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ] = None


class KeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description="The key's id: revoke it with `DELETE /v1/keys/{id}`.",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]
    api_key: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The key itself, for `Authorization: Bearer …`: shown this once, stored only as a hash."
            ),
            examples=["lx_vHjIRCeymV6ck3Fuje3rp7ip1qWzBmq4YxjySiOo"],
        ),
    ]
    role: Annotated[Role, msgspec.Meta(description="What the key may do.", examples=["finance"])]
    name: Annotated[str, msgspec.Meta(description="Who or what holds it.", examples=["Finance team"])]
    publisher_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The publisher a `publisher` key acts as; null for other roles.", examples=[None]
        ),
    ] = None
    buyer_id: Annotated[
        str | None,
        msgspec.Meta(description="The buyer a `buyer` key acts as; null for other roles.", examples=[None]),
    ] = None
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was made (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]


class KeyRevoked(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The revoked key's id.", examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"])
    ]
    revoked_at: Annotated[
        datetime,
        msgspec.Meta(
            description="When it stopped working (UTC): every request with it since is a 401.",
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]


class KeyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description="The key's id: revoke it with `DELETE /v1/keys/{id}`.",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]
    role: Annotated[Role, msgspec.Meta(description="What the key may do.", examples=["publisher"])]
    name: Annotated[
        str, msgspec.Meta(description="Who or what holds it.", examples=["Quote Leads LLC (first key)"])
    ]
    publisher_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The publisher a `publisher` key acts as; null for other roles.",
            examples=["pub_01jp9zn4frpfzrv0peeg471ejb"],
        ),
    ]
    buyer_id: Annotated[
        str | None,
        msgspec.Meta(description="The buyer a `buyer` key acts as; null for other roles.", examples=[None]),
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was made (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]
    revoked_at: Annotated[
        datetime | None,
        msgspec.Meta(description="When it was revoked (UTC); null while it works.", examples=[None]),
    ]


class KeyPage(Page, kw_only=True):
    items: Annotated[list[KeyOut], msgspec.Meta(description="The keys on this page, newest first.")]


def key_out(row: Any) -> KeyOut:
    return KeyOut(
        id=row.id,
        role=row.role,
        name=row.name,
        publisher_id=row.publisher_id,
        buyer_id=row.buyer_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def first_key_name(account_name: str) -> str:
    """The name of the key an account is created with, within the 200 characters a key's name has."""
    suffix = " (first key)"
    return account_name[: 200 - len(suffix)] + suffix


async def insert_key(
    services: ServicesDep,
    *,
    role: Role,
    name: str,
    publisher_id: str | None = None,
    buyer_id: str | None = None,
    actor: Actor | None = None,
) -> KeyCreated:
    """A new key, recorded in the audit log as made by `actor` when one is named."""
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
        if actor is not None:
            await record_change(
                conn,
                actor,
                action="key.create",
                entity_type="key",
                entity_id=created.id,
                after=created,  # its api_key masked
                at=created.created_at,
            )
    return created


async def create_key_for(services: Services, principal: Principal, data: KeyIn) -> KeyCreated:
    """A new key of `data.role`, bound to the account it names (which must exist)."""
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
        actor=principal,
    )


async def keys_page(
    services: Services,
    *,
    role: Role | None = None,
    account_id: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> KeyPage:
    """A page of keys, newest first, never their hashes."""
    k = t.api_keys.c
    query = select(k.id, k.role, k.name, k.publisher_id, k.buyer_id, k.created_at, k.revoked_at)
    if role is not None:
        query = query.where(k.role == role)
    if account_id is not None:
        query = query.where((k.publisher_id == account_id) | (k.buyer_id == account_id))
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(conn, query, k.id, limit=limit, cursor=cursor)
    return KeyPage(items=[key_out(row) for row in rows], next_cursor=next_cursor)


async def revoke_key_for(services: Services, principal: Principal, key_id: str) -> KeyRevoked:
    """Revoke a working key at once, on every process; a revoked or unknown one is a 404."""
    now = services.clock()
    async with services.engine.begin() as conn:
        result = await conn.execute(
            update(t.api_keys)
            .where(t.api_keys.c.id == key_id, t.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(t.api_keys.c.id)
        )
        if result.first() is None:
            if key_id.startswith(SECRET_PREFIX):
                # Never echoed: it may be a working key, and answers end up in logs.
                raise NotFound("no such key id (this looks like a key itself, not its id)")
            raise NotFound(f"no active key {key_id}")
        await record_change(
            conn,
            principal,
            action="key.revoke",
            entity_type="key",
            entity_id=key_id,
            before={"revoked_at": None},
            after={"revoked_at": now},
            at=now,
        )
    await services.changes.changed("keys")
    return KeyRevoked(id=key_id, revoked_at=now)


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["keys"]

    @post(
        "/",
        summary="Create an API key (operator); the key is shown only in this answer",
        opt=roles("operator"),
    )
    async def create_key(
        self,
        data: JSONBody[KeyIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> KeyCreated:
        return await create_key_for(services, principal, data)

    @get("/", summary="API keys, newest first, never their secrets (operator)", opt=roles("operator"))
    async def list_keys(
        self,
        services: ServicesDep,
        role: Annotated[Role | None, QueryParameter(description="Only keys of this role.")] = None,
        account_id: Annotated[
            str | None,
            QueryParameter(description="Only the keys of this publisher or buyer (its id)."),
        ] = None,
        limit: PageLimit = 100,
        cursor: PageCursor = None,
    ) -> KeyPage:
        return await keys_page(services, role=role, account_id=account_id, limit=limit, cursor=cursor)

    @delete(
        "/{key_id:str}",
        status_code=200,
        summary="Revoke an API key at once (operator)",
        opt=roles("operator"),
    )
    async def revoke_key(
        self,
        key_id: KeyId,
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> KeyRevoked:
        return await revoke_key_for(services, principal, key_id)
