"""Service endpoints without a key: health and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get
from prometheus_client import generate_latest
from sqlalchemy import bindparam, func, select

from exchange.api.auth import authenticate
from exchange.api.services import ServicesDep
from exchange.storage import tables as t


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: Annotated[
        str,
        msgspec.Meta(
            description=(
                "`ok`, or `unavailable` (503) when the database or a configured Redis cannot be reached."
            ),
            examples=["ok"],
        ),
    ]
    database: Annotated[
        str,
        msgspec.Meta(
            description="The database's dialect (`sqlite`, `postgresql`), or the kind of error reaching it.",
            examples=["postgresql"],
        ),
    ]
    redis: Annotated[
        str,
        msgspec.Meta(
            description="`ok`, `off` (no REDIS_URL), or the kind of error reaching Redis.", examples=["off"]
        ),
    ]
    # Work owed: outbox rows due now and not done, and how long the oldest has waited.
    owed: Annotated[
        int | None,
        msgspec.Meta(
            description=(
                "Background work due now and not done (outbox rows); null when the database cannot be read."
            ),
            examples=[0],
        ),
    ] = None
    oldest_owed_seconds: Annotated[
        float | None,
        msgspec.Meta(
            description="How long the oldest owed work has waited, in seconds; null when none is owed.",
            examples=[None],
        ),
    ] = None


_o = t.outbox.c
_OWED = select(func.count(), func.min(_o.due_at)).where(_o.done_at.is_(None), _o.due_at <= bindparam("now"))
_PARKED = select(func.count()).where(_o.failed_at.is_not(None), _o.done_at.is_not(None))


async def _owed(services: Any) -> tuple[int, float | None]:
    now = services.clock()
    async with services.engine.connect() as conn:
        count, oldest = (await conn.execute(_OWED, {"now": now})).one()
    return int(count), (now - oldest).total_seconds() if oldest is not None else None


# `{}`: no key needed (load balancers and scrapers call these).
@get(
    "/healthz",
    summary="Liveness: the database, Redis, and the age of the oldest work owed (no key)",
    tags=["service"],
    security=[{}],
)
async def healthz(services: ServicesDep) -> Response[Health]:
    redis = "off"
    if services.redis is not None:
        try:
            await services.redis.ping()
            redis = "ok"
        except Exception as exc:
            redis = type(exc).__name__
    try:
        owed, oldest = await _owed(services)
    except Exception as exc:
        body = Health(status="unavailable", database=type(exc).__name__, redis=redis)
        return Response(body, status_code=503)
    status = "ok" if redis in ("ok", "off") else "unavailable"
    body = Health(
        status=status,
        database=services.engine.dialect.name,
        redis=redis,
        owed=owed,
        oldest_owed_seconds=oldest,
    )
    return Response(body, status_code=200 if status == "ok" else 503)


@get(
    "/metrics",
    summary="Prometheus metrics: open to loopback, else an operator key (EXCHANGE_METRICS_ACCESS)",
    tags=["service"],
    media_type=MediaType.TEXT,
    security=[{}],
)
async def metrics(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    await _may_read_metrics(request, services)
    m = services.metrics
    try:
        owed, oldest = await _owed(services)
        async with services.engine.connect() as conn:
            parked = int(await conn.scalar(_PARKED) or 0)
        m.owed.set(owed)
        m.oldest_owed.set(oldest or 0.0)
        m.parked.set(parked)
    except Exception:  # the database away: the process's own figures are still worth reading
        pass
    return Response(
        generate_latest(m.registry),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )


async def _may_read_metrics(request: Request[Any, Any, Any], services: Any) -> None:
    """Counts by vertical are business data: `open` shows them to anyone, `loopback` (the
    default) to the machine itself and to operator keys, `key` to operator keys only."""
    access = services.settings.metrics_access
    if access == "open":
        return
    client = request.scope.get("client")
    if access == "loopback" and client and client[0] in LOOPBACK:
        return
    principal = await authenticate(request, services)
    principal.require("operator")


LOOPBACK = frozenset({"127.0.0.1", "::1"})
