"""Service endpoints without a key: health and Prometheus metrics."""

from __future__ import annotations

import msgspec
from litestar import MediaType, Response, get
from prometheus_client import generate_latest
from sqlalchemy import text

from exchange.api.services import ServicesDep


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    database: str


@get("/healthz", summary="Liveness and database reachability", tags=["service"])
async def healthz(services: ServicesDep) -> Response[Health]:
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        body = Health(status="unavailable", database=type(exc).__name__)
        return Response(body, status_code=503)
    return Response(Health(status="ok", database=services.engine.dialect.name))


@get("/metrics", summary="Prometheus metrics", tags=["service"], media_type=MediaType.TEXT)
async def metrics(services: ServicesDep) -> Response[bytes]:
    return Response(
        generate_latest(services.metrics.registry),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
