"""The `exchange` command: serve, migrate, demo, and key management for operators."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from exchange.clock import utc_now
from exchange.settings import Settings, load_settings

cli = typer.Typer(help="The lead exchange.", no_args_is_help=True, add_completion=False)


DEMO_WARNING = """
!!! DEMO MODE: NOT FOR REAL LEADS OR REAL MONEY !!!
  --demo seeds accounts with PUBLIC, well-known keys (demo-operator-key, demo-publisher-key,
  demo-buyer-key): anyone who can reach this server can use them, the operator's included.
  It lets campaigns deliver to private and loopback addresses (the demo buyer answers here),
  which a real exchange refuses. Run a real exchange without --demo, with EXCHANGE_ADMIN_KEY
  set (README.md, "Running a real exchange"), and never on a database the demo has seeded.
"""


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed a demo marketplace first")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
    workers: Annotated[int, typer.Option(help="server processes on this port (PostgreSQL only)")] = 1,
) -> None:
    """Start the HTTP API with its background work (migrations are applied first)."""
    import uvicorn

    from exchange.api.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    _one_process_on_sqlite(settings, several=workers > 1)
    if workers > 1:
        if demo:
            raise typer.BadParameter("the demo runs in one process", param_hint="--workers")
        from exchange.storage.migrate import upgrade

        upgrade(settings.database_url)  # once, before the processes start
        uvicorn.run(
            "exchange.api.app:create_server_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    if demo:
        import msgspec

        from exchange.demo import seed_demo

        # The demo buyer answers on this same loopback server.
        settings = msgspec.structs.replace(settings, demo=True, allow_private_destinations=True)
        typer.echo(asyncio.run(seed_demo(settings, port)))
        typer.echo(DEMO_WARNING, err=True)
    uvicorn.run(
        create_app(settings, settle_heap=True), host=host, port=port, log_level=log_level, access_log=False
    )


@cli.command()
def worker(
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
    burst: Annotated[bool, typer.Option(help="stop once the queue is empty (tests, one-off runs)")] = False,
) -> None:
    """Run background jobs from Redis (REDIS_URL) beside any number of `serve` processes."""
    from exchange.jobs.worker import build_worker

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    if not settings.redis_url:
        typer.echo("exchange worker needs REDIS_URL (redis://host:6379/0): the queue it works from", err=True)
        raise typer.Exit(2)
    _one_process_on_sqlite(settings, several=True)
    build_worker(settings, burst=burst).run()


def _one_process_on_sqlite(settings: Settings, *, several: bool) -> None:
    """SQLite serves one process: more are refused here, with the way out."""
    from exchange.storage.db import SqliteBusy, SqliteLock, sqlite_path

    if sqlite_path(settings.database_url) is None:
        return
    if several:
        typer.echo(
            "SQLite serves one process: serve --workers and exchange worker need PostgreSQL "
            "(DATABASE_URL=postgresql+asyncpg://user@host/db)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        lock = SqliteLock.take(settings.database_url)
    except SqliteBusy as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if lock is not None:
        lock.release()


@cli.command()
def migrate() -> None:
    """Apply database migrations up to the latest."""
    from exchange.storage.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    typer.echo("database is at the latest migration")


@cli.command()
def openapi(
    output: Annotated[str, typer.Option(help="where to write the spec")] = "openapi/openapi.json",
) -> None:
    """Write the OpenAPI spec the app serves at /schema/openapi.json."""
    from pathlib import Path

    from exchange.api.app import openapi_document

    Path(output).write_text(openapi_document())
    typer.echo(f"wrote {output}")


@cli.command()
def demo() -> None:
    """Seed the demo marketplace (idempotent) and print its keys."""
    from exchange.demo import seed_demo

    typer.echo(asyncio.run(seed_demo(load_settings())))


@cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="a .csv, .xlsx, .xml or .ndjson file of leads")],
    publisher: Annotated[str, typer.Option(help="the publisher the leads come from")],
    vertical: Annotated[str, typer.Option(help="their vertical, e.g. auto_insurance")],
) -> None:
    """Import a file of leads for a publisher: the same batch as POST /v1/leads/batch, with
    progress. Stopped midway, it goes on when this or any server next runs."""
    from exchange.pipeline.batches import format_of_name

    logging.basicConfig(level="WARNING")
    format = format_of_name(file.name)
    if format is None or not file.is_file():
        raise typer.BadParameter("a .csv, .xlsx, .xml or .ndjson file", param_hint="FILE")
    counts = asyncio.run(_import(file.read_bytes(), format, publisher, vertical))
    typer.echo(" ".join(f"{status}={n}" for status, n in counts.items()))


async def _import(data: bytes, format: str, publisher_id: str, vertical: str) -> dict[str, int]:
    """Store the batch and follow it to its end. This process imports it, unless a server
    already has the (SQLite) database: then that server imports it, and this one watches."""
    from sqlalchemy import func, select

    from exchange.api.app import start_services, stop_services
    from exchange.pipeline.batches import accept_batch, batch_view, read_rows
    from exchange.storage import tables as t
    from exchange.storage.db import SqliteBusy, create_engine

    settings = load_settings()
    total = sum(1 for _ in read_rows(format, data))
    try:
        services = await start_services(settings)
        engine = services.engine
    except SqliteBusy:
        services, engine = None, create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            if await conn.scalar(select(t.verticals.c.key).where(t.verticals.c.key == vertical)) is None:
                raise typer.BadParameter(f"no vertical {vertical!r}", param_hint="--vertical")
            if await conn.scalar(select(t.publishers.c.id).where(t.publishers.c.id == publisher_id)) is None:
                raise typer.BadParameter(f"no publisher {publisher_id}", param_hint="--publisher")
            batch_id = await accept_batch(
                conn, publisher_id=publisher_id, vertical=vertical, format=format, data=data, now=utc_now()
            )
        if services is not None:
            services.runner.notify()
        rows = select(func.count()).select_from(t.batch_rows).where(t.batch_rows.c.batch_id == batch_id)
        done = 0
        with typer.progressbar(length=total, label=f"batch {batch_id}") as bar:
            while True:
                async with engine.connect() as conn:
                    batch = (await conn.execute(select(t.batches).where(t.batches.c.id == batch_id))).one()
                    now_done = int(await conn.scalar(rows) or 0)
                    if batch.status == "done":
                        bar.update(total - done)
                        return (await batch_view(conn, batch)).counts
                bar.update(now_done - done)
                done = now_done
                await asyncio.sleep(0.2)
    finally:
        if services is not None:
            await stop_services(services)
        else:
            await engine.dispose()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
