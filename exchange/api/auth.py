"""Bearer keys: who is calling, and what their role lets them do.

Missing or unknown key: 401. A role that may never do a thing: 403. Another
tenant's object: 404, so existence is not revealed (CONTRACT.md).
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import select

from exchange.api.services import ServicesDep
from exchange.errors import BadRequest, Forbidden, Unauthorized, field_invalid
from exchange.storage import tables as t
from exchange.storage.migrate import hash_key
from exchange.types import FieldError, Role


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    role: Role
    publisher_id: str | None = None
    buyer_id: str | None = None
    # A publisher's intake terms, read with the key so intake needs no second query.
    default_vertical: str | None = None
    field_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    payout: dict[str, Any] | None = None
    # The publisher's own rate limit, if it has one (api/limits.py).
    rate_limit: dict[str, Any] | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"a {self.role} key may not do this", code="forbidden")

    @property
    def is_staff(self) -> bool:
        return self.role in ("operator", "finance")


PrincipalDep = NamedDependency[Principal]


def new_api_key() -> str:
    return "lx_" + secrets.token_urlsafe(30)


def key_digest(authorization: str) -> str | None:
    """The stored hash of the key an `Authorization: Bearer <key>` header carries; None
    without one."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hash_key(token.strip())


async def key_first(request: Request) -> None:
    """Every `/v1` request's key is checked before its body or query is read: a request
    without a valid key is a 401, whatever it carries (the app's before-request hook)."""
    if not request.scope["path"].startswith("/v1/"):
        return
    services = request.app.state.services
    try:
        principal = await authenticate(request, services)
    except Unauthorized:
        client = request.scope.get("client")
        await services.limits.check_address(client[0] if client else "unknown")
        raise
    await services.limits.check_key(principal.key_id, principal.rate_limit)
    request.state.principal = principal
    unknown = sorted(set(request.query_params) - query_names(request.route_handler))
    if unknown:
        takes = ", ".join(sorted(query_names(request.route_handler))) or "none"
        message = f"this endpoint takes no query parameter {unknown[0]!r}; it takes: {takes}"
        raise BadRequest(
            message,
            code="unknown_parameter",
            errors=[FieldError(field=name, code="unknown_parameter", message=message) for name in unknown],
        )
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        # No setting or name holds a NUL, and PostgreSQL stores none: refused before decoding.
        # (A lead's fields are checked one by one instead, each named: pipeline/intake.py.)
        if not request.scope["path"].startswith("/v1/leads") and b"\\u0000" in await request.body():
            raise field_invalid("body", "invalid_value", "text may not hold a NUL character (\\u0000)")


async def provide_principal(request: Request, services: ServicesDep) -> Principal:
    found = request.state.get("principal")
    return found if isinstance(found, Principal) else await authenticate(request, services)


async def authenticate(request: Request, services: Any) -> Principal:
    digest = key_digest(request.headers.get("authorization", ""))
    if digest is None:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>", code="unauthorized")
    cached = services.principals.get(digest)
    if cached is not None:
        return cached
    k, p = t.api_keys.c, t.publishers.c
    query = (
        select(
            k.id,
            k.role,
            k.publisher_id,
            k.buyer_id,
            p.default_vertical,
            p.field_mapping,
            p.payout,
            p.rate_limit,
        )
        .select_from(t.api_keys.outerjoin(t.publishers, p.id == k.publisher_id))
        .where(k.key_hash == digest, k.revoked_at.is_(None))
    )
    async with services.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise Unauthorized("unknown or revoked API key", code="unauthorized")
    principal = Principal(
        key_id=row.id,
        role=row.role,
        publisher_id=row.publisher_id,
        buyer_id=row.buyer_id,
        default_vertical=row.default_vertical,
        field_mapping=row.field_mapping or {},
        payout=row.payout,
        rate_limit=row.rate_limit,
    )
    services.principals.put(digest, principal)
    return principal


_NOT_QUERY = frozenset({"request", "scope", "state", "data", "socket", "headers", "cookies", "query", "body"})


def query_names(handler: Any) -> frozenset[str]:
    """The query parameters a route handler declares (by their names in the query string)."""
    found = handler.opt.get("query_names")  # kept on the handler: found once per app
    if found is None:
        names = set()
        for name, parameter in handler.parsed_fn_signature.parameters.items():
            definition = parameter.kwarg_definition
            if isinstance(definition, QueryParameter):
                names.add(definition.name or name)
            elif definition is None and name not in _NOT_QUERY:
                names.add(name)
        found = handler.opt["query_names"] = frozenset(names)
    return found
