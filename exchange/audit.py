"""The audit log: every change an operator, finance or buyer key makes, who made it, from
where, and what changed (only the changed fields of an update), with secrets masked.

A change and its audit row are written in one transaction: both commit, or neither.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.errors import field_invalid
from exchange.storage import tables as t

MASK = "[masked]"

# A field whose name says it holds a secret, anywhere in a changed object.
_SECRET_NAME = re.compile(
    r"secret|passw|pwd|token|api[_-]?key|apikey|authorization|credential|signature|cookie"
    r"|private[_-]?key|access[_-]?key",
    re.IGNORECASE,
)
# Under a delivery's mapping, or in a URL's query, a name with one of these words is a
# credential too ("Key", "X-Auth", "ApiKey", "sig").
_SECRET_WORDS = frozenset(
    {
        "apikey", "auth", "cookie", "credential", "credentials", "key", "pass", "passcode", "passwd",
        "password", "pin", "pwd", "secret", "session", "sig", "signature", "token",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Headers a buyer's endpoint needs that carry no credential; every other header's value is masked.
_PLAIN_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "cache-control", "content-type", "user-agent"}
)
# What an `auth` object may show: how it authenticates, never with what.
_PLAIN_AUTH = frozenset({"type", "scheme"})

AuditHook = Callable[[AsyncConnection], Awaitable[object]]
"""What a function that owns its transaction calls inside it, just before it commits, so the
caller's audit row commits with the change (e.g. `uncertain.decide(..., audit=hook)`)."""


class Actor(Protocol):
    """Who made a change: the API's `Principal` is one."""

    @property
    def key_id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def publisher_id(self) -> str | None: ...

    @property
    def buyer_id(self) -> str | None: ...

    @property
    def address(self) -> str | None: ...


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        int, msgspec.Meta(description="The entry's number, in the order changes were made.", examples=[3304])
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(description="When the change was made (UTC).", examples=["2025-03-15T16:02:11Z"]),
    ]
    action: Annotated[
        str,
        msgspec.Meta(
            description=("What was done: `campaign.update`, `key.revoke`, `payout.create`, `period.close`…"),
            examples=["campaign.update"],
        ),
    ]
    entity_type: Annotated[
        str,
        msgspec.Meta(
            description="The kind of object changed: `campaign`, `key`, `publisher`, `buyer`…",
            examples=["campaign"],
        ),
    ]
    entity_id: Annotated[
        str, msgspec.Meta(description="The changed object's id.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"])
    ]
    actor_key_id: Annotated[
        str,
        msgspec.Meta(
            description="The id of the API key that made the change.",
            examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"],
        ),
    ]
    actor_role: Annotated[str, msgspec.Meta(description="That key's role.", examples=["buyer"])]
    actor_account_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The buyer or publisher the key belongs to; null for staff keys.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    client_address: Annotated[
        str | None,
        msgspec.Meta(description="The address the request came from, when known.", examples=["203.0.113.7"]),
    ]
    # An update's changed fields only; the whole object for a creation (before is null)
    # or a deletion (after is null).
    before: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description=(
                "For an update, the changed fields as they were; for a deletion, the whole "
                "object; null for a creation. Secrets are masked."
            ),
            examples=[{"active": True}],
        ),
    ]
    after: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description=(
                "For an update, the changed fields as they became; for a creation, the whole "
                "object; null for a deletion. Secrets are masked."
            ),
            examples=[{"active": False}],
        ),
    ]


async def record_change(
    conn: AsyncConnection,
    actor: Actor,
    *,
    action: str,
    entity_type: str,
    entity_id: str | int,
    at: datetime,
    before: Mapping[str, Any] | msgspec.Struct | None = None,
    after: Mapping[str, Any] | msgspec.Struct | None = None,
) -> int | None:
    """Record one change in the audit log, on `conn`, inside the change's own transaction.

    Call it after the change's statements and before the transaction commits::

        async with services.engine.begin() as conn:
            ...  # the change itself
            await record_change(
                conn, principal, action="payout.create", entity_type="payout",
                entity_id=transaction_id, after={"publisher_id": ..., "amount_cents": ...},
                at=now,
            )

    - `actor`: the request's `Principal` (key id, role, account, client address).
    - `action`: `<entity>.<verb>`, e.g. `campaign.update`, `key.revoke`.
    - `before`/`after`: dicts or Structs (datetimes and the like become JSON). Give only
      `after` for a creation, only `before` for a deletion, both for an update: then only
      the fields that differ are kept (nested objects likewise), and an update that changed
      nothing records nothing (None is returned). Secrets are masked either way (`MASK`).

    Returns the audit row's id.
    """
    old = _builtins(before)
    new = _builtins(after)
    if old is not None and new is not None:
        old, new = changed_fields(old, new)
        if not old and not new:
            return None
    row = await conn.execute(
        t.audit_log.insert()
        .values(
            created_at=at,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            actor_key_id=actor.key_id,
            actor_role=actor.role,
            actor_account_id=actor.buyer_id or actor.publisher_id,
            client_address=actor.address,
            before=masked(old) if old is not None else None,
            after=masked(new) if new is not None else None,
        )
        .returning(t.audit_log.c.id)
    )
    return int(row.scalar_one())


