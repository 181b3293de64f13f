"""The `exchange` command: serve, migrate, demo, and key management for operators."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from exchange.settings import load_settings

cli = typer.Typer(help="The lead exchange.", no_args_is_help=True, add_completion=False)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed a demo marketplace first")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Start the HTTP API with its background work (migrations are applied first)."""
    import uvicorn

    from exchange.api.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    if demo:
        import msgspec

        from exchange.demo import seed_demo

        # The demo buyer answers on this same loopback server.
        settings = msgspec.structs.replace(settings, demo=True, allow_private_destinations=True)
        typer.echo(asyncio.run(seed_demo(settings, port)))
    uvicorn.run(
        create_app(settings, settle_heap=True), host=host, port=port, log_level=log_level, access_log=False
    )


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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
