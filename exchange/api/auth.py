"""Bearer keys: who is calling, and what their role lets them do.

Missing or unknown key: 401. A role that may never do a thing: 403. Another
tenant's object: 404, so existence is not revealed (CONTRACT.md). Each `/v1` route handler
names the roles that may call it (`opt=roles(...)`), checked before its body or query is read.
"""

from __future__ import annotations

import secrets
from typing import Any, get_args

import msgspec
from litestar import Litestar, Request
from litestar.di import NamedDependency
from litestar.exceptions import ImproperlyConfiguredException
from litestar.params import QueryParameter
from sqlalchemy import select

from exchange.api.bodies import decode_strictly
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
    # The address the request came from (the audit log's client_address); set per request.
    address: str | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"a {self.role} key may not do this", code="forbidden")

    @property
    def is_staff(self) -> bool:
        return self.role in ("operator", "finance")


PrincipalDep = NamedDependency[Principal]

EVERY_ROLE: tuple[Role, ...] = get_args(Role)


def roles(*names: Role) -> dict[str, tuple[Role, ...]]:
    """A route handler's `opt`: the roles whose keys may ever call it. Any other key is a 403
    before the body or query is read (`key_first`); whose object it is stays the handler's
    question (404 for another tenant's)."""
    return {"roles": names}


# Served without a key, each for its reason: every other route handler names its roles.
PUBLIC: dict[str, str] = {
    "/healthz": "liveness, for load balancers",
    "/metrics": "Prometheus metrics: loopback, else an operator key (api/service.py)",
    "/schema": "the spec and its documentation page",
    "/forms/": "hosted lead forms: public pages posting as their publisher",
    "/demo-buyer/": "the demo buyer of `exchange serve --demo`",
    "/console": "the console's pages: a session cookie, each page checking its role (exchange/console/)",
}


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
    allowed = request.route_handler.opt.get("roles")
    if allowed is not None:  # None only for the framework's own OPTIONS answers: check_roles
        principal.require(*allowed)
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
        await decode_strictly(request)


async def provide_principal(request: Request, services: ServicesDep) -> Principal:
    found = request.state.get("principal")
    principal = found if isinstance(found, Principal) else await authenticate(request, services)
    # The cached principal is the key's; this request's copy knows where it came from.
    client = request.scope.get("client")
    return msgspec.structs.replace(principal, address=client[0]) if client else principal


async def authenticate(request: Request, services: Any) -> Principal:
    digest = key_digest(request.headers.get("authorization", ""))
    if digest is None:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>", code="unauthorized")
    return await authenticate_digest(services, digest)


async def authenticate_digest(services: Any, digest: str) -> Principal:
    """The principal of the key with this hash, however it was sent (a header, the console's
    sign-in form); 401 for an unknown or revoked key."""
    cached = services.principals.get(digest)
    if cached is not None:
        return cached
    principal = await principal_where(services, t.api_keys.c.key_hash == digest)
    if principal is None:
        raise Unauthorized("unknown or revoked API key", code="unauthorized")
    services.principals.put(digest, principal)
    return principal


async def principal_where(services: Any, condition: Any) -> Principal | None:
    """The principal of the one unrevoked key matching `condition`, or None (read uncached:
    the console's sessions ask by key id on every page, so a revoked key ends them at once)."""
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
        .where(condition, k.revoked_at.is_(None))
    )
    async with services.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Principal(
        key_id=row.id,
        role=row.role,
        publisher_id=row.publisher_id,
        buyer_id=row.buyer_id,
        default_vertical=row.default_vertical,
        field_mapping=row.field_mapping or {},
        payout=row.payout,
        rate_limit=row.rate_limit,
    )


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


def check_roles(app: Litestar) -> None:
    """Refuse to build an app with a route handler that names no roles and is not public.

    A `/v1` handler without `opt=roles(...)` would be open to every key; roles anywhere else
    would never be checked (`key_first` reads only `/v1`). Either is a start-up error naming it."""
    wrong: list[str] = []
    for route in app.routes:
        for handler in route.route_handlers:
            fn = handler.fn
            if fn.__module__.startswith("litestar."):
                continue  # the framework's own: OPTIONS answers and the spec's pages
            named = handler.opt.get("roles")
            where = f"{fn.__module__}.{fn.__qualname__} ({route.path})"
            if route.path.startswith("/v1/"):
                if not named:
                    wrong.append(f"{where}: names no roles; give it opt=roles(...) (api/auth.py)")
                elif set(named) - set(EVERY_ROLE):
                    wrong.append(f"{where}: no such role {sorted(set(named) - set(EVERY_ROLE))}")
            elif named is not None:
                wrong.append(f"{where}: roles are checked only under /v1")
            elif not route.path.startswith(tuple(PUBLIC)):
                wrong.append(f"{where}: neither under /v1 with roles nor in api/auth.py's PUBLIC")
    if wrong:
        raise ImproperlyConfiguredException("route handlers without roles:\n" + "\n".join(wrong))