def _builtins(value: Mapping[str, Any] | msgspec.Struct | None) -> dict[str, Any] | None:
    if value is None:
        return None
    found = msgspec.to_builtins(dict(value) if isinstance(value, Mapping) else value)
    if not isinstance(found, dict):
        raise TypeError("an audited object is a mapping or a Struct")
    return found


_ABSENT = object()


def _same(a: Any, b: Any) -> bool:
    # Through JSON, so True and 1 differ and key order does not matter.
    return msgspec.json.encode(a, order="sorted") == msgspec.json.encode(b, order="sorted")


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields of `before` and `after` that differ: nested objects down to their changed
    keys, anything else (lists included) whole. A field present on one side only is on that
    side only."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key in [*after, *(k for k in before if k not in after)]:
        a, b = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if a is not _ABSENT and b is not _ABSENT and _same(a, b):
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            old[key], new[key] = changed_fields(a, b)
            continue
        if a is not _ABSENT:
            old[key] = a
        if b is not _ABSENT:
            new[key] = b
    return old, new


def masked(value: Any, within: str | None = None) -> Any:
    """`value` with every secret replaced by `MASK`: fields named like secrets, a URL's
    password, a delivery's auth and non-plain headers, and `=literal` mapping values named
    like credentials. `within` is the name of the object `value` is the value of."""
    if isinstance(value, dict):
        return {key: _masked_field(key, item, within) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item, within) for item in value]
    if isinstance(value, str):
        return _masked_url(value)
    return value


def _masked_field(key: str, value: Any, within: str | None) -> Any:
    if value is None:
        return None
    name = key.lower()
    if _SECRET_NAME.search(name):
        return _mask_leaves(value)
    if within == "auth" and name not in _PLAIN_AUTH:
        return _mask_leaves(value)
    if within == "headers" and name not in _PLAIN_HEADERS:
        return _mask_leaves(value)
    if within == "mapping" and isinstance(value, str) and value.startswith("="):
        return MASK if _names_secret(key) else _masked_url(value)
    if name == "auth" and not isinstance(value, dict):
        return _mask_leaves(value)  # "Bearer …", "user:password"
    return masked(value, name)


def _mask_leaves(value: Any) -> Any:
    """The shape kept, every value masked: a reader sees which secret changed, never what to."""
    if isinstance(value, dict):
        return {key: _mask_leaves(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(item) for item in value]
    return None if value is None else MASK


def _names_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) or any(
        word.lower() in _SECRET_WORDS for word in _WORD.findall(name)
    )


def _masked_url(text: str) -> str:
    """A URL's password and its query's credentials masked; any other text as it is."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}")
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            if any(_names_secret(name) for name, _ in pairs):
                kept = [(name, MASK if _names_secret(name) else value) for name, value in pairs]
                parts = parts._replace(query=urlencode(kept, safe="[]"))
        return urlunsplit(parts)
    except ValueError:
        return MASK


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which changes to read; None matches any. `actor` is a key id or an account id; the
    changes made from `start` (inclusive) to `end` (exclusive)."""

    actor: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None


async def read_changes(
    conn: AsyncConnection, where: AuditFilter, *, limit: int, cursor: str | None
) -> tuple[list[AuditEntry], str | None]:
    """A page of changes, newest first, and the cursor of the next page (None on the last)."""
    a = t.audit_log.c
    query = select(t.audit_log).order_by(a.id.desc()).limit(limit + 1)
    if where.actor is not None:
        query = query.where(or_(a.actor_key_id == where.actor, a.actor_account_id == where.actor))
    for column, value in (
        (a.entity_type, where.entity_type),
        (a.entity_id, where.entity_id),
        (a.action, where.action),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.start is not None:
        query = query.where(a.created_at >= where.start)
    if where.end is not None:
        query = query.where(a.created_at < where.end)
    if cursor:
        if not cursor.isdigit() or len(cursor) > 18:
            raise field_invalid("cursor", "invalid_cursor", "a cursor is the next_cursor of a page")
        query = query.where(a.id < int(cursor))
    rows = (await conn.execute(query)).all()
    items = [AuditEntry(**{f: getattr(row, f) for f in AuditEntry.__struct_fields__}) for row in rows[:limit]]
    return items, str(items[-1].id) if len(rows) > limit else None
